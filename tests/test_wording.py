"""What the customer reads is worded in the domain (domain/*.yml), where it is reviewed and
translated in one place: the actions send responses with values, not sentences of their own.

Checked on the source (ast): no `utter_message(text=...)` with a Chinese literal in
bot/actions or bot/core, texts built in Python only where the allowlist says why, and every
response named in bot/ exists with the values its placeholders need."""
from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from bot.core.replies import reply
from bot.domain_files import load_domain
from bot.faq import load_policy
from tests.responses import message_text, rendered

ROOT = Path(__file__).resolve().parents[1]
WORDED_DIRS = [ROOT / "bot" / "actions", ROOT / "bot" / "core"]
CJK = re.compile(r"[\u4e00-\u9fff]")
PLACEHOLDER = re.compile(r"{([^\n{}]+?)}")

# Texts still composed in Python, each with the reason it is not a response (file, function).
COMPUTED_TEXTS = {
    ("bot/actions/order_status.py", "ActionOrderStatus.answer"):
        "the status answer joins up to seven optional parts by the order's data (payment, "
        "carrier, latest tracking event, ETA, delay, delivery, cancel reason): describe()",
    ("bot/actions/emotion.py", "ActionEscalate.run"):
        "the acknowledgement is chosen from bot/emotion_tracking.py's lines so that it never "
        "repeats what the bot said before in the conversation",
    ("bot/core/courtesy.py", "acknowledge_if_upset"):
        "the same acknowledgement lines, chosen not to repeat (bot/emotion_tracking.py)",
    ("bot/core/handoff.py", "tell_queued"):
        "the queue notice is worded by contracts/ (queued_notice), shared with the handoff "
        "service that files the same words",
    ("bot/actions/faq.py", "ActionAnswerFaq.run"):
        "an FAQ answer is content of bot/data/faq/ (faq.render), with its own review",
    ("bot/actions/topic_questions.py", "answer_in_area"):
        "an FAQ answer is content of bot/data/faq/ (faq.render), with its own review",
    ("bot/actions/faq_first.py", "ActionFaqFirst.run"):
        "an FAQ answer is content of bot/data/faq/ (faq.render), with its own review",
}
# Keywords of utter_message that are not values for placeholders.
MESSAGE_KEYWORDS = {"response", "template", "text", "buttons", "json_message", "image",
                    "attachment", "elements"}


def relative(path: Path) -> str:
    """A path as the allowlist names it (relative to the checkout)."""
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name


def sources(dirs: list[Path]) -> Iterator[tuple[Path, ast.Module]]:
    """The parsed Python files under `dirs`."""
    for folder in dirs:
        for path in sorted(folder.rglob("*.py")):
            yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def calls_in(tree: ast.Module) -> Iterator[tuple[str, ast.Call]]:
    """Every call with the qualified name of the function (or method) it is in."""
    def walk(node: ast.AST, scope: list[str]) -> Iterator[tuple[str, ast.Call]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                yield from walk(child, [*scope, child.name])
                continue
            if isinstance(child, ast.Call):
                yield ".".join(scope), child
            yield from walk(child, scope)
    yield from walk(tree, [])


def is_utter(call: ast.Call) -> bool:
    """Whether the call is `<dispatcher>.utter_message(...)`."""
    return isinstance(call.func, ast.Attribute) and call.func.attr == "utter_message"


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    """The value of a keyword argument."""
    return next((k.value for k in call.keywords if k.arg == name), None)


def chinese_literals(node: ast.AST) -> list[str]:
    """Chinese string literals (plain or in an f-string) in an expression."""
    return [n.value for n in ast.walk(node)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and CJK.search(n.value)]


def text_sources(dirs: list[Path]) -> Iterator[tuple[tuple[str, str], ast.Call]]:
    """utter_message calls that send a text made in Python (text= or a ** of one)."""
    for path, tree in sources(dirs):
        for scope, call in calls_in(tree):
            if not is_utter(call) or keyword(call, "response") is not None:
                continue
            if keyword(call, "text") is not None or any(k.arg is None for k in call.keywords):
                yield (relative(path), scope), call


# ---- the responses named in Python ---------------------------------------------------------


@dataclass
class Use:
    """A response named in Python, with the values passed to it."""

    where: str
    names: set[str]
    passed: set[str] = field(default_factory=set)
    open_ended: bool = False  # values from a ** the test cannot read


def module_dicts(tree: ast.Module) -> dict[str, list[str]]:
    """Module-level dicts whose values are response names (REFUSALS, FIXES ...)."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            values = [v.value for v in node.value.values
                      if isinstance(v, ast.Constant) and str(v.value).startswith("utter_")]
            if values and len(values) == len(node.value.values):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        found[target.id] = values
    return found


def response_names(node: ast.expr | None, tables: dict[str, list[str]],
                   local: dict[str, list[ast.expr]] | None = None) -> set[str] | None:
    """The response names an expression can take (None: not known from the source).
    `tables`: module dicts of response names; `local`: the function's assignments."""
    local = local or {}
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        body = response_names(node.body, tables, local)
        orelse = response_names(node.orelse, tables, local)
        return None if body is None or orelse is None else body | orelse
    if isinstance(node, ast.Name) and node.id in local:
        found = [response_names(value, tables) for value in local[node.id]]
        return None if None in found else set().union(*found)
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) \
            and node.value.id in tables:
        return set(tables[node.value.id])
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
            and node.func.attr == "get" and isinstance(node.func.value, ast.Name) \
            and node.func.value.id in tables:
        default = response_names(node.args[1], tables) if len(node.args) > 1 else set()
        return None if default is None else set(tables[node.func.value.id]) | default
    return None


def assignments(function: ast.AST) -> dict[str, list[ast.expr]]:
    """The values assigned to each name in a function."""
    found: dict[str, list[ast.expr]] = {}
    for node in ast.walk(function):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found.setdefault(target.id, []).append(node.value)
    return found


def local_dicts(function: ast.AST) -> dict[str, ast.Dict]:
    """Dicts assigned to a name in a function (`shown = {...}`)."""
    return {target.id: node.value for node in ast.walk(function)
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict)
            for target in node.targets if isinstance(target, ast.Name)}


def splat_keys(node: ast.expr, dicts: dict[str, ast.Dict]) -> set[str] | None:
    """The keys a ** passes: the shop policy, or a dict built in the function."""
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "load_policy" \
            or isinstance(node, ast.Name) and node.id == "policy":
        return set(load_policy())
    if isinstance(node, ast.Name) and node.id in dicts:
        keys: set[str] = set()
        for key, value in zip(dicts[node.id].keys, dicts[node.id].values):
            if key is None:
                inner = splat_keys(value, dicts)
                if inner is None:
                    return None
                keys |= inner
            elif isinstance(key, ast.Constant):
                keys.add(str(key.value))
        return keys
    return None


def passed_values(call: ast.Call, dicts: dict[str, ast.Dict]) -> tuple[set[str], bool]:
    """The values a call passes by keyword, and whether some ** could not be read."""
    passed, open_ended = set(), False
    for item in call.keywords:
        if item.arg is None:
            keys = splat_keys(item.value, dicts)
            open_ended |= keys is None
            passed |= keys or set()
        elif item.arg not in MESSAGE_KEYWORDS:
            passed.add(item.arg)
    return passed, open_ended


# Functions that send the response named by a positional argument (its index).
SENDERS = {"reply": 0, "failed_attempt": 2, "_strike": 2}


@lru_cache(maxsize=1)
def domain_responses() -> dict[str, list[dict]]:
    """The responses of the domain."""
    return load_domain()["responses"]


@lru_cache(maxsize=1)
def response_uses() -> tuple[list[Use], list[str]]:
    """Every response named by `utter_message(response=...)` or `reply(...)` in bot/, and the
    places whose response name the source does not tell."""
    uses, unknown = [], []
    for path, tree in sources([ROOT / "bot"]):
        tables = module_dicts(tree)
        functions = {".".join(scope): node for scope, node in scopes(tree)}
        for scope, call in calls_in(tree):
            if is_utter(call):
                name_node = keyword(call, "response")
                if name_node is None:
                    continue
            elif len(call.args) > SENDERS.get(getattr(call.func, "id", ""), 99):
                name_node = call.args[SENDERS[call.func.id]]
            else:
                continue
            where = f"{relative(path)}:{call.lineno}"
            function = functions.get(scope, tree)
            names = response_names(name_node, tables, assignments(function))
            if names is None:
                unknown.append(f"{where} ({scope})")
                continue
            passed, open_ended = passed_values(call, local_dicts(functions.get(scope, tree)))
            uses.append(Use(where, names, passed, open_ended))
    return uses, unknown


def scopes(tree: ast.Module) -> Iterator[tuple[list[str], ast.AST]]:
    """Every function and method with its qualified name."""
    def walk(node: ast.AST, scope: list[str]) -> Iterator[tuple[list[str], ast.AST]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                yield [*scope, child.name], child
                yield from walk(child, [*scope, child.name])
    yield from walk(tree, [])


def placeholders(name: str) -> set[str]:
    """The `{values}` of every variant of a response."""
    variants = domain_responses()[name]
    return {p for v in variants for p in PLACEHOLDER.findall(v.get("text") or "")}


# ---- the tests -----------------------------------------------------------------------------


def test_no_action_sends_a_chinese_sentence_of_its_own() -> None:
    offenders = [f"{where}:{call.lineno}: {chinese_literals(call)[0]!r}"
                 for (where, _), call in text_sources(WORDED_DIRS) if chinese_literals(call)]
    assert not offenders, "word these as responses under domain/:\n" + "\n".join(offenders)


def test_texts_built_in_python_are_the_allowlisted_ones() -> None:
    found = {key for key, _ in text_sources(WORDED_DIRS)}
    assert found - set(COMPUTED_TEXTS) == set(), \
        "a text built in Python: make it a response (domain/) or allowlist it with a reason"
    assert set(COMPUTED_TEXTS) - found == set(), "allowlist entries that no longer apply"


def test_every_response_named_in_python_exists_with_its_values() -> None:
    uses, unknown = response_uses()
    responses = domain_responses()
    problems = [f"{use.where}: {name} is not in the domain"
                for use in uses for name in sorted(use.names) if name not in responses]
    for use in uses:
        for name in sorted(n for n in use.names if n in responses):
            missing = placeholders(name) - use.passed
            if missing and not use.open_ended:
                problems.append(f"{use.where}: {name} needs {sorted(missing)}")
    assert not problems, "\n".join(problems)
    assert sorted({place.split(" ")[1] for place in unknown}) == sorted(PASS_THROUGH), unknown


# Senders of a response their caller names (checked at the caller, or by the data gates for
# a form's utter_ask_<slot>).
PASS_THROUGH = {"(ChoiceQuestion.run)", "(Reply.send)", "(_strike)", "(answer_in_area)",
                "(failed_attempt)"}


def test_the_checks_see_a_sentence_a_missing_response_and_a_missing_value(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(
        "def answer(dispatcher, order_id):\n"
        "    dispatcher.utter_message(text=f'订单 {order_id} 已取消。')\n"
        "    dispatcher.utter_message(text=describe(order_id))\n",
        encoding="utf-8")
    found = list(text_sources([tmp_path]))
    assert [key[1] for key, _ in found] == ["answer", "answer"]
    assert [bool(chinese_literals(call)) for _, call in found] == [True, False]
    tree = ast.parse("reply('utter_order_not_found')\n"
                     "dispatcher.utter_message(response='utter_no_such_response')\n")
    calls = [call for _, call in calls_in(tree)]
    assert placeholders("utter_order_not_found") - passed_values(calls[0], {})[0] == {"order_id"}
    assert "utter_no_such_response" not in domain_responses()


def test_customer_words_with_a_format_marker_are_shown_as_typed() -> None:
    # Rasa reads a filled text that still holds "0[" as a failed fill and shows `{request}`.
    message = {"response": "utter_remind_other_request", "request": "订单0[1]到哪了"}
    assert "{request}" in message_text(message)
    from bot.core.replies import verbatim
    shown = rendered(reply("utter_remind_other_request", request=verbatim("订单0[1]到哪了")))
    assert "订单0［1]到哪了" in shown and "{" not in shown


def test_responses_named_in_python_have_one_wording_or_are_meant_to_vary() -> None:
    # The actions' tests compare what the customer reads: one wording per response.
    named = {n for use in response_uses()[0] for n in use.names}
    varied = {n for n in named if len(domain_responses().get(n) or []) > 1}
    assert varied <= VARIED, sorted(varied - VARIED)


# Responses with several wordings on purpose (Rasa picks one at random).
VARIED = {"utter_sorry_delivery_problem", "utter_out_of_scope", "utter_out_of_scope_upset",
          "utter_ask_rephrase"}


def test_each_domain_file_is_named_after_a_feature() -> None:
    # One name everywhere: domain/<name>.yml beside bot/actions/<name>.py, or beside the core
    # module it belongs to (bot/core/handoff.py); core.yml for what the journeys share.
    from bot.domain_files import DOMAIN_DIR
    features = {p.stem for p in (ROOT / "bot" / "actions").glob("*.py")} | {"core"} | {
        p.stem for p in (ROOT / "bot" / "core").glob("*.py")}
    files = {p.stem for p in DOMAIN_DIR.glob("*.yml")}
    assert files and files <= features, sorted(files - features)

"""The import graph, read from the source (ast), lazy imports inside functions included:

- a journey (a feature module of bot/actions) imports the core (bot/core) and shared modules,
  never another feature module; the core imports no feature module;
- the separately deployed services (bot, handoff, shop_api, widget) do not import each other,
  except the few shared modules listed below.

Known exceptions that exist today are listed as debt: the test fails on any new one, and on
an entry that is gone (remove it from the list then)."""
from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("bot", "handoff", "shop_api", "widget")
FEATURES = "bot.actions"
CORE = "bot.core"
# Modules any service may import: contracts/ exists to be shared (masking, log filter,
# profile checks, handoff reasons and notices, widget session tokens, input checks). It holds
# pure functions and constants with no framework or service state.
SHARED = ("contracts",)
# Cross-service imports that exist today; each one is a reason the services cannot be
# deployed apart. Do not add to this list (issue 19 emptied it).
KNOWN_DEBT: set[tuple[str, str]] = set()
# Imports from the core into bot/actions that exist today (the handoff machinery moved into
# the core, issue 19): none.
KNOWN_CORE_DEBT: set[tuple[str, str]] = set()


def module_name(path: Path) -> str:
    """The dotted name of a source file of the repository."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    """Whether a dotted name is a module or package of the repository."""
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported(source: str, module: str, is_package: bool = False) -> Iterator[str]:
    """The modules a source file imports, anywhere in it (top level, functions, branches),
    including `importlib.import_module("...")` with a literal name."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x, from ..core import y
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names
                        if is_module(f"{base}.{alias.name}"))
        elif isinstance(node, ast.Call) and _is_dynamic_import(node.func) and node.args and \
                isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            yield node.args[0].value


def _is_dynamic_import(func: ast.expr) -> bool:
    return (isinstance(func, ast.Attribute) and func.attr == "import_module") or \
        (isinstance(func, ast.Name) and func.id in {"__import__", "import_module"})


def graph(*folders: str) -> dict[str, set[str]]:
    """Each module under the folders and the modules it imports."""
    edges: dict[str, set[str]] = {}
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            name = module_name(path)
            edges[name] = set(imported(path.read_text(encoding="utf-8"), name,
                                       path.name == "__init__.py"))
    return edges


def within(name: str, prefix: str) -> bool:
    """Whether `name` is the module `prefix` or inside it."""
    return name == prefix or name.startswith(prefix + ".")


def feature_of(name: str) -> str | None:
    """The feature module (bot.actions.<feature>) a name belongs to, if any."""
    if not within(name, FEATURES) or name == FEATURES:
        return None
    return ".".join(name.split(".")[:3])


def feature_violations(edges: dict[str, set[str]]) -> set[tuple[str, str]]:
    """(feature, other feature) for each import between two feature modules."""
    found = set()
    for module, targets in edges.items():
        own = feature_of(module)
        if own is None:
            continue
        found |= {(module, feature_of(t)) for t in targets
                  if feature_of(t) is not None and feature_of(t) != own}
    return found


def core_violations(edges: dict[str, set[str]]) -> set[tuple[str, str]]:
    """(core module, feature) for each import from the core into bot/actions."""
    return {(module, feature_of(t)) for module, targets in edges.items() if within(module, CORE)
            for t in targets if feature_of(t) is not None}


def service_of(name: str) -> str | None:
    """The deployed service a module belongs to (None: shared, third-party or stdlib)."""
    if any(within(name, shared) for shared in SHARED):
        return None
    top = name.split(".")[0]
    return top if top in SERVICES else None


def service_violations(edges: dict[str, set[str]]) -> set[tuple[str, str]]:
    """(module, imported module) for each import of another service's module."""
    return {(module, target) for module, targets in edges.items() for target in targets
            if service_of(target) not in {None, service_of(module)}
            and is_module(target)}


def test_features_import_the_core_never_each_other() -> None:
    found = feature_violations(graph("bot/actions"))
    assert not found, (
        "journeys must not import each other; move what they share into bot/core "
        f"(and a confirmed change registers with bot/core/confirmation.py): {sorted(found)}")


def test_the_core_imports_no_feature() -> None:
    found = core_violations(graph("bot/core"))
    new = found - KNOWN_CORE_DEBT
    assert not new, f"bot/core must not import a feature module: {sorted(new)}"
    assert KNOWN_CORE_DEBT <= found, \
        f"paid off, remove from KNOWN_CORE_DEBT: {sorted(KNOWN_CORE_DEBT - found)}"


def test_services_do_not_import_each_other() -> None:
    found = service_violations(graph(*SERVICES))
    new = found - KNOWN_DEBT
    assert not new, ("a service imports another service's module; share it through "
                     f"contracts/ or call the service over HTTP: {sorted(new)}")
    assert KNOWN_DEBT <= found, f"paid off, remove from KNOWN_DEBT: {sorted(KNOWN_DEBT - found)}"


def test_shared_modules_stay_free_of_services() -> None:
    # What every service may import must not pull a service in with it.
    edges = {module: targets for module, targets in graph("bot", "contracts").items()
             if any(within(module, shared) for shared in SHARED)}
    found = {(module, target) for module, targets in edges.items() for target in targets
             if service_of(target) is not None and is_module(target)}
    assert not found, f"a shared module imports a service: {sorted(found)}"


@pytest.mark.parametrize("source", [
    "from bot.actions.invoice import describe_invoice",
    "def confirm():\n    from bot.actions.invoice import confirm_title_change\n",
    "from bot.actions import invoice",
    "from . import invoice",
    "import importlib\nimportlib.import_module('bot.actions.invoice')",
])
def test_the_check_sees_every_form_of_import(source: str) -> None:
    edges = {"bot.actions.refund_request": set(imported(source, "bot.actions.refund_request"))}
    assert feature_violations(edges) == {("bot.actions.refund_request", "bot.actions.invoice")}


def test_the_check_allows_the_core_and_shared_modules() -> None:
    shared = ("from contracts.masking import mask_phone\n"
              "from contracts.http_input import load_json\n")
    feature = shared + "from bot.core.lookup import PHONE\nimport requests\n"
    edges = {"bot.actions.refund_request": set(imported(feature, "bot.actions.refund_request")),
             "handoff.app": set(imported(shared, "handoff.app"))}
    assert not feature_violations(edges) and not service_violations(edges)
    edges["handoff.app"] |= {"bot.core.handoff", "bot.channels.widget"}
    assert service_violations(edges) == {("handoff.app", "bot.core.handoff"),
                                         ("handoff.app", "bot.channels.widget")}

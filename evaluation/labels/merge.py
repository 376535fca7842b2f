"""Merge the two annotation passes and the adjudication into the study label files.

passes/A_*.tsv and passes/B_*.tsv: `id<TAB>topic<TAB>emotion` from two annotators who did not
see each other's labels; passes/adjudication.tsv: the final labels of every id where they
disagreed. Writes study_topics.tsv (`id<TAB>topic`, unclear rows included) and
study_emotion.tsv (`id<TAB>emotion`, customer-service sources only) and prints Cohen's kappa.

sessions/A.tsv and sessions/B.tsv: `session_id<TAB>emotion` of every conversation of
../shared/data/jd_sessions_dev.jsonl, the customer's state over the whole conversation (calm:
every customer turn calm; upset; angry), two independent passes; sessions/adjudication.tsv
settles where they disagree on calm vs not calm. Writes jd_sessions_emotion.tsv, the gold of
the false-escalation figure of `make eval-emotion`.

Usage: python -m evaluation.labels.merge
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
PASSES = HERE / "passes"


def read_pass(prefix: str) -> dict[str, tuple[str, str]]:
    """id -> (topic, emotion) of one annotator's files."""
    labels: dict[str, tuple[str, str]] = {}
    for path in sorted(PASSES.glob(f"{prefix}*.tsv")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                ident, topic, emotion = line.split("\t")
                labels[ident] = (topic, emotion)
    return labels


def cohen_kappa(pairs: list[tuple[str, str]]) -> float:
    """Agreement of two annotators beyond chance."""
    n = len(pairs)
    observed = sum(a == b for a, b in pairs) / n
    first, second = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    expected = sum(first[k] * second[k] for k in first) / (n * n)
    return (observed - expected) / (1 - expected)


def read_sessions(path: Path) -> dict[str, str]:
    """session id -> emotion of one sessions file."""
    rows = (line.split("\t") for line in path.read_text(encoding="utf-8").splitlines() if line)
    return {ident: emotion for ident, emotion in rows}


def calm_or_not(label: str) -> str:
    """What the conversation-level labels are compared on: calm, or not."""
    return "calm" if label == "calm" else "not_calm"


def merge_sessions() -> None:
    """Write jd_sessions_emotion.tsv from the two passes and the adjudication."""
    folder = HERE / "sessions"
    a, b = read_sessions(folder / "A.tsv"), read_sessions(folder / "B.tsv")
    adjudicated = read_sessions(folder / "adjudication.tsv")
    if set(a) != set(b):
        raise SystemExit("the two session passes do not cover the same sessions")
    final = {}
    for ident in sorted(a):
        if calm_or_not(a[ident]) == calm_or_not(b[ident]):
            final[ident] = a[ident] if a[ident] == b[ident] else "upset"
        elif ident in adjudicated:
            final[ident] = adjudicated[ident]
        else:
            raise SystemExit(f"session {ident} is not adjudicated")
    (HERE / "jd_sessions_emotion.tsv").write_text(
        "".join(f"{i}\t{e}\n" for i, e in final.items()), encoding="utf-8")
    pairs = [(calm_or_not(a[i]), calm_or_not(b[i])) for i in sorted(a)]
    print(f"sessions: {len(pairs)} conversations, calm vs not calm raw agreement "
          f"{sum(x == y for x, y in pairs) / len(pairs):.1%}, Cohen's kappa "
          f"{cohen_kappa(pairs):.3f}; {Counter(final.values()).most_common()}")


def main() -> None:
    """Write the merged files and print the agreement figures."""
    merge_sessions()
    a, b = read_pass("A_"), read_pass("B_")
    adjudicated = read_pass("adjudication")
    if set(a) != set(b):
        raise SystemExit("the two passes do not cover the same ids")
    final = {i: adjudicated.get(i, a[i]) if a[i] != b[i] else a[i] for i in sorted(a)}
    missing = [i for i in a if a[i] != b[i] and i not in adjudicated]
    if missing:
        raise SystemExit(f"{len(missing)} disagreements are not adjudicated: {missing[:5]}")
    (HERE / "study_topics.tsv").write_text(
        "".join(f"{i}\t{t}\n" for i, (t, _) in final.items()), encoding="utf-8")
    (HERE / "study_emotion.tsv").write_text(
        "".join(f"{i}\t{e}\n" for i, (_, e) in final.items() if e != "-"), encoding="utf-8")
    ids = sorted(a)
    topic = [(a[i][0], b[i][0]) for i in ids]
    emotion = [(a[i][1], b[i][1]) for i in ids if a[i][1] != "-"]
    agreed = sum(x == y for x, y in topic) / len(topic)
    print(f"topic:   {len(topic)} messages, raw agreement {agreed:.1%}, "
          f"Cohen's kappa {cohen_kappa(topic):.3f}")
    print(f"emotion: {len(emotion)} messages, raw agreement "
          f"{sum(x == y for x, y in emotion) / len(emotion):.1%}, "
          f"Cohen's kappa {cohen_kappa(emotion):.3f}")
    print(Counter(t for t, _ in final.values()).most_common())


if __name__ == "__main__":
    main()

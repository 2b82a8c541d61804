"""Measure the real answer path (AnswerService, as ``studentbot ask``) on JSONL question files.

Usage::

    .venv/bin/python bench/eval_answers.py FILE [FILE ...] [--misses]

Each line is ``{"id", "lang", "question", "expect"}``. The ranking compared with ``expect`` is
``Answer.clauses`` -- what ``studentbot ask`` prints as ``clauses`` -- so programme routing,
clause-number parsing and bad-input handling are all included. Rows with ``expect: []`` are
out of scope: they count as correct when the answer is low-confidence (unsure/out of scope/empty).
Prints top-1 / top-3 per language and overall for each file.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.services.answers import AnswerKind, AnswerService  # noqa: E402

LANGS = ("kk", "ru", "en")


def evaluate(path: Path, service: AnswerService, show_misses: bool) -> dict[str, tuple]:
    rows = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
    per: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    oos = []
    misses = []
    for q in rows:
        ans = service.answer(q["question"], q["lang"])
        ranked = list(ans.clauses)
        if not q["expect"]:
            ok = ans.low_confidence or ans.kind is AnswerKind.EMPTY
            oos.append(ok)
            if not ok and show_misses:
                misses.append(f"  OOS {q['id']}: {q['question']!r} -> {ans.kind} {ranked[:3]}")
            continue
        t1 = bool(ranked) and ranked[0] in q["expect"]
        t3 = bool(set(ranked[:3]) & set(q["expect"]))
        per[q["lang"]].append((t1, t3))
        if not t1 and show_misses:
            misses.append(
                f"  {'top3' if t3 else 'MISS'} {q['id']}: {q['question']!r} "
                f"expect {q['expect']} got {ranked[:3]} ({ans.kind})"
            )
    out = {}
    print(f"== {path}  (answer path)")
    allrows = []
    for lang in LANGS:
        r = per.get(lang, [])
        if not r:
            continue
        allrows += r
        t1 = sum(a for a, _ in r) / len(r)
        t3 = sum(b for _, b in r) / len(r)
        out[lang] = (t1, t3, len(r))
        print(f"  {lang}: top-1 {t1:6.1%}  top-3 {t3:6.1%}  (n={len(r)})")
    if allrows:
        t1 = sum(a for a, _ in allrows) / len(allrows)
        t3 = sum(b for _, b in allrows) / len(allrows)
        out["all"] = (t1, t3, len(allrows))
        print(f"  all: top-1 {t1:6.1%}  top-3 {t3:6.1%}  (n={len(allrows)})")
    if oos:
        print(f"  out of scope answered low-confidence: {sum(oos)}/{len(oos)}")
    for m in misses:
        print(m)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--misses", action="store_true", help="list the questions missed at top-1")
    args = ap.parse_args(argv)
    service = AnswerService()
    for f in args.files:
        evaluate(f, service, args.misses)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

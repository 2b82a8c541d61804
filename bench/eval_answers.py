"""Measure the real answer path (AnswerService, as ``studentbot ask``) on JSONL question files.

Usage::

    .venv/bin/python bench/eval_answers.py FILE [FILE ...] [--misses]
    .venv/bin/python bench/eval_answers.py FILE ... --save /tmp/before.json   # keep the figures
    .venv/bin/python bench/eval_answers.py FILE ... --baseline /tmp/before.json  # compare

Each line is ``{"id", "lang", "question", "expect"}``. The ranking compared with ``expect`` is
``Answer.clauses`` -- what ``studentbot ask`` prints as ``clauses`` -- so programme routing,
clause-number parsing and bad-input handling are all included. Prints per language and overall
for each file:

* top-1 / top-3: the first / first three ranked clauses include an expected one (whatever the
  kind of answer: an "unsure" reply still lists its closest clauses);
* confident: the share answered with a quoted clause (``Answer.primary`` is set: an answer or a
  programme verdict, not unsure / out of scope / bad input);
* conf+right: the share answered with a quoted clause that is an expected one.

Rows with ``expect: []`` are out of scope: the figure for them is the *false-confident* rate,
the share answered with a quoted clause anyway (lower is better).

``--save`` writes the figures as JSON; ``--baseline`` prints each figure next to the saved one.
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

from bot.services.answers import AnswerService  # noqa: E402

LANGS = ("kk", "ru", "en")
Figures = dict[str, dict[str, float]]  # group ("kk", "ru", "en", "all", "oos") -> metric -> value


def _share(values: list[bool]) -> float:
    return sum(values) / len(values) if values else 0.0


def evaluate(path: Path, service: AnswerService, show_misses: bool) -> tuple[Figures, list[str]]:
    rows = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
    # per group: (top-1, top-3, confident, confident and right)
    per: dict[str, list[tuple[bool, bool, bool, bool]]] = defaultdict(list)
    oos: dict[str, list[bool]] = defaultdict(list)  # per group: answered with a clause
    misses = []
    for q in rows:
        ans = service.answer(q["question"], q["lang"])
        ranked = list(ans.clauses)
        confident = ans.primary is not None
        if not q["expect"]:
            for key in (q["lang"], "all"):
                oos[key].append(confident)
            if confident and show_misses:
                misses.append(
                    f"  OOS {q['id']}: {q['question']!r} -> {ans.kind} {ranked[:3]} "
                    f"conf={ans.confidence:.2f}"
                )
            continue
        t1 = bool(ranked) and ranked[0] in q["expect"]
        t3 = bool(set(ranked[:3]) & set(q["expect"]))
        right = confident and ans.primary in q["expect"]
        for key in (q["lang"], "all"):
            per[key].append((t1, t3, confident, right))
        if show_misses and not (t1 and confident):
            label = "MISS" if not t3 else ("top3" if not t1 else "LOW ")
            misses.append(
                f"  {label} {q['id']}: {q['question']!r} "
                f"expect {q['expect']} got {ranked[:3]} ({ans.kind} {ans.confidence:.2f})"
            )
    out: Figures = {}
    for key in (*LANGS, "all"):
        r = per.get(key)
        if r:
            out[key] = {
                "n": len(r),
                "top1": _share([x[0] for x in r]),
                "top3": _share([x[1] for x in r]),
                "confident": _share([x[2] for x in r]),
                "conf_right": _share([x[3] for x in r]),
            }
        o = oos.get(key)
        if o:
            out.setdefault("oos", {})[f"n_{key}"] = len(o)
            out["oos"][f"false_conf_{key}"] = _share(o)
    return out, misses


def _fmt(value: float, base: float | None) -> str:
    text = f"{value:6.1%}"
    if base is None:
        return text
    delta = (value - base) * 100
    return f"{text} (was {base:6.1%}, {delta:+5.1f})"


def report(path: Path, figures: Figures, baseline: Figures | None) -> None:
    print(f"== {path}  (answer path)")
    for key in (*LANGS, "all"):
        f = figures.get(key)
        if not f:
            continue
        b = (baseline or {}).get(key, {})
        cells = "  ".join(
            f"{label} {_fmt(f[metric], b.get(metric))}"
            for label, metric in (
                ("top-1", "top1"),
                ("top-3", "top3"),
                ("confident", "confident"),
                ("conf+right", "conf_right"),
            )
        )
        print(f"  {key}: {cells}  (n={int(f['n'])})")
    o = figures.get("oos")
    if o:
        b = (baseline or {}).get("oos", {})
        for key in (*LANGS, "all"):
            if f"n_{key}" not in o:
                continue
            metric = f"false_conf_{key}"
            n = int(o[f"n_{key}"])
            print(
                f"  out of scope {key}: answered with a clause (false-confident) "
                f"{_fmt(o[metric], b.get(metric))}  ({round(o[metric] * n)}/{n})"
            )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--misses", action="store_true", help="list the questions missed at top-1")
    ap.add_argument("--save", type=Path, help="write the figures to this JSON file")
    ap.add_argument("--baseline", type=Path, help="a --save file to print the figures next to")
    args = ap.parse_args(argv)
    baseline: dict[str, Figures] = {}
    if args.baseline:
        baseline = json.loads(args.baseline.read_text(encoding="utf-8"))
    service = AnswerService()
    saved: dict[str, Figures] = {}
    for f in args.files:
        figures, misses = evaluate(f, service, args.misses)
        report(f, figures, baseline.get(f.name) if args.baseline else None)
        for line in misses:
            print(line)
        saved[f.name] = figures
    if args.save:
        args.save.write_text(json.dumps(saved, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

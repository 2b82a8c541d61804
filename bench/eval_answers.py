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

Trust figures (issue 11), per language and overall:

* precision: of all confident answers (in-scope and out-of-scope rows), the share whose quoted
  clause is an expected one -- a confident answer to an off-topic question counts as wrong;
* coverage: the share of in-scope questions answered confidently;
* a risk–coverage table: all rows ranked by ``Answer.confidence``; for the most confident
  10 %, 20 % … of the in-scope count, the share whose first clause is wrong (or that are
  off-topic) -- what answering down to that confidence would cost;
* the search latency (the ranking: clause search + question matcher) per question, median
  and p99, in process.

``--save`` writes the figures as JSON; ``--baseline`` prints each figure next to the saved one.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
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
    # per group: (confidence, confident, right) of every row, for precision and risk-coverage
    trust: dict[str, list[tuple[float, bool, bool]]] = defaultdict(list)
    misses = []
    for q in rows:
        ans = service.answer(q["question"], q["lang"])
        ranked = list(ans.clauses)
        confident = ans.primary is not None
        for key in (q["lang"], "all"):
            # (confidence, answered confidently, its first clause is right): the risk-coverage
            # table asks "had we answered everything down to this confidence"
            trust[key].append(
                (
                    ans.confidence,
                    confident,
                    bool(q["expect"]) and bool(ranked) and ranked[0] in q["expect"],
                )
            )
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
        t = trust.get(key)
        if t:
            answered = [right for _c, conf, right in t if conf]  # top is the quoted clause
            n_in = len(per.get(key, []))
            out.setdefault("trust", {})[f"precision_{key}"] = _share(answered)
            out["trust"][f"answered_{key}"] = len(answered)
            out["trust"][f"coverage_{key}"] = (
                sum(x[2] for x in per.get(key, [])) / n_in if n_in else 0.0
            )
            if n_in:
                ranked_rows = sorted(t, key=lambda x: -x[0])
                for share in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0):
                    top = ranked_rows[: max(1, round(share * max(n_in, 1)))]
                    out["trust"][f"risk_{key}_at_{int(share * 100)}"] = 1 - _share(
                        [r for _c, _conf, r in top]
                    )
                    out["trust"][f"conf_{key}_at_{int(share * 100)}"] = top[-1][0]
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


def report_trust(figures: Figures, baseline: Figures | None) -> None:
    t = figures.get("trust")
    if not t:
        return
    b = (baseline or {}).get("trust", {})
    for key in (*LANGS, "all"):
        if f"precision_{key}" not in t:
            continue
        print(
            f"  trust {key}: precision of confident answers "
            f"{_fmt(t[f'precision_{key}'], b.get(f'precision_{key}'))} "
            f"(of {int(t[f'answered_{key}'])})  coverage (in-scope answered confidently) "
            f"{_fmt(t[f'coverage_{key}'], b.get(f'coverage_{key}'))}"
        )
    for key in (*LANGS, "all"):
        if f"risk_{key}_at_10" not in t:
            continue
        cells = "  ".join(
            f"{share}%:{t[f'risk_{key}_at_{share}']:.0%}@{t[f'conf_{key}_at_{share}']:.2f}"
            for share in (10, 20, 30, 40, 50, 60, 70, 80, 90, 100)
        )
        print(f"  risk-coverage {key} (coverage: wrong share @ confidence): {cells}")


def latency(service: AnswerService, files: list[Path]) -> tuple[float, float, int]:
    """Median and p99 milliseconds of the ranking (clause search + question matcher)."""
    ranker = service.knowledge.ranker
    questions = [
        (json.loads(line)["question"], json.loads(line)["lang"])
        for f in files
        for line in f.open(encoding="utf-8")
        if line.strip()
    ]
    for q, lang in questions[:20]:
        ranker.rank(q, lang)  # warm the caches
    times = []
    for q, lang in questions:
        start = time.perf_counter()
        ranker.rank(q, lang)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    p99 = times[min(len(times) - 1, int(0.99 * len(times)))]
    return statistics.median(times), p99, len(times)


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
        report_trust(figures, baseline.get(f.name) if args.baseline else None)
        for line in misses:
            print(line)
        saved[f.name] = figures
    median, p99, n = latency(service, args.files)
    print(
        f"search latency per question (ranking, in process): median {median:.2f} ms, "
        f"p99 {p99:.2f} ms (n={n}; targets: median < 2 ms, p99 < 10 ms)"
    )
    if args.save:
        args.save.write_text(json.dumps(saved, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

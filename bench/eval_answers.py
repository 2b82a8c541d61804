"""Measure the real answer path (AnswerService + the FAQ hook, as ``studentbot ask``) on JSONL
question files.

Usage::

    .venv/bin/python bench/eval_answers.py FILE [FILE ...] [--misses]
    .venv/bin/python bench/eval_answers.py FILE ... --save /tmp/before.json   # keep the figures
    .venv/bin/python bench/eval_answers.py FILE ... --baseline /tmp/before.json  # compare
    .venv/bin/python bench/eval_answers.py FILE ... --no-faq   # the regulation alone
    .venv/bin/python bench/eval_answers.py FILE ... --faq-over-confident  # see bot/services/faq

Each line is ``{"id", "lang", "question", "expect"}``. The ranking compared with ``expect`` is
``Answer.clauses`` -- what ``studentbot ask`` prints as ``clauses`` -- so programme routing,
clause-number parsing and bad-input handling are all included. Every answer goes through
``AnswerService.answer`` and then ``FaqService.consult`` (the files' FAQ), as the bot's question
handler does. Prints per language and overall for each file:

* top-1 / top-3: the first / first three ranked clauses include an expected one (whatever the
  kind of answer: an "unsure" reply still lists its closest clauses);
* confident: the share answered with a quoted clause (``Answer.primary`` is set: an answer or a
  programme verdict, not unsure / out of scope / bad input);
* conf+right: the share answered with a quoted clause that is an expected one;
* taken by FAQ: the share answered from the FAQ or routed to an office instead (issue 12).

Rows with ``expect: []`` are out of scope: the figure for them is the *false-confident* rate,
the share answered with a quoted clause anyway (lower is better), and the share the FAQ or an
office answered.

FAQ rows (issue 12) also have ``"expect_faq": [entry ids]`` (empty: no entry answers it) and
``"expect_office"`` (an office id, or null); they are reported apart, per language and overall:
FAQ right (answered with an expected entry, of the rows that have one), office right (the
answer names the expected office, by an entry or a routing), wrong FAQ (another entry; for rows
with no entry, any FAQ answer), clause (a confident clause took it: the clause search's call,
see ``--faq-over-confident``), nothing (unsure / not covered with no FAQ and no office). FAQ
rows do not count in the trust figures.

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
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.config import LANGUAGES as LANGS  # noqa: E402
from bot.services.answers import AnswerKind, AnswerService  # noqa: E402
from bot.services.faq import AnsweringWithFaq, FaqAnswer  # noqa: E402

Figures = dict[str, dict[str, float]]  # group ("kk", "ru", "en", "all", "oos") -> metric -> value
FAQ_METRICS = (
    ("FAQ right", "faq_right"),
    ("office right", "office_right"),
    ("wrong FAQ", "wrong_faq"),
    ("clause", "clause"),
    ("nothing", "nothing"),
)


def _share(values: list[bool]) -> float:
    return sum(values) / len(values) if values else 0.0


class Resolver:
    """The answer path: ``studentbot ask``'s (the regulation, then the FAQ hook), or with
    ``faq=False`` the regulation alone."""

    def __init__(self, answers: AnswerService, *, faq: bool, over_confident: bool) -> None:
        self.answers = answers
        self.path = (
            AnsweringWithFaq(answers, answer_over_confident=over_confident) if faq else None
        )

    def __call__(self, question: str, lang: str) -> Any:
        if self.path is None:
            return self.answers.answer(question, lang)
        return self.path.answer(question, lang)


def _faq_row(q: dict[str, Any], ans: Any) -> dict[str, bool]:
    expected = set(q.get("expect_faq") or [])
    office = q.get("expect_office")
    is_faq = ans.kind is AnswerKind.FAQ
    key = ans.entry_key if isinstance(ans, FaqAnswer) else None
    named = ans.office_id if isinstance(ans, FaqAnswer) else None
    return {
        "faq_right": is_faq and key in expected,
        "office_right": office is not None and named == office,
        "wrong_faq": is_faq and key not in expected,
        "clause": ans.primary is not None,
        "nothing": ans.kind in (AnswerKind.UNSURE, AnswerKind.OUT_OF_SCOPE),
        "has_entry": bool(expected),
        "has_office": office is not None,
    }


def evaluate(path: Path, resolve: Resolver, show_misses: bool) -> tuple[Figures, list[str]]:
    rows = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
    # per group: (top-1, top-3, confident, confident and right, taken by the FAQ or an office)
    per: dict[str, list[tuple[bool, bool, bool, bool, bool]]] = defaultdict(list)
    # per group: (answered with a clause, answered by the FAQ or an office)
    oos: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    # per group: (confidence, confident, right) of every row, for precision and risk-coverage
    trust: dict[str, list[tuple[float, bool, bool]]] = defaultdict(list)
    faq: dict[str, list[dict[str, bool]]] = defaultdict(list)
    misses = []
    for q in rows:
        ans = resolve(q["question"], q["lang"])
        ranked = list(ans.clauses)
        confident = ans.primary is not None
        routed = ans.kind in (AnswerKind.FAQ, AnswerKind.OFFICE)
        if "expect_faq" in q:
            result = _faq_row(q, ans)
            for key in (q["lang"], "all"):
                faq[key].append(result)
            fine = result["faq_right"] or (
                not result["has_entry"]
                and not result["wrong_faq"]
                and not result["clause"]
                and (result["office_right"] or not result["has_office"])
            )
            if show_misses and not fine:
                got = getattr(ans, "entry_key", None) or getattr(ans, "office_id", None)
                misses.append(
                    f"  FAQ  {q['id']}: {q['question']!r} expect {q.get('expect_faq')} / "
                    f"{q.get('expect_office')} got {ans.kind} {got or ranked[:2]} "
                    f"({ans.confidence:.2f})"
                )
            continue
        for key in (q["lang"], "all"):
            # (confidence, answered confidently, its first clause is right): the risk-coverage
            # table asks "had we answered everything down to this confidence"; an FAQ or
            # office answer quotes no clause, so it counts as the least confident
            trust[key].append(
                (
                    0.0 if routed else ans.confidence,
                    confident,
                    bool(q["expect"]) and bool(ranked) and ranked[0] in q["expect"],
                )
            )
        if not q["expect"]:
            for key in (q["lang"], "all"):
                oos[key].append((confident, routed))
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
            per[key].append((t1, t3, confident, right, routed))
        if show_misses and not (t1 and confident):
            label = "MISS" if not t3 else ("top3" if not t1 else "LOW ")
            if routed:
                label = "FAQ "
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
                "taken_by_faq": _share([x[4] for x in r]),
            }
        o = oos.get(key)
        if o:
            out.setdefault("oos", {})[f"n_{key}"] = len(o)
            out["oos"][f"false_conf_{key}"] = _share([x[0] for x in o])
            out["oos"][f"faq_or_office_{key}"] = _share([x[1] for x in o])
        f = faq.get(key)
        if f:
            with_entry = [x for x in f if x["has_entry"]]
            with_office = [x for x in f if x["has_office"]]
            group = out.setdefault(f"faq_{key}", {})
            group["n"] = len(f)
            group["n_entry"] = len(with_entry)
            group["faq_right"] = _share([x["faq_right"] for x in with_entry])
            group["office_right"] = _share([x["office_right"] for x in with_office])
            group["wrong_faq"] = _share([x["wrong_faq"] for x in f])
            group["clause"] = _share([x["clause"] for x in f])
            group["nothing"] = _share([x["nothing"] for x in f])
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
                ("taken by FAQ", "taken_by_faq"),
            )
            if metric in f
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
            routed = o.get(f"faq_or_office_{key}", 0.0)
            print(
                f"  out of scope {key}: answered with a clause (false-confident) "
                f"{_fmt(o[metric], b.get(metric))}  ({round(o[metric] * n)}/{n}); "
                f"FAQ or office {_fmt(routed, b.get(f'faq_or_office_{key}'))}"
            )
    for key in (*LANGS, "all"):
        group = figures.get(f"faq_{key}")
        if not group:
            continue
        b = (baseline or {}).get(f"faq_{key}", {})
        cells = "  ".join(
            f"{label} {_fmt(group[metric], b.get(metric))}" for label, metric in FAQ_METRICS
        )
        print(
            f"  FAQ {key}: {cells}  (n={int(group['n'])}, with an entry {int(group['n_entry'])})"
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
    ap.add_argument("--no-faq", action="store_true", help="the regulation alone (no FAQ hook)")
    ap.add_argument(
        "--faq-over-confident",
        action="store_true",
        help="let a strong FAQ match replace a confident clause the entry does not name",
    )
    args = ap.parse_args(argv)
    baseline: dict[str, Figures] = {}
    if args.baseline:
        baseline = json.loads(args.baseline.read_text(encoding="utf-8"))
    service = AnswerService()
    resolve = Resolver(service, faq=not args.no_faq, over_confident=args.faq_over_confident)
    saved: dict[str, Figures] = {}
    for f in args.files:
        figures, misses = evaluate(f, resolve, args.misses)
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

"""How the one index scales (issues 12 and 18): 88 clauses + 2,000 FAQ entries, in process.

Usage::

    .venv/bin/python bench/bench_faq_scale.py [-n 2000] [--repeat 3] [FILE.jsonl ...]

Builds an FAQ of ``-n`` entries: the shipped entries (knowledge/faq) and synthetic ones made
from them (each copy's texts get two content words of the FAQ and the regulation, so postings
and vocabulary grow as a real FAQ's would). Then, for the index of today and for the baseline
(the FAQ's own TF-IDF index of before issue 18, ``bench/legacy_faq_index.py``, beside the
clause-only question matcher), it prints:

* build: the CPU seconds to build the index of the 88 clauses and the entries (first build;
  for today's index also a read of the disk cache, which is what a process starting with the
  same entries does), and the memory it holds (tracemalloc: what the build allocated and kept);
* per question: the search (the ranking: the clause search and the question matcher; for the
  baseline, plus its FAQ match), the whole answer path as the bot's question handler runs it
  (the ranking, the decision, the FAQ hook, with the hook consulting the FAQ on every question
  so its cost is always in the figure) and the FAQ match alone, median and p99 in ms of this
  thread's CPU time and of wall time (on a shared, loaded machine the wall-time tail is mostly
  waiting for a CPU). Every figure is the median of ``--repeat`` runs.

Targets (issue 18): build ≤ 2 s (or cached on disk), ≤ 30 MB, p50 ≤ 2 ms, p99 ≤ 10 ms.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import legacy_faq_index  # noqa: E402
from legacy_faq_index import Analyzer, FaqIndex, background_texts  # noqa: E402

from bot.services.answers import AnswerService, build_matcher, load_knowledge  # noqa: E402
from bot.services.faq import FaqService, _snapshot  # noqa: E402
from knowledge.faq import FaqEntry, load_faq_files  # noqa: E402
from knowledge.qmatch import REGULATION_KINDS, NgramIndex  # noqa: E402
from knowledge.textnorm import tokenize  # noqa: E402

DEFAULT_FILES = [
    "bench/data/faq_dev.jsonl",
    "bench/data/out_of_scope.jsonl",
    "bench/data/paraphrases.jsonl",
    "bench/data/blind6.jsonl",
]


def synthetic_entries(n: int, seed: int = 66) -> list[FaqEntry]:
    real = list(load_faq_files())
    rng = random.Random(seed)
    pool = sorted(
        {
            t.raw.lower()
            for _lang, text in background_texts()
            for t in tokenize(text)
            if len(t.raw) >= 6 and t.script == "cyr"
        }
        | {
            t.raw.lower()
            for e in real
            for _lang, text in e.texts()
            for t in tokenize(text)
            if len(t.raw) >= 6
        }
    )
    out = list(real)
    i = 0
    while len(out) < n:
        base = real[i % len(real)]
        extra = " ".join(rng.sample(pool, 2))
        out.append(
            replace(
                base,
                key=f"synthetic-{i:05d}",
                question={lang: f"{q} {extra}" for lang, q in base.question.items()},
                variants={
                    lang: tuple(f"{v} {extra}" for v in vs) for lang, vs in base.variants.items()
                },
            )
        )
        i += 1
    return out[:n]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def built(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, seconds of this thread's CPU, MB allocated and still held): timed once, then
    built again under tracemalloc (which slows allocation) for the memory."""
    gc.collect()
    start = time.thread_time()
    fn()
    seconds = time.thread_time() - start
    gc.collect()
    tracemalloc.start()
    result = fn()
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return result, seconds, held / 1e6


def timed(
    questions: list[tuple[str, str]], fn: Callable[[str, str], object]
) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"cpu": [], "wall": []}
    for question, lang in questions:
        c0, w0 = time.thread_time(), time.perf_counter()
        fn(question, lang)
        out["cpu"].append((time.thread_time() - c0) * 1000)
        out["wall"].append((time.perf_counter() - w0) * 1000)
    return out


def measure(
    fns: dict[str, Callable[[str, str], object]], questions: list[tuple[str, str]], repeat: int
) -> dict[str, float]:
    figures: dict[str, list[float]] = {}
    for name, fn in fns.items():
        timed(questions[:20], fn)  # warm caches (stems, typo fixes)
        for _ in range(repeat):
            run = timed(questions, fn)
            for clock, values in run.items():
                figures.setdefault(f"{name} {clock} p50", []).append(statistics.median(values))
                figures.setdefault(f"{name} {clock} p99", []).append(percentile(values, 0.99))
    return {k: statistics.median(v) for k, v in figures.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("-n", type=int, default=2000, help="FAQ entries (default 2,000)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--baseline-builds", type=int, default=1, help="builds of the baseline index (slow)"
    )
    args = ap.parse_args(argv)
    files = args.files or [ROOT / f for f in DEFAULT_FILES]
    questions = [
        (row["question"], row["lang"])
        for f in files
        for row in (json.loads(line) for line in f.open(encoding="utf-8") if line.strip())
    ]
    knowledge = load_knowledge()
    answers = AnswerService(knowledge)
    entries = synthetic_entries(args.n)
    print(
        f"{len(knowledge.regulation.clauses)} clauses + {len(entries)} FAQ entries; "
        f"{len(questions)} questions from {len(files)} files; medians of {args.repeat} runs"
    )
    rows: dict[str, dict[str, float]] = {}

    # --- today: one index, built and then read from the disk cache -------------------------
    builds, mbs, loads = [], [], []
    with tempfile.TemporaryDirectory() as cache:
        for i in range(args.repeat):
            matcher, seconds, mb = built(
                lambda: build_matcher(knowledge.documents, entries, cache_dir=None)
            )
            builds.append(seconds)
            mbs.append(mb)
            if i == 0:
                build_matcher(knowledge.documents, entries, cache_dir=Path(cache))
            _m, seconds, _mb = built(
                lambda: build_matcher(knowledge.documents, entries, cache_dir=Path(cache))
            )
            loads.append(seconds)
    faq = FaqService(None, None, answers, answer_over_confident=True)
    faq.snapshot = _snapshot(1, entries, (), None, matcher)

    def path(question: str, lang: str) -> object:
        return faq.consult(question, lang, answers.answer(question, lang, matcher=faq.matcher))

    def match(question: str, lang: str) -> object:
        return faq.snapshot.match(question, lang)

    def search(question: str, lang: str) -> object:
        return knowledge.ranker.rank(question, lang, matcher=faq.matcher)

    rows["one index"] = {
        "build": statistics.median(builds),
        "load": statistics.median(loads),
        "mb": statistics.median(mbs),
        "arrays": matcher.nbytes / 1e6,
        **measure({"path": path, "match": match, "search": search}, questions, args.repeat),
    }

    # --- the baseline: the clause matcher and the FAQ's own index ----------------------------
    clause_only = NgramIndex.build(
        list(knowledge.documents), background=REGULATION_KINDS, explain=("clause",)
    )
    lbuilds, lmbs = [], []

    def legacy_build() -> FaqIndex:
        legacy_faq_index._ANALYSED.clear()  # its cache of analysed texts: a first build each time
        return FaqIndex.build(entries, analyzer=Analyzer())

    for _ in range(max(1, args.baseline_builds)):
        legacy, seconds, mb = built(legacy_build)
        lbuilds.append(seconds)
        lmbs.append(mb)

    def legacy_path(question: str, lang: str) -> object:
        answer = answers.answer(question, lang, matcher=clause_only)
        return legacy.match(question, lang, k=2), answer

    def legacy_match(question: str, lang: str) -> object:
        return legacy.match(question, lang, k=2)

    def legacy_search(question: str, lang: str) -> object:
        return knowledge.ranker.rank(question, lang, matcher=clause_only), legacy.match(
            question, lang, k=2
        )

    rows["baseline"] = {
        "build": statistics.median(lbuilds),
        "load": float("nan"),
        "mb": statistics.median(lmbs),
        "arrays": float("nan"),
        **measure(
            {"path": legacy_path, "match": legacy_match, "search": legacy_search},
            questions,
            args.repeat,
        ),
    }

    print(
        f"{'':12} {'build s':>8} {'cache s':>8} {'MB':>6} | search ms: cpu p50  p99  wall p50  "
        f"p99 | answer path ms: cpu p50  p99 | FAQ match ms: cpu p50  p99"
    )
    for name, r in rows.items():
        print(
            f"{name:12} {r['build']:8.2f} {r['load']:8.2f} {r['mb']:6.1f} | "
            f"{r['search cpu p50']:14.2f} {r['search cpu p99']:5.2f} "
            f"{r['search wall p50']:8.2f} {r['search wall p99']:5.2f} | "
            f"{r['path cpu p50']:19.2f} {r['path cpu p99']:5.2f} | "
            f"{r['match cpu p50']:17.2f} {r['match cpu p99']:5.2f}"
        )
    new, old = rows["one index"], rows["baseline"]
    print(
        f"one index / baseline: build {new['build'] / old['build']:.2f}x, memory "
        f"{new['mb'] / old['mb']:.2f}x, search p99 (cpu) "
        f"{new['search cpu p99'] / old['search cpu p99']:.2f}x, answer-path p99 (cpu) "
        f"{new['path cpu p99'] / old['path cpu p99']:.2f}x; the index's arrays "
        f"{new['arrays']:.1f} MB"
    )
    for label, value, target, unit in (
        ("build (cpu)", new["build"], 2.0, "s"),
        ("start with the disk cache (cpu)", new["load"], 2.0, "s"),
        ("memory", new["mb"], 30.0, "MB"),
        ("search p50 (cpu)", new["search cpu p50"], 2.0, "ms"),
        ("search p99 (cpu)", new["search cpu p99"], 10.0, "ms"),
        ("search p99 (wall)", new["search wall p99"], 10.0, "ms"),
        ("answer path p99 (cpu)", new["path cpu p99"], 10.0, "ms"),
    ):
        verdict = "meets" if value <= target else "MISSES"
        print(f"  {label}: {value:.2f} {unit}, target ≤ {target:g} {unit}: {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

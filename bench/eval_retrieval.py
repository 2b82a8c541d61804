"""Measure clause retrieval: top-1, top-3 and MRR per language, next to plain BM25, and speed.

Usage::

    .venv/bin/python bench/eval_retrieval.py                       # the shared dev set
    .venv/bin/python bench/eval_retrieval.py ../shared/eval/dev-questions.jsonl \
        bench/data/paraphrases.jsonl bench/data/holdout.jsonl
    .venv/bin/python bench/eval_retrieval.py --misses FILE          # also list the misses

Each input line is ``{"id", "lang", "question", "expect"}``; ``expect`` lists the clause IDs
any one of which answers the question. Lines with ``expect: []`` are out-of-scope questions:
they are not ranked, only checked for a confidence below ``CONFIDENCE_THRESHOLD``.

The baseline is plain BM25 (k1=1.5, b=0.75) over the same clause titles and texts in the
question's language: lower-cased word tokens, no stemming, no stop words, no synonyms.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from knowledge.languages import LANGUAGES as LANGS  # noqa: E402
from knowledge.programmes import ProgrammeCatalog  # noqa: E402
from knowledge.regulation import DATA_DIR, Regulation, load_regulation  # noqa: E402
from knowledge.search import CONFIDENCE_THRESHOLD, KnowledgeIndex  # noqa: E402

DEFAULT_FILE = ROOT / ".." / "shared" / "eval" / "dev-questions.jsonl"
_WORD = re.compile(r"\w+", re.UNICODE)


class PlainBM25:
    """Textbook BM25 per language over title + text; the baseline to beat."""

    def __init__(self, regulation: Regulation, k1: float = 1.5, b: float = 0.75) -> None:
        self.ids = [c.id for c in regulation]
        self.k1, self.b = k1, b
        self.docs: dict[str, list[Counter[str]]] = {}
        self.lens: dict[str, list[int]] = {}
        self.idf: dict[str, dict[str, float]] = {}
        for lang in LANGS:
            docs = [
                Counter(_WORD.findall(f"{c.title_in(lang)} {c.text_in(lang)}".lower()))
                for c in regulation
            ]
            df: Counter[str] = Counter()
            for doc in docs:
                df.update(doc.keys())
            n = len(docs)
            self.docs[lang] = docs
            self.lens[lang] = [sum(d.values()) for d in docs]
            self.idf[lang] = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    def rank(self, query: str, lang: str, k: int = 10) -> list[str]:
        docs, lens, idf = self.docs[lang], self.lens[lang], self.idf[lang]
        avg = sum(lens) / max(len(lens), 1) or 1.0
        terms = _WORD.findall(query.lower())
        scores = []
        for i, doc in enumerate(docs):
            s = 0.0
            for t in terms:
                tf = doc.get(t, 0)
                if tf:
                    s += (
                        idf[t]
                        * tf
                        * (self.k1 + 1)
                        / (tf + self.k1 * (1 - self.b + self.b * lens[i] / avg))
                    )
            if s > 0:
                scores.append((s, i))
        scores.sort(reverse=True)
        return [self.ids[i] for _, i in scores[:k]]


def load_questions(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _metrics(rows: Sequence[tuple[list[str], list[str]]]) -> tuple[float, float, float]:
    n = len(rows) or 1
    top1 = sum(1 for ranked, exp in rows if ranked[:1] and ranked[0] in exp) / n
    top3 = sum(1 for ranked, exp in rows if set(ranked[:3]) & set(exp)) / n
    mrr = 0.0
    for ranked, exp in rows:
        for pos, cid in enumerate(ranked, 1):
            if cid in exp:
                mrr += 1 / pos
                break
    return top1, top3, mrr / n


def evaluate(
    path: Path, index: KnowledgeIndex, baseline: PlainBM25, show_misses: bool
) -> list[dict]:
    questions = load_questions(path)
    ours: dict[str, list] = defaultdict(list)
    base: dict[str, list] = defaultdict(list)
    oos: list[tuple[dict, float]] = []
    misses: list[str] = []
    low_conf_in_scope = 0
    for q in questions:
        result = index.search(q["question"], lang=q["lang"], k=10)
        ranked = [h.clause_id for h in result.hits]
        if not q["expect"]:
            oos.append((q, result.confidence))
            if show_misses and result.confidence >= CONFIDENCE_THRESHOLD:
                misses.append(
                    f"  OOS {q['id']} conf={result.confidence:.2f} {ranked[:3]} {q['question']}"
                )
            continue
        if result.confidence < CONFIDENCE_THRESHOLD:
            low_conf_in_scope += 1
        for key in (q["lang"], "all"):
            ours[key].append((ranked, q["expect"]))
            base[key].append((baseline.rank(q["question"], q["lang"]), q["expect"]))
        if show_misses and (not ranked or ranked[0] not in q["expect"]):
            misses.append(
                f"  {q['id']} want={q['expect']} got={ranked[:3]} "
                f"conf={result.confidence:.2f} lang={result.detected_lang} "
                f"{q['question']}"
            )
    print(f"\n== {path} ({len(questions)} questions)")
    print(
        f"{'lang':<5}{'n':>4} | {'top-1':>6} {'top-3':>6} {'MRR':>6} | "
        f"{'BM25 top-1':>10} {'top-3':>6} {'MRR':>6}"
    )
    for key in (*LANGS, "all"):
        if not ours.get(key):
            continue
        o1, o3, om = _metrics(ours[key])
        b1, b3, bm = _metrics(base[key])
        print(
            f"{key:<5}{len(ours[key]):>4} | {o1:>6.1%} {o3:>6.1%} {om:>6.3f} | "
            f"{b1:>10.1%} {b3:>6.1%} {bm:>6.3f}"
        )
    n_in = len(ours.get("all", []))
    print(
        f"in-scope questions with confidence < {CONFIDENCE_THRESHOLD}: {low_conf_in_scope}/{n_in}"
    )
    if oos:
        below = sum(1 for _, c in oos if c < CONFIDENCE_THRESHOLD)
        print(
            f"out-of-scope questions with confidence < {CONFIDENCE_THRESHOLD}: {below}/{len(oos)}"
        )
    for line in misses:
        print(line)
    return questions


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def speed(
    index: KnowledgeIndex,
    questions: list[dict],
    regulation: Regulation,
    programmes: ProgrammeCatalog,
) -> None:
    builds = [_timed(lambda: KnowledgeIndex.build(regulation, programmes)) for _ in range(5)]
    samples: list[float] = []
    qs = [(q["question"], q["lang"]) for q in questions] or [("?", "kk")]
    cold_index = KnowledgeIndex.build(regulation, programmes)
    cold: list[float] = []
    for text, lang in qs:  # first sight of each question: no typo-correction cache yet
        start = time.perf_counter_ns()
        cold_index.search(text, lang=lang)
        cold.append((time.perf_counter_ns() - start) / 1e6)
    cold.sort()
    cpu: list[float] = []  # CPU time of this thread: what the search costs without preemption
    while len(samples) < 2000:
        for text, lang in qs:
            start = time.perf_counter_ns()
            start_cpu = time.thread_time_ns()
            index.search(text, lang=lang)
            cpu.append((time.thread_time_ns() - start_cpu) / 1e6)
            samples.append((time.perf_counter_ns() - start) / 1e6)
    cpu.sort()
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    print(
        f"\n== speed: {len(samples)} searches, median {statistics.median(samples):.3f} ms, "
        f"p99 {p99:.3f} ms, max {samples[-1]:.3f} ms; index build median "
        f"{statistics.median(builds) * 1000:.0f} ms (of 5)"
    )
    print(
        f"   CPU time per search: median {statistics.median(cpu):.3f} ms, "
        f"p99 {cpu[min(len(cpu) - 1, int(len(cpu) * 0.99))]:.3f} ms; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(
        f"   first pass over {len(cold)} unseen questions: median "
        f"{statistics.median(cold):.3f} ms, max {cold[-1]:.3f} ms"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, default=[DEFAULT_FILE])
    parser.add_argument(
        "--data-dir", type=Path, default=DATA_DIR, help="directory of the clause YAML files"
    )
    parser.add_argument("--misses", action="store_true", help="list every top-1 miss")
    args = parser.parse_args(argv)
    regulation = load_regulation(args.data_dir)
    programmes = ProgrammeCatalog.load()
    start = time.perf_counter()
    index = KnowledgeIndex.build(regulation, programmes)
    built_ms = (time.perf_counter() - start) * 1000
    print(f"{len(regulation)} clauses, index built in {built_ms:.0f} ms")
    baseline = PlainBM25(regulation)
    questions: list[dict] = []
    for path in args.files:
        questions += evaluate(path, index, baseline, args.misses)
    speed(index, questions, regulation, programmes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

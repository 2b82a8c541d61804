"""Rank clauses with two different signals and decide, calibrated, whether to trust the result.

``Ranker.rank(question, lang)`` combines

* the clause search (``knowledge.search.KnowledgeIndex``: BM25F over the regulation's words,
  with stemming, synonyms and typo correction), scaled by its best score; and
* the question matcher (``knowledge.qmatch.NgramIndex``: character n-gram cosine to each
  clause's bank of example questions, its title and aliases, and its text),

into one score per clause, and returns the ranking with the *features* of the decision: how
strong and how clear the best clause is, whether the two signals agree, how close the question
is to a known not-covered question, how much of it the regulation's vocabulary explains.

``Calibration`` turns those features into the probability that the best clause is right, with
coefficients of two logistic regressions (right clause; in scope at all) fitted by
``bench/fit_calibration.py`` on labelled questions (including off-topic ones made of the
regulation's words) and stored in ``knowledge/data/calibration.yaml``. The thresholds in that
file were chosen for precision: an answer is confident only where, on held-out questions,
at most about one confident answer in twenty was wrong.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from knowledge.qmatch import MatchResult, NgramIndex
from knowledge.search import KnowledgeIndex, SearchResult

CALIBRATION_FILE = Path(__file__).resolve().parent / "data" / "calibration.yaml"

# Weights of the combined clause score: the clause search scaled to its best hit (1.0 at the
# top) plus the n-gram cosines to the clause's example questions, title/aliases and text.
W_SEARCH = 1.0
W_BANK = 0.8
W_TITLE = 0.3
W_TEXT = 0.0

FEATURES: tuple[str, ...] = (
    "top",  # combined score of the best clause
    "margin",  # its lead over the second
    "bank",  # n-gram cosine of the best clause's closest example question
    "title",  # … of its closest title or alias
    "text",  # … of its text
    "search_conf",  # the clause search's own confidence (strength and coverage)
    "coverage",  # share of the question the search's best clause explains
    "vocabulary",  # share of the question that is the regulation's vocabulary at all
    "agree",  # 1 when both signals put the same clause first
    "search_top_is_top",  # 1 when the clause search's first clause is the answer
    "not_covered",  # cosine to the closest not-covered example question
    "nc_lead",  # how much closer that is than the best clause's example
    "explained",  # share of the question's content words in the best clause's closest example
)


@dataclass(frozen=True, slots=True)
class Ranked:
    clauses: tuple[str, ...]
    scores: tuple[float, ...]
    features: dict[str, float]
    search: SearchResult
    matches: MatchResult
    not_covered_topic: str | None = None

    @property
    def top(self) -> str | None:
        return self.clauses[0] if self.clauses else None


# a regression read for scoring: intercept, (feature, coefficient, mean, scale) in FEATURES order
_Terms = tuple[float, tuple[tuple[str, float, float, float], ...]]


@dataclass(frozen=True, slots=True)
class Calibration:
    """Two logistic regressions over ``FEATURES`` and the thresholds chosen for them."""

    right: Mapping[str, float] = field(default_factory=dict)  # P(best clause is right)
    in_scope: Mapping[str, float] = field(default_factory=dict)  # P(the regulation covers it)
    mean: Mapping[str, float] = field(default_factory=dict)  # feature standardisation
    scale: Mapping[str, float] = field(default_factory=dict)
    confident: float = 0.5  # P(right) at or above: answer with the clause
    covered: float = 0.5  # P(in scope) below (and not confident): say it is not covered
    # per regression, its intercept and per feature (in FEATURES order) its coefficient, mean
    # and scale, read out of the mappings once (issue 18.1: 52 dict look-ups a regression);
    # None for a regression with no coefficients (P = 0.5)
    _right: _Terms | None = field(init=False, repr=False, compare=False, default=None)
    _in_scope: _Terms | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_right", self._terms(self.right))
        object.__setattr__(self, "_in_scope", self._terms(self.in_scope))

    def _terms(self, coef: Mapping[str, float]) -> _Terms | None:
        if not coef:
            return None
        return coef.get("intercept", 0.0), tuple(
            (
                name,
                coef.get(name, 0.0),
                self.mean.get(name, 0.0),
                self.scale.get(name, 1.0) or 1.0,
            )
            for name in FEATURES
        )

    @classmethod
    def load(cls, path: Path = CALIBRATION_FILE) -> Calibration:
        if not path.exists():
            return cls()
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        with path.open(encoding="utf-8") as fh:
            raw = yaml.load(fh, Loader=loader) or {}
        return cls(
            right={str(k): float(v) for k, v in (raw.get("right") or {}).items()},
            in_scope={str(k): float(v) for k, v in (raw.get("in_scope") or {}).items()},
            mean={str(k): float(v) for k, v in (raw.get("mean") or {}).items()},
            scale={str(k): float(v) for k, v in (raw.get("scale") or {}).items()},
            confident=float(raw.get("confident", 0.5)),
            covered=float(raw.get("covered", 0.5)),
        )

    @staticmethod
    def _score(terms: _Terms | None, features: Mapping[str, float]) -> float:
        if terms is None:
            return 0.5
        z, per_feature = terms
        for name, coef, mean, scale in per_feature:
            z += coef * ((features.get(name, 0.0) - mean) / scale)
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def p_right(self, features: Mapping[str, float]) -> float:
        return self._score(self._right, features)

    def p_in_scope(self, features: Mapping[str, float]) -> float:
        return self._score(self._in_scope, features)


class Ranker:
    """The clause search and the question matcher, combined; build once per process."""

    def __init__(self, search: KnowledgeIndex, matcher: NgramIndex) -> None:
        self.search_index = search
        self.matcher = matcher

    def rank(
        self, question: str, lang: str | None, k: int = 8, *, matcher: NgramIndex | None = None
    ) -> Ranked:
        """``matcher``: a question matcher to use instead of the one built with (the same
        regulation with other FAQ entries)."""
        result = self.search_index.search(question, lang, k=10)
        matches = (matcher or self.matcher).search(question, k=12)
        bank = {m.id: m for m in matches.top("clause")}
        top_score = result.hits[0].score if result.hits else 0.0
        search = {h.clause_id: h.score / top_score for h in result.hits} if top_score else {}
        combined: dict[str, float] = {}
        for cid in dict.fromkeys([*search, *bank]):
            m = bank.get(cid)
            combined[cid] = W_SEARCH * search.get(cid, 0.0) + (
                W_BANK * m.question + W_TITLE * m.title + W_TEXT * m.text if m else 0.0
            )
        ordered = sorted(combined.items(), key=lambda kv: -kv[1])[:k]
        clauses = tuple(cid for cid, _ in ordered)
        scores = tuple(round(s, 4) for _, s in ordered)
        nc = matches.top("not_covered")
        nc_best = nc[0].best if nc else 0.0
        top = clauses[0] if clauses else None
        tm = bank.get(top) if top else None
        first_search = result.hits[0].clause_id if result.hits else None
        first_bank = matches.top("clause")[0].id if matches.top("clause") else None
        features = {
            "top": scores[0] if scores else 0.0,
            "margin": (scores[0] - scores[1]) if len(scores) > 1 else (scores[0] if scores else 0),
            "bank": tm.question if tm else 0.0,
            "title": tm.title if tm else 0.0,
            "text": tm.text if tm else 0.0,
            "search_conf": result.confidence,
            "coverage": result.coverage,
            "vocabulary": result.vocabulary,
            "agree": 1.0 if first_search is not None and first_search == first_bank else 0.0,
            "search_top_is_top": 1.0 if first_search is not None and first_search == top else 0.0,
            "not_covered": nc_best,
            "nc_lead": nc_best - (tm.best if tm else 0.0),
            "explained": tm.explained if tm else 0.0,
        }
        return Ranked(
            clauses=clauses,
            scores=scores,
            features={k2: round(float(v), 4) for k2, v in features.items()},
            search=result,
            matches=matches,
            not_covered_topic=nc[0].id if nc else None,
        )


__all__ = ["FEATURES", "Calibration", "Ranked", "Ranker"]

"""Fit the answer calibration (``knowledge/data/calibration.yaml``) and report it honestly.

Usage::

    .venv/bin/python bench/fit_calibration.py            # fit, print held-out figures, write
    .venv/bin/python bench/fit_calibration.py --dry-run  # print only

Every labelled question of ``bench/data/*.jsonl`` and the shared dev set goes through the real
answer path (``AnswerService.route``); the questions the rules do not decide (no programme, no
clause number, no recognised question type) give the ranking's features. Two logistic
regressions (scikit-learn, a dev dependency: the bot only evaluates the fitted coefficients)
learn P(the best clause is right) and P(the regulation covers the question), out-of-scope rows
counting as wrong and not covered.

Honesty: ``natural_dev.jsonl`` (written by people who have not seen the search) is split into
five folds; each fold is predicted by a model fitted on the other four plus every other set,
and the threshold is chosen on those held-out predictions only (the sets tuned on before
would overstate precision). The final coefficients are then fitted on everything. The
held-out blind sets (``blind7*``) are never read here.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.services.answers import Answer, AnswerService  # noqa: E402
from knowledge.ranking import CALIBRATION_FILE, FEATURES  # noqa: E402

DEV = ROOT / ".." / "shared" / "eval" / "dev-questions.jsonl"
NATURAL = "natural_dev.jsonl"
TARGET_PRECISION = 0.95  # on held-out natural questions, among the calibrator's confident ones
FOLDS = 5
MIN_ANSWERED = 20
# a question is told "not covered" only where, held out, this share of such answers was off-topic
NOT_COVERED_PRECISION = 0.95


def sets() -> list[Path]:
    files = sorted(
        p for p in (ROOT / "bench" / "data").glob("*.jsonl") if not p.name.startswith("blind7")
    )
    return [DEV, *files] if DEV.exists() else files


def natural_rules(service: AnswerService) -> list[dict]:
    """natural_dev rows the rules decide (programme, question type, clause number, bad input)."""
    out = []
    for line in (ROOT / "bench" / "data" / NATURAL).open(encoding="utf-8"):
        q = json.loads(line)
        routed = service.route(q["question"], q["lang"])
        if isinstance(routed, Answer):
            out.append(
                {
                    "lang": q["lang"],
                    "confident": routed.primary is not None,
                    "right": bool(q["expect"]) and routed.primary in q["expect"],
                    "in_scope": bool(q["expect"]),
                }
            )
    return out


def collect(service: AnswerService) -> list[dict]:
    rows = []
    for path in sets():
        for line in path.open(encoding="utf-8"):
            if not line.strip():
                continue
            q = json.loads(line)
            routed = service.route(q["question"], q["lang"])
            if isinstance(routed, Answer):
                continue
            ranked, _intent = routed
            if not ranked.clauses:
                continue
            rows.append(
                {
                    "set": path.name,
                    "id": q["id"],
                    "lang": q["lang"],
                    "x": [ranked.features[f] for f in FEATURES],
                    "right": bool(q["expect"]) and ranked.clauses[0] in q["expect"],
                    "in_scope": bool(q["expect"]),
                }
            )
    return rows


NATURAL_WEIGHT = 3.0  # natural questions resemble real traffic more than the older sets


def fit(x: np.ndarray, y: np.ndarray, mean: np.ndarray, scale: np.ndarray, w: np.ndarray):
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=0.5, max_iter=2000)
    model.fit((x - mean) / scale, y, sample_weight=w)
    return model


def choose_threshold(p: np.ndarray, right: np.ndarray) -> tuple[float, float, float]:
    """The lowest threshold from which on precision stays at TARGET_PRECISION: at it and at
    every higher threshold that still answers MIN_ANSWERED questions (a lucky dip lower down
    does not count; fewer answers than that are too few to judge)."""
    candidates = sorted(set(np.round(p, 3)))
    ok_from = None
    for t in reversed(candidates):
        mask = p >= t
        if mask.sum() < MIN_ANSWERED:
            continue
        if right[mask].mean() >= TARGET_PRECISION:
            ok_from = t
        else:
            break
    if ok_from is None:
        return 1.01, 1.0, 0.0
    mask = p >= ok_from
    return float(ok_from), float(right[mask].mean()), float(mask.mean())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true")
    args = ap.parse_args(argv)
    service = AnswerService()
    rows = collect(service)
    x = np.array([r["x"] for r in rows], dtype=float)
    right = np.array([r["right"] for r in rows], dtype=int)
    scope = np.array([r["in_scope"] for r in rows], dtype=int)
    natural = np.array([r["set"] == NATURAL for r in rows])
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    weight = np.where(natural, NATURAL_WEIGHT, 1.0)
    print(f"rows decided by the calibration: {len(rows)} (natural_dev: {int(natural.sum())})")

    # held-out predictions for natural_dev, fold by fold
    rng = np.random.default_rng(11)
    nat_idx = np.flatnonzero(natural)
    folds = np.array_split(rng.permutation(nat_idx), FOLDS)
    held_right = np.zeros(len(rows))
    held_scope = np.zeros(len(rows))
    for fold in folds:
        train = np.ones(len(rows), dtype=bool)
        train[fold] = False
        m_right = fit(x[train], right[train], mean, scale, weight[train])
        m_scope = fit(x[train], scope[train], mean, scale, weight[train])
        held_right[fold] = m_right.predict_proba((x[fold] - mean) / scale)[:, 1]
        held_scope[fold] = m_scope.predict_proba((x[fold] - mean) / scale)[:, 1]
    order = np.argsort(-held_right[nat_idx])
    print("natural_dev held-out risk-coverage (calibrator rows): coverage  precision  threshold")
    for share in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7):
        top = order[: max(1, round(share * len(order)))]
        print(
            f"  {share:4.0%}  {right[nat_idx][top].mean():6.1%}  "
            f"{held_right[nat_idx][top].min():.3f}"
        )
    if args.dry_run:
        for i in nat_idx[order[:80]]:
            if not right[i]:
                print("   wrong", rows[i]["id"], round(held_right[i], 3), rows[i]["x"])
    t, precision, coverage = choose_threshold(held_right[nat_idx], right[nat_idx])
    print(
        f"natural_dev held-out: threshold {t:.3f} -> precision {precision:.1%}, "
        f"confident share {coverage:.1%} of the calibrator's rows"
    )
    # the not-covered threshold: the most questions told "not covered" while, held out,
    # NOT_COVERED_PRECISION of them were indeed off-topic
    covered = 0.0
    for c in sorted(set(np.round(held_scope[nat_idx], 3)), reverse=True):
        flagged = held_scope[nat_idx] < c
        if flagged.sum() and (1 - scope[nat_idx][flagged]).mean() >= NOT_COVERED_PRECISION:
            covered = float(c)
            break
    print(f"not-covered threshold (P in scope below): {covered:.3f}")

    # the whole answer path on natural_dev, calibrator decisions held out: per language
    decided = natural_rules(service) + [
        {
            "lang": rows[i]["lang"],
            "confident": bool(held_right[i] >= t),
            "right": bool(right[i]),
            "in_scope": bool(scope[i]),
        }
        for i in nat_idx
    ]
    print("natural_dev, whole answer path, calibration held out (5 folds):")
    for lang in ("kk", "ru", "en", "all"):
        sel = [d for d in decided if lang in ("all", d["lang"])]
        conf = [d for d in sel if d["confident"]]
        n_in = sum(d["in_scope"] for d in sel)
        wrong_oos = sum(1 for d in conf if not d["in_scope"])
        n_oos = sum(1 for d in sel if not d["in_scope"])
        answered_in_scope = sum(1 for d in conf if d["in_scope"])
        print(
            f"  {lang}: precision {sum(d['right'] for d in conf) / max(1, len(conf)):6.1%} "
            f"(of {len(conf)})  coverage {answered_in_scope / max(1, n_in):6.1%} of {n_in} "
            "in scope  "
            f"off-topic answered {wrong_oos}/{n_oos}"
        )
    m_right = fit(x, right, mean, scale, weight)
    m_scope = fit(x, scope, mean, scale, weight)
    out = {
        "right": {"intercept": float(m_right.intercept_[0])}
        | {f: float(c) for f, c in zip(FEATURES, m_right.coef_[0], strict=True)},
        "in_scope": {"intercept": float(m_scope.intercept_[0])}
        | {f: float(c) for f, c in zip(FEATURES, m_scope.coef_[0], strict=True)},
        "mean": {f: float(v) for f, v in zip(FEATURES, mean, strict=True)},
        "scale": {f: float(v) for f, v in zip(FEATURES, scale, strict=True)},
        "confident": round(t, 3),
        "covered": round(covered, 3),
    }
    header = (
        "# Written by bench/fit_calibration.py: logistic regressions over knowledge/ranking.py's\n"
        "# FEATURES (standardised by mean/scale). 'confident' is the P(right) threshold chosen\n"
        f"# on natural_dev's held-out folds for {TARGET_PRECISION:.0%} precision; below\n"
        "# 'covered' P(in scope) a question that is not confident is answered as not covered.\n"
        f"# Held-out natural_dev at the threshold: precision {precision:.1%}, confident share\n"
        f"# {coverage:.1%} of the questions the calibration decides.\n"
    )
    text = header + json.dumps(out, indent=1, ensure_ascii=False) + "\n"
    if not args.dry_run:
        CALIBRATION_FILE.write_text(text, encoding="utf-8")
        print(f"written {CALIBRATION_FILE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Sentiment and language accuracy of cxnlp on real public comments in ../shared/eval/, and its
pillar polarities against the sub-ratings of the Skytrax airline reviews.

Evaluation only: the data are read from the shared folder, never copied into the repo.
Skips cleanly (exit 0) when the folder is absent.

    .venv/bin/python scripts/eval_real.py [--limit 1000] [--eval-dir ../shared/eval]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class EvalSet:
    file: str
    lang: str
    text_col: str
    label_col: str
    task: str  # "binary": positive/negative, "three": negative/neutral/positive
    label_map: dict


SETS = (
    EvalSet("sv_reviews_dev.csv", "sv", "text", "sentiment", "binary", {"positive": "positive", "negative": "negative"}),
    EvalSet("sv_emoji_social.csv", "sv", "text", "label", "three", {"pos": "positive", "neu": "neutral", "neg": "negative"}),
    EvalSet("no_norec_sentence_traindev.csv", "no", "text", "label_3class", "three",
            {"positive": "positive", "neutral": "neutral", "negative": "negative"}),
    EvalSet("en_skytrax_airline.csv", "en", "content", "recommended", "binary", {"1": "positive", "0": "negative"}),
)
THREE = ("negative", "neutral", "positive")
# Skytrax sub-ratings (1-5) that a pillar's polarity should follow: weak proxies, but the reviewers' own
SUB_RATINGS = (("empathy", "cabin_staff_rating"), ("integrity", "value_money_rating"),
               ("time_and_effort", "ground_service_rating"))
LOW_RATING = 3  # a sub-rating of 1-3 stars is the low class


def predict(proba: np.ndarray, labels: tuple[str, ...], task: str) -> list[str]:
    """The overall head's most likely label among those the data set uses (mixed is never a gold label)."""
    allowed = ("negative", "positive") if task == "binary" else THREE
    cols = [labels.index(a) for a in allowed]
    return [allowed[k] for k in proba[:, cols].argmax(axis=1)]


def sub_rating_auc(negative: pd.Series, low: pd.Series, overall: pd.Series) -> tuple[float, float]:
    """(AUC of a negative pillar polarity for a low sub-rating, the same within each overall rating).

    Every sub-rating follows the overall verdict, so the first rewards a polarity that only echoes it;
    the second, averaged over overall-rating groups weighted by size, is what the pillar adds."""
    from sklearn.metrics import roc_auc_score

    groups = pd.DataFrame({"negative": negative, "low": low}).groupby(overall.to_numpy())
    within = [(roc_auc_score(g["low"], g["negative"]), len(g)) for _, g in groups
              if g["low"].nunique() == 2 and g["negative"].nunique() == 2]
    stratified = sum(a * n for a, n in within) / sum(n for _, n in within) if within else float("nan")
    return roc_auc_score(low, negative), stratified


def print_sub_ratings(pipe, path: Path) -> None:
    """Each pillar's polarity on the Skytrax reviews against the sub-rating it should follow."""
    df = pd.read_csv(path)
    analysis = pipe.analyse(df["content"].astype(str).tolist())
    polarity = pd.DataFrame(analysis.pillar_polarity, index=df.index)
    header = f"{'pillar':16} {'sub-rating':22} {'n':>5} {'low':>5} {'AUC':>6} {'AUC within overall rating':>26}"
    print(f"\nPillar polarity against Skytrax sub-ratings (low = 1-{LOW_RATING} stars)\n{header}\n" + "-" * len(header))
    for pillar, rating in SUB_RATINGS:
        said = polarity.get(pillar, pd.Series(index=df.index, dtype=object))
        rows = said.isin(["negative", "positive"]) & (df[rating] > 0) & df["overall_rating"].notna()
        negative, low = (said[rows] == "negative").astype(int), (df.loc[rows, rating] <= LOW_RATING).astype(int)
        auc, within = sub_rating_auc(negative, low, df.loc[rows, "overall_rating"])
        print(f"{pillar:16} {rating:22} {rows.sum():5d} {low.mean():5.2f} {auc:6.3f} {within:26.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval-dir", type=Path, default=ROOT.parent / "shared" / "eval")
    parser.add_argument("--classifier", type=Path, default=None, help="classifier directory (default: models/classifier)")
    parser.add_argument("--limit", type=int, default=1000, help="rows per data set (random sample, seed 0); 0 = all")
    args = parser.parse_args()
    if not args.eval_dir.is_dir():
        print(f"skipped: {args.eval_dir} not found (the public evaluation data is not on this machine)")
        return 0

    from cxnlp import Pipeline

    pipe = Pipeline.load(args.classifier)
    print(f"classifier {pipe.heads.version}, embedder {pipe.embedder.model_id}")
    header = f"{'data set':34} {'task':6} {'n':>5} {'sentiment acc':>13} {'majority':>8} {'lang acc':>8} {'sec':>6}"
    print(header + "\n" + "-" * len(header))
    for spec in SETS:
        path = args.eval_dir / spec.file
        if not path.is_file():
            print(f"{spec.file:34} missing, skipped")
            continue
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        df = df[df[spec.label_col].isin(spec.label_map)]
        if args.limit and len(df) > args.limit:
            df = df.sample(args.limit, random_state=0)
        gold = df[spec.label_col].map(spec.label_map).tolist()
        start = time.perf_counter()
        analysis = pipe.analyse(df[spec.text_col].tolist())
        seconds = time.perf_counter() - start
        pred = predict(analysis.overall_proba, pipe.heads.overall.labels, spec.task)
        acc = np.mean([p == g for p, g in zip(pred, gold)])
        majority = pd.Series(gold).value_counts(normalize=True).iloc[0]
        lang_acc = np.mean([lang == spec.lang for lang in analysis.prepared.lang])
        print(f"{spec.file:34} {spec.task:6} {len(df):5d} {acc:13.3f} {majority:8.3f} {lang_acc:8.3f} {seconds:6.0f}")
    skytrax = args.eval_dir / "en_skytrax_airline.csv"
    if skytrax.is_file():
        print_sub_ratings(pipe, skytrax)
    return 0


if __name__ == "__main__":
    sys.exit(main())

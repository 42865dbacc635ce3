"""Sentiment and language accuracy of cxnlp on real public comments in ../shared/eval/.

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


def predict(proba: np.ndarray, labels: tuple[str, ...], task: str) -> list[str]:
    """The overall head's most likely label among those the data set uses (mixed is never a gold label)."""
    allowed = ("negative", "positive") if task == "binary" else THREE
    cols = [labels.index(a) for a in allowed]
    return [allowed[k] for k in proba[:, cols].argmax(axis=1)]


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
    return 0


if __name__ == "__main__":
    sys.exit(main())

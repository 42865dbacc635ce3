"""SetFit-style training against heads only, on a sample of the labelled training comments.

Trains both methods on the same sample (default 2,000 comments, stratified by language and
pillar), measures both on the fixed test split, and prints F1 and wall-clock minutes. The model
version goes to a scratch directory (a fine-tuned embedder is ~465 MB; it is never committed).

    .venv/bin/python scripts/bench_setfit.py [--n 2000] [--pairs 3000] [--out /tmp/setfit-bench]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pandas as pd
import torch

from cxnlp.config import Settings
from cxnlp.embed import SentenceTransformerEmbedder
from cxnlp.training.data import LabelledSet, load_labelled
from cxnlp.training.setfit import SetFitParams
from cxnlp.training.train import TrainParams, train

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="training comments to sample")
    parser.add_argument("--pairs", type=int, default=3000, help="contrastive pairs")
    parser.add_argument("--out", type=Path, default=Path("/tmp/setfit-bench"), help="scratch models directory")
    args = parser.parse_args()

    data = load_labelled(sorted((ROOT / "data" / "labelled").glob("*.csv")))
    train_rows = data.subset("train")
    # One fold of a stratified split is a stratified sample of the wanted size.
    k = max(2, round(len(train_rows.frame) / args.n))
    sample = train_rows.rows(train_rows.folds(k, seed=0) == 0)
    combined = LabelledSet(pd.concat([sample.frame, data.subset("test").frame], ignore_index=True), data.problems)
    print(f"torch threads {torch.get_num_threads()}, {os.cpu_count()} cores; "
          f"{len(sample.frame)} training comments, {len(data.subset('test').frame)} test comments, {args.pairs} pairs")
    embedder = SentenceTransformerEmbedder.from_settings(Settings.load())
    started, cpu_started = time.perf_counter(), time.process_time()
    card = train(combined, embedder, args.out, TrainParams(), method="setfit", setfit=SetFitParams(pairs=args.pairs))
    print(f"total wall clock {(time.perf_counter() - started) / 60:.1f} min, CPU {(time.process_time() - cpu_started) / 60:.1f} min "
          f"(on a shared machine wall clock > CPU / cores); model at {args.out / card['version']}")
    for name, c in card["method_comparison"]["candidates"].items():
        scores = ", ".join(f"{lang} {v:.3f}" for lang, v in c["macro_f1"].items())
        print(f"{name:7s} macro-F1 {scores}; training {c['training_minutes']:.1f} min")
    print(f"kept {card['method']}, margin {card['method_comparison']['margin_macro_f1']:.3f} macro-F1")


if __name__ == "__main__":
    main()

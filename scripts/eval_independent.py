"""The promoted model and the baselines on comments from other writers: the example-export banks.

`data/labelled/`'s test split was written by the same people as its training rows, so it
flatters any model that learns their wording (TF-IDF most of all). The banks in
`scripts/example_export/` were written later, by other writers, for another company
(a telecom), with the pillars each comment was written to carry. Here the model and the
baselines learn from every `train` row of `data/labelled/` and are measured on the banks.
A bank comment whose words (case and punctuation aside) are also a training comment is left out.
The banks have no overall-sentiment label: it is taken from the pillar polarities (one
polarity: that one; none: neutral; both: mixed), so read pillar figures first.

    .venv/bin/python scripts/eval_independent.py [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import pandas as pd

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent


def _words(text: pd.Series) -> pd.Series:
    return text.str.lower().str.replace(r"\W+", " ", regex=True).str.strip()


def independent_frame() -> pd.DataFrame:
    train = pd.concat([pd.read_csv(p, keep_default_na=False) for p in sorted((ROOT / "data" / "labelled").glob("*.csv"))])
    train = train[train.get("split", "train").replace("", "train").fillna("train") == "train"].assign(split="train")
    banks = []
    for lang in ("sv", "no", "en"):
        bank = pd.read_csv(ROOT / "scripts" / "example_export" / f"comments_{lang}.csv", keep_default_na=False)
        polarities = bank["pillars"].str.split(";").map(lambda ps: {p.split(":")[1] for p in ps if p})
        sentiment = polarities.map(lambda s: "neutral" if not s else next(iter(s)) if len(s) == 1 else "mixed")
        banks.append(pd.DataFrame({"text": bank["text"], "lang": lang, "pillars": bank["pillars"],
                                   "sentiment": sentiment, "split": "test"}))
    test = pd.concat(banks)
    test = test[(test["text"].str.strip() != "") & ~_words(test["text"]).isin(set(_words(train["text"])))]
    test = test[~_words(test["text"]).duplicated()]
    return pd.concat([train[["text", "lang", "pillars", "sentiment", "split"]], test], ignore_index=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the metrics here")
    args = parser.parse_args()
    from cxnlp.config import DEFAULT_MODELS_DIR, Settings
    from cxnlp.pipeline import Pipeline
    from cxnlp.training.benchmark import baseline_rows, run_evaluation
    from cxnlp.training.data import load_labelled
    from cxnlp.training.registry import resolve_model
    from cxnlp.training.train import params_of

    settings = Settings.load()
    model_dir = resolve_model(DEFAULT_MODELS_DIR, settings.classifier)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "independent.csv"
        independent_frame().to_csv(path, index=False)
        data = load_labelled([path])
    result = run_evaluation(Pipeline.load(model_dir, settings), data, params_of(model_dir))
    print(f"{model_dir.name}: {result['protocol']} (example-export banks; trained on data/labelled train rows)")
    for row in baseline_rows(result):
        print("  ".join(f"{cell:>22}" if i == 0 else f"{cell:>7}" for i, cell in enumerate(row)))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

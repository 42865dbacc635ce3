"""One typed settings object, so a run is reproducible from its configuration.

Values come, lowest precedence first, from the defaults below, a `cxnlp.toml` file
(current directory, or the path in `CXNLP_CONFIG`), and `CXNLP_<FIELD>` environment
variables; the CLI passes its options on top.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from cxnlp.errors import InputFileError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODELS_DIR = PROJECT_ROOT / "models"
DEFAULT_POINTER = "DEFAULT"  # file in a models directory naming the promoted classifier


def default_classifier(models_dir: Path | None = None) -> Path:
    """The classifier `cxnlp models promote` chose (named in `models/DEFAULT`), else `models/classifier`."""
    models_dir = models_dir or DEFAULT_MODELS_DIR
    pointer = models_dir / DEFAULT_POINTER
    name = pointer.read_text("utf-8").strip() if pointer.is_file() else ""
    return models_dir / (name or "classifier")


# A tier is a set of settings: `--tier fast` swaps the transformer for the static model and its own heads,
# and scores large inputs in one process per core.
TIERS: dict[str, dict[str, str]] = {
    "default": {},
    "fast": {"backend": "static", "classifier": str(DEFAULT_MODELS_DIR / "fast" / "classifier"),
             "workers": str(len(os.sched_getaffinity(0)))},
}


class Settings(BaseModel):
    """Everything tunable about a scoring run."""

    embedder: str = Field(
        str(DEFAULT_MODELS_DIR / "embedder"),
        description="sentence-transformers model directory or hub name for the embedder.",
    )
    classifier: str = Field(
        default_factory=lambda: str(default_classifier()),
        description="Directory of the trained pillar and sentiment heads (default: the promoted version).",
    )
    cache_dir: str | None = Field(
        str(PROJECT_ROOT / ".cache" / "embeddings"),
        description="Where embeddings are cached by (model, text); None disables the cache.",
    )
    batch_size: int = Field(32, ge=1, description="Texts per embedding batch.")
    device: str = Field("cpu", description="Torch device for the embedder.")
    backend: Literal["torch", "onnx-float32", "onnx-int8", "static"] = Field(
        "onnx-int8",
        description="How the embedder runs: torch float32 (the reference), the ONNX export in float32 or "
        "with int8 weights, or the static model distilled from it (the fast tier; needs its own classifier). "
        "docs/performance.md has the speed and accuracy of each.",
    )
    static_embedder: str = Field(
        str(DEFAULT_MODELS_DIR / "fast" / "static"), description="The static model the `static` backend reads."
    )
    language_model: Literal["langdetect", "naive-bayes"] = Field(
        "naive-bayes",
        description="Character n-gram model of language detection: a naive Bayes classifier over langdetect's "
        "profiles, vectorised (the default: about 30 times faster than langdetect and as accurate on our data), "
        "or langdetect itself (about 1 ms a comment); docs/performance.md.",
    )
    effort: bool = Field(
        True,
        description="Read the effort columns (cx_wait_minutes, cx_contacts, cx_steps, cx_effort_spans). They are half "
        "of the fast tier's time: `false` leaves them out of the output (docs/performance.md).",
    )
    workers: int = Field(
        1, ge=1,
        description="Processes that score chunks of a large input side by side (the fast tier: one per core). Keep 1 "
        "for the transformer tiers, whose embedder already uses every core through `threads`.",
    )
    threads: int = Field(
        default_factory=lambda: len(os.sched_getaffinity(0)), ge=1,
        description="Threads for the embedder's arithmetic: one per core this process may use.",
    )

    @classmethod
    def load(cls, path: Path | None = None, **overrides: object) -> "Settings":
        """Merge defaults, the TOML file, environment variables and explicit overrides."""
        values: dict[str, object] = {}
        toml_path = path or Path(os.environ.get("CXNLP_CONFIG", "cxnlp.toml"))
        if toml_path.is_file():
            with toml_path.open("rb") as fh:
                values.update(tomllib.load(fh).get("cxnlp", {}))
        for name in cls.model_fields:
            env = os.environ.get(f"CXNLP_{name.upper()}")
            if env is not None:
                values[name] = env
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**values)
        except ValidationError as err:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
            raise InputFileError(toml_path, f"invalid setting (file, CXNLP_* variable or option): {problems}") from None

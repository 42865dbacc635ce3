"""Model versions side by side under `models/`: each `cxnlp train` writes a new directory, and
one of them is the default that `score` uses, named in `models/DEFAULT`. An analyst lists the
versions, compares two on the same comments, and promotes the better one."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
import numpy as np

from cxnlp.config import DEFAULT_POINTER, Settings, default_classifier
from cxnlp.errors import ModelNotFoundError
from cxnlp.pillars import PILLARS
from cxnlp.training.data import LabelledSet
from cxnlp.training.evaluate import RowPredictions, bootstrap_macro_f1_difference, pillar_metrics, predict_rows

HEADS_FORMAT_PREFIX = "cxnlp-heads/"


def new_version_dir(models_dir: Path, data_hash: str, created: datetime) -> Path:
    """`classifier-<UTC time>-<data hash>`: sorts by time, and says which data it learnt from. A second
    run within the same second gets a count after the time (`...Z-2-<hash>`), so the name still ends
    with its data's hash."""
    stamp, digest = f"classifier-{created:%Y%m%dT%H%M%SZ}", data_hash[:8]
    path, k = models_dir / f"{stamp}-{digest}", 2
    while path.exists():
        path, k = models_dir / f"{stamp}-{k}-{digest}", k + 1
    return path


@dataclass(frozen=True)
class ModelVersion:
    name: str
    path: Path
    created: str
    method: str
    n_train: int
    data_hash: str
    macro_f1: dict[str, float]  # language (and "all") -> test-split pillar macro-F1
    is_default: bool


def _is_model(path: Path) -> bool:
    config = path / "config.json"
    return config.is_file() and str(json.loads(config.read_text("utf-8")).get("format", "")).startswith(HEADS_FORMAT_PREFIX)


def list_versions(models_dir: Path) -> list[ModelVersion]:
    """Every trained classifier directory in `models_dir`, oldest first."""
    default = default_classifier(models_dir).resolve()
    versions = []
    for path in sorted(p for p in models_dir.iterdir() if p.is_dir() and _is_model(p)):
        card_path = path / "metrics.json"
        card = json.loads(card_path.read_text("utf-8")) if card_path.is_file() else {}
        metrics = card.get("metrics") or {}
        versions.append(ModelVersion(
            name=path.name, path=path, created=card.get("created", ""), method=card.get("method", "head"),
            n_train=int(card.get("n_train", 0)), data_hash=card.get("data_hash", ""),
            macro_f1={lang: m["pillars"]["macro_f1"] for lang, m in metrics.items()},
            is_default=path.resolve() == default,
        ))
    return sorted(versions, key=lambda v: (v.created, v.name))


def resolve_model(models_dir: Path, model: Path | str) -> Path:
    """A model given as a directory path or as a version name in `models_dir`."""
    for path in (Path(model), models_dir / str(model)):
        if path.is_dir() and _is_model(path):
            return path
    raise ModelNotFoundError(f"{model}: no trained classifier by that path or name; see `cxnlp models list`.")


def promote(models_dir: Path, model: Path | str) -> Path:
    """Make `model` the default classifier by writing its name to `models_dir/DEFAULT`."""
    path = resolve_model(models_dir, model)
    if path.resolve().parent != models_dir.resolve():
        raise ModelNotFoundError(f"{path}: only a version inside {models_dir} can be the default; move it there first.")
    pointer = models_dir / DEFAULT_POINTER
    staging = pointer.with_suffix(".tmp")
    staging.write_text(path.name + "\n", "utf-8")
    os.replace(staging, pointer)  # atomic: a concurrent `score` reads the old or the new name, never half
    return path


def compare(models_dir: Path, model_a: Path | str, model_b: Path | str, data: LabelledSet,
            settings: Settings | None = None, n_boot: int = 2000, seed: int = 0) -> dict:
    """Score both versions on the same comments and compare them (see `compare_predictions`)."""
    from cxnlp.pipeline import Pipeline  # torch and spaCy load only when models are really scored

    paths = [resolve_model(models_dir, m) for m in (model_a, model_b)]
    rows_a, rows_b = (predict_rows(Pipeline.load(p, settings), data) for p in paths)
    return {"a": paths[0].name, "b": paths[1].name, **compare_predictions(rows_a, rows_b, n_boot=n_boot, seed=seed)}


def compare_predictions(rows_a: RowPredictions, rows_b: RowPredictions, n_boot: int = 2000, seed: int = 0) -> dict:
    """Paired-bootstrap confidence intervals on the macro-F1 difference (b minus a) per language and
    overall, and per-pillar F1 side by side. Both must be predictions for the same rows."""
    result: dict = {"n": len(rows_a.lang), "by_language": {}}
    for lang in ["all", *sorted(set(rows_a.lang))]:
        m = np.ones(len(rows_a.lang), bool) if lang == "all" else rows_a.lang == lang
        result["by_language"][lang] = bootstrap_macro_f1_difference(rows_a.Y[m], rows_a.P[m], rows_b.P[m],
                                                                    n_boot=n_boot, seed=seed)
    per_a, per_b = (pillar_metrics(r.Y, r.P)["per_pillar"] for r in (rows_a, rows_b))
    result["per_pillar"] = {p: {"f1_a": per_a[p]["f1"], "f1_b": per_b[p]["f1"], "support": per_a[p]["support"]}
                            for p in PILLARS}
    return result

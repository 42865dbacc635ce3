"""Save and load estimator state as safetensors plus JSON metadata: nothing a user
receives is ever unpickled, so loading a model cannot execute code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from cxnlp.errors import ModelNotFoundError


def save_state(path: Path, arrays: dict[str, np.ndarray], params: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(path), metadata={"params": json.dumps(params)})


def load_state(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    if not path.is_file():
        raise ModelNotFoundError(f"{path}: model file missing; train one with `cxnlp train`.")
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as fh:
        params = json.loads((fh.metadata() or {}).get("params", "{}"))
    return load_file(str(path)), params

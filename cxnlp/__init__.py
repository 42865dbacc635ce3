"""cxnlp: six CX pillars with sentiment for Swedish, Norwegian and English survey comments.

    >>> from cxnlp import Pipeline
    >>> pipe = Pipeline.load()
    >>> scored = pipe.score(df, text_col="comment")
"""

from importlib import import_module

from cxnlp.config import Settings
from cxnlp.errors import CxnlpError, InputFileError, MissingColumnError, ModelNotFoundError

# Imported on first use, so `cxnlp --help` does not pay for spaCy, scikit-learn and torch.
_LAZY = {"Pipeline": "cxnlp.pipeline", "OUTPUT_COLUMNS": "cxnlp.pipeline", "PILLARS": "cxnlp.pillars"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cxnlp' has no attribute {name!r}")


__all__ = [
    "Pipeline",
    "Settings",
    "PILLARS",
    "OUTPUT_COLUMNS",
    "CxnlpError",
    "InputFileError",
    "MissingColumnError",
    "ModelNotFoundError",
]
__version__ = "0.1.0"

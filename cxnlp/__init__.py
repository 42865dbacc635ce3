"""cxnlp: six CX pillars with sentiment for Swedish, Norwegian and English survey comments.

    >>> from cxnlp import Pipeline
    >>> pipe = Pipeline.load()
    >>> scored = pipe.score(df, text_col="comment")
"""

from cxnlp.config import Settings
from cxnlp.errors import CxnlpError, InputFileError, MissingColumnError, ModelNotFoundError
from cxnlp.pillars import PILLARS
from cxnlp.pipeline import OUTPUT_COLUMNS, Pipeline

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

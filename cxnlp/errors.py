"""One exception type per kind of failure a user can act on.

Raised deep in the library, turned into a one-line message and an exit code in one
place: the CLI. Exit code 2 means the user's input is at fault, 1 an internal failure.
"""

from __future__ import annotations


class CxnlpError(Exception):
    """Base class: `str(err)` is a complete, user-facing sentence."""

    exit_code = 1


class InputFileError(CxnlpError):
    """A file the user gave cannot be read as a table (missing, encoding, format)."""

    exit_code = 2

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        super().__init__(f"{self.path}: {problem}")


class MissingColumnError(InputFileError):
    """The table lacks a column the command was told to use."""

    def __init__(
        self, path: object, column: str, available: list[str], hint: str = "Pass the right one with --text-col."
    ) -> None:
        self.column = column
        shown = ", ".join(available[:20]) + (" ..." if len(available) > 20 else "")
        super().__init__(path, f"no column named {column!r}; the file has: {shown}. {hint}")


class LabelledDataError(InputFileError):
    """Training data that cannot be trusted: the message lists the offending rows."""


class ModelNotFoundError(CxnlpError):
    """A model directory is missing or incomplete."""

    exit_code = 2


class EmbedderBuildError(CxnlpError):
    """The converted embedder failed its own verification and was not installed."""


class ClusterError(CxnlpError):
    """The Dask cluster `cxnlp batch --engine dask` was pointed at cannot be used: unreachable, no
    workers, or workers with different models."""

    exit_code = 2

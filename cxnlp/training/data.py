"""Labelled comments in, in the shape analysts keep them, validated before anything trains on them.

A file has one row per comment with `text`, `lang`, `sentiment`, optionally `split`
(`train` / `test`), and the pillars either as one `pillars` column
(`empathy:positive;time_and_effort:negative`) or as one column per pillar holding the
polarity. Every problem is reported with file, line and column.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from cxnlp.errors import LabelledDataError
from cxnlp.io import read_table
from cxnlp.language import SUPPORTED
from cxnlp.pillars import PILLARS
from cxnlp.sentiment import OVERALL, POLARITIES

MIN_PER_LANGUAGE = 30
SPLITS = ("train", "test")


@dataclass(frozen=True)
class Problem:
    file: str
    line: int  # 1-based line of the row in the file, header = 1
    column: str
    message: str
    fatal: bool = True

    def __str__(self) -> str:
        return f"{self.file}:{self.line} [{self.column}] {self.message}"


@dataclass
class LabelledSet:
    """Validated comments: `frame` has text, lang, sentiment, split, labels (dict pillar -> polarity)."""

    frame: pd.DataFrame
    problems: list[Problem] = field(default_factory=list)

    @property
    def Y(self) -> np.ndarray:
        return np.array([[int(p in labels) for p in PILLARS] for labels in self.frame["labels"]], dtype=int)

    def subset(self, split: str) -> "LabelledSet":
        return self.rows((self.frame["split"] == split).to_numpy())

    def folds(self, k: int, seed: int = 0) -> np.ndarray:
        """Fold number (0..k-1) of each row, stratified by language and the row's rarest pillar, so
        every fold sees every language and the rare pillars in the same proportion."""
        from sklearn.model_selection import StratifiedKFold

        if len(self.frame) < k:
            raise ValueError(f"{k}-fold cross-validation needs at least {k} comments, got {len(self.frame)}")
        Y = self.Y
        rarest = np.where(Y.any(axis=1), np.argmin(np.where(Y == 1, Y.sum(axis=0), np.inf), axis=1), -1)
        strata = pd.Series([f"{lang}:{j}" for lang, j in zip(self.frame["lang"], rarest)])
        counts = strata.map(strata.value_counts())
        strata = strata.where(counts >= k, self.frame["lang"].to_numpy())
        fold = np.zeros(len(self.frame), dtype=int)
        splitter = StratifiedKFold(k, shuffle=True, random_state=seed)
        for i, (_, held) in enumerate(splitter.split(np.zeros(len(strata)), strata)):
            fold[held] = i
        return fold

    def rows(self, mask: np.ndarray) -> "LabelledSet":
        return LabelledSet(self.frame[mask].reset_index(drop=True), self.problems)

    def data_hash(self) -> str:
        h = hashlib.sha256()
        for row in self.frame[["text", "lang", "pillars", "sentiment", "split"]].itertuples(index=False):
            h.update("\x1f".join(row).encode("utf-8") + b"\x1e")
        return h.hexdigest()


def parse_pillars(cell: str) -> dict[str, str]:
    """`'empathy:positive;time_and_effort:negative'` -> dict; raises ValueError naming the bad part."""
    labels: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in str(cell).split(";"))):
        pillar, sep, polarity = (x.strip().lower() for x in part.partition(":"))
        if pillar not in PILLARS:
            raise ValueError(f"unknown pillar {pillar!r} in {part!r}; expected one of {', '.join(PILLARS)}")
        if not sep or polarity not in POLARITIES:
            raise ValueError(f"{part!r} needs a polarity: one of {', '.join(POLARITIES)}")
        if pillar in labels and labels[pillar] != polarity:
            raise ValueError(f"pillar {pillar!r} given twice with different polarities")
        labels[pillar] = polarity
    return labels


def format_pillars(labels: dict[str, str]) -> str:
    return ";".join(f"{p}:{labels[p]}" for p in PILLARS if p in labels)


def _pillar_cells(df: pd.DataFrame) -> pd.Series:
    """One `pillars` string per row, from a `pillars` column or from one column per pillar."""
    if "pillars" in df.columns:
        return df["pillars"].astype(str)
    present = [p for p in PILLARS if p in df.columns]
    return df[present].apply(
        lambda row: ";".join(f"{p}:{str(v).strip()}" for p, v in row.items() if str(v).strip()), axis=1
    )


def load_labelled(paths: Sequence[Path | str], allow_warnings: bool = False) -> LabelledSet:
    """Read and validate labelled files; raise LabelledDataError listing every problem found.

    With `allow_warnings`, rows with problems are dropped (and listed in `problems`) instead.
    """
    frames, problems = [], []
    for path in paths:
        df = read_table(path)
        missing = [c for c in ("text", "lang", "sentiment") if c not in df.columns]
        if "pillars" not in df.columns and not any(p in df.columns for p in PILLARS):
            missing.append("pillars (or one column per pillar)")
        if missing:
            raise LabelledDataError(path, f"missing column(s): {', '.join(missing)}.")
        rows = pd.DataFrame({
            "text": df["text"].astype(str),
            "lang": df["lang"].astype(str).str.strip().str.lower(),
            "pillars": _pillar_cells(df),
            "sentiment": df["sentiment"].astype(str).str.strip().str.lower(),
            "split": df["split"].astype(str).str.strip().str.lower() if "split" in df.columns else "train",
            "file": str(path),
            "line": np.arange(len(df)) + 2,
        })
        frames.append(rows)
    frame = pd.concat(frames, ignore_index=True)
    labels, keep = [], []
    for row in frame.itertuples(index=False):
        row_problems = _check_row(row)
        problems.extend(row_problems)
        try:
            labels.append(parse_pillars(row.pillars))
        except ValueError:
            labels.append({})
        keep.append(not row_problems)
    frame["labels"] = labels
    frame["pillars"] = [format_pillars(x) for x in labels]
    problems.extend(_conflicting_duplicates(frame))
    problems.extend(_thin_languages(frame))
    fatal = [p for p in problems if p.fatal]
    if fatal and not allow_warnings:
        shown = "\n  ".join(str(p) for p in fatal[:25])
        more = f"\n  ... and {len(fatal) - 25} more" if len(fatal) > 25 else ""
        raise LabelledDataError(
            ", ".join(map(str, paths)),
            f"{len(fatal)} problem(s); fix them or pass --allow-warnings to drop those rows:\n  {shown}{more}",
        )
    bad_lines = {(p.file, p.line) for p in fatal}
    mask = [k and (f, ln) not in bad_lines for k, f, ln in zip(keep, frame["file"], frame["line"])]
    return LabelledSet(frame[mask].reset_index(drop=True), problems)


def _check_row(row) -> list[Problem]:
    out = []
    where = (row.file, int(row.line))
    if not row.text.strip():
        out.append(Problem(*where, "text", "empty text"))
    if row.lang not in SUPPORTED:
        out.append(Problem(*where, "lang", f"unknown language {row.lang!r}; expected one of {', '.join(SUPPORTED)}"))
    if row.sentiment not in OVERALL:
        out.append(Problem(*where, "sentiment", f"unknown sentiment {row.sentiment!r}; expected {', '.join(OVERALL)}"))
    if row.split not in SPLITS:
        out.append(Problem(*where, "split", f"unknown split {row.split!r}; expected train or test"))
    try:
        parse_pillars(row.pillars)
    except ValueError as err:
        out.append(Problem(*where, "pillars", str(err)))
    return out


def _conflicting_duplicates(frame: pd.DataFrame) -> list[Problem]:
    key = frame["text"].str.strip().str.lower()
    out = []
    for _, group in frame.groupby(key):
        if len(group) > 1 and (group["pillars"].nunique() > 1 or group["sentiment"].nunique() > 1):
            first = group.iloc[0]
            for row in group.iloc[1:].itertuples(index=False):
                out.append(Problem(row.file, int(row.line), "text",
                                   f"same text as {first.file}:{first.line} but different labels"))
    return out


def _thin_languages(frame: pd.DataFrame) -> list[Problem]:
    counts = frame["lang"].value_counts()
    return [
        Problem(str(frame["file"].iloc[0]), 1, "lang",
                f"only {int(counts.get(lang, 0))} examples in {lang!r} (fewer than {MIN_PER_LANGUAGE}); "
                "that language will be poorly served", fatal=False)
        for lang in SUPPORTED
        if counts.get(lang, 0) < MIN_PER_LANGUAGE
    ]

"""Measure effort extraction on the team's labelled effort set: precision and recall per
field and language, with the comments read as `cxnlp score` reads them (cleaned, language
detected) unless told to trust the labelled language.

A value is correct when it is within `TOLERANCE` of the labelled one: counts exactly,
minutes within 10% (so "about an hour" read as 60 against a label of 55 still counts).
A wrong value is both a false positive and a false negative.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from cxnlp.clean import clean_texts
from cxnlp.effort import EffortExtractor
from cxnlp.errors import LabelledDataError
from cxnlp.io import read_table
from cxnlp.language import SUPPORTED, LanguageDetector
from cxnlp.training.data import Problem
from cxnlp.training.evaluate import _prf

# labelled column -> scored column
FIELDS = {"wait_minutes": "cx_wait_minutes", "contacts": "cx_contacts", "steps": "cx_steps"}
TOLERANCE = {"wait_minutes": 0.10, "contacts": 0.0, "steps": 0.0}  # relative
SPLITS = ("dev", "test")
COLUMNS = ("text", "lang", *FIELDS, "split")


def load_effort_set(paths: Sequence[Path | str]) -> pd.DataFrame:
    """Read labelled effort files (text, lang, wait_minutes, contacts, steps, split); values
    become floats (NaN where empty). Every bad cell is reported with file, line and column."""
    frames, problems = [], []
    for path in paths:
        df = read_table(path)
        missing = [c for c in COLUMNS if c not in df.columns]
        if missing:
            raise LabelledDataError(path, f"missing column(s): {', '.join(missing)}.")
        df = df[list(COLUMNS)].copy()
        for k, row in enumerate(df.itertuples(index=False)):
            problems.extend(_check_row(row, str(path), k + 2))
        frames.append(df)
    if problems:
        shown = "\n  ".join(str(p) for p in problems[:25])
        more = f"\n  ... and {len(problems) - 25} more" if len(problems) > 25 else ""
        raise LabelledDataError(", ".join(map(str, paths)), f"{len(problems)} problem(s):\n  {shown}{more}")
    frame = pd.concat(frames, ignore_index=True)
    frame["lang"] = frame["lang"].str.strip().str.lower()
    frame["split"] = frame["split"].str.strip().str.lower()
    for field in FIELDS:
        frame[field] = pd.to_numeric(frame[field].str.strip().replace("", np.nan))
    return frame


def _check_row(row, file: str, line: int) -> list[Problem]:
    out = []
    if not str(row.text).strip():
        out.append(Problem(file, line, "text", "empty text"))
    if str(row.lang).strip().lower() not in SUPPORTED:
        out.append(Problem(file, line, "lang", f"unknown language {row.lang!r}; expected one of {', '.join(SUPPORTED)}"))
    if str(row.split).strip().lower() not in SPLITS:
        out.append(Problem(file, line, "split", f"unknown split {row.split!r}; expected dev or test"))
    for field in FIELDS:
        cell = str(getattr(row, field)).strip()
        if not cell:
            continue
        try:
            value = float(cell)
        except ValueError:
            value = math.nan
        if not value > 0:
            out.append(Problem(file, line, field, f"{cell!r} is not a positive number (leave it empty for none)"))
    return out


def value_matches(gold: float, predicted: float, tolerance: float) -> bool:
    return abs(predicted - gold) <= tolerance * gold + 1e-9


def effort_metrics(gold: pd.DataFrame, predicted: pd.DataFrame) -> dict:
    """{lang: {field: precision, recall, f1, support, predicted, tp}} for `all` and each language.

    `gold` has `lang` and the labelled fields; `predicted` the `cx_*` columns, row for row."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} labelled rows but {len(predicted)} predictions")
    langs = gold["lang"].to_numpy()
    results: dict = {}
    for lang in ["all", *sorted(set(langs))]:
        rows = np.ones(len(gold), bool) if lang == "all" else langs == lang
        results[lang] = {"n": int(rows.sum())}
        for field, column in FIELDS.items():
            truth = gold[field].to_numpy(dtype=float)[rows]
            guess = predicted[column].astype("Float64").to_numpy(dtype=float, na_value=np.nan)[rows]
            has_truth, has_guess = ~np.isnan(truth), ~np.isnan(guess)
            tp = sum(value_matches(t, g, TOLERANCE[field])
                     for t, g in zip(truth[has_truth & has_guess], guess[has_truth & has_guess]))
            results[lang][field] = {**_prf(tp, int(has_guess.sum()) - tp, int(has_truth.sum()) - tp),
                                    "support": int(has_truth.sum()), "predicted": int(has_guess.sum()), "tp": int(tp)}
    return results


def evaluate_effort(data: pd.DataFrame, extractor: EffortExtractor | None = None,
                    detector: LanguageDetector | None = None, labelled_language: bool = False) -> dict:
    """Extract effort from the labelled comments as `score` would, and measure it."""
    cleaned = clean_texts(data["text"].tolist())["text"].tolist()
    if labelled_language:
        langs = data["lang"].tolist()
    else:
        langs = [g.lang for g in (detector or LanguageDetector()).detect_many(cleaned)]
    predicted = (extractor or EffortExtractor()).transform(cleaned, langs)
    return effort_metrics(data.reset_index(drop=True), predicted)


def effort_rows(metrics: dict) -> list[list[str]]:
    """Table rows (header first): one per language and field."""
    rows = [["lang", "field", "precision", "recall", "labelled", "predicted", "correct"]]
    for lang, m in metrics.items():
        for field in FIELDS:
            f = m[field]
            rows.append([lang, field, f"{f['precision']:.3f}", f"{f['recall']:.3f}", str(f["support"]),
                         str(f["predicted"]), str(f["tp"])])
    return rows

"""Targets: a goal per pillar and per effort measure, optionally per segment, checked with
their intervals so that only a significant miss raises an alert.

They live in `cxnlp.toml`:

    [targets.pillars]
    time_and_effort = { negative_share = "<= 15%", net_sentiment = ">= 0.2" }

    [targets.effort]
    multi_contact_share = "<= 20%"

    [targets.segments."channel=app".pillars]
    time_and_effort = { negative_share = "<= 25%" }

A target is `met` when the measured value satisfies it, `missed` when the whole 95%
interval lies on the wrong side (an alert), and `at risk` when the value misses but the
interval still reaches the target (not yet distinguishable from noise).
"""

from __future__ import annotations

import operator
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from cxnlp.errors import CxnlpError
from cxnlp.pillars import PILLARS

PILLAR_MEASURES = ("net_sentiment", "negative_share", "mention_share", "score")
COMPARISONS: dict[str, Callable[[float, float], bool]] = {"<=": operator.le, ">=": operator.ge}
_SPEC = re.compile(r"^\s*(<=|>=)\s*(-?\d+(?:[.,]\d+)?)\s*(%?)\s*$")
MET, AT_RISK, MISSED = "met", "at risk", "missed"
TARGET_MISSED_EXIT = 3  # distinct from bad input (2) and failure (1), so a scheduler can notify


class TargetConfigError(CxnlpError):
    """A target in the configuration that cannot be understood."""

    exit_code = 2


@dataclass(frozen=True)
class Target:
    """One goal: `subject` is a pillar or `effort`; `scope` a (segment column, value) or None."""

    subject: str
    measure: str
    op: str
    threshold: float
    scope: tuple[str, str] | None = None

    def describe(self) -> str:
        where = f" in {self.scope[0]}={self.scope[1]}" if self.scope else ""
        return f"{self.subject} {self.measure}{where} {self.op} {self.threshold:g}"


def parse_target_spec(spec: str, where: str) -> tuple[str, float]:
    """'<= 15%' -> ('<=', 0.15); '>= 0.2' -> ('>=', 0.2)."""
    match = _SPEC.match(str(spec))
    if not match:
        raise TargetConfigError(f"{where}: target {spec!r} must look like '<= 0.15', '<= 15%' or '>= 0.2'")
    op, number, percent = match.groups()
    value = float(number.replace(",", "."))
    return op, value / 100 if percent else value


def targets_from_config(config: dict, source: str, effort_measures: tuple[str, ...] = ()) -> list[Target]:
    """Targets from the `[targets]` table of a parsed cxnlp.toml, validated with the key path in errors."""
    targets: list[Target] = []

    def add(table: dict, scope: tuple[str, str] | None, where: str) -> None:
        unknown = set(table) - {"pillars", "effort", "segments"}
        if unknown or (scope and "segments" in table):
            raise TargetConfigError(f"{where}: unknown key(s) {sorted(unknown or {'segments'})}; expected pillars, effort"
                                    + ("" if scope else ", segments"))
        for pillar, measures in table.get("pillars", {}).items():
            if pillar not in PILLARS:
                raise TargetConfigError(f"{where}.pillars: {pillar!r} is not a pillar ({', '.join(PILLARS)})")
            for measure, spec in _table(measures, f"{where}.pillars.{pillar}").items():
                if measure not in PILLAR_MEASURES:
                    raise TargetConfigError(f"{where}.pillars.{pillar}: unknown measure {measure!r} ({', '.join(PILLAR_MEASURES)})")
                targets.append(Target(pillar, measure, *parse_target_spec(spec, f"{where}.pillars.{pillar}.{measure}"), scope))
        for measure, spec in table.get("effort", {}).items():
            if measure not in effort_measures:
                raise TargetConfigError(f"{where}.effort: unknown measure {measure!r} ({', '.join(effort_measures) or 'none available'})")
            targets.append(Target("effort", measure, *parse_target_spec(spec, f"{where}.effort.{measure}"), scope))

    root = config.get("targets", {})
    add(_table(root, f"{source} [targets]"), None, f"{source} [targets]")
    for key, table in root.get("segments", {}).items():
        column, sep, value = key.partition("=")
        if not sep or not column.strip() or not value.strip():
            raise TargetConfigError(f"{source} [targets.segments]: {key!r} must be 'column=value', e.g. \"channel=app\"")
        add(_table(table, f"{source} [targets.segments.{key}]"), (column.strip(), value.strip()), f"{source} [targets.segments.\"{key}\"]")
    return targets


def load_targets(path: Path, effort_measures: tuple[str, ...] = ()) -> list[Target]:
    """Targets from a cxnlp.toml file (none when it has no [targets] table)."""
    try:
        with path.open("rb") as fh:
            config = tomllib.load(fh)
    except FileNotFoundError:
        raise TargetConfigError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as err:
        raise TargetConfigError(f"{path}: not valid TOML: {err}") from None
    return targets_from_config(config, str(path), effort_measures)


def _table(value: object, where: str) -> dict:
    if not isinstance(value, dict):
        raise TargetConfigError(f"{where}: expected a table of measures, got {value!r}")
    return value


def target_status(target: Target, value: float, lo: float, hi: float) -> str:
    """met / at risk / missed, judged against the interval so noise does not raise alerts."""
    if np.isnan(value):
        return AT_RISK
    passes = COMPARISONS[target.op]
    if passes(value, target.threshold):
        return MET
    beyond = hi < target.threshold if target.op == ">=" else lo > target.threshold
    return MISSED if beyond else AT_RISK


def target_table(targets: list[Target], measure: Callable[[Target], tuple[float, float, float, int]]) -> pd.DataFrame:
    """Each target with its measured value, interval, n and status; `measure` computes a target's numbers."""
    rows = []
    for target in targets:
        value, lo, hi, n = measure(target)
        rows.append({"subject": target.subject, "measure": target.measure,
                     "segment": target.scope[0] if target.scope else None, "value_of_segment": target.scope[1] if target.scope else None,
                     "target": f"{target.op} {target.threshold:g}", "value": value, "lo": lo, "hi": hi, "n": n,
                     "status": target_status(target, value, lo, hi), "description": target.describe()})
    return pd.DataFrame(rows, columns=["subject", "measure", "segment", "value_of_segment", "target", "value", "lo", "hi",
                                       "n", "status", "description"])


def alert_lines(table: pd.DataFrame) -> list[str]:
    """One line per significantly missed target, for a scheduler's log and notifications."""
    return [f"TARGET MISSED: {row.description}: measured {row.value:.3g} (95% interval {row.lo:.3g} to {row.hi:.3g}, n={row.n})"
            for row in table[table["status"] == MISSED].itertuples()]

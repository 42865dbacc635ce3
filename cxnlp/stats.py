"""The few statistics the insights rest on, each with its interval.

Shares get Wilson intervals (honest at small n and near 0 or 1), differences between
groups a two-proportion z-test, and many tests at once the Benjamini-Hochberg
correction, so a table of 60 cells does not flag three of them by chance.
Bootstrap intervals reweight rows with multinomial counts, so all statistics in one
resample see the same rows.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

Z95 = float(norm.ppf(0.975))


def wilson_interval(k: np.ndarray | int, n: np.ndarray | int, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """95% Wilson score interval for k successes in n trials (NaN where n == 0)."""
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return centre - half, centre + half


def bootstrap_sums(columns: np.ndarray, n_boot: int, seed: int, max_cells: int = 4_000_000) -> np.ndarray:
    """(n_boot, k) sums of each of the k columns over multinomial resamples of the rows.

    Rows that are equal in every column are interchangeable in a resample, so the counts are
    drawn over the distinct rows (weighted by how often each occurs): the same distribution as
    resampling rows, at the cost of the few hundred patterns a scored window has rather than of
    its rows. Counts are drawn a block of resamples at a time (at most `max_cells` in memory).
    Each resample has exactly n_rows rows, so a mean is `sums / n_rows`.
    """
    X = np.asarray(columns, dtype=np.float32)
    X = X[:, None] if X.ndim == 1 else X
    patterns, counts = np.unique(X, axis=0, return_counts=True)
    out = np.empty((n_boot, X.shape[1]), dtype=np.float32)
    for rows, drawn in _resample_counts(counts, n_boot, seed, max_cells):
        out[rows] = drawn.astype(np.float32) @ patterns
    return out


def bootstrap_percentiles(values: np.ndarray, q: float, n_boot: int, seed: int,
                          max_cells: int = 4_000_000) -> np.ndarray:
    """The q-th percentile (numpy's linear interpolation) of each of n_boot resamples of `values`.

    Like `bootstrap_sums`, the resamples are drawn as counts over the distinct values, so a
    window with a hundred thousand reported waits costs what its few hundred distinct waits cost.
    """
    values = np.asarray(values, dtype=float)
    distinct, counts = np.unique(values, return_counts=True)
    n = values.size
    position = (n - 1) * q / 100
    below, above, fraction = int(np.floor(position)), int(np.ceil(position)), position - np.floor(position)
    out = np.empty(n_boot)
    for rows, drawn in _resample_counts(counts, n_boot, seed, max_cells):
        cumulative = drawn.cumsum(axis=1)
        low = distinct[(cumulative > below).argmax(axis=1)]  # the sorted resample's element `below`
        high = distinct[(cumulative > above).argmax(axis=1)]
        out[rows] = low + (high - low) * fraction
    return out


def _resample_counts(counts: np.ndarray, n_boot: int, seed: int, max_cells: int):
    """Yield (slice of resamples, their counts per distinct item), drawing multinomial resamples of
    sum(counts) items a block at a time, so at most `max_cells` counts are in memory."""
    n = int(counts.sum())
    rng = np.random.default_rng(seed)
    block = max(1, max_cells // max(len(counts), 1))
    for start in range(0, n_boot, block):
        size = min(block, n_boot - start)
        yield slice(start, start + size), rng.multinomial(n, counts / n, size=size)


def percentile_interval(samples: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The 2.5th and 97.5th percentiles, ignoring resamples where the statistic was undefined."""
    lo, hi = np.nanpercentile(samples, [2.5, 97.5], axis=axis)
    return lo, hi


def proportion_worse_p(k1: np.ndarray, n1: np.ndarray, k2: np.ndarray, n2: np.ndarray) -> np.ndarray:
    """One-sided p-value that group 1's rate k1/n1 is higher than group 2's (pooled z-test)."""
    k1, n1, k2, n2 = (np.asarray(a, dtype=float) for a in (k1, n1, k2, n2))
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = (k1 + k2) / (n1 + n2)
        se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        z = (k1 / n1 - k2 / n2) / se
    p = norm.sf(z)
    return np.where(np.isfinite(p), p, 1.0)


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """False-discovery-rate adjusted p-values (q-values), same order as the input."""
    p = np.asarray(p_values, dtype=float)
    if p.size == 0:
        return p
    order = np.argsort(p)
    ranked = p[order] * p.size / np.arange(1, p.size + 1)
    q_sorted = np.minimum.accumulate(ranked[::-1])[::-1]
    q = np.empty_like(p)
    q[order] = np.minimum(q_sorted, 1.0)
    return q

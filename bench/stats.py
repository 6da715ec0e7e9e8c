"""Percentiles and summaries of latency samples."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between closest ranks; nan if empty."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples) if samples else math.nan


def mean(samples: Sequence[float]) -> float:
    return statistics.fmean(samples) if samples else math.nan


def ratio(value: float, floor: float) -> float:
    """value / floor, nan when either is missing or the floor is zero."""
    if math.isnan(value) or math.isnan(floor) or floor == 0:
        return math.nan
    return value / floor

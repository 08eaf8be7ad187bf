"""Read the mesh's own Prometheus histograms, so a benchmark can say where its time went.

A benchmark scrapes every process before and after a phase; the difference of a
histogram's ``_sum`` and ``_count`` is the mean time per call *within that phase*, on
the same machine and under the same load as the end-to-end figure beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

#: (metric name without suffix, sorted label items) → (sum, count)
Histograms = dict[tuple[str, tuple[tuple[str, str], ...]], tuple[float, float]]


def scrape(url: str) -> Histograms:
    """Every histogram's sum and count at ``url`` (a ``/metrics`` endpoint)."""
    text = httpx.get(url, timeout=5.0).text
    found: dict[tuple[str, tuple[tuple[str, str], ...]], list[float]] = {}
    for family in text_string_to_metric_families(text):
        if family.type != "histogram":
            continue
        for sample in family.samples:
            if sample.name.endswith("_sum"):
                slot = 0
            elif sample.name.endswith("_count"):
                slot = 1
            else:
                continue
            key = (family.name, tuple(sorted(sample.labels.items())))
            found.setdefault(key, [0.0, 0.0])[slot] = sample.value
    return {key: (pair[0], pair[1]) for key, pair in found.items()}


def scrape_all(urls: Mapping[str, str]) -> dict[str, Histograms]:
    """:func:`scrape` of each process, by process name."""
    return {name: scrape(url) for name, url in urls.items()}


@dataclass(frozen=True)
class Mean:
    """Mean seconds per observation of one histogram series over a phase."""

    seconds: float
    count: int


def mean_between(before: Histograms, after: Histograms, metric: str, **labels: str) -> Mean | None:
    """Mean of ``metric`` with ``labels`` (a subset of its labels) between two scrapes; None if unseen."""
    total, count = 0.0, 0.0
    wanted = set(labels.items())
    for key, (value_sum, value_count) in after.items():
        name, label_items = key
        if name != metric or not wanted <= set(label_items):
            continue
        previous_sum, previous_count = before.get(key, (0.0, 0.0))
        total += value_sum - previous_sum
        count += value_count - previous_count
    if count <= 0:
        return None
    return Mean(total / count, int(count))

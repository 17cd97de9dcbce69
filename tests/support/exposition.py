"""The daemon's real collectors, scraped minute by minute, as promtool's input series.

A test drives `DriftCollector` / `NotificationCollector` through a registry, calls
`SeriesRecorder.scrape` once per minute (for each replica, under its own `instance`), and
hands `input_series()` to `promtool test rules`: dashboards and rules are then evaluated on
exactly the samples the daemon exposes.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry

JOB = "driftwatch"


def series_selector(name: str, labels: Mapping[str, str]) -> str:
    inner = ", ".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def values_text(values: list[float | None]) -> str:
    """promtool's notation: a number per minute, `stale` where a series went away (as a
    scrape marks it), `_` where it never was."""
    words: list[str] = []
    seen = False
    for value in values:
        if value is None:
            words.append("stale" if seen and words[-1] not in ("stale", "_") else "_")
        else:
            seen = True
            words.append(f"{value:g}")
    return " ".join(words)


class SeriesRecorder:
    """Samples per series and minute, as Prometheus would have scraped them."""

    def __init__(self) -> None:
        self._series: dict[str, list[float | None]] = {}
        self._minutes = 0

    def scrape(self, registry: CollectorRegistry, *, instance: str) -> None:
        """Record one scrape of `registry` at the current minute."""
        for family in registry.collect():
            for sample in family.samples:
                labels = {**sample.labels, "job": JOB, "instance": instance}
                key = series_selector(sample.name, labels)
                values = self._series.setdefault(key, [None] * self._minutes)
                values.append(sample.value)

    def next_minute(self) -> None:
        """Close the current minute: series not scraped in it have no sample there."""
        self._minutes += 1
        for values in self._series.values():
            values.extend([None] * (self._minutes - len(values)))

    def input_series(self) -> list[dict[str, str]]:
        return [
            {"series": key, "values": values_text(values)}
            for key, values in sorted(self._series.items())
        ]

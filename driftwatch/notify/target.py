"""What the daemon knows about each target, and how one check changes it. Pure.

What such a change means (a condition started, changed or ended) is `conditions`' to say.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from driftwatch.report import CheckKind, TargetReport


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetState:
    """Immutable; the daemon swaps in `state.after(report)` after every check."""

    name: str
    dialect: str
    labels: Mapping[str, str] = field(default_factory=dict)
    latest: TargetReport | None = None  # the latest check, successful or not
    last_good: TargetReport | None = None  # the latest successful check: what is known
    checks: int = 0
    errors: int = 0
    full_checks: int = 0

    @property
    def checked(self) -> bool:
        return self.latest is not None

    def after(self, report: TargetReport) -> TargetState:
        full = report.succeeded and report.check_kind is CheckKind.FULL
        return replace(
            self,
            latest=report,
            last_good=report if report.succeeded else self.last_good,
            checks=self.checks + 1,
            errors=self.errors + (0 if report.succeeded else 1),
            full_checks=self.full_checks + (1 if full else 0),
        )

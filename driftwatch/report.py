"""Reports: the outcome of checking targets, as plain immutable values."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import IntEnum, StrEnum

from driftwatch.compare.baseline import AcceptedFinding, Baseline, BaselineEntry, apply
from driftwatch.findings import Attribution, Finding
from driftwatch.revisions import RevisionState, RevisionStateKind


class CheckKind(StrEnum):
    FULL = "full"  # the live schema was compared with the models
    PROBE = "probe"  # revision and schema fingerprint unchanged: the last comparison stands


class Category(StrEnum):
    """What may count as out of sync (`--fail-on`)."""

    REVISION = "revision"  # the applied revision is not the scripts' head, or migrating
    DRIFT = "drift"  # findings attributed to drift, and unattributed ones (no replay)
    PENDING = "pending"  # changes the pending migrations will make
    UNMIGRATED = "unmigrated"  # models no migration produces
    ERROR = "error"  # a target could not be checked
    SCHEMA = "schema"  # any schema finding, whatever its attribution (version 1's meaning)
    # the schema was not compared (no models, no expected states): the target could not be
    # checked as asked, although its revision was
    NOT_COMPARED = "not_compared"


ALL_CATEGORIES = frozenset(Category)
# what pages: the database is not what its revision's migrations made, or not at head
DEFAULT_FAIL_ON = frozenset({Category.REVISION, Category.DRIFT, Category.ERROR})

_CATEGORY_OF = {
    Attribution.DRIFT: Category.DRIFT,
    Attribution.UNATTRIBUTED: Category.DRIFT,  # its cause is not known: the page-worthy one
    Attribution.PENDING: Category.PENDING,
    Attribution.UNMIGRATED: Category.UNMIGRATED,
}


def fails(finding: Finding, fail_on: frozenset[Category]) -> bool:
    """Whether `finding` makes its target out of sync under `fail_on`."""
    return Category.SCHEMA in fail_on or _CATEGORY_OF[finding.attribution] in fail_on


class Status(StrEnum):
    IN_SYNC = "in_sync"
    OUT_OF_SYNC = "out_of_sync"
    ERROR = "error"  # could not check


class ExitCode(IntEnum):
    IN_SYNC = 0
    OUT_OF_SYNC = 1
    ERROR = 2


EXIT_CODES = {Status.IN_SYNC: ExitCode.IN_SYNC, Status.OUT_OF_SYNC: ExitCode.OUT_OF_SYNC}


@dataclass(frozen=True, slots=True, kw_only=True)
class SchemaResult:
    """`findings` is the drift; what the target's baseline accepts is in `accepted`."""

    compared: bool
    findings: tuple[Finding, ...] = ()
    skipped_reason: str | None = None
    compared_at: datetime | None = None  # when the comparison behind `findings` ran
    accepted: tuple[AcceptedFinding, ...] = ()
    baseline_unmatched: tuple[BaselineEntry, ...] = ()  # entries no finding matched
    # how the comparison was made: "replay" (attributed), "snapshot" (the models against the
    # live snapshot) or "alembic" (its autogenerate)
    method: str | None = None
    notes: tuple[str, ...] = ()  # what the comparison could not do, or whom it compared

    @property
    def in_sync(self) -> bool:
        """Compared, and nothing drifted: pending and unmigrated findings are the code's
        matter, not the database's."""
        return self.compared and not self.drift

    @property
    def drift(self) -> tuple[Finding, ...]:
        """Findings that count as drift (drift, and unattributed ones)."""
        return tuple(f for f in self.findings if _CATEGORY_OF[f.attribution] is Category.DRIFT)

    def fails(self, fail_on: frozenset[Category]) -> bool:
        return self.compared and any(fails(f, fail_on) for f in self.findings)

    def counts_by_attribution(self) -> dict[str, int]:
        return dict(sorted(Counter(f.attribution.value for f in self.findings).items()))

    def all_findings(self) -> tuple[Finding, ...]:
        """Every difference found, accepted or not, in report order."""
        found = [*self.findings, *(a.finding for a in self.accepted)]
        return tuple(sorted(found, key=lambda f: f.sort_key))

    def under(self, baseline: Baseline | None) -> SchemaResult:
        """This comparison's differences judged by `baseline` (None: all of them are drift)."""
        if not self.compared:
            return self
        drift, accepted, unmatched = apply(self.all_findings(), baseline)
        return replace(self, findings=drift, accepted=accepted, baseline_unmatched=unmatched)

    def counts_by_kind(self) -> dict[str, int]:
        return dict(sorted(Counter(f.kind.value for f in self.findings).items()))


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetReport:
    """The outcome of one check of one target. `error` set means it could not be checked."""

    target: str
    url: str  # password masked
    dialect: str
    started_at: datetime
    duration_seconds: float
    labels: Mapping[str, str] = field(default_factory=dict)
    check_kind: CheckKind | None = None
    revision: RevisionState | None = None
    schema: SchemaResult | None = None
    fingerprint: str | None = None
    error: str | None = None
    # the first of the unbroken run of checks, this one included, that saw a migration
    # running: how long it has been waited out (see `check._migration_overdue`)
    migrating_since: datetime | None = None

    @property
    def succeeded(self) -> bool:
        return self.error is None

    def problem(self, fail_on: frozenset[Category] = frozenset()) -> str | None:
        """Why the target could not be checked, if it could not; under a `fail_on` that
        demands the schema's comparison (`not_compared`), a schema not compared is one."""
        if self.error is not None:
            return self.error
        if self.revision is not None and self.revision.kind is RevisionStateKind.NO_VERSION_TABLE:
            return (
                f"target {self.target!r}: the database has no alembic version table "
                "(never migrated, or the wrong version_table/version_table_schema)"
            )
        why = self.not_compared()
        if why is not None and Category.NOT_COMPARED in fail_on:
            return f"target {self.target!r}: schema not compared: {why}"
        return None

    def not_compared(self) -> str | None:
        """Why the schema was not compared, when the check ran and did not compare it."""
        if self.error is not None or self.schema is None or self.schema.compared:
            return None
        return self.schema.skipped_reason or "no reason given"

    def scrubbed(self, scrub: Callable[[str], str]) -> TargetReport:
        """This report with `scrub` (secrets.Scrubber) applied to its error text."""
        return self if self.error is None else replace(self, error=scrub(self.error))

    @property
    def migrating(self) -> bool:
        """A migration was seen running: the schema gives no verdict (see `status`)."""
        return self.revision is not None and self.revision.kind is RevisionStateKind.MIGRATING

    def status(self, fail_on: frozenset[Category] = DEFAULT_FAIL_ON) -> Status:
        """While a migration runs the database is on its way to the head, not at it: out of
        sync for `revision`; its schema is judged by the check after it, not by this one."""
        if self.problem(fail_on) is not None:
            return Status.ERROR
        revision_bad = self.revision is not None and not self.revision.in_sync
        schema_bad = self.schema is not None and not self.migrating and self.schema.fails(fail_on)
        if (Category.REVISION in fail_on and revision_bad) or schema_bad:
            return Status.OUT_OF_SYNC
        return Status.IN_SYNC


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """Every target checked in one run."""

    targets: tuple[TargetReport, ...]
    generated_at: datetime
    fail_on: frozenset[Category] = DEFAULT_FAIL_ON

    def status(self) -> Status:
        """The worst of the targets' statuses; a target that could not be checked counts
        only when `error` is in `fail_on`, one whose schema was not compared only when
        `not_compared` is."""
        statuses = {
            t.status(self.fail_on)
            for t in self.targets
            if Category.ERROR in self.fail_on or t.problem() is None
        }
        for worst in (Status.ERROR, Status.OUT_OF_SYNC):
            if worst in statuses:
                return worst
        return Status.IN_SYNC

    def exit_code(self) -> ExitCode:
        return EXIT_CODES.get(self.status(), ExitCode.ERROR)

    def scrubbed(self, scrub: Callable[[str], str]) -> Report:
        """This report with `scrub` (secrets.Scrubber) applied to every target's error."""
        return replace(self, targets=tuple(t.scrubbed(scrub) for t in self.targets))

    def problems(self) -> Iterable[str]:
        return (p for t in self.targets if (p := t.problem(self.fail_on)) is not None)

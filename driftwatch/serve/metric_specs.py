"""The exported metric families: names, types, labels and help. A public contract.

Dashboards, alert rules and the collector all read this one table, so a rename shows up
as a failing test everywhere it matters. The collector fills families by these constants,
never by a name string of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricSpec:
    name: str  # the sample name as exposed (counters end in _total)
    type: Literal["gauge", "counter"]
    labels: tuple[str, ...]
    help: str


# --- per target, rendered by metrics.DriftCollector -----------------------------------

BUILD_INFO = MetricSpec(
    name="driftwatch_build_info",
    type="gauge",
    labels=("version",),
    help="Always 1; the running driftwatch version.",
)

TARGET_INFO = MetricSpec(
    name="driftwatch_target_info",
    type="gauge",
    labels=("target", "dialect"),
    help="Always 1 per target; carries the dialect and the target's own labels.",
)

CHECK_SUCCESS = MetricSpec(
    name="driftwatch_check_success",
    type="gauge",
    labels=("target",),
    help="1 if the latest check of the target completed, 0 if it failed.",
)

CHECK_DURATION = MetricSpec(
    name="driftwatch_check_duration_seconds",
    type="gauge",
    labels=("target",),
    help="Duration of the latest check of the target.",
)

LAST_CHECK_TIME = MetricSpec(
    name="driftwatch_last_check_timestamp_seconds",
    type="gauge",
    labels=("target",),
    help="Unix time the latest check of the target finished, successful or not.",
)

LAST_SUCCESS_TIME = MetricSpec(
    name="driftwatch_last_success_timestamp_seconds",
    type="gauge",
    labels=("target",),
    help="Unix time of the latest successful check: the age of what is known.",
)

LAST_FULL_CHECK_TIME = MetricSpec(
    name="driftwatch_last_full_check_timestamp_seconds",
    type="gauge",
    labels=("target",),
    help="Unix time of the latest full schema comparison of the target.",
)

CHECKS = MetricSpec(
    name="driftwatch_checks_total",
    type="counter",
    labels=("target",),
    help="Checks of the target since the process started.",
)

FULL_CHECKS = MetricSpec(
    name="driftwatch_full_checks_total",
    type="counter",
    labels=("target",),
    help="Full schema comparisons of the target since the process started.",
)

CHECK_ERRORS = MetricSpec(
    name="driftwatch_check_errors_total",
    type="counter",
    labels=("target",),
    help="Failed checks of the target since the process started.",
)

REVISION_AT_HEAD = MetricSpec(
    name="driftwatch_revision_at_head",
    type="gauge",
    labels=("target",),
    help="1 if the database is at the single head of the migration scripts.",
)

MIGRATIONS_PENDING = MetricSpec(
    name="driftwatch_migrations_pending",
    type="gauge",
    labels=("target",),
    help="Migration revisions in the scripts not yet applied to the database.",
)

REVISION_UNKNOWN = MetricSpec(
    name="driftwatch_revision_unknown",
    type="gauge",
    labels=("target",),
    help="1 if the database names a revision the migration scripts do not have.",
)

SCRIPT_HEADS = MetricSpec(
    name="driftwatch_script_heads",
    type="gauge",
    labels=("target",),
    help="Number of heads in the migration scripts (more than 1: unmerged).",
)

REVISION_STATE = MetricSpec(
    name="driftwatch_revision_state",
    type="gauge",
    labels=("target", "state"),
    help="1 for the target's current revision state, one series per state.",
)

REVISION_INFO = MetricSpec(
    name="driftwatch_revision_info",
    type="gauge",
    labels=("target", "database_revision", "head_revision"),
    help="Always 1; the database's applied revision(s) and the scripts' head(s).",
)

SCHEMA_IN_SYNC = MetricSpec(
    name="driftwatch_schema_in_sync",
    type="gauge",
    labels=("target",),
    help="1 if the live schema matches the models, 0 if any drift was found; absent while "
    "the schema was never compared (no models, no expected states).",
)

DRIFT_OBJECTS = MetricSpec(
    name="driftwatch_schema_drift_objects",
    type="gauge",
    labels=("target", "kind", "attribution"),
    help="Schema differences by finding kind and attribution (drift, pending, unmigrated, "
    "unattributed); a series disappears once fixed.",
)

DRIFT_ACCEPTED = MetricSpec(
    name="driftwatch_schema_drift_accepted_objects",
    type="gauge",
    labels=("target",),
    help="Schema differences the target's baseline accepts (not counted as drift).",
)

DRIFT_TABLE = MetricSpec(
    name="driftwatch_schema_drift_table",
    type="gauge",
    labels=("target", "schema", "table", "kind", "attribution"),
    help="Schema differences per table, kind and attribution, bounded per target.",
)

DRIFT_TABLES_OMITTED = MetricSpec(
    name="driftwatch_schema_drift_tables_omitted",
    type="gauge",
    labels=("target",),
    help="Per-table drift series left out of driftwatch_schema_drift_table by the cap.",
)

# --- per notifier, rendered by metrics.NotificationCollector (only with notifiers) -----

NOTIFICATIONS_SENT = MetricSpec(
    name="driftwatch_notifications_sent_total",
    type="counter",
    labels=("notifier",),
    help="Notifications the receiver accepted (2xx).",
)

NOTIFICATIONS_FAILED = MetricSpec(
    name="driftwatch_notifications_failed_total",
    type="counter",
    labels=("notifier",),
    help="Notifications given up because the receiver rejected them (4xx other than 429).",
)

NOTIFICATIONS_DROPPED = MetricSpec(
    name="driftwatch_notifications_dropped_total",
    type="counter",
    labels=("notifier",),
    help="Notifications lost: the oldest of a full queue, or unsent at shutdown.",
)

NOTIFICATION_ERRORS = MetricSpec(
    name="driftwatch_notifications_errors_total",
    type="counter",
    labels=("notifier",),
    help="Failed delivery attempts (refused, timed out, 5xx, 429 or rejected).",
)

NOTIFICATION_QUEUE_LENGTH = MetricSpec(
    name="driftwatch_notifications_queue_length",
    type="gauge",
    labels=("notifier",),
    help="Notifications waiting for delivery, including the one being sent.",
)

NOTIFICATION_QUEUE_CAPACITY = MetricSpec(
    name="driftwatch_notifications_queue_capacity",
    type="gauge",
    labels=("notifier",),
    help="Capacity of the notification queue (queue_size).",
)


METRICS: tuple[MetricSpec, ...] = (
    BUILD_INFO,
    TARGET_INFO,
    CHECK_SUCCESS,
    CHECK_DURATION,
    LAST_CHECK_TIME,
    LAST_SUCCESS_TIME,
    LAST_FULL_CHECK_TIME,
    CHECKS,
    FULL_CHECKS,
    CHECK_ERRORS,
    REVISION_AT_HEAD,
    MIGRATIONS_PENDING,
    REVISION_UNKNOWN,
    SCRIPT_HEADS,
    REVISION_STATE,
    REVISION_INFO,
    SCHEMA_IN_SYNC,
    DRIFT_OBJECTS,
    DRIFT_ACCEPTED,
    DRIFT_TABLE,
    DRIFT_TABLES_OMITTED,
)

NOTIFICATION_METRICS: tuple[MetricSpec, ...] = (
    NOTIFICATIONS_SENT,
    NOTIFICATIONS_FAILED,
    NOTIFICATIONS_DROPPED,
    NOTIFICATION_ERRORS,
    NOTIFICATION_QUEUE_LENGTH,
    NOTIFICATION_QUEUE_CAPACITY,
)
ALL_METRICS: tuple[MetricSpec, ...] = (*METRICS, *NOTIFICATION_METRICS)
METRIC_NAMES: frozenset[str] = frozenset(spec.name for spec in ALL_METRICS)

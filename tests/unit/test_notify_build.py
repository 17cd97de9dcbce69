"""`[[notifiers]]` settings: parsed, resolved and refused with one line that leaks nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from driftwatch.config.loading import load_settings
from driftwatch.errors import ConfigError
from driftwatch.notify.build import build_notifiers
from driftwatch.notify.conditions import Condition
from driftwatch.notify.notifications import NotifierConfig, NotifierKind, NotifierStats
from driftwatch.serve.metric_specs import METRICS, NOTIFICATION_METRICS
from driftwatch.serve.metrics import NotificationCollector

TARGET = """
[[targets]]
name = "control-plane"
url = "postgresql://u:dbpass@db/cp"
alembic_ini = "alembic.ini"
"""
SECRET_URL = "https://hooks.slack.example/services/T0/B0/tok3n"


def notifiers(tmp_path: Path, body: str, top: str = "") -> list[NotifierConfig]:
    path = tmp_path / "driftwatch.toml"
    path.write_text(top + TARGET + body, encoding="utf-8")
    return build_notifiers(load_settings(path), known_targets=["control-plane"])


def refused(tmp_path: Path, body: str) -> str:
    with pytest.raises(ConfigError) as caught:
        notifiers(tmp_path, body)
    message = str(caught.value)
    assert "\n" not in message
    assert "tok3n" not in message
    assert "dbpass" not in message
    return message


def test_full_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every key is read; URLs come from the file, the environment or a file; defaults fill in."""
    monkeypatch.setenv("AM_URL", "http://alertmanager:9093/")
    monkeypatch.setenv("HOOK_TOKEN", "Bearer from-env")
    (tmp_path / "slack-url").write_text(SECRET_URL + "\n", encoding="utf-8")
    am, chat, hook = notifiers(
        tmp_path,
        f"""
[[notifiers]]
type = "alertmanager"
url_env = "AM_URL"
resend_interval_seconds = 30

[[notifiers]]
type = "slack"
name = "db-team"
url_file = "{tmp_path / "slack-url"}"
events = ["drift", "check_failing"]
targets = ["control-plane"]

[[notifiers]]
type = "webhook"
url = "https://hooks.example/driftwatch"
timeout_seconds = 3
queue_size = 50
retry_initial_seconds = 2
retry_max_seconds = 120
headers = {{ X-Team = "db" }}
headers_env = {{ Authorization = "HOOK_TOKEN" }}
""",
        top="alert_windows = { check_failing = 300, unknown_revision = 2.5 }\n",
    )
    assert (am.name, am.kind, am.url) == (
        "alertmanager", NotifierKind.ALERTMANAGER, "http://alertmanager:9093/api/v2/alerts",
    )  # fmt: skip
    assert am.resend_interval_seconds == 30
    assert am.policy.conditions == frozenset(Condition)
    # one window per condition, the same for every notifier: the defaults, less the file's
    assert am.policy.thresholds == {
        Condition.DRIFT: 300, Condition.PENDING: 1800, Condition.UNMIGRATED: 3600,
        Condition.UNKNOWN_REVISION: 2.5, Condition.MULTIPLE_SCRIPT_HEADS: 900,
        Condition.CHECK_FAILING: 300,
    }  # fmt: skip
    assert (chat.name, chat.url) == ("db-team", SECRET_URL)
    assert chat.policy.conditions == {Condition.DRIFT, Condition.CHECK_FAILING}
    assert chat.policy.targets == {"control-plane"}
    assert chat.policy.thresholds == am.policy.thresholds
    assert hook.headers == {"X-Team": "db", "Authorization": "Bearer from-env"}
    assert (hook.timeout_seconds, hook.queue_size) == (3, 50)
    assert (hook.retry_initial_seconds, hook.retry_max_seconds) == (2, 120)
    assert hook.policy.thresholds == am.policy.thresholds
    assert "tok3n" not in repr(chat)
    assert "from-env" not in repr(hook)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://am:9093", "http://am:9093/api/v2/alerts"),
        ("https://mon.example/alertmanager/", "https://mon.example/alertmanager/api/v2/alerts"),
        ("http://am:9093/api/v2/alerts", "http://am:9093/api/v2/alerts"),
        ("http://user:pw@am:9093", "http://user:pw@am:9093/api/v2/alerts"),
    ],
)
def test_alertmanager_url_is_the_base_or_the_api(tmp_path: Path, url: str, expected: str) -> None:
    """Alertmanager's URL may be its base (with a route prefix) or the alerts API itself."""
    [am] = notifiers(tmp_path, f'[[notifiers]]\ntype = "alertmanager"\nurl = "{url}"\n')
    assert am.url == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('type = "pagerduty"\nurl = "https://x.example/"',
         "notifiers.0.type: Input should be 'alertmanager', 'slack' or 'webhook'"),
        ('type = "slack"', "notifier 'slack': no URL (set url, url_env or url_file)"),
        (f'type = "slack"\nurl = "ftp://{SECRET_URL[8:]}"',
         "notifier 'slack': the URL must be http:// or https:// with a host"),
        ('type = "slack"\nurl = "https://hooks.example:port/tok3n"',
         "notifier 'slack': the URL cannot be parsed"),
        ('type = "webhook"\nurl_env = "DW_TEST_UNSET"',
         "notifier 'webhook': url_env: environment variable DW_TEST_UNSET is not set"),
        (f'type = "webhook"\nurl = "{SECRET_URL}"\nurl_env = "X"',
         "give only one of url, url_env, url_file (got url, url_env)"),
        (f'type = "webhook"\nurl = "{SECRET_URL}"\nevents = ["drift", "lunch"]',
         "notifiers.0.events.1: Input should be 'drift', 'pending', 'unmigrated', "
         "'unknown_revision', 'multiple_script_heads' or 'check_failing'"),
        (f'type = "webhook"\nurl = "{SECRET_URL}"\npending_threshold_seconds = 60',
         "pending_threshold_seconds is gone: set alert_windows.pending"),
        (f'type = "webhook"\nurl = "{SECRET_URL}"\nevents = []',
         "events is empty: this notifier would never send anything"),
        (f'type = "webhook"\nurl = "{SECRET_URL}"\ntargets = ["nope"]',
         "notifier 'webhook': targets: no target named 'nope' (configured: control-plane)"),
        (f'type = "webhook"\nurl = "{SECRET_URL}"\nresend_interval_seconds = 5',
         'resend_interval_seconds applies to type = "alertmanager" only'),
        (f'type = "webhook"\nurl = "{SECRET_URL}"\nheaders = {{ "Bad Header" = "x" }}',
         "'Bad Header' is not an HTTP header name"),
        (f'type = "webhook"\nurl = "{SECRET_URL}"\nurl_typo = 1',
         "notifiers.0.url_typo: unknown key"),
        (f'type = "webhook"\nurl = "{SECRET_URL}"\ntimeout_seconds = 0',
         "notifiers.0.timeout_seconds: Input should be greater than 0"),
    ],
)  # fmt: skip
def test_bad_notifier_is_one_clear_line(tmp_path: Path, body: str, expected: str) -> None:
    """Each mistake is refused with a line naming what is wrong, never echoing a URL."""
    assert expected in refused(tmp_path, f"[[notifiers]]\n{body}\n")


@pytest.mark.parametrize(
    ("top", "expected"),
    [
        ("alert_windows = { drift = -1 }", "alert_windows: Value error, drift: must be 0 to"),
        ("alert_windows = { drift = 1e9 }", "alert_windows: Value error, drift: must be 0 to"),
        ("alert_windows = { lunch = 60 }",
         "alert_windows.lunch.[key]: Input should be 'drift', 'pending'"),
        ('alert_windows = { drift = "5m" }',
         "alert_windows.drift: Input should be a valid number"),
        ('public_url = "ftp://dw.example"', "must be an http:// or https:// URL with a host"),
        ('public_url = "https://dw.example/?x=1"', "must not have a query or fragment"),
        ('public_url = "https://admin:hunter2@dw.example"',
         "public_url: Value error, must not carry a user name or password"),
    ],
)  # fmt: skip
def test_bad_windows_and_public_url_are_one_clear_line(
    tmp_path: Path, top: str, expected: str
) -> None:
    """Windows are seconds per known condition; public_url is a plain web address, never
    echoed (it could hold a password)."""
    with pytest.raises(ConfigError) as caught:
        notifiers(tmp_path, "", top=top + "\n")
    assert expected in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_two_notifiers_need_two_names(tmp_path: Path) -> None:
    """Notifier names label the metrics, so two of one type need names of their own."""
    body = f'[[notifiers]]\ntype = "slack"\nurl = "{SECRET_URL}"\n' * 2
    assert "notifiers[1]: the name 'slack' is taken" in refused(tmp_path, body)


def test_notification_collector_exports_each_notifier() -> None:
    """Counters and the queue gauges come out per notifier, under the names of the contract."""
    stats = NotifierStats(
        name="ops", kind=NotifierKind.SLACK, queued=2, capacity=10, sent=5, failed=1,
        dropped=3, errors=7,
    )  # fmt: skip
    registry = CollectorRegistry(auto_describe=False)
    registry.register(NotificationCollector(lambda: [stats]))
    n = {"notifier": "ops"}
    assert registry.get_sample_value("driftwatch_notifications_sent_total", n) == 5
    assert registry.get_sample_value("driftwatch_notifications_failed_total", n) == 1
    assert registry.get_sample_value("driftwatch_notifications_dropped_total", n) == 3
    assert registry.get_sample_value("driftwatch_notifications_errors_total", n) == 7
    assert registry.get_sample_value("driftwatch_notifications_queue_length", n) == 2
    assert registry.get_sample_value("driftwatch_notifications_queue_capacity", n) == 10
    assert not {s.name for s in NOTIFICATION_METRICS} & {s.name for s in METRICS}

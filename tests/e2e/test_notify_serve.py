"""The real `driftwatch serve` against real PostgreSQL, notifying real local HTTP receivers."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL

from tests.e2e.test_serve import ALEMBIC_INI, alembic, head_and_previous, sql, target
from tests.support.daemon import NO_ALERT_WINDOWS, Daemon, serve, toml_value, write_config
from tests.support.receivers import Received, Receiver, receiver
from tests.support.tools import promtool_path

FAST = {"interval_seconds": 0.5, "jitter_seconds": 0, "log_format": "json"}
QUICK_RETRY = {"retry_initial_seconds": 0.2, "retry_max_seconds": 1, "timeout_seconds": 2}
TOKEN = "T0AAAA/B0BBBB/s3cr3tT0k3n"  # a fake Slack token, to look for in the log


def config_with_notifiers(
    path: Path, url: URL, notifiers: list[Mapping[str, Any]], **settings: Any
) -> Path:
    write_config(path, {**FAST, "alert_windows": NO_ALERT_WINDOWS, **settings}, [target("cp", url)])
    lines = []
    for notifier in notifiers:
        lines.append("\n[[notifiers]]")
        lines += [f"{k} = {toml_value(v)}" for k, v in notifier.items()]
    with path.open("a", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def status_of(request: Received) -> tuple[str, str]:
    """(condition, firing|resolved) of a request to any of the three kinds of receiver."""
    body = request.body
    if isinstance(body, list):  # Alertmanager
        [alert] = body
        ends = datetime.fromisoformat(alert["endsAt"])
        name = alert["labels"]["alertname"]
        return name, "resolved" if ends <= request.wall else "firing"
    if "text" in body:  # Slack
        words = body["text"].split("*")
        return words[3], words[1].lower()
    return body["alertname"], body["status"]


def said(r: Receiver) -> list[tuple[str, str]]:
    return [status_of(request) for request in r.accepted]


def accepted(r: Receiver, count: int) -> Callable[[], bool]:
    return lambda: len(r.accepted) == count


def more_checks(daemon: Daemon, count: int, timeout: float = 30) -> None:
    start = daemon.value("driftwatch_checks_total", target="cp") or 0
    daemon.wait_for(
        f"{count} more checks",
        lambda: (daemon.value("driftwatch_checks_total", target="cp") or 0) >= start + count,
        timeout=timeout,
    )


def test_drift_fires_once_and_resolves_once_on_every_receiver(pg_url: URL, tmp_path: Path) -> None:
    """ADD COLUMN is one firing message per receiver over many ticks; DROP COLUMN one resolve."""
    alembic(pg_url, "upgrade", "head")
    with receiver() as am, receiver() as chat, receiver() as hook:
        config = config_with_notifiers(
            tmp_path / "dw.toml",
            pg_url,
            [
                {"type": "alertmanager", "url": am.url("/"), **QUICK_RETRY},
                {"type": "slack", "url_env": "DW_TEST_SLACK_URL", **QUICK_RETRY},
                {"type": "webhook", "name": "hook", "url": hook.url(f"/in?token={TOKEN}"),
                 "headers": {"Authorization": "Bearer hdr-s3cr3t"}, **QUICK_RETRY},
            ],
            public_url="https://dw.example/ops/",
        )  # fmt: skip
        env = {"DW_TEST_SLACK_URL": chat.url(f"/services/{TOKEN}")}
        with serve(config, tmp_path, env=env) as daemon:
            daemon.wait_for("ready", lambda: daemon.get("/readyz")[0] == 200)
            more_checks(daemon, 3)
            assert (am.requests, chat.requests, hook.requests) == ([], [], [])

            sql(pg_url, "ALTER TABLE agents ADD COLUMN rogue integer")
            for r in (am, chat, hook):
                r.wait_for("drift firing", accepted(r, 1))
            more_checks(daemon, 8)
            firing = [("DriftwatchSchemaDrift", "firing")]
            assert (said(am), said(chat), said(hook)) == (firing, firing, firing)

            sql(pg_url, "ALTER TABLE agents DROP COLUMN rogue")
            for r in (am, chat, hook):
                r.wait_for("drift resolved", accepted(r, 2))
            more_checks(daemon, 8)
            both = [("DriftwatchSchemaDrift", "firing"), ("DriftwatchSchemaDrift", "resolved")]
            assert (said(am), said(chat), said(hook)) == (both, both, both)
            assert daemon.value("driftwatch_notifications_sent_total", notifier="hook") == 2
            assert daemon.value("driftwatch_notifications_queue_length", notifier="slack") == 0
            exposition = tmp_path / "metrics.txt"
            exposition.write_text(daemon.metrics_text(), encoding="utf-8")
            check = subprocess.run(
                [str(promtool_path()), "check", "metrics"],
                input=exposition.read_bytes(),
                capture_output=True,
                check=False,
            )
            assert check.returncode == 0, check.stdout + check.stderr
            assert daemon.terminate() == 0

        [[fired], [resolved]] = [r.body for r in am.accepted]
        assert fired["labels"] == {
            "alertname": "DriftwatchSchemaDrift", "target": "cp", "severity": "warning",
            "attribution": "drift",
        }  # fmt: skip
        assert resolved["startsAt"] == fired["startsAt"]
        ended = datetime.fromisoformat(resolved["endsAt"])
        assert datetime.fromisoformat(fired["startsAt"]) < ended <= datetime.now(UTC)
        assert am.accepted[0].path == "/api/v2/alerts"
        webhook = hook.accepted[0].body
        assert webhook["report"]["schema"]["counts"] == {"extra_column": 1}
        assert webhook["report"]["name"] == "cp"
        assert hook.accepted[0].headers["Authorization"] == "Bearer hdr-s3cr3t"
        assert "extra_column public.agents.rogue" in chat.accepted[0].body["text"]
        # the cause, and where to see it
        assert webhook["status_url"] == "https://dw.example/ops/targets/cp"
        assert fired["annotations"]["status_url"] == webhook["status_url"]
        [finding] = webhook["findings"]
        assert (finding["kind"], finding["table"], finding["name"]) == (
            "extra_column",
            "agents",
            "rogue",
        )
        assert (webhook["attribution"], finding["attribution"]) == ("drift", "drift")
        assert webhook["fix_sql"] == finding["fix"]
        assert "DROP COLUMN rogue" in webhook["fix_sql"]
        assert webhook["fix_sql"] in chat.accepted[0].body["text"]
        assert fired["annotations"]["fix_sql"] == webhook["fix_sql"]
        log = daemon.log()
        assert "notification sent" in log
        assert TOKEN not in log
        assert "s3cr3t" not in log


def test_a_receiver_down_during_a_transition_gets_it_when_back(pg_url: URL, tmp_path: Path) -> None:
    """Refused while drift appears, the receiver gets the message once it listens again."""
    alembic(pg_url, "upgrade", "head")
    with receiver(started=False) as hook:
        config = config_with_notifiers(
            tmp_path / "dw.toml",
            pg_url,
            [{"type": "webhook", "name": "hook", "url": hook.url(f"/{TOKEN}"), **QUICK_RETRY}],
        )
        with serve(config, tmp_path) as daemon:
            daemon.wait_for("ready", lambda: daemon.get("/readyz")[0] == 200)
            sql(pg_url, "ALTER TABLE agents ADD COLUMN rogue integer")
            daemon.wait_for(
                "failed attempts",
                lambda: (daemon.value("driftwatch_notifications_errors_total", notifier="hook")
                         or 0) >= 3,
            )  # fmt: skip
            assert daemon.value("driftwatch_notifications_queue_length", notifier="hook") == 1
            hook.start()
            hook.wait_for("the firing message", lambda: len(hook.accepted) == 1)
            daemon.wait_for(
                "counted",
                lambda: daemon.value("driftwatch_notifications_sent_total", notifier="hook") == 1,
            )
            more_checks(daemon, 4)
            assert said(hook) == [("DriftwatchSchemaDrift", "firing")]
            assert daemon.value("driftwatch_notifications_queue_length", notifier="hook") == 0
            assert daemon.terminate() == 0
        log = daemon.log()
        assert "notification not delivered, will retry" in log
        assert "connection refused" in log
        assert TOKEN not in log


def test_checks_keep_their_pace_while_a_receiver_hangs(pg_url: URL, tmp_path: Path) -> None:
    """A receiver that does not answer does not hold up the checks: twenty checks complete
    while its one request still waits, and shutdown then gives up on it within its grace."""
    alembic(pg_url, "upgrade", "head")
    with receiver() as hook:
        hook.delay = 600  # longer than the test: the request is answered by nobody
        config = config_with_notifiers(
            tmp_path / "dw.toml",
            pg_url,
            [{"type": "webhook", "name": "hook", "url": hook.url(), **QUICK_RETRY,
              "timeout_seconds": 300}],
        )  # fmt: skip
        with serve(config, tmp_path) as daemon:
            daemon.wait_for("ready", lambda: daemon.get("/readyz")[0] == 200)
            sql(pg_url, "ALTER TABLE agents ADD COLUMN rogue integer")
            hook.wait_for("a hanging request", lambda: len(hook.requests) >= 1)
            # counted, not timed: the checks go on while the one request is still waiting
            more_checks(daemon, 20, timeout=120)
            assert len(hook.requests) == 1
            assert daemon.value("driftwatch_notifications_errors_total", notifier="hook") == 0
            assert daemon.value("driftwatch_schema_in_sync", target="cp") == 0
            assert daemon.get("/healthz")[0] == 200
            assert daemon.terminate(timeout=60) == 0
        assert "notifications not delivered before shutdown" in daemon.log()


def test_pending_fires_after_its_window_and_resolves_on_upgrade(
    pg_url: URL, tmp_path: Path
) -> None:
    """Behind its scripts, a database is announced once it stayed behind for its window."""
    _, previous = head_and_previous()
    alembic(pg_url, "upgrade", previous)
    with receiver() as hook:
        config = config_with_notifiers(
            tmp_path / "dw.toml",
            pg_url,
            [{"type": "webhook", "url": hook.url(), **QUICK_RETRY}],
            alert_windows={**NO_ALERT_WINDOWS, "pending": 3},
        )  # fmt: skip
        with serve(config, tmp_path) as daemon:
            hook.wait_for("pending firing", lambda: len(hook.accepted) == 1)
            fired = hook.accepted[0].body
            assert (fired["condition"], fired["status"]) == ("pending", "firing")
            started = datetime.fromisoformat(fired["started_at"])
            assert (datetime.fromisoformat(fired["changed_at"]) - started).total_seconds() >= 3
            assert fired["report"]["revision"]["state"] == "behind"
            assert len(fired["report"]["revision"]["pending"]) == 1

            alembic(pg_url, "upgrade", "head")
            hook.wait_for("pending resolved", lambda: len(hook.accepted) == 2)
            more_checks(daemon, 4)
            assert said(hook) == [
                ("DriftwatchMigrationsPending", "firing"),
                ("DriftwatchMigrationsPending", "resolved"),
            ]
            assert hook.accepted[1].body["report"]["revision"]["state"] == "at_head"
            assert daemon.terminate() == 0


@pytest.mark.parametrize(
    ("notifier", "expected"),
    [
        ({"type": "pagerduty", "url": f"https://x.example/{TOKEN}"},
         "notifiers.0.type: Input should be 'alertmanager', 'slack' or 'webhook'"),
        ({"type": "slack"}, "notifier 'slack': no URL (set url, url_env or url_file)"),
        ({"type": "webhook", "url": f"hooks.example/{TOKEN}"},
         "notifier 'webhook': the URL must be http:// or https:// with a host"),
    ],
)  # fmt: skip
def test_bad_notifier_config_exits_2_with_one_line(
    tmp_path: Path, notifier: dict[str, Any], expected: str
) -> None:
    """An unknown type or a missing or malformed URL stops `serve` at start-up: exit 2, one line."""
    write_config(tmp_path / "dw.toml", {}, [{"name": "x", "url": "sqlite:///x.db",
                                             "alembic_ini": str(ALEMBIC_INI)}])  # fmt: skip
    with (tmp_path / "dw.toml").open("a", encoding="utf-8") as fh:
        fh.write("\n[[notifiers]]\n")
        fh.write("".join(f"{k} = {toml_value(v)}\n" for k, v in notifier.items()))
    result = subprocess.run(
        [sys.executable, "-m", "driftwatch", "serve", "--config", str(tmp_path / "dw.toml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert TOKEN not in result.stderr

"""`driftwatch serve` restarted with a state file: it goes on where the last process stopped.

Real processes stopped with SIGTERM and started again on the same state file, a real
PostgreSQL database with the Control Plane's migrations, real HTTP receivers.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from tests.e2e.test_notify_serve import (
    QUICK_RETRY,
    TOKEN,
    accepted,
    config_with_notifiers,
    more_checks,
    said,
)
from tests.e2e.test_serve import ALEMBIC_INI, alembic, head_and_previous, sql
from tests.support.daemon import NO_ALERT_WINDOWS, Daemon, serve, write_config
from tests.support.receivers import receiver

FIRING = ("DriftwatchSchemaDrift", "firing")
RESOLVED = ("DriftwatchSchemaDrift", "resolved")


def saved(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def saved_shows(path: Path, *keys: str) -> bool:
    """Whether the state file exists and has something at `keys` (nested)."""
    try:
        node: Any = saved(path)
    except (OSError, ValueError):
        return False
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return bool(node)


def stopped(daemon: Daemon) -> str:
    assert daemon.terminate() == 0
    return daemon.log()


def test_a_restart_neither_repeats_nor_forgets(pg_url: URL, tmp_path: Path) -> None:
    """Drift is posted once across two restarts; fixed while stopped, it is resolved once."""
    alembic(pg_url, "upgrade", "head")
    sql(pg_url, "ALTER TABLE agents ADD COLUMN rogue integer")
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "state").mkdir()
    state = folder / "state" / "notifications.json"
    with receiver() as chat:
        config = config_with_notifiers(
            folder / "dw.toml",
            pg_url,
            [{"type": "slack", "url": chat.url(f"/services/{TOKEN}"), **QUICK_RETRY}],
            state_file="state/notifications.json",  # relative: starts at the config's folder
        )
        with serve(config, tmp_path) as daemon:
            chat.wait_for("drift firing", accepted(chat, 1))
            told = ("notifiers", "slack", "announced")
            daemon.wait_for("the state saved", lambda: saved_shows(state, *told))
            first_log = stopped(daemon)
        assert stat.S_IMODE(state.stat().st_mode) == 0o600
        text = state.read_text(encoding="utf-8")
        assert TOKEN not in text
        assert "127.0.0.1" not in text
        document = saved(state)
        assert document["version"] == 1
        assert list(document["targets"]["cp"]) == ["drift"]
        assert document["notifiers"]["slack"]["queue"] == []

        with serve(config, tmp_path) as daemon:
            daemon.wait_for("ready", lambda: daemon.get("/readyz")[0] == 200)
            more_checks(daemon, 8)
            assert said(chat) == [FIRING]
            second_log = stopped(daemon)

        sql(pg_url, "ALTER TABLE agents DROP COLUMN rogue")
        with serve(config, tmp_path) as daemon:
            chat.wait_for("drift resolved", accepted(chat, 2))
            more_checks(daemon, 8)
            assert said(chat) == [FIRING, RESOLVED]
            stopped(daemon)
        resolved = chat.accepted[1].body["text"]
        started = datetime.fromisoformat(document["targets"]["cp"]["drift"])
        assert f"since {started:%Y-%m-%dT%H:%M:%SZ}" in resolved
    assert saved(state)["targets"] == {}
    assert saved(state)["notifiers"]["slack"]["announced"] == {}
    assert "notification state restored" not in first_log
    assert "notification state restored" in second_log
    assert "state file unusable" not in first_log + second_log


def test_a_message_queued_at_shutdown_is_delivered_after_the_restart(
    pg_url: URL, tmp_path: Path
) -> None:
    """A receiver down at SIGTERM gets the queued message, same id, once the next process runs."""
    alembic(pg_url, "upgrade", "head")
    state = tmp_path / "notifications.json"
    with receiver(started=False) as hook:
        config = config_with_notifiers(
            tmp_path / "dw.toml",
            pg_url,
            [{"type": "webhook", "name": "hook", "url": hook.url(f"/in?token={TOKEN}"),
              **QUICK_RETRY}],
            state_file=str(state),
        )  # fmt: skip
        with serve(config, tmp_path) as daemon:
            daemon.wait_for("ready", lambda: daemon.get("/readyz")[0] == 200)
            sql(pg_url, "ALTER TABLE agents ADD COLUMN rogue integer")
            daemon.wait_for(
                "failed attempts",
                lambda: (daemon.value("driftwatch_notifications_errors_total", notifier="hook")
                         or 0) >= 2,
            )  # fmt: skip
            assert daemon.value("driftwatch_notifications_queue_length", notifier="hook") == 1
            log = stopped(daemon)
        assert "notifications kept in the state file for the next start" in log
        assert "notifications not delivered before shutdown" not in log
        queue = ("notifiers", "hook", "queue")
        [queued] = saved(state)["notifiers"]["hook"]["queue"]
        assert (queued["condition"], queued["firing"]) == ("drift", True)

        hook.start()
        with serve(config, tmp_path) as daemon:
            hook.wait_for("the saved message", accepted(hook, 1))
            daemon.wait_for("the state saved", lambda: not saved_shows(state, *queue))
            more_checks(daemon, 6)
            assert said(hook) == [FIRING]
            assert daemon.value("driftwatch_notifications_dropped_total", notifier="hook") == 0
            assert daemon.value("driftwatch_notifications_sent_total", notifier="hook") == 1
            stopped(daemon)
        body = hook.accepted[0].body
        assert body["id"] == queued["body"]["id"]
        assert body == queued["body"]
        assert hook.accepted[0].path == "/in"


def test_a_pending_threshold_counts_across_a_restart(pg_url: URL, tmp_path: Path) -> None:
    """Stopped half way through the threshold, pending fires at its original time."""
    threshold = 12.0
    _, previous = head_and_previous()
    alembic(pg_url, "upgrade", previous)
    state = tmp_path / "notifications.json"
    with receiver() as hook:
        config = config_with_notifiers(
            tmp_path / "dw.toml",
            pg_url,
            [{"type": "webhook", "url": hook.url(), "events": ["pending"], **QUICK_RETRY}],
            state_file=str(state),
            alert_windows={**NO_ALERT_WINDOWS, "pending": threshold},
        )  # fmt: skip
        with serve(config, tmp_path) as daemon:
            pending = ("targets", "cp", "pending")
            daemon.wait_for("pending seen and saved", lambda: saved_shows(state, *pending))
            first_seen = datetime.fromisoformat(saved(state)["targets"]["cp"]["pending"])
            # the observable here is time itself: stop half way through the threshold
            time.sleep(max(0.0, first_seen.timestamp() + threshold / 2 - time.time()))
            stopped(daemon)
        assert hook.requests == []

        with serve(config, tmp_path) as daemon:
            hook.wait_for("pending firing", accepted(hook, 1), timeout=threshold * 3)
            log = stopped(daemon)
        fired = hook.accepted[0].body
        assert (fired["condition"], fired["status"]) == ("pending", "firing")
        assert datetime.fromisoformat(fired["started_at"]) == first_seen.replace(microsecond=0)
        changed = datetime.fromisoformat(fired["changed_at"])
        assert (changed - first_seen).total_seconds() >= threshold - 1
        # a fresh threshold would have counted from the new process's first check, which
        # comes after its "started" line: compared with that, not with a clock around the
        # restart, which a slow start-up on a busy machine would stretch
        [restarted] = [
            datetime.fromisoformat(record["time"].replace("Z", "+00:00"))
            for record in map(json.loads, log.splitlines())
            if record["message"] == "started"
        ]
        # changed_at is cut to the second: 1 s of slack
        assert (changed - restarted).total_seconds() < threshold - 1, (changed, restarted)


def test_alertmanager_re_sends_the_alert_it_had_at_once_after_a_restart(
    pg_url: URL, tmp_path: Path
) -> None:
    """Restarted, the daemon re-sends its firing alert at once (its endsAt ran on meanwhile),
    with the original startsAt, and otherwise keeps to its re-send interval."""
    alembic(pg_url, "upgrade", "head")
    sql(pg_url, "ALTER TABLE agents ADD COLUMN rogue integer")
    state = tmp_path / "notifications.json"
    with receiver() as am:
        config = config_with_notifiers(
            tmp_path / "dw.toml",
            pg_url,
            [{"type": "alertmanager", "url": am.url("/"), "resend_interval_seconds": 60,
              **QUICK_RETRY}],
            state_file=str(state),
        )  # fmt: skip
        with serve(config, tmp_path) as daemon:
            am.wait_for("drift firing", accepted(am, 1))
            alerts = ("notifiers", "alertmanager", "alerts")
            daemon.wait_for("the state saved", lambda: saved_shows(state, *alerts))
            stopped(daemon)
        with serve(config, tmp_path) as daemon:
            # within 40 s, well under the 60 s re-send interval it would otherwise wait for
            am.wait_for("the re-send", accepted(am, 2), timeout=40)
            more_checks(daemon, 6)
            stopped(daemon)
        assert said(am) == [FIRING, FIRING]  # the second a re-send, not a new alert
        [[first], [again]] = [r.body for r in am.accepted]
        assert again["startsAt"] == first["startsAt"]
        assert again["annotations"] == first["annotations"]
        assert again["endsAt"] > first["endsAt"]


def test_a_corrupt_state_file_is_moved_aside_and_the_daemon_serves(
    pg_url: URL, tmp_path: Path
) -> None:
    """One warning naming the file; the bad file is kept aside; monitoring goes on."""
    alembic(pg_url, "upgrade", "head")
    sql(pg_url, "ALTER TABLE agents ADD COLUMN rogue integer")
    state = tmp_path / "notifications.json"
    state.write_text('{"version": 1, "targets": {"cp": ', encoding="utf-8")
    with receiver() as hook:
        config = config_with_notifiers(
            tmp_path / "dw.toml",
            pg_url,
            [{"type": "webhook", "url": hook.url(), **QUICK_RETRY}],
            state_file=str(state),
        )
        with serve(config, tmp_path) as daemon:
            hook.wait_for("drift firing", accepted(hook, 1))
            daemon.wait_for("a new state saved", lambda: saved_shows(state, "targets", "cp"))
            assert daemon.get("/healthz")[0] == 200
            log = stopped(daemon)
    [aside] = tmp_path.glob("notifications.json.corrupt-*")
    assert aside.read_text(encoding="utf-8") == '{"version": 1, "targets": {"cp": '
    warnings = [line for line in log.splitlines() if "state file unusable" in line]
    assert len(warnings) == 1, log
    warning = json.loads(warnings[0])
    assert warning["level"] == "warning"
    assert warning["state_file"] == str(state)
    assert warning["reason"].startswith("not JSON")
    assert warning["moved_to"] == str(aside)


def test_a_state_file_that_cannot_be_written_exits_2_with_one_line(tmp_path: Path) -> None:
    """A state_file whose folder cannot take a file is bad configuration, said before checking."""
    (tmp_path / "plain").write_text("not a folder", encoding="utf-8")
    config = write_config(
        tmp_path / "dw.toml",
        {},
        [{"name": "x", "url": "sqlite:///x.db", "alembic_ini": str(ALEMBIC_INI)}],
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "driftwatch",
            "serve",
            "--config",
            str(config),
            "--log-format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "DRIFTWATCH_STATE_FILE": str(tmp_path / "plain" / "state.json")},
    )
    assert result.returncode == 2, result.stderr
    # the one line, and nothing else: no check started, no log line
    assert result.stderr.strip().splitlines() == [
        f"driftwatch: error: state_file {tmp_path / 'plain' / 'state.json'}: cannot write in "
        f"{tmp_path / 'plain'}: Not a directory"
    ]

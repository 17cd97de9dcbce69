"""The real daemon, started as a process against real PostgreSQL databases, read over HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from sqlalchemy.engine import URL

from tests.support.daemon import serve, write_config
from tests.support.tcpproxy import TcpProxy
from tests.support.tools import promtool_path

REPO_ROOT = Path(__file__).resolve().parents[2]
ALEMBIC_INI = REPO_ROOT / "alembic.ini"
FAST = {"interval_seconds": 0.5, "jitter_seconds": 0, "log_format": "json"}


def dsn(url: URL) -> str:
    return url.render_as_string(hide_password=False)


def alembic(url: URL, *args: str) -> None:
    """The real `alembic` command on the Control Plane's migrations."""
    subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ALEMBIC_INI), *args],
        env={**os.environ, "DATABASE_URL": dsn(url)},
        check=True,
        capture_output=True,
    )


def sql(url: URL, *statements: str) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(dsn(url.set(drivername="postgresql")))
        try:
            rows: list[asyncpg.Record] = []
            for statement in statements:
                rows = await conn.fetch(statement)
            return rows
        finally:
            await conn.close()

    return asyncio.run(run())


def head_and_previous() -> tuple[str, str]:
    out = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ALEMBIC_INI), "history"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    # lines look like "<down> -> <rev> (head), message"
    first = out.splitlines()[0]
    previous, _, rest = first.partition(" -> ")
    return rest.split()[0].rstrip(","), previous.strip()


def target(name: str, url: URL, **extra: object) -> dict[str, object]:
    return {"name": name, "url": dsn(url), "alembic_ini": str(ALEMBIC_INI), **extra}


def events_logged(log: str) -> list[str]:
    """The target events of a JSON log, in order."""
    return [e for line in log.splitlines() if line and (e := json.loads(line).get("event"))]


def test_in_sync_target_exports_green_metrics(pg_url: URL, tmp_path: Path) -> None:
    """A database at head with matching models shows in sync everywhere, in valid exposition."""
    alembic(pg_url, "upgrade", "head")
    head, _ = head_and_previous()
    config = write_config(tmp_path / "dw.toml", FAST, [target("cp", pg_url)])
    with serve(config, tmp_path) as daemon:
        daemon.wait_for("ready", lambda: daemon.get("/readyz")[0] == 200)
        assert daemon.value("driftwatch_check_success", target="cp") == 1
        assert daemon.value("driftwatch_revision_at_head", target="cp") == 1
        assert daemon.value("driftwatch_migrations_pending", target="cp") == 0
        assert daemon.value("driftwatch_revision_unknown", target="cp") == 0
        assert daemon.value("driftwatch_script_heads", target="cp") == 1
        assert daemon.value("driftwatch_schema_in_sync", target="cp") == 1
        assert daemon.series("driftwatch_schema_drift_objects", target="cp") == {}
        info = daemon.series("driftwatch_revision_info", target="cp")
        assert list(info) == [
            (("database_revision", head), ("head_revision", head), ("target", "cp"))
        ]
        status, body = daemon.get("/report")
        assert status == 200
        report = json.loads(body)
        assert report["schema_version"] == 2
        assert [t["status"] for t in report["targets"]] == ["in_sync"]

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


def test_upgrade_and_out_of_band_change_show_within_an_interval(
    pg_url: URL, tmp_path: Path
) -> None:
    """`alembic upgrade` clears pending; an ALTER TABLE shows as drift; undoing it clears it."""
    _, previous = head_and_previous()
    alembic(pg_url, "upgrade", previous)
    config = write_config(tmp_path / "dw.toml", FAST, [target("cp", pg_url)])
    with serve(config, tmp_path) as daemon:
        daemon.wait_for(
            "one pending", lambda: daemon.value("driftwatch_migrations_pending", target="cp") == 1
        )
        assert daemon.value("driftwatch_revision_state", target="cp", state="behind") == 1

        alembic(pg_url, "upgrade", "head")
        daemon.wait_for(
            "at head", lambda: daemon.value("driftwatch_revision_at_head", target="cp") == 1
        )
        assert daemon.value("driftwatch_migrations_pending", target="cp") == 0
        daemon.wait_for(
            "in sync", lambda: daemon.value("driftwatch_schema_in_sync", target="cp") == 1
        )

        upgraded = events_logged(daemon.log())
        sql(pg_url, "ALTER TABLE agents ADD COLUMN rogue integer")
        daemon.wait_for(
            "drift",
            lambda: (
                daemon.value(
                    "driftwatch_schema_drift_objects",
                    target="cp",
                    kind="extra_column",
                    attribution="drift",
                )
                == 1
            ),
        )
        assert daemon.value("driftwatch_schema_in_sync", target="cp") == 0
        table = daemon.series("driftwatch_schema_drift_table", target="cp")
        # at head with the migrations replayed: a column added by hand is drift
        assert list(table) == [
            (
                ("attribution", "drift"),
                ("kind", "extra_column"),
                ("schema", "public"),
                ("table", "agents"),
                ("target", "cp"),
            )
        ]

        sql(pg_url, "ALTER TABLE agents DROP COLUMN rogue")
        daemon.wait_for(
            "drift gone", lambda: daemon.value("driftwatch_schema_in_sync", target="cp") == 1
        )
        assert daemon.series("driftwatch_schema_drift_objects", target="cp") == {}
        assert daemon.series("driftwatch_schema_drift_table", target="cp") == {}
        altered = events_logged(daemon.log())[len(upgraded) :]
        # one log line per change: the pending migration's index is pending, not drift (the
        # log judges as the alerts do); a tick that read the version table on both sides of
        # the upgrade's commit says migrating before the next says in sync
        assert upgraded[0] == "behind" and upgraded[-1] == "in_sync", upgraded
        assert set(upgraded[1:-1]) <= {"migrating"}, upgraded
        assert altered == ["drift_appeared", "drift_gone"]
        assert daemon.terminate() == 0


def test_unreachable_target_fails_alone_and_recovers(
    pg_url: URL, pg_server: object, tmp_path: Path
) -> None:
    """Refused connections and terminated backends make one target fail; it recovers alone.
    The URLs' password shows nowhere: not in logs, metrics or /report."""
    alembic(pg_url, "upgrade", "head")
    proxy = TcpProxy((pg_url.host or "127.0.0.1", pg_url.port or 5432))
    proxy.start()
    # the test server trusts local connections, so a password in the URL is accepted as is
    secret = "pw-must-not-leak-7f3a"
    steady_url = pg_url.set(password=secret)
    behind_proxy = pg_url.set(host="127.0.0.1", port=proxy.port, password=secret)
    targets = [
        target("steady", steady_url),
        target("flaky", behind_proxy, connect_timeout_seconds=2),
    ]
    config = write_config(tmp_path / "dw.toml", FAST, targets)
    try:
        with serve(config, tmp_path) as daemon:
            daemon.wait_for(
                "both checked",
                lambda: (
                    daemon.value("driftwatch_check_success", target="flaky") == 1
                    and daemon.value("driftwatch_check_success", target="steady") == 1
                ),
            )

            proxy.stop()  # connections refused from now on
            daemon.wait_for(
                "flaky failing",
                lambda: daemon.value("driftwatch_check_success", target="flaky") == 0,
            )
            errors = daemon.value("driftwatch_check_errors_total", target="flaky")
            assert errors is not None
            assert errors >= 1
            assert daemon.value("driftwatch_check_success", target="steady") == 1
            assert daemon.get("/healthz")[0] == 200
            # what was last known stays, with its age
            assert daemon.value("driftwatch_revision_at_head", target="flaky") == 1
            assert daemon.value("driftwatch_last_success_timestamp_seconds", target="flaky")

            proxy.start()
            daemon.wait_for(
                "flaky recovered",
                lambda: daemon.value("driftwatch_check_success", target="flaky") == 1,
            )

            # terminating the database's backends mid-flight is survived too
            sql(
                pg_url,
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{pg_url.database}' AND application_name = 'driftwatch'",
            )
            checks = daemon.value("driftwatch_checks_total", target="steady") or 0
            daemon.wait_for(
                "more checks",
                lambda: (
                    (daemon.value("driftwatch_checks_total", target="steady") or 0) > checks + 2
                ),
            )
            assert daemon.value("driftwatch_check_success", target="steady") == 1
            events = [json.loads(line).get("event") for line in daemon.log().splitlines() if line]
            assert "check_failing" in events
            assert "recovered" in events
            seen = daemon.metrics_text() + daemon.get("/report")[1]
            assert daemon.terminate() == 0
            assert secret not in seen + daemon.log()
            assert ":***@127.0.0.1" in daemon.log()  # the failure names the URL, masked
    finally:
        proxy.stop()


def _stat_statements(url: URL) -> None:
    rows = sql(url, "SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries'")
    if "pg_stat_statements" not in rows[0]["setting"]:
        from tests.support.servers import unavailable  # noqa: PLC0415

        unavailable(
            "pg_stat_statements is not in shared_preload_libraries of the test server "
            "(.ci/run enables it); the server-side statement count needs it"
        )
    sql(url, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")


def test_steady_state_tick_issues_no_reflection(pg_url: URL, tmp_path: Path) -> None:
    """With nothing changing, ticks read revision and fingerprint only: counted on the server."""
    alembic(pg_url, "upgrade", "head")
    _stat_statements(pg_url)
    config = write_config(tmp_path / "dw.toml", FAST, [target("cp", pg_url)])
    with serve(config, tmp_path) as daemon:
        daemon.wait_for("first check", lambda: daemon.get("/readyz")[0] == 200)
        assert daemon.value("driftwatch_full_checks_total", target="cp") == 1
        sql(
            pg_url,
            "SELECT pg_stat_statements_reset(0, "
            f"(SELECT oid FROM pg_database WHERE datname = '{pg_url.database}'), 0)",
        )
        checks = daemon.value("driftwatch_checks_total", target="cp") or 0
        daemon.wait_for(
            "five more ticks",
            lambda: (daemon.value("driftwatch_checks_total", target="cp") or 0) >= checks + 5,
        )
        full_checks = daemon.value("driftwatch_full_checks_total", target="cp")
        assert daemon.terminate() == 0
    rows = sql(
        pg_url,
        "SELECT query, calls FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
        f"WHERE d.datname = '{pg_url.database}'",
    )
    texts = {r["query"]: r["calls"] for r in rows}
    fingerprint = [q for q in texts if "md5(coalesce(string_agg" in q]
    assert fingerprint, texts
    assert texts[fingerprint[0]] >= 5
    # SQLAlchemy's reflection of columns and indexes goes through format_type / pg_get_indexdef
    reflection = {q: c for q, c in texts.items() if "format_type" in q or "pg_get_indexdef" in q}
    assert reflection == {}
    assert full_checks == 1


async def driftwatch_waits_on_a_lock(watcher: asyncpg.Connection) -> None:
    """Return once a driftwatch session on the watcher's database waits on a lock: a check is
    in flight. Watched from a connection of its own, since a transaction sees one snapshot of
    pg_stat_activity; other databases are left out, where other daemons may wait on locks."""
    for _ in range(600):
        waiting = await watcher.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'driftwatch' "
            "AND wait_event_type = 'Lock' AND datname = current_database()"
        )
        if waiting:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("driftwatch never waited on the lock")


def log_lines(text: str) -> list[dict[str, object]]:
    """The JSON log records of a daemon's output; anything else (a traceback printed
    outside logging) fails the test, naming the line."""
    records = []
    for line in text.splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON log line: {line!r}\n{text[-3000:]}") from None
    return records


def test_sigterm_lets_a_running_check_finish_within_the_grace(pg_url: URL, tmp_path: Path) -> None:
    """A check held up when SIGTERM comes completes within the grace: its result is recorded
    and logged, the daemon then exits 0, and nothing is cancelled or printed as a traceback."""
    alembic(pg_url, "upgrade", "head")
    settings = {**FAST, "shutdown_grace_seconds": 120}
    slow = target("cp", pg_url, lock_timeout_seconds=120, statement_timeout_seconds=120)
    config = write_config(tmp_path / "dw.toml", settings, [slow])

    async def stop_while_the_first_check_waits() -> tuple[int, str]:
        conn = await asyncpg.connect(dsn(pg_url.set(drivername="postgresql")))
        watcher = await asyncpg.connect(dsn(pg_url.set(drivername="postgresql")))
        try:
            tx = conn.transaction()
            await tx.start()
            # taken before the daemon starts: its first check waits on it
            await conn.execute("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE")
            with serve(config, tmp_path) as daemon:
                await driftwatch_waits_on_a_lock(watcher)
                daemon.process.send_signal(signal.SIGTERM)
                # release the lock only once the daemon is draining
                deadline = time.monotonic() + 60
                while "waiting for running checks" not in daemon.log():
                    if daemon.process.poll() is not None or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.1)
                await tx.rollback()
                return daemon.process.wait(timeout=60), daemon.log()
        finally:
            await conn.close()
            await watcher.close()

    code, log = asyncio.run(stop_while_the_first_check_waits())
    assert "Traceback" not in log, log
    records = log_lines(log)
    messages = [r["message"] for r in records]
    assert code == 0, log
    draining = messages.index("waiting for running checks")
    # the check that waited finished after SIGTERM and its result was taken in
    assert [r.get("event") for r in records[draining:] if r.get("event")] == ["in_sync"]
    assert not [m for m in messages if "cancel" in str(m)], messages
    assert messages[-1] == "stopped"


def test_sigterm_during_a_check_exits_zero_promptly(pg_url: URL, tmp_path: Path) -> None:
    """A check stuck behind a lock does not hold up shutdown beyond the grace period: it is
    cancelled with one warning naming it, no traceback, exit 0."""
    alembic(pg_url, "upgrade", "head")
    settings = {**FAST, "shutdown_grace_seconds": 1}
    stuck = target("cp", pg_url, lock_timeout_seconds=60, statement_timeout_seconds=60)
    config = write_config(tmp_path / "dw.toml", settings, [stuck])

    async def hold_lock_and_stop() -> tuple[int, float, str]:
        conn = await asyncpg.connect(dsn(pg_url.set(drivername="postgresql")))
        watcher = await asyncpg.connect(dsn(pg_url.set(drivername="postgresql")))
        try:
            with serve(config, tmp_path) as daemon:
                daemon.wait_for("ready", lambda: daemon.get("/readyz")[0] == 200)
                tx = conn.transaction()
                await tx.start()
                await conn.execute("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE")
                await driftwatch_waits_on_a_lock(watcher)
                began = time.monotonic()
                code = daemon.terminate(timeout=30)
                elapsed = time.monotonic() - began
                await tx.rollback()
                return code, elapsed, daemon.log()
        finally:
            await conn.close()
            await watcher.close()

    code, elapsed, log = asyncio.run(hold_lock_and_stop())
    assert code == 0
    assert elapsed < 15, f"shutdown took {elapsed:.1f} s with a 1 s grace period"
    assert "Traceback" not in log, log
    records = log_lines(log)
    cancelled = [r for r in records if "cancel" in str(r["message"])]
    assert len(cancelled) == 1, cancelled
    assert cancelled[0]["level"] == "warning"
    assert cancelled[0]["targets"] == "cp"
    assert [r for r in records if r["level"] == "error"] == []


def test_bad_configuration_exits_2_with_one_line(tmp_path: Path) -> None:
    """A metadata path that does not import stops the daemon at start-up: exit 2, one line."""
    config = write_config(
        tmp_path / "dw.toml",
        {},
        [{"name": "x", "url": "sqlite:///x.db", "script_location": str(REPO_ROOT / "alembic"),
          "metadata": "no_such_module:metadata"}],
    )  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "driftwatch", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "no_such_module" in lines[0]
    assert "Traceback" not in result.stderr


def test_tls_and_basic_auth_guard_metrics_not_probes(
    sqlite_url: URL, tmp_path: Path, tls_pair: tuple[Path, Path]
) -> None:
    """With TLS and basic auth, /metrics needs the password over HTTPS; /healthz stays open."""
    import base64  # noqa: PLC0415
    import ssl  # noqa: PLC0415
    import urllib.error  # noqa: PLC0415
    import urllib.request  # noqa: PLC0415

    alembic(sqlite_url, "upgrade", "head")
    cert, key = tls_pair
    password_file = tmp_path / "password"
    password_file.write_text("s3cret-pw\n", encoding="utf-8")
    settings = {
        **FAST,
        "tls_cert_file": str(cert),
        "tls_key_file": str(key),
        "basic_auth_username": "prom",
        "basic_auth_password_file": str(password_file),
    }
    config = write_config(tmp_path / "dw.toml", settings, [target("lite", sqlite_url)])
    context = ssl.create_default_context(cafile=str(cert))

    def get(daemon_port: int, path: str, auth: str | None = None) -> int:
        headers = {"Authorization": f"Basic {auth}"} if auth else {}
        request = urllib.request.Request(f"https://127.0.0.1:{daemon_port}{path}", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10, context=context) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    from tests.support.daemon import free_port  # noqa: PLC0415

    port = free_port()
    command = [sys.executable, "-m", "driftwatch", "serve", "--config", str(config),
               "--listen", f"127.0.0.1:{port}"]  # fmt: skip
    with (tmp_path / "log").open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        for _ in range(150):
            try:
                if get(port, "/healthz") == 200:
                    break
            except OSError:
                time.sleep(0.2)
        assert get(port, "/healthz") == 200
        assert get(port, "/metrics") == 401
        wrong = base64.b64encode(b"prom:nope").decode()
        assert get(port, "/metrics", wrong) == 401
        right = base64.b64encode(b"prom:s3cret-pw").decode()
        assert get(port, "/metrics", right) == 200
        assert get(port, "/report", right) == 200
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0
    assert "s3cret-pw" not in (tmp_path / "log").read_text()


def test_a_check_outliving_its_interval_is_logged_once(pg_url: URL, tmp_path: Path) -> None:
    """Ticks skipped behind a slow check give one warning per overrun, not APScheduler's one
    per tick: the check held behind a lock for ten intervals is one warning and one end."""
    alembic(pg_url, "upgrade", "head")
    interval = 0.3
    slow = target("cp", pg_url, lock_timeout_seconds=60, statement_timeout_seconds=60)
    config = write_config(tmp_path / "dw.toml", {**FAST, "interval_seconds": interval}, [slow])

    async def hold_lock_for_ten_ticks() -> tuple[str, datetime]:
        conn = await asyncpg.connect(dsn(pg_url.set(drivername="postgresql")))
        watcher = await asyncpg.connect(dsn(pg_url.set(drivername="postgresql")))
        try:
            with serve(config, tmp_path) as daemon:
                daemon.wait_for("ready", lambda: daemon.get("/readyz")[0] == 200)
                tx = conn.transaction()
                await tx.start()
                await conn.execute("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE")
                await driftwatch_waits_on_a_lock(watcher)
                await asyncio.sleep(10 * interval)  # ten ticks come while the check waits
                released = datetime.now(UTC)
                await tx.rollback()
                checks = daemon.value("driftwatch_checks_total", target="cp") or 0
                daemon.wait_for(
                    "checks after the lock",
                    lambda: (
                        (daemon.value("driftwatch_checks_total", target="cp") or 0) >= checks + 3
                    ),
                )
                assert daemon.terminate() == 0
                return daemon.log(), released
        finally:
            await conn.close()
            await watcher.close()

    log, released = asyncio.run(hold_lock_for_ten_ticks())
    records = log_lines(log)
    messages = [str(r["message"]) for r in records]
    assert not [m for m in messages if "maximum number of running instances" in m]
    outlived = "check outlived its interval: ticks are skipped until it ends"
    overruns = [r for r in records if r["message"] in (outlived, "overrun check ended")]
    # on a busy machine an ordinary check may outlive 0.3 s too: each overrun, however many
    # ticks it skips, is exactly one warning followed by one end
    starts, ends = overruns[0::2], overruns[1::2]
    assert [r["message"] for r in starts] == [outlived] * len(starts), messages
    assert [r["message"] for r in ends] == ["overrun check ended"] * len(starts), messages
    assert {r["target"] for r in overruns} == {"cp"}
    assert {r["level"] for r in starts} == {"warning"}
    # the check held by the lock was one of them: one warning for all the ticks it skipped
    spanning = [
        (start, end)
        for start, end in zip(starts, ends, strict=True)
        if _logged_at(start) < released < _logged_at(end)
    ]
    assert len(spanning) == 1, overruns


def _logged_at(record: dict[str, object]) -> datetime:
    return datetime.fromisoformat(str(record["time"]).replace("Z", "+00:00"))

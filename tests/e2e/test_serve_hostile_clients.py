"""The real daemon against HTTP clients that stall, flood or send garbage: the checks go on."""

from __future__ import annotations

import socket
from pathlib import Path

from sqlalchemy.engine import URL

from tests.e2e.test_serve import FAST, alembic, log_lines, target
from tests.support.daemon import Daemon, serve, write_config
from tests.support.slowclients import SlowClients

OPEN_FILES = 1024  # systemd's default soft limit, which made the flood fatal
FLOOD = 1100


def metric(daemon: Daemon, name: str) -> float | None:
    """A sample of target cp, or None while /metrics does not answer."""
    try:
        return daemon.value(name, target="cp")
    except OSError:
        return None


def descriptors(daemon: Daemon) -> int:
    """How many files the daemon has open (Linux)."""
    return sum(1 for _ in Path(f"/proc/{daemon.process.pid}/fd").iterdir())


def healthy(daemon: Daemon) -> bool:
    try:
        return daemon.get("/healthz")[0] == 200
    except OSError:
        return False


def test_a_flood_of_slow_clients_never_starves_the_checks(pg_url: URL, tmp_path: Path) -> None:
    """Under a 1,024 open-file limit, 1,100 connections that send half a request and stall
    (re-opened as the server drops them) leave every database check succeeding, /healthz
    answering and the log a few lines without a traceback; the server closes them all."""
    alembic(pg_url, "upgrade", "head")
    config = write_config(tmp_path / "dw.toml", FAST, [target("cp", pg_url)])
    with serve(config, tmp_path, open_files=OPEN_FILES) as daemon:
        daemon.wait_for("ready", lambda: daemon.get("/readyz")[0] == 200)
        with SlowClients(daemon.port, FLOOD) as flood:
            daemon.wait_for("the flood", lambda: flood.opened >= FLOOD, timeout=60)
            checks = metric(daemon, "driftwatch_checks_total") or 0
            daemon.wait_for(
                "ten checks during the flood",
                lambda: (metric(daemon, "driftwatch_checks_total") or 0) >= checks + 10,
                timeout=120,
            )
            daemon.wait_for("/healthz during the flood", lambda: healthy(daemon), timeout=60)
            assert metric(daemon, "driftwatch_check_success") == 1
            assert metric(daemon, "driftwatch_check_errors_total") == 0
            # more connections were offered than the process may hold: the server let go,
            # and kept descriptors free for the checks
            assert flood.closed_by_server > FLOOD - OPEN_FILES
            assert descriptors(daemon) < OPEN_FILES // 2

            # a request head that never ends is cut off: stop re-opening, and every one of
            # the connections left is closed by the server
            flood.sustain = False
            daemon.wait_for("slow clients cut off", lambda: flood.open_now == 0, timeout=120)
            assert healthy(daemon)
            assert daemon.terminate() == 0
    log = daemon.log()
    assert "Traceback" not in log, log[-3000:]
    records = log_lines(log)
    assert len(log) < 64_000, f"{len(records)} log records, {len(log)} characters"
    assert [r for r in records if r["level"] == "error"] == []
    shed = [r for r in records if r["logger"] == "driftwatch.http" and r["level"] == "warning"]
    assert shed, "what was cut off is said"
    assert sum(int(r.get("timed_out", 0)) for r in shed) > 0  # type: ignore[call-overload]


def test_tls_handshakes_never_started_are_cut_off(
    sqlite_url: URL, tmp_path: Path, tls_pair: tuple[Path, Path]
) -> None:
    """With TLS, 1,100 connections that never start their handshake, under a 1,024 open-file
    limit, leave the checks succeeding and HTTPS /healthz answering; all are cut off."""
    alembic(sqlite_url, "upgrade", "head")
    cert, key = tls_pair
    settings = {**FAST, "tls_cert_file": str(cert), "tls_key_file": str(key)}
    config = write_config(tmp_path / "dw.toml", settings, [target("cp", sqlite_url)])
    with serve(config, tmp_path, open_files=OPEN_FILES, tls_ca=cert) as daemon:
        daemon.wait_for("ready", lambda: daemon.get("/readyz")[0] == 200)
        with SlowClients(daemon.port, FLOOD, send=b"") as flood:
            daemon.wait_for("the flood", lambda: flood.opened >= FLOOD, timeout=60)
            checks = metric(daemon, "driftwatch_checks_total") or 0
            daemon.wait_for(
                "ten checks during the flood",
                lambda: (metric(daemon, "driftwatch_checks_total") or 0) >= checks + 10,
                timeout=120,
            )
            daemon.wait_for("/healthz during the flood", lambda: healthy(daemon), timeout=60)
            assert metric(daemon, "driftwatch_check_success") == 1
            assert metric(daemon, "driftwatch_check_errors_total") == 0
            assert descriptors(daemon) < OPEN_FILES // 2
            # a silent client whose handshake the kernel never completed (the accept queue
            # overflowed) believes itself connected: what counts is what the daemon holds
            flood.sustain = False
            daemon.wait_for("silent clients cut off", lambda: descriptors(daemon) < 64, timeout=120)
            assert daemon.terminate() == 0
    log = daemon.log()
    assert "Traceback" not in log, log[-3000:]
    assert len(log) < 64_000, f"{len(log)} characters of log"


def test_malformed_requests_are_counted_in_short_lines(sqlite_url: URL, tmp_path: Path) -> None:
    """Two hundred malformed requests get 400 and cost the log no traceback: a short summary
    line now and then that counts them."""
    alembic(sqlite_url, "upgrade", "head")
    config = write_config(tmp_path / "dw.toml", FAST, [target("lite", sqlite_url)])
    with serve(config, tmp_path) as daemon:
        for _ in range(200):
            with socket.create_connection(("127.0.0.1", daemon.port), timeout=30) as conn:
                conn.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n")
                assert conn.recv(12).endswith(b" 400")
        assert healthy(daemon)
        assert daemon.terminate() == 0
    log = daemon.log()
    assert "Traceback" not in log, log[-3000:]
    records = log_lines(log)
    assert [r for r in records if r["level"] == "error"] == []
    shed = [r for r in records if r["logger"] == "driftwatch.http" and r["level"] == "warning"]
    assert sum(int(r.get("bad_requests", 0)) for r in shed) == 200  # type: ignore[call-overload]
    # a line per ten seconds at most, each short
    assert 1 <= len(shed) <= 10, shed
    assert all(len(line) < 500 for line in log.splitlines()), log

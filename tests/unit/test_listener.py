"""The HTTP listener's pure parts: the connection limit, the end of a request head, and the
log lines it makes of misbehaving clients."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiohttp.http_exceptions import BadHttpMessage

from driftwatch.serve.listener import (
    MAX_CONNECTIONS,
    MIN_CONNECTIONS,
    RESERVED_FOR_CHECKS,
    ClientErrorFilter,
    ShedReport,
    connection_limit,
    request_head_ends,
)


@pytest.mark.parametrize(
    ("open_files", "expected"),
    [(1024, 384), (4096, MAX_CONNECTIONS), (None, MAX_CONNECTIONS), (256, MIN_CONNECTIONS),
     (100, MIN_CONNECTIONS), (400, 72)],
)  # fmt: skip
def test_connection_limit_leaves_the_checks_their_reserve(
    open_files: int | None, expected: int
) -> None:
    """HTTP gets half of what the reserve leaves, within bounds; systemd's 1024 gives 384."""
    assert connection_limit(open_files) == expected
    if open_files is not None and open_files >= RESERVED_FOR_CHECKS + 2 * MIN_CONNECTIONS:
        assert open_files - connection_limit(open_files) >= RESERVED_FOR_CHECKS


@pytest.mark.parametrize(
    ("tail", "data", "ends"),
    [
        (b"", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", True),
        (b"", b"GET / HTTP/1.1\r\nHost: x\r\n", False),
        (b"x\r\n", b"\r\n", True),  # the empty line split between two reads
        (b"\r\n\r", b"\n", True),
        (b"", b"GET / HTTP/1.0\n\n", True),  # bare LF line ends
        (b"abc", b"", False),
        (b"", b"\r\n", False),  # a CRLF alone ends nothing yet
    ],
)
def test_request_head_ends_across_reads(tail: bytes, data: bytes, ends: bool) -> None:
    """The empty line that ends a head is found wherever the reads split it."""
    assert request_head_ends(tail, data) is ends


def test_bad_requests_are_counted_in_one_short_line(caplog: pytest.LogCaptureFixture) -> None:
    """aiohttp's error-with-traceback per malformed request becomes a count in one warning;
    other records (our own bugs) pass untouched."""
    handler_log = logging.getLogger("test.listener.requests")

    async def scenario() -> None:
        report = ShedReport(max_connections=384, every_seconds=60)
        client_errors = ClientErrorFilter(report)
        handler_log.addFilter(client_errors)
        for _ in range(50):
            try:
                raise BadHttpMessage("Invalid header token:\n\n    b'no colon'\n  ^")
            except BadHttpMessage:
                handler_log.exception("Error handling request from %s", "127.0.0.1")
        try:
            raise KeyError("ours")
        except KeyError:
            handler_log.exception("Error handling request from %s", "127.0.0.1")
        report.count("evicted")
        report.count("evicted")
        report.flush()
        report.flush()  # nothing new: nothing said
        handler_log.removeFilter(client_errors)

    with caplog.at_level(logging.INFO):
        asyncio.run(scenario())
    records = [r for r in caplog.records if r.name in ("driftwatch.http", handler_log.name)]
    assert [r.name for r in records] == [handler_log.name, "driftwatch.http"]
    assert records[0].exc_info is not None  # the bug keeps its traceback
    summary = records[1]
    assert summary.levelno == logging.WARNING
    assert summary.exc_info is None
    fields = summary.fields  # type: ignore[attr-defined]
    assert fields["bad_requests"] == 50
    assert fields["evicted"] == 2
    assert fields["max_connections"] == 384
    assert "\n" not in fields["last_bad_request"]
    assert fields["last_bad_request"].startswith("BadHttpMessage: 400, message: Invalid header")

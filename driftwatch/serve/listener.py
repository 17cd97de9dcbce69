"""Accepting HTTP connections so that no client can starve the checks.

asyncio's own accept loop takes every connection it is offered, and aiohttp waits for a
request head as long as its keep-alive timeout (an hour by default). A flood of clients that
send half a request then holds a file descriptor each until the process runs out: the
database checks fail with "Too many open files" and asyncio logs a traceback for every
accept that fails. So the daemon
accepts connections itself (one task per listening socket, `loop.sock_accept`) and hands each
to aiohttp's protocol through `loop.connect_accepted_socket`:

- At most `max_connections` are open at once: half of the open-file limit left after a
  reserve for the checks (`connection_limit`).
- Every connection must finish its TLS handshake and its first request head within
  TIMEOUT_SECONDS of being accepted, or it is closed. After that, aiohttp's keep-alive
  timeout (set to the same value) closes connections idle or stalled between requests.
- At the limit, a new connection takes the place of the oldest one that has not yet sent a
  whole request head, so scrapes and probes get through while slow clients are shed; only
  when every connection is busy with a real request is the new one refused.
- What is shed, failed TLS handshakes and requests aiohttp rejects as malformed are counted
  and said in one warning per REPORT_SECONDS, never a line (or a traceback) per client.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import resource
import socket
import ssl
from collections import Counter
from collections.abc import Callable

from aiohttp.http_exceptions import HttpProcessingError

log = logging.getLogger("driftwatch.http")

RESERVED_FOR_CHECKS = 256  # database and scratch connections, script files, webhooks, logs
MIN_CONNECTIONS = 8
MAX_CONNECTIONS = 512  # a few scrapers, probes and people; more than this is a flood
TIMEOUT_SECONDS = 10.0
REPORT_SECONDS = 10.0
BACKLOG = 128
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def open_file_limit() -> int | None:
    """The process's soft RLIMIT_NOFILE, None when unlimited."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY or soft < 0 else soft


def connection_limit(open_files: int | None) -> int:
    """How many HTTP connections may be open at once under an open-file limit: half of
    what the reserve for the checks leaves, within [MIN_CONNECTIONS, MAX_CONNECTIONS]."""
    if open_files is None:
        return MAX_CONNECTIONS
    return max(MIN_CONNECTIONS, min(MAX_CONNECTIONS, (open_files - RESERVED_FOR_CHECKS) // 2))


def request_head_ends(tail: bytes, data: bytes) -> bool:
    """Whether `data` ends a request head (an empty line, CRLF or bare LF as aiohttp takes
    it), given the last bytes received before it."""
    seen = tail[-3:] + data
    return b"\n\r\n" in seen or b"\n\n" in seen


def _one_line(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ShedReport:
    """Counts what was done to misbehaving clients; says it in one warning per period."""

    def __init__(self, *, max_connections: int, every_seconds: float = REPORT_SECONDS) -> None:
        self._counts: Counter[str] = Counter()
        self._example: str | None = None
        self._every = every_seconds
        self._max_connections = max_connections
        self._timer: asyncio.TimerHandle | None = None

    def count(self, what: str, example: str | None = None) -> None:
        self._counts[what] += 1
        if example is not None:
            self._example = example
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._every, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._counts:
            return
        fields: dict[str, object] = dict(sorted(self._counts.items()))
        if self._example is not None:
            fields["last_bad_request"] = self._example
        fields["max_connections"] = self._max_connections
        log.warning("misbehaving HTTP clients disconnected", extra={"fields": fields})
        self._counts.clear()
        self._example = None


class ClientErrorFilter(logging.Filter):
    """For aiohttp's request-handler logger: a request the client got wrong (aiohttp answered
    400) is counted, not logged with its traceback; anything else, our own bug, still is."""

    def __init__(self, report: ShedReport) -> None:
        super().__init__()
        self._report = report

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            self._report.count("bad_requests", _one_line(exc))
            return False
        if isinstance(exc, ConnectionError):
            self._report.count("aborted")
            return False
        return True


class _Connection:
    """One accepted socket, from accept to close."""

    __slots__ = ("_head_tail", "handshake", "transport")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.handshake: asyncio.Task[None] | None = None  # until the protocol has it
        self._head_tail = b""

    def head_complete(self, data: bytes) -> bool:
        """Whether `data`, the next bytes received, end the first request head."""
        ended = request_head_ends(self._head_tail, data)
        self._head_tail = (self._head_tail + data)[-3:]
        return ended

    def cut(self) -> None:
        if self.transport is not None:
            self.transport.abort()
        elif self.handshake is not None:
            self.handshake.cancel()


class _Guarded(asyncio.Protocol):
    """aiohttp's protocol for one connection, watched until its first request head is in."""

    def __init__(self, listener: Listener, conn: _Connection, inner: asyncio.Protocol) -> None:
        self._listener = listener
        self._conn = conn
        self._inner = inner
        self._waiting = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._conn.transport = transport
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._waiting and self._conn.head_complete(data):
            self._waiting = False
            self._listener.served(self._conn)
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._listener.closed(self._conn)
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


class Listener:
    """Accepts connections on `sockets` for `protocol_factory` (aiohttp's server), within
    the limits in the module's docstring."""

    def __init__(
        self,
        sockets: list[socket.socket],
        protocol_factory: Callable[[], asyncio.Protocol],
        *,
        ssl_context: ssl.SSLContext | None,
        max_connections: int,
        report: ShedReport,
        timeout_seconds: float = TIMEOUT_SECONDS,
    ) -> None:
        self._sockets = sockets
        self._factory = protocol_factory
        self._ssl = ssl_context
        self._max = max_connections
        self._report = report
        self._timeout = timeout_seconds
        self._open: set[_Connection] = set()
        # connections without a whole first request head yet, oldest first, with deadlines
        self._waiting: dict[_Connection, asyncio.TimerHandle] = {}
        self._accepting: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._accepting = [asyncio.create_task(self._accept(sock)) for sock in self._sockets]

    async def close(self) -> None:
        """Stop accepting and cut the connections still in their handshake or first head;
        those with a request are aiohttp's to finish (its runner's cleanup)."""
        for task in self._accepting:
            task.cancel()
        await asyncio.gather(*self._accepting, return_exceptions=True)
        for sock in self._sockets:
            sock.close()
        for conn in list(self._waiting):
            self._cut(conn)
        handshakes = [c.handshake for c in self._open if c.handshake is not None]
        await asyncio.gather(*handshakes, return_exceptions=True)
        self._report.flush()

    # --- bookkeeping (the protocol and the handshake task call these) -------------------

    def served(self, conn: _Connection) -> None:
        """`conn` sent a whole request head: from now on it is aiohttp's to time out."""
        deadline = self._waiting.pop(conn, None)
        if deadline is not None:
            deadline.cancel()

    def closed(self, conn: _Connection) -> None:
        self.served(conn)
        self._open.discard(conn)

    def _expire(self, conn: _Connection) -> None:
        if conn in self._waiting:
            self._report.count("timed_out")
            self._cut(conn)

    def _cut(self, conn: _Connection) -> None:
        # its descriptor is closed on the loop's next turn; its slot is free at once
        self.closed(conn)
        conn.cut()

    # --- accepting ------------------------------------------------------------------------

    async def _accept(self, listening: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock, _address = await loop.sock_accept(listening)
            except OSError as exc:
                self._report.count("accept_failed")
                if exc.errno in _OUT_OF_RESOURCES:  # the checks come first: wait a little
                    await asyncio.sleep(0.5)
                continue
            if len(self._open) >= self._max:
                if not self._waiting:
                    sock.close()
                    self._report.count("refused")
                    continue
                oldest = next(iter(self._waiting))
                self._report.count("evicted")
                self._cut(oldest)
                await asyncio.sleep(0)  # let its descriptor go before taking another
            conn = _Connection()
            self._open.add(conn)
            self._waiting[conn] = loop.call_later(self._timeout, self._expire, conn)
            conn.handshake = asyncio.create_task(self._hand_over(conn, sock))

    async def _hand_over(self, conn: _Connection, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.connect_accepted_socket(
                lambda: _Guarded(self, conn, self._factory()),
                sock,
                ssl=self._ssl,
                ssl_handshake_timeout=self._timeout if self._ssl is not None else None,
            )
        except (OSError, asyncio.CancelledError) as exc:  # a failed or cut TLS handshake
            if isinstance(exc, OSError) and conn in self._waiting:
                self._report.count("tls_failed")
            if conn.transport is None:
                self.closed(conn)
                with contextlib.suppress(OSError):
                    sock.close()
        finally:
            conn.handshake = None


async def listening_sockets(host: str, port: int) -> list[socket.socket]:
    """Bound, listening, non-blocking sockets for every address `host` resolves to (as
    asyncio's create_server does). Raises OSError."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _name, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(BACKLOG)
            sock.setblocking(False)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets

"""A slowloris: many connections that each send half an HTTP request and then nothing."""

from __future__ import annotations

import contextlib
import errno
import resource
import selectors
import socket
import threading
import time

from tests.support.servers import unavailable

HALF_A_REQUEST = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow"


def _raise_own_open_file_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        unavailable(f"the test process may open {hard} files; a flood needs {needed}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


class SlowClients:
    """Keeps `count` connections to 127.0.0.1:`port` open, each with half a request (`send`)
    sent, and (while `sustain` is set) opens a new one for each the server closes.

    Counts what the server did: `closed_by_server` connections it closed or reset.
    """

    def __init__(
        self, port: int, count: int, *, send: bytes = HALF_A_REQUEST, pace_seconds: float = 0.5
    ) -> None:
        self.port = port
        self.count = count
        self.send = send  # b"": nothing at all, not even a TLS ClientHello
        self.pace_seconds = pace_seconds
        self.sustain = True
        self.opened = 0
        self.closed_by_server = 0
        self._open: dict[socket.socket, bool] = {}  # socket -> half request sent
        self._selector = selectors.DefaultSelector()  # epoll: more than 1024 descriptors
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._lock = threading.Lock()

    def __enter__(self) -> SlowClients:
        _raise_own_open_file_limit(self.count + 256)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        for sock in list(self._open):
            self._forget(sock)
        self._selector.close()

    @property
    def open_now(self) -> int:
        with self._lock:
            return len(self._open)

    def _run(self) -> None:
        next_top_up = 0.0
        while not self._stop.is_set():
            if self.sustain and time.monotonic() >= next_top_up:
                self._top_up()
                next_top_up = time.monotonic() + self.pace_seconds
            for key, _events in self._selector.select(timeout=0.05):
                self._on_ready(key.fileobj)  # type: ignore[arg-type]

    def _top_up(self) -> None:
        while self.open_now < self.count:
            sock = socket.socket()
            sock.setblocking(False)
            code = sock.connect_ex(("127.0.0.1", self.port))
            if code not in (0, errno.EINPROGRESS):
                sock.close()
                return
            with self._lock:
                self._open[sock] = False
            self.opened += 1
            self._selector.register(sock, selectors.EVENT_WRITE)

    def _on_ready(self, sock: socket.socket) -> None:
        sent = self._open.get(sock)
        if sent is None:
            return
        if not sent:  # connected (or failed to): send half a request
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                self._forget(sock)
                return
            try:
                if self.send:
                    sock.send(self.send)
            except OSError:
                self._server_closed(sock)
                return
            with self._lock:
                self._open[sock] = True
            self._selector.modify(sock, selectors.EVENT_READ)
            return
        try:
            data = sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._server_closed(sock)
        # an answer (an error page) is read and the connection left to the server to close

    def _server_closed(self, sock: socket.socket) -> None:
        self.closed_by_server += 1
        self._forget(sock)

    def _forget(self, sock: socket.socket) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(sock)
        with self._lock:
            self._open.pop(sock, None)
        sock.close()

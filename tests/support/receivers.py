"""Real HTTP receivers for notification tests: aiohttp servers on 127.0.0.1 that record.

Each receiver runs its own event loop in a thread, so both synchronous tests (driving a
`driftwatch serve` subprocess) and `asyncio.run` tests can use it. Its behaviour can be
changed while it runs: answer another status, take a while to answer, or stop listening
(connections refused) and listen again on the same port.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from tests.support.daemon import free_port

CLIENT_GONE = 499  # as nginx logs a request whose client left before the answer
NOT_ANSWERED = 0  # still waiting for its answer


@dataclass(frozen=True, slots=True, kw_only=True)
class Received:
    """One request as the receiver saw it, with the status it answered."""

    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or the raw text when it is not JSON
    status: int
    at: float  # time.monotonic() on arrival
    wall: datetime  # the wall clock on arrival, UTC

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300


class Receiver:
    def __init__(self) -> None:
        self.port = free_port()
        self.status = 200
        self.delay = 0.0  # seconds to wait before answering
        self.retry_after: str | None = None
        self.answer: str | None = None  # response body; default "ok" or "no"
        self.script: deque[int] = deque()  # statuses for the next requests, then `status`
        self._requests: list[Received] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._runner: web.AppRunner | None = None

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    # --- what it got ----------------------------------------------------------------------

    @property
    def requests(self) -> list[Received]:
        with self._lock:
            return list(self._requests)

    @property
    def accepted(self) -> list[Received]:
        return [r for r in self.requests if r.accepted]

    def wait_for(self, what: str, predicate: Callable[[], bool], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        bodies = "\n".join(json.dumps(r.body)[:400] for r in self.requests[-10:])
        raise AssertionError(f"timed out waiting for {what}; last requests:\n{bodies}")

    # --- life cycle -----------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        with self._lock:
            status = self.script.popleft() if self.script else self.status
            delay, retry_after = self.delay, self.retry_after
            seen = Received(
                path=request.path,
                headers=dict(request.headers),
                body=body,
                status=NOT_ANSWERED if delay else status,
                at=time.monotonic(),
                wall=datetime.now(UTC),
            )
            self._requests.append(seen)
        if delay:
            await asyncio.sleep(delay)
            gone = request.transport is None or request.transport.is_closing()
            with self._lock:  # a client that gave up waiting got nothing
                index = self._requests.index(seen)
                self._requests[index] = replace(seen, status=CLIENT_GONE if gone else status)
        headers = {"Retry-After": retry_after} if retry_after and status >= 400 else {}
        text = self.answer if self.answer is not None else "ok" if status < 400 else "no"
        return web.Response(status=status, text=text, headers=headers)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port, reuse_address=True).start()
        self._runner = runner

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _run(self, coro: Any) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    def start(self) -> None:
        """Listen (again) on the receiver's port."""
        self._run(self._start())

    def stop(self) -> None:
        """Stop listening: connections are refused until `start()`."""
        self._run(self._stop())

    def close(self) -> None:
        self.stop()

        async def shutdown() -> None:
            # handlers still sleeping for a hanging receiver
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)
            await self._loop.shutdown_asyncgens()

        self._run(shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


@contextmanager
def receiver(*, started: bool = True) -> Iterator[Receiver]:
    """A receiver listening on a free port (unless `started=False`), closed afterwards."""
    found = Receiver()
    try:
        if started:
            found.start()
        yield found
    finally:
        found.close()

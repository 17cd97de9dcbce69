"""HTTP endpoints of the daemon: the status page (`/`, `/targets/{name}`), /metrics, /healthz,
/readyz, /report.

The page, /metrics and /report reveal schema names, so TLS and basic auth may guard them; the
probes stay open (they say nothing about the databases) so orchestrators need no credentials.
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Middleware
from aiohttp.web import ContentCoding
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from driftwatch.errors import ConfigError
from driftwatch.history.entries import entry_json
from driftwatch.render.document import report_json
from driftwatch.report import Report
from driftwatch.serve.auth import Credentials, basic_auth
from driftwatch.serve.history import HistoryKeeper
from driftwatch.serve.listener import (
    TIMEOUT_SECONDS,
    ClientErrorFilter,
    Listener,
    ShedReport,
    connection_limit,
    listening_sockets,
    open_file_limit,
)
from driftwatch.serve.page import CONTENT_SECURITY_POLICY, fleet_page, not_found_page, target_page
from driftwatch.serve.scheduler import Scheduler

OPEN_PATHS = frozenset({"/healthz", "/readyz"})

log = logging.getLogger("driftwatch.http")
_REQUEST_LOG = logging.getLogger("driftwatch.http.requests")  # aiohttp's request handlers


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpOptions:
    host: str
    port: int
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    client_auth: ssl.VerifyMode = ssl.CERT_NONE  # client certificates (web config file)
    client_ca_file: Path | None = None
    min_version: ssl.TLSVersion | None = None
    max_version: ssl.TLSVersion | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # added to every response
    credentials: Credentials | None = None  # basic auth on all but OPEN_PATHS


def parse_listen(listen: str) -> tuple[str, int]:
    """`HOST:PORT`, `[IPv6]:PORT` or `:PORT` (all interfaces)."""
    host, sep, port_text = listen.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError(f"listen: {listen!r} is not HOST:PORT")
    host = host.strip("[]") or "0.0.0.0"  # noqa: S104 - an empty host means every interface
    return host, int(port_text)


# the status page: no script, no asset from elsewhere, not cached, not framed
_PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _html(body: str, status: int = 200) -> web.Response:
    return web.Response(
        text=body, status=status, content_type="text/html", charset="utf-8", headers=_PAGE_HEADERS
    )


def web_app(
    scheduler: Scheduler,
    registry: CollectorRegistry,
    options: HttpOptions,
    history: HistoryKeeper,
) -> web.Application:
    """The endpoints, reading the scheduler's target states, `history` and `registry` at
    request time."""
    middlewares: list[Middleware] = []
    if options.credentials is not None:
        middlewares.append(basic_auth(options.credentials, OPEN_PATHS))
    app = web.Application(middlewares=middlewares)
    if options.headers:
        headers = dict(options.headers)

        async def add_headers(_request: web.Request, response: web.StreamResponse) -> None:
            for name, value in headers.items():
                if name in response.headers and name == "Content-Security-Policy":
                    # the page's own policy stays; a browser enforces both
                    response.headers.add(name, value)
                else:
                    response.headers[name] = value

        app.on_response_prepare.append(add_headers)

    async def metrics(request: web.Request) -> web.Response:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        body = encoder(registry)
        return _compressed(request, web.Response(body=body, headers={"Content-Type": content_type}))

    async def healthz(_request: web.Request) -> web.Response:
        if scheduler.alive():
            return web.Response(text="ok\n")
        return web.Response(status=503, text="scheduler not running\n")

    async def readyz(_request: web.Request) -> web.Response:
        waiting = [s.name for s in scheduler.snapshot() if not s.checked]
        if not waiting:
            return web.Response(text="ready\n")
        return web.Response(status=503, text=f"not checked yet: {', '.join(waiting)}\n")

    async def report(request: web.Request) -> web.Response:
        latest = Report(targets=tuple(scheduler.latest_reports()), generated_at=datetime.now(UTC))
        document = report_json(latest)
        for target in document["targets"]:
            target["history"] = [entry_json(e) for e in history.entries(target["name"])]
        response = web.Response(
            text=json.dumps(document, indent=2), content_type="application/json"
        )
        return _compressed(request, response)

    async def fleet(_request: web.Request) -> web.Response:
        return _html(fleet_page(scheduler.snapshot(), now=datetime.now(UTC)))

    async def target(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        state = next((s for s in scheduler.snapshot() if s.name == name), None)
        if state is None:
            return _html(not_found_page(name), status=404)
        return _html(target_page(state, history.entries(name), now=datetime.now(UTC)))

    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/report", report)
    app.router.add_get("/", fleet)
    app.router.add_get("/targets/{name}", target)
    return app


def _compressed(request: web.Request, response: web.Response) -> web.Response:
    """`response` gzipped where the client accepts it (a scrape of thousands of series)."""
    response.headers["Vary"] = "Accept-Encoding"
    if "gzip" in request.headers.get("Accept-Encoding", "").lower():
        response.enable_compression(ContentCoding.gzip)
    return response


def _ssl_context(options: HttpOptions) -> ssl.SSLContext | None:
    if options.tls_cert_file is None or options.tls_key_file is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(options.tls_cert_file, options.tls_key_file)
        if options.client_ca_file is not None:
            context.load_verify_locations(cafile=options.client_ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"TLS certificate or key cannot be loaded: {exc}") from None
    context.verify_mode = options.client_auth
    if options.min_version is not None:
        context.minimum_version = options.min_version
    if options.max_version is not None:
        context.maximum_version = options.max_version
    return context


async def start_http(stack: AsyncExitStack, app: web.Application, options: HttpOptions) -> None:
    """Serve `app` until `stack` closes, within the limits of `serve.listener`."""
    ssl_context = _ssl_context(options)
    open_files = open_file_limit()
    max_connections = connection_limit(open_files)
    report = ShedReport(max_connections=max_connections)
    # aiohttp logs a malformed request as an error with its traceback: count it instead
    client_errors = ClientErrorFilter(report)
    _REQUEST_LOG.addFilter(client_errors)
    stack.callback(_REQUEST_LOG.removeFilter, client_errors)
    runner = web.AppRunner(
        app,
        access_log=None,
        logger=_REQUEST_LOG,
        # idle keep-alive connections, and requests stalled after the first, are closed after
        # this long too (the first request head is the listener's to time out)
        keepalive_timeout=TIMEOUT_SECONDS,
        shutdown_timeout=5.0,
    )
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    try:
        sockets = await listening_sockets(options.host, options.port)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {options.host}:{options.port}: {exc.strerror}"
        ) from None
    assert runner.server is not None  # set up above
    listener = Listener(
        sockets,
        runner.server,
        ssl_context=ssl_context,
        max_connections=max_connections,
        report=report,
    )
    listener.start()
    # closed before the runner: no new connection while aiohttp finishes its requests
    stack.push_async_callback(listener.close)
    log.info(
        "listening",
        extra={
            "fields": {
                "listen": f"{options.host}:{options.port}",
                "max_connections": max_connections,
                "open_file_limit": open_files if open_files is not None else "unlimited",
            }
        },
    )

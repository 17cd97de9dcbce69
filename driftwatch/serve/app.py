"""`driftwatch serve`: the daemon built from its settings, and the owner of its lifecycle.

`ServeApp` builds everything first, so bad configuration (models that do not load, a state
file that cannot be written, a password file that cannot be read) refuses the start before
anything runs. `start` then enters the pieces on one AsyncExitStack, which closes them in
reverse: the engines and scratch servers, the HTTP server, the notifiers, the scheduler. On
SIGTERM the running checks drain first (within the shutdown grace), then the notification
queues get their flush grace, then the server stops, and the engines go last.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack

from aiohttp import web
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

from driftwatch.config.secrets import NO_KNOWN_SECRETS, Scrubber, basic_auth_password
from driftwatch.config.settings import Settings
from driftwatch.config.targets import Target
from driftwatch.expected.prebuilt import PrebuiltDirs
from driftwatch.expected.sources import load_expected
from driftwatch.expected.states import default_states
from driftwatch.history.store import history_path
from driftwatch.live.observe import make_engine
from driftwatch.notify.build import build_notifiers
from driftwatch.notify.notifications import Notifications
from driftwatch.notify.state_file import StateFile
from driftwatch.serve.auth import HashedCredentials, PlainCredentials
from driftwatch.serve.history import HistoryKeeper
from driftwatch.serve.http import HttpOptions, parse_listen, start_http, web_app
from driftwatch.serve.metrics import DriftCollector, NotificationCollector
from driftwatch.serve.scheduler import Scheduler
from driftwatch.serve.web_config import read_web_config

# the daemon's start and stop lines have always come from this logger; log readers know it
log = logging.getLogger("driftwatch.daemon")

Listen = Callable[[AsyncExitStack, web.Application], Awaitable[None]]
"""Serves the endpoints until the stack closes (tests pass aiohttp's TestServer)."""


def http_options(settings: Settings, *, host: str, port: int) -> HttpOptions:
    """TLS and basic auth from the web config file, or from the settings' own keys."""
    if settings.web_config_file is not None:
        web = read_web_config(settings.web_config_file)
        return HttpOptions(
            host=host,
            port=port,
            tls_cert_file=web.tls_cert_file,
            tls_key_file=web.tls_key_file,
            client_auth=web.client_auth,
            client_ca_file=web.client_ca_file,
            min_version=web.min_version,
            max_version=web.max_version,
            headers=web.headers,
            credentials=HashedCredentials(web.users) if web.users else None,
        )
    password = basic_auth_password(settings)
    user = settings.basic_auth_username
    return HttpOptions(
        host=host,
        port=port,
        tls_cert_file=settings.tls_cert_file,
        tls_key_file=settings.tls_key_file,
        credentials=PlainCredentials(user, password) if user and password else None,
    )


class ServeApp:
    """Everything `driftwatch serve` runs, built from validated settings; nothing runs
    before `start`. Raises ConfigError for configuration that cannot work."""

    def __init__(
        self, settings: Settings, targets: Sequence[Target], *, scrub: Scrubber = NO_KNOWN_SECRETS
    ) -> None:
        # models and scripts that do not load are bad configuration: refuse to start; so is
        # an expected_dir that holds no build (its states are read by the checks)
        expected = {t.name: load_expected(t) for t in targets if t.expected_dir is None}
        for target in targets:
            if target.expected_dir is not None:
                PrebuiltDirs().current(target)
        self.notifications = _notifications(settings, targets)
        host, port = parse_listen(settings.listen)
        self.http = http_options(settings, host=host, port=port)
        # opened here (no connection yet), closed by the stack `start` is given
        self._expected_states = default_states(settings.cache_dir)
        self._engines = {target.name: make_engine(target) for target in targets}
        # beside the state file (checked writable above), or in memory only without one
        self.history = HistoryKeeper(
            None if settings.state_file is None else history_path(settings.state_file),
            targets=[t.name for t in targets],
        )
        self.scheduler = Scheduler(
            targets,
            expected,
            interval_seconds=settings.interval_seconds,
            jitter_seconds=settings.jitter_seconds,
            max_age_seconds=settings.max_age_seconds,
            concurrency=settings.concurrency,
            shutdown_grace_seconds=settings.shutdown_grace_seconds,
            engines=self._engines,
            states=self._expected_states,
            on_state=[
                self.history,
                *([self.notifications] if self.notifications.notifiers else []),
            ],
            scrub=scrub,
        )
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(
            DriftCollector(
                self.scheduler.snapshot, drift_table_limit=settings.drift_table_series_limit
            )
        )
        if self.notifications.notifiers:
            self.registry.register(NotificationCollector(self.notifications.stats))
        # what every exporter exports about itself: process_* (CPU, memory, open files),
        # python_info, python_gc_*
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)

    async def start(self, stack: AsyncExitStack, *, listen: Listen | None = None) -> None:
        """Run engines, HTTP server (`listen`, by default the configured address within the
        limits of `serve.listener`), notifiers and scheduler until `stack` closes."""
        stack.push_async_callback(self._expected_states.close)
        for engine in self._engines.values():
            stack.push_async_callback(engine.dispose)
        app = web_app(self.scheduler, self.registry, self.http, self.history)
        if listen is None:
            await start_http(stack, app, self.http)
        else:
            await listen(stack, app)
        # entered after the HTTP server and before the scheduler: on exit the checks drain
        # first, then the queues get their flush grace, then the server stops
        await stack.enter_async_context(self.notifications)
        await stack.enter_async_context(self.history)
        self.scheduler.start(stack)
        log.info(
            "started",
            extra={
                "fields": {
                    "targets": ",".join(self.scheduler.targets),
                    "ready": self.scheduler.ready(),
                }
            },
        )

    async def run_until_signalled(self) -> None:
        """Serve until SIGTERM or SIGINT, then drain and close everything in reverse order."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        async with AsyncExitStack() as stack:
            await self.start(stack)
            await stop.wait()
            log.info("stopping")
        log.info("stopped")


def _notifications(settings: Settings, targets: Sequence[Target]) -> Notifications:
    """The configured notifiers, with what a previous run told them (the state file)."""
    known = [t.name for t in settings.targets]
    state_file = None if settings.state_file is None else StateFile(settings.state_file)
    notifications = Notifications(
        build_notifiers(settings, known_targets=known), state_file=state_file
    )
    if state_file is not None:
        state_file.check_writable()  # a folder it cannot write in is bad configuration
        saved = state_file.load()
        if saved is not None:
            notifications.restore(saved, targets=[t.name for t in targets])
    return notifications

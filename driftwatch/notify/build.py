"""Turn `[[notifiers]]` settings into plain `NotifierConfig` values, resolving their secrets.

Like `targets.build_targets`, this is where settings end: `notify` never imports them. Every
error is one line that names the notifier and never contains a URL or a header value.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from urllib.parse import urlsplit, urlunsplit

from driftwatch.config.secrets import read_secret
from driftwatch.config.settings import NotifierSettings, Settings
from driftwatch.errors import ConfigError
from driftwatch.notify.conditions import Condition, windows
from driftwatch.notify.memory import Policy
from driftwatch.notify.messages import NotifierKind
from driftwatch.notify.queue import NotifierConfig

ALERTMANAGER_PATH = "/api/v2/alerts"


def _env(name: str, origin: str, what: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"{origin}: {what}: environment variable {name} is not set")
    return value


def _raw_url(ns: NotifierSettings, origin: str) -> str:
    raw = read_secret(value=ns.url, env=ns.url_env, file=ns.url_file, origin=origin, what="url")
    if raw is None:
        raise ConfigError(f"{origin}: no URL (set url, url_env or url_file)")
    return raw


def endpoint(kind: NotifierKind, raw: str, origin: str) -> str:
    """The URL to POST to; never echoes `raw`, which is a secret."""
    try:
        parts = urlsplit(raw)
        port = parts.port  # raises on a port that is not a number
    except ValueError:
        raise ConfigError(f"{origin}: the URL cannot be parsed") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{origin}: the URL must be http:// or https:// with a host")
    del port
    if kind is not NotifierKind.ALERTMANAGER:
        return raw
    # the base URL of Alertmanager (with its route prefix, if any), or the API path itself
    path = parts.path.rstrip("/")
    if not path.endswith(ALERTMANAGER_PATH):
        path += ALERTMANAGER_PATH
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def _headers(ns: NotifierSettings, origin: str) -> dict[str, str]:
    headers = {k: v.get_secret_value() for k, v in ns.headers.items()}
    headers.update({k: _env(env, origin, f"header {k}") for k, env in ns.headers_env.items()})
    for name, value in headers.items():
        if "\n" in value or "\r" in value:
            raise ConfigError(f"{origin}: header {name}: the value has a line break")
    return headers


def _policy(
    ns: NotifierSettings,
    origin: str,
    known_targets: Collection[str],
    alert_windows: Mapping[Condition, float],
) -> Policy:
    unknown = sorted(set(ns.targets) - set(known_targets))
    if unknown:
        raise ConfigError(
            f"{origin}: targets: no target named {', '.join(map(repr, unknown))} "
            f"(configured: {', '.join(sorted(known_targets))})"
        )
    conditions = frozenset(Condition) if ns.events is None else frozenset(ns.events)
    return Policy(
        conditions=conditions,
        targets=frozenset(ns.targets),
        thresholds=windows(alert_windows),
    )


def build_notifiers(settings: Settings, *, known_targets: Collection[str]) -> list[NotifierConfig]:
    """One `NotifierConfig` per `[[notifiers]]` entry; ConfigError on the first bad one."""
    configs: list[NotifierConfig] = []
    names: set[str] = set()
    for index, ns in enumerate(settings.notifiers):
        name = ns.name or ns.type
        origin = f"notifier {name!r}"
        if name in names:
            raise ConfigError(
                f"notifiers[{index}]: the name {name!r} is taken: give each notifier its own name"
            )
        names.add(name)
        kind = NotifierKind(ns.type)
        resend = ns.resend_interval_seconds
        configs.append(
            NotifierConfig(
                name=name,
                kind=kind,
                url=endpoint(kind, _raw_url(ns, origin), origin),
                headers=_headers(ns, origin),
                policy=_policy(ns, origin, known_targets, settings.alert_windows),
                timeout_seconds=ns.timeout_seconds,
                queue_size=ns.queue_size,
                retry_initial_seconds=ns.retry_initial_seconds,
                retry_max_seconds=ns.retry_max_seconds,
                resend_interval_seconds=60 if resend is None else resend,
                public_url=settings.public_url,
            )
        )
    return configs

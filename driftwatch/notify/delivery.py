"""Delivery rules for notifications: retry schedule, Retry-After, verdicts, safe reasons. Pure.

A webhook URL is a secret (Slack's carries its token in the path), and aiohttp's own
exception texts include the URL, so failures are described from their type, never with
`str(exc)`.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum

import aiohttp

RETRY_AFTER_CAP_SECONDS = 600.0  # a receiver asking for more than this is asked again sooner


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"  # the receiver is down, slow or overloaded: keep the message and try again
    REJECTED = "rejected"  # the receiver refuses this message: trying again will not help


def classify(status: int) -> Verdict:
    """What an HTTP status means for the message that got it."""
    if 200 <= status < 300:
        return Verdict.DELIVERED
    if status in (408, 425, 429) or status >= 500:
        return Verdict.RETRY
    # 3xx too: redirects are not followed, they could carry the secret headers elsewhere
    return Verdict.REJECTED


def backoff_delay(attempt: int, *, initial: float, cap: float, jitter: float) -> float:
    """Seconds to wait after failed attempt number `attempt` (0 for the first).

    Exponential from `initial`, capped at `cap`, with `jitter` in [0, 1] taking up to half
    off so that many daemons restarted together do not retry in step.
    """
    ceiling = min(cap, initial * 2.0 ** min(attempt, 62))
    return ceiling * (1 - 0.5 * min(max(jitter, 0.0), 1.0))


def retry_delay(
    attempt: int, *, initial: float, cap: float, jitter: float, retry_after: float | None
) -> float:
    """The backoff delay, lengthened to the receiver's Retry-After (within reason)."""
    delay = backoff_delay(attempt, initial=initial, cap=cap, jitter=jitter)
    if retry_after is not None:
        delay = max(delay, min(retry_after, RETRY_AFTER_CAP_SECONDS))
    return delay


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """A Retry-After header (delay-seconds or an HTTP date) as seconds from `now`."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _connect_reason(cause: OSError) -> str:
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    if isinstance(cause, socket.gaierror):
        return "the host name does not resolve"
    if isinstance(cause, ssl.SSLError | ssl.CertificateError):
        return "TLS handshake failed"
    return f"cannot connect ({type(cause).__name__})"


def failure_reason(exc: BaseException, timeout_seconds: float) -> str:
    """Why a request failed, in words that never contain the URL."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout_seconds:g} s"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return _connect_reason(exc.os_error)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    return type(exc).__name__


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` on one line, short, with every secret replaced."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    line = " ".join(text.split())
    return line[:200]

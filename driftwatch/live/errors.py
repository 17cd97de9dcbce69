"""Database failures as one line that says why, without secrets."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import DBAPIError, NoSuchTableError, SQLAlchemyError

from driftwatch.bounds import clip
from driftwatch.config.targets import Target
from driftwatch.errors import DatabaseError, FilterError, VersionTableError

# what each server says when one of the target's timeouts stops a query
STATEMENT_TIMEOUT_MESSAGES = (
    "statement timeout",  # PostgreSQL statement_timeout
    "max_statement_time",  # MariaDB
    "maximum statement execution time",  # MySQL max_execution_time
)
LOCK_TIMEOUT_MESSAGES = (
    "lock timeout",  # PostgreSQL lock_timeout
    "lock wait timeout",  # MySQL/MariaDB lock_wait_timeout, innodb_lock_wait_timeout
)


class ConnectTimeoutError(TimeoutError):
    """No connection (with its session set up) within the target's connect timeout."""


def _timeout_reason(text_: str, target: Target) -> str | None:
    """Which of the target's timeouts stopped the check, with its configured value."""
    lowered = text_.lower()
    if any(message in lowered for message in LOCK_TIMEOUT_MESSAGES):
        return (
            f"a query waited longer than lock_timeout_seconds "
            f"({target.timeouts.lock_timeout_seconds:g} s) for a lock: {text_}"
        )
    if any(message in lowered for message in STATEMENT_TIMEOUT_MESSAGES):
        return (
            f"a query ran longer than statement_timeout_seconds "
            f"({target.timeouts.statement_timeout_seconds:g} s): {text_}"
        )
    if target.dialect == "sqlite" and "database is locked" in lowered:
        # the driver's busy timeout, which driftwatch sets to the lock timeout
        return (
            f"the database stayed locked longer than lock_timeout_seconds "
            f"({target.timeouts.lock_timeout_seconds:g} s)"
        )
    return None


def root_cause(exc: BaseException) -> BaseException:
    """The driver's own exception under SQLAlchemy's and the async adapter's wrappers."""
    root: BaseException = exc.orig if isinstance(exc, DBAPIError) and exc.orig else exc
    while root.__cause__ is not None and root.__cause__ is not root:
        root = root.__cause__
    return root


def _reason(exc: BaseException, target: Target) -> str:  # noqa: PLR0911 - one return per cause
    """One line saying why the database could not be read, without secrets."""
    root = root_cause(exc)
    name = type(root).__name__
    text_ = str(root).strip().splitlines()[0] if str(root).strip() else name
    host = f"{target.url.host or 'localhost'}:{target.url.port or ''}".rstrip(":")
    lowered = text_.lower()
    if isinstance(exc, ConnectTimeoutError):
        return (
            f"no connection to {host} within connect_timeout_seconds "
            f"({target.timeouts.connect_timeout_seconds:g} s)"
        )
    if isinstance(exc, TimeoutError):
        # only the check's own deadline raises a bare TimeoutError past the connect phase
        return (
            f"the check did not finish within check_timeout_seconds "
            f"({target.timeouts.check_timeout_seconds:g} s)"
        )
    if (timeout := _timeout_reason(text_, target)) is not None:
        return timeout
    if isinstance(root, socket.gaierror):
        return f"cannot resolve host {target.url.host!r}"
    if isinstance(root, ConnectionRefusedError) or "connection refused" in lowered:
        return f"connection refused by {host}"
    if (
        "password authentication failed" in lowered
        or "access denied" in lowered
        or (name in ("InvalidPasswordError", "InvalidAuthorizationSpecificationError"))
    ):
        return f"authentication failed for user {target.url.username!r}"
    if (
        name == "InvalidCatalogNameError"
        or "unknown database" in lowered
        or ("does not exist" in lowered and "database" in lowered)
    ):
        return f"database {target.url.database!r} does not exist"
    if "unable to open database file" in lowered:
        return f"SQLite database file {target.url.database!r} cannot be opened (does it exist?)"
    if isinstance(root, OSError | TimeoutError) and not isinstance(root, ConnectionRefusedError):
        return f"cannot connect to {host}: {text_}"
    if "permission denied" in lowered or "command denied" in lowered:
        return f"permission denied: {text_}"
    return f"{name}: {text_}"


def scrub(message: str, target: Target) -> str:
    password = target.url.password
    if password:
        message = message.replace(str(password), "***")
    return message.replace("\n", " ")


@contextmanager
def translate_errors(target: Target) -> Iterator[None]:
    try:
        yield
    except (VersionTableError, DatabaseError, FilterError):
        raise  # ours, or the project's filters failing (see expected.filters)
    except (SQLAlchemyError, OSError, TimeoutError, NoSuchTableError) as exc:
        reason = clip(scrub(_reason(exc, target), target))  # a server's text may be long
        raise DatabaseError(reason, target=target.name, url=target.safe_url) from None
    except Exception as exc:  # drivers raise their own types for protocol-level failures
        reason = clip(scrub(_reason(exc, target), target))
        raise DatabaseError(reason, target=target.name, url=target.safe_url) from None

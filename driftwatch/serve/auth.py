"""Basic auth of the daemon's endpoints: one user with a password from the configuration,
or the bcrypt-hashed users of a web config file (`serve.web_config`).

A bcrypt check costs tens of milliseconds of CPU by design. So that a scraper every 15 s
does not pay it each time, and a client guessing passwords cannot take the CPU from the
checks, a successful check is remembered (by a digest of user, password and hash; a bounded
number of them), and bcrypt runs in one worker thread at a time. An unknown user is checked
against a stand-in hash, so the answer takes as long as for a known one.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Mapping
from typing import Protocol

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

REMEMBERED = 256  # successful bcrypt checks kept


class Credentials(Protocol):
    async def accepts(self, user: str, password: str) -> bool: ...


class PlainCredentials:
    """One user and password, compared in constant time."""

    def __init__(self, user: str, password: str) -> None:
        self._expected = f"{user}:{password}".encode()

    async def accepts(self, user: str, password: str) -> bool:
        return hmac.compare_digest(f"{user}:{password}".encode(), self._expected)


class HashedCredentials:
    """Users with bcrypt-hashed passwords (the exporter-toolkit's `basic_auth_users`)."""

    def __init__(self, users: Mapping[str, bytes]) -> None:
        import bcrypt  # noqa: PLC0415 - only a daemon given hashed users needs it

        self._bcrypt = bcrypt
        self._users = dict(users)
        # an unknown user costs what the dearest known one does (hashes are validated whole
        # by serve.web_config: `$2b$12$...`)
        rounds = max((int(h.split(b"$")[2]) for h in self._users.values()), default=10)
        self._stand_in = bcrypt.hashpw(b"stand-in", bcrypt.gensalt(rounds))
        self._remembered: OrderedDict[bytes, None] = OrderedDict()
        self._one_at_a_time = asyncio.Semaphore(1)

    async def accepts(self, user: str, password: str) -> bool:
        hashed = self._users.get(user, self._stand_in)
        key = hashlib.sha256(b"\0".join((user.encode(), password.encode(), hashed))).digest()
        if key in self._remembered:
            self._remembered.move_to_end(key)
            return True
        async with self._one_at_a_time:
            try:
                good = await asyncio.to_thread(self._bcrypt.checkpw, password.encode(), hashed)
            except ValueError:  # bcrypt refuses a password over 72 bytes in some versions
                return False
        if not good or user not in self._users:
            return False
        self._remembered[key] = None
        if len(self._remembered) > REMEMBERED:
            self._remembered.popitem(last=False)
        return True


def _given(request: web.Request) -> tuple[str, str] | None:
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def basic_auth(credentials: Credentials, open_paths: frozenset[str]) -> Middleware:
    """Every path but `open_paths` answers 401 without credentials `credentials` accepts."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in open_paths:
            return await handler(request)
        given = _given(request)
        if given is None or not await credentials.accepts(*given):
            return web.Response(
                status=401,
                text="authentication required\n",
                headers={"WWW-Authenticate": 'Basic realm="driftwatch"'},
            )
        return await handler(request)

    return middleware

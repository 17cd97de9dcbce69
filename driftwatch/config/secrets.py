"""Secrets: where the configuration keeps them, and how they are masked in text.

A secret is given inline, named by an environment variable, or kept in a file (`read_secret`).
A `Scrubber` is made once, from every secret the configuration names (`configured_secrets`
and `url_secrets`), and applied where text leaves the process: the reports' errors (check
output, /report, notifications), the CLI's stderr lines and every log record. Error texts
are the concern: they may quote anything, including what the project's own code raised.
Only `read_secret` and `configured_secrets` read (the environment, files); the rest is pure.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, quote_plus, unquote, urlsplit

from pydantic import SecretStr
from sqlalchemy.engine import URL

from driftwatch.errors import ConfigError

if TYPE_CHECKING:
    from driftwatch.config.settings import Settings

MASK = "***"
CREDENTIALS_IN_TEXT = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")
# query parameters that carry a secret (libpq takes `?password=`, and `sslpassword`)
SECRET_QUERY_KEY = re.compile(r"pass|secret|token", re.IGNORECASE)
# the password of a URL as written, whatever its escaping: between `user:` and `@`
_WRITTEN_PASSWORD = re.compile(r"://[^:/@\s]*:([^@\s]+)@")


def mask_url(url: URL) -> str:
    """The URL to show: its password and the query values that are secrets masked."""
    secret = {key: MASK for key in url.query if SECRET_QUERY_KEY.search(key)}
    rendered = url.update_query_dict(secret).render_as_string(hide_password=True)
    return rendered.replace(quote_plus(MASK), MASK) if secret else rendered


def mask_credentials(text: str) -> str:
    """Mask the password of any URL written in free text (exception messages of others)."""
    return CREDENTIALS_IN_TEXT.sub(rf"\1{MASK}@", text)


@dataclass(frozen=True, slots=True)
class Scrubber:
    """Masks known secrets, and the password of any URL, in a text.

    A secret is masked where it is not part of a longer run of letters and digits, so that
    a password like `postgres` masks `:postgres@` but leaves `postgresql://` readable (a
    secret inside a longer word is not recognisable as that secret). The escaped spellings
    of URL passwords are secrets of their own (`url_secrets`), matched regardless of case
    (`%2f` and `%2F` are the same).
    """

    pattern: re.Pattern[str] | None = None

    def __call__(self, text: str) -> str:
        if self.pattern is not None:
            text = self.pattern.sub(MASK, text)
        return mask_credentials(text)


NO_KNOWN_SECRETS = Scrubber()  # still masks the password of any URL


def scrubber(secrets: Iterable[str | None]) -> Scrubber:
    """A Scrubber of `secrets` (empty and None values are ignored)."""
    found = sorted({s for s in secrets if s}, key=lambda s: (-len(s), s))  # longest first
    if not found:
        return Scrubber()
    alternatives = "|".join(re.escape(s) for s in found)
    return Scrubber(re.compile(rf"(?<![^\W_])(?:{alternatives})(?![^\W_])", re.IGNORECASE))


def url_secrets(url: URL | str | None) -> set[str]:
    """The password of a database URL, in every spelling it may be quoted in.

    A string is what a person wrote (maybe not even a valid URL): its password is taken as
    written, and also unescaped. The rest of the URL (host, user, database) is not secret.
    """
    if url is None:
        return set()
    if isinstance(url, URL):
        found = _password_spellings(None if url.password is None else str(url.password))
        for key, value in url.query.items():
            if SECRET_QUERY_KEY.search(key):
                for one in (value,) if isinstance(value, str) else value:
                    found |= _password_spellings(one)
        return found
    written = _WRITTEN_PASSWORD.search(url)
    if written is None:
        return set()
    return {written.group(1), *_password_spellings(unquote(written.group(1)))}


def webhook_secrets(url: str | None) -> set[str]:
    """A webhook URL is a secret as a whole (a Slack hook's path is its token): the URL, its
    path (with its query) and its password."""
    if not url:
        return set()
    found = {url, *url_secrets(url)}
    try:
        parts = urlsplit(url)
    except ValueError:
        return found
    if len(parts.path) > 1:
        found |= {parts.path, parts.path + (f"?{parts.query}" if parts.query else "")}
    return found


def header_secrets(value: str) -> set[str]:
    """An HTTP header's value, and the credentials after its scheme (`Bearer <token>`)."""
    _scheme, _, credentials = value.strip().partition(" ")
    return {value.strip(), credentials.strip()}


def _password_spellings(password: str | None) -> set[str]:
    if not password:
        return set()
    rendered = URL.create("x", username="u", password=password).render_as_string(False)
    as_rendered = rendered.partition(":")[2].partition(":")[2].rpartition("@")[0]
    return {password, quote(password, safe=""), quote_plus(password), quote(password), as_rendered}


def not_text(exc: UnicodeDecodeError) -> str:
    """Where a file stops being UTF-8 text, without quoting it (it may hold secrets)."""
    return f"at byte {exc.start + 1}"


def read_secret(
    *,
    value: SecretStr | None = None,
    env: str | None = None,
    file: Path | None = None,
    origin: str,
    what: str,
) -> str | None:
    """A secret given inline, by environment variable (`<what>_env`) or in a file
    (`<what>_file`, stripped: mounted secrets end with a newline); None when none is given.
    Errors name the source, never the secret."""
    if value is not None:
        return value.get_secret_value().strip()
    if env is not None:
        from_env = os.environ.get(env, "").strip()
        if not from_env:
            raise ConfigError(f"{origin}: {what}_env: environment variable {env} is not set")
        return from_env
    if file is not None:
        try:
            from_file = file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{origin}: {what}_file {file}: {exc.strerror}") from None
        except UnicodeDecodeError:  # never say where: the bytes may be the secret
            raise ConfigError(f"{origin}: {what}_file {file} is not UTF-8 text") from None
        if not from_file:
            raise ConfigError(f"{origin}: {what}_file {file} is empty")
        return from_file
    return None


def basic_auth_password(settings: Settings) -> str | None:
    """The basic auth password, from the settings or the file they name."""
    return read_secret(
        value=settings.basic_auth_password,
        file=settings.basic_auth_password_file,
        origin="configuration",
        what="basic_auth_password",
    )


def configured_secrets(settings: Settings) -> set[str]:
    """Every secret the configuration names, read from where it is kept: each target's
    database password (configured targets, selected or not), each notifier's URL and header
    values, the basic auth password. A source that cannot be read is left out: it fails with
    its own message where it is used, and what cannot be read cannot be shown either."""
    found: set[str] = set()
    for ts in settings.targets:
        raw = _readable(value=ts.url, env=ts.url_env, file=ts.url_file)
        found |= url_secrets(raw)
        found |= url_secrets(_readable(value=ts.scratch_url, env=ts.scratch_url_env))
    for ns in settings.notifiers:
        found |= webhook_secrets(_readable(value=ns.url, env=ns.url_env, file=ns.url_file))
        for header in ns.headers.values():
            found |= header_secrets(header.get_secret_value())
        for env in ns.headers_env.values():
            found |= header_secrets(os.environ.get(env, ""))
    found.add(
        _readable(value=settings.basic_auth_password, file=settings.basic_auth_password_file) or ""
    )
    return found


def _readable(
    *, value: SecretStr | None = None, env: str | None = None, file: Path | None = None
) -> str | None:
    try:
        return read_secret(value=value, env=env, file=file, origin="", what="")
    except ConfigError:
        return None

"""Secrets that must never leave the process, and the one function that masks them in text.

A `Scrubber` is made once, from every secret the configuration names (see
`settings.configured_secrets` and `url_secrets`), and applied where text leaves the process:
the reports' errors (check output, /report, notifications), the CLI's stderr lines and every
log record. Error texts are the concern: they may quote anything, including what the
project's own code raised. Pure functions only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote, quote_plus, unquote, urlsplit

from sqlalchemy.engine import URL

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

"""The Prometheus exporter-toolkit's web configuration file (`--web.config.file`).

The format every official exporter reads, so one file and one habit serve the whole
monitoring stack:

    tls_server_config:
      cert_file: server.crt          # relative paths start at this file's folder
      key_file: server.key
      client_auth_type: RequireAndVerifyClientCert
      client_ca_file: clients-ca.crt
      min_version: TLS12
    http_server_config:
      headers: { Strict-Transport-Security: max-age=31536000 }
    basic_auth_users:
      prometheus: $2b$12$...         # bcrypt hashes, never plain passwords

Options of the format that driftwatch cannot honour (cipher suites, curve preferences, a
client certificate requested but not verified ...) are refused by name rather than ignored:
a security setting that silently does nothing is worse than none. Errors are one line and
never quote a value.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from driftwatch.config.secrets import not_text
from driftwatch.errors import ConfigError

# client_auth_type -> what the TLS handshake demands of a client certificate
CLIENT_AUTH: Mapping[str, ssl.VerifyMode] = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
NOT_VERIFIED = ("RequestClientCert", "RequireAnyClientCert")  # Python's TLS always verifies
TLS_VERSIONS: Mapping[str, ssl.TLSVersion] = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
# the headers the exporter-toolkit allows in http_server_config.headers
ALLOWED_HEADERS = frozenset(
    {
        "Strict-Transport-Security",
        "X-Content-Type-Options",
        "X-Frame-Options",
        "X-XSS-Protection",
        "Content-Security-Policy",
    }
)
_TLS_KEYS = {"cert_file", "key_file", "client_auth_type", "client_ca_file"}
_TLS_KEYS |= {"min_version", "max_version"}
_TLS_REFUSED = {"cert", "key", "cipher_suites", "curve_preferences", "client_allowed_sans"}
_TLS_REFUSED |= {"prefer_server_cipher_suites"}
_HTTP_KEYS = {"headers", "http2"}  # http2: false only (aiohttp serves HTTP/1.1)
_TOP_KEYS = {"tls_server_config", "http_server_config", "basic_auth_users"}
# a whole bcrypt hash: variant, cost (4-31; above MAX_COST refused: one check would take
# seconds), 22 characters of salt and 31 of hash
BCRYPT = re.compile(r"\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}")
MAX_COST = 14


@dataclass(frozen=True, slots=True, kw_only=True)
class WebConfig:
    """What the file asks of the daemon's HTTP server."""

    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    client_auth: ssl.VerifyMode = ssl.CERT_NONE
    client_ca_file: Path | None = None
    min_version: ssl.TLSVersion | None = None
    max_version: ssl.TLSVersion | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    users: Mapping[str, bytes] = field(default_factory=dict)  # name -> bcrypt hash


def read_web_config(path: Path) -> WebConfig:
    """Read and validate `path`; ConfigError in one line for anything wrong with it."""
    import yaml  # noqa: PLC0415 - only a daemon given the file needs a YAML reader

    where = f"web config {path}"
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{where} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"{where} cannot be read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{where} is not UTF-8 text ({not_text(exc)})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{where} is not valid YAML{line}") from None
    if document is None:
        return WebConfig()
    top = _mapping(document, where)
    _known(top, _TOP_KEYS, set(), where)
    tls = _mapping(top.get("tls_server_config") or {}, f"{where}: tls_server_config")
    http = _mapping(top.get("http_server_config") or {}, f"{where}: http_server_config")
    users = _mapping(top.get("basic_auth_users") or {}, f"{where}: basic_auth_users")
    return WebConfig(
        **_tls(tls, path.parent, f"{where}: tls_server_config"),
        headers=_headers(http, f"{where}: http_server_config"),
        users=_users(users, f"{where}: basic_auth_users"),
    )


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ConfigError(f"{where}: expected a mapping of names to values")
    return value


def _known(section: Mapping[str, Any], known: set[str], refused: set[str], where: str) -> None:
    for key in section:
        if key in refused:
            raise ConfigError(f"{where}: {key} is not supported by driftwatch")
        if key not in known:
            raise ConfigError(f"{where}: unknown option {key!r}")


def _string(section: Mapping[str, Any], key: str, where: str) -> str | None:
    value = section.get(key)
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{where}: {key} must be a string")
    return value


def _file(section: Mapping[str, Any], key: str, base: Path, where: str) -> Path | None:
    value = _string(section, key, where)
    if not value:
        return None
    path = base / value  # an absolute value stays as it is
    if not path.is_file():
        raise ConfigError(f"{where}: {key} {path} does not exist")
    return path


def _version(section: Mapping[str, Any], key: str, where: str) -> ssl.TLSVersion | None:
    value = _string(section, key, where)
    if value is None:
        return None
    if value not in TLS_VERSIONS:
        raise ConfigError(f"{where}: {key} must be one of {', '.join(TLS_VERSIONS)}")
    return TLS_VERSIONS[value]


def _tls(section: Mapping[str, Any], base: Path, where: str) -> dict[str, Any]:
    _known(section, _TLS_KEYS, _TLS_REFUSED, where)
    cert = _file(section, "cert_file", base, where)
    key = _file(section, "key_file", base, where)
    if (cert is None) != (key is None):
        raise ConfigError(f"{where}: cert_file and key_file go together")
    auth_type = _string(section, "client_auth_type", where) or "NoClientCert"
    if auth_type in NOT_VERIFIED:
        raise ConfigError(
            f"{where}: client_auth_type {auth_type} is not supported by driftwatch "
            "(a client certificate is always verified: use VerifyClientCertIfGiven or "
            "RequireAndVerifyClientCert with client_ca_file)"
        )
    if auth_type not in CLIENT_AUTH:
        raise ConfigError(f"{where}: client_auth_type must be one of {', '.join(CLIENT_AUTH)}")
    ca = _file(section, "client_ca_file", base, where)
    client_auth = CLIENT_AUTH[auth_type]
    if client_auth is not ssl.CERT_NONE and ca is None:
        raise ConfigError(f"{where}: client_auth_type {auth_type} needs client_ca_file")
    if client_auth is not ssl.CERT_NONE and cert is None:
        raise ConfigError(f"{where}: client certificates need TLS (cert_file and key_file)")
    low, high = _version(section, "min_version", where), _version(section, "max_version", where)
    if low is not None and high is not None and low > high:
        raise ConfigError(f"{where}: min_version is above max_version")
    return {
        "tls_cert_file": cert,
        "tls_key_file": key,
        "client_auth": client_auth,
        "client_ca_file": ca,
        "min_version": low,
        "max_version": high,
    }


def _headers(section: Mapping[str, Any], where: str) -> dict[str, str]:
    _known(section, _HTTP_KEYS, set(), where)
    if section.get("http2") not in (None, False):
        raise ConfigError(f"{where}: http2 is not supported by driftwatch (set it false)")
    headers = _mapping(section.get("headers") or {}, f"{where}: headers")
    for name, value in headers.items():
        if name not in ALLOWED_HEADERS:
            raise ConfigError(
                f"{where}: header {name!r} may not be set (allowed: "
                f"{', '.join(sorted(ALLOWED_HEADERS))})"
            )
        if not isinstance(value, str) or "\n" in value or "\r" in value:
            raise ConfigError(f"{where}: header {name!r} must be a one-line string")
    return dict(headers)


def _users(section: Mapping[str, Any], where: str) -> dict[str, bytes]:
    users: dict[str, bytes] = {}
    for name, hashed in section.items():
        if not name or ":" in name:
            raise ConfigError(f"{where}: user name {name!r} is empty or holds ':'")
        found = BCRYPT.fullmatch(hashed) if isinstance(hashed, str) else None
        if found is None or not 4 <= int(found.group(1)) <= 31:
            # never echo the value: it may be a plain password written by mistake
            raise ConfigError(
                f"{where}: the password of {name!r} is not a bcrypt hash "
                "($2a$/$2b$/$2y$...; make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`)"
            )
        if int(found.group(1)) > MAX_COST:
            raise ConfigError(
                f"{where}: the bcrypt cost of {name!r} is above {MAX_COST} "
                "(each check would take seconds of CPU)"
            )
        users[name] = found.group(0).encode()
    return users

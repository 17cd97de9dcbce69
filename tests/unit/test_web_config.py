"""The exporter-toolkit's web config file, read as driftwatch reads it: what it accepts, and
one line naming the problem for what it cannot honour (never the value)."""

from __future__ import annotations

import ssl
from pathlib import Path

import bcrypt
import pytest

from driftwatch.errors import ConfigError
from driftwatch.serve.web_config import read_web_config

HASH = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4)).decode()


def write(tmp_path: Path, text: str) -> Path:
    for name in ("server.crt", "server.key", "ca.crt"):
        (tmp_path / name).write_text("PEM\n", encoding="utf-8")
    path = tmp_path / "web.yml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_full_file_with_paths_relative_to_it(tmp_path: Path) -> None:
    config = read_web_config(
        write(
            tmp_path,
            f"""
tls_server_config:
  cert_file: server.crt
  key_file: server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.crt
  min_version: TLS12
  max_version: TLS13
http_server_config:
  headers:
    Strict-Transport-Security: max-age=31536000
basic_auth_users:
  prometheus: {HASH}
""",
        )
    )
    assert config.tls_cert_file == tmp_path / "server.crt"
    assert config.client_ca_file == tmp_path / "ca.crt"
    assert config.client_auth is ssl.CERT_REQUIRED
    assert (config.min_version, config.max_version) == (
        ssl.TLSVersion.TLSv1_2,
        ssl.TLSVersion.TLSv1_3,
    )
    assert config.headers == {"Strict-Transport-Security": "max-age=31536000"}
    assert config.users == {"prometheus": HASH.encode()}


def test_an_empty_file_asks_for_nothing(tmp_path: Path) -> None:
    config = read_web_config(write(tmp_path, "# nothing\n"))
    assert config.tls_cert_file is None and not config.users and not config.headers


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("tls_server_config: {cert_file: server.crt}", "cert_file and key_file go together"),
        (
            "tls_server_config: {cert_file: nope.crt, key_file: server.key}",
            "cert_file ",
        ),
        (
            "tls_server_config: {cipher_suites: [TLS_AES_128_GCM_SHA256]}",
            "cipher_suites is not supported",
        ),
        (
            "tls_server_config: {cert_file: server.crt, key_file: server.key, "
            "client_auth_type: RequireAnyClientCert}",
            "RequireAnyClientCert is not supported",
        ),
        (
            "tls_server_config: {cert_file: server.crt, key_file: server.key, "
            "client_auth_type: RequireAndVerifyClientCert}",
            "needs client_ca_file",
        ),
        ("tls_server_config: {min_version: SSL3}", "min_version must be one of"),
        ("tls_server_config: {min_version: TLS13, max_version: TLS12}", "above max_version"),
        ("http_server_config: {headers: {Server: evil}}", "header 'Server' may not be set"),
        ("basic_auth_users: {prometheus: hunter2-plain}", "is not a bcrypt hash"),
        ("basic_auth_users: {prometheus: $2b$04$short}", "is not a bcrypt hash"),
        ("basic_auth_users: {prometheus: $2b$ab$" + "a" * 53 + "}", "is not a bcrypt hash"),
        (
            "basic_auth_users: {prometheus: $2b$31$" + "a" * 53 + "}",
            "cost of 'prometheus' is above 14",
        ),
        ("http_server_config: {http2: true}", "http2 is not supported"),
        ("basic_auth_users: [prometheus]", "expected a mapping"),
        ("tls_config: {}", "unknown option 'tls_config'"),
        ("basic_auth_users: {prometheus: [unclosed", "is not valid YAML at line 1"),
    ],
)
def test_what_cannot_be_honoured_is_one_line(tmp_path: Path, text: str, says: str) -> None:
    with pytest.raises(ConfigError) as raised:
        read_web_config(write(tmp_path, text))
    message = str(raised.value)
    assert says in message
    assert "\n" not in message
    assert "hunter2-plain" not in message


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        read_web_config(tmp_path / "absent.yml")

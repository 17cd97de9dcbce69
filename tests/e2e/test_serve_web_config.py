"""`driftwatch serve --web.config.file`: the exporter-toolkit's file as Prometheus' own
exporters read it (TLS with client certificates, bcrypt users, response headers), and the
exporter conventions of its /metrics (gzip, process and Python metrics), on a real daemon
spoken to over real HTTPS."""

from __future__ import annotations

import base64
import gzip
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import bcrypt
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import URL

from tests.support.daemon import serve, write_config
from tests.support.scenarios import SHOP, migrate

FAST = {"interval_seconds": 0.5, "jitter_seconds": 0}


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@pytest.fixture
def client_pair(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A client CA, and a client certificate it signed with its key: (ca, cert, key)."""
    ca, ca_key = tmp_path / "clients-ca.crt", tmp_path / "clients-ca.key"
    cert, key, csr = tmp_path / "client.crt", tmp_path / "client.key", tmp_path / "client.csr"
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=ca",
            "-keyout", str(ca_key), "-out", str(ca))  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=prometheus",
            "-keyout", str(key), "-out", str(csr))  # fmt: skip
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
            "-CAcreateserial", "-days", "1", "-out", str(cert))  # fmt: skip
    return ca, cert, key


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_web_config_file_tls_client_certs_bcrypt_users_and_gzip(
    sqlite_url: URL,
    tmp_path: Path,
    tls_pair: tuple[Path, Path],
    client_pair: tuple[Path, Path, Path],
) -> None:
    migrate(sqlite_url, "head")
    server_cert, server_key = tls_pair
    client_ca, client_cert, client_key = client_pair
    hashed = bcrypt.hashpw(b"s3cret-pw", bcrypt.gensalt(4)).decode()
    web = tmp_path / "web.yml"
    web.write_text(
        f"""
tls_server_config:
  cert_file: {server_cert.name}
  key_file: {server_key.name}
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: {client_ca.name}
  min_version: TLS12
http_server_config:
  headers:
    Strict-Transport-Security: max-age=31536000
basic_auth_users:
  prom: {hashed}
""",
        encoding="utf-8",
    )
    target = {"name": "lite", "url": str(sqlite_url.set(drivername="sqlite"))}
    target["script_location"] = str(SHOP / "migrations")
    config = write_config(tmp_path / "dw.toml", FAST, [target])

    with serve(
        config, tmp_path, "--web.config.file", str(web),
        tls_ca=server_cert, client_cert=(client_cert, client_key),
    ) as daemon:  # fmt: skip
        assert daemon.get("/healthz")[0] == 200  # a probe: open, but only over verified TLS
        assert daemon.get("/metrics")[0] == 401
        assert daemon.get("/metrics", basic("prom", "wrong"))[0] == 401
        assert daemon.get("/metrics", basic("nobody", "s3cret-pw"))[0] == 401
        status, body = daemon.get("/metrics", basic("prom", "s3cret-pw"))
        assert status == 200
        names = {f.name for f in text_string_to_metric_families(body)}
        assert {"driftwatch_build_info", "process_cpu_seconds", "python_info"} <= names
        assert "python_gc_collections" in names

        request = urllib.request.Request(
            daemon.base + "/metrics", headers={**basic("prom", "s3cret-pw"),
                                              "Accept-Encoding": "gzip"}
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=10, context=daemon.tls) as response:
            assert response.headers["Content-Encoding"] == "gzip"
            assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
            text = gzip.decompress(response.read()).decode()
        assert "driftwatch_build_info" in text

        # without a client certificate the handshake itself is refused
        anonymous = ssl.create_default_context(cafile=str(server_cert))
        with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionResetError)):
            urllib.request.urlopen(daemon.base + "/healthz", timeout=10, context=anonymous).close()
        assert daemon.terminate() == 0
    assert "s3cret-pw" not in daemon.log()


def test_web_config_file_and_the_plain_keys_do_not_mix(sqlite_url: URL, tmp_path: Path) -> None:
    import sys  # noqa: PLC0415

    web = tmp_path / "web.yml"
    web.write_text("basic_auth_users: {}\n", encoding="utf-8")
    settings = {**FAST, "basic_auth_username": "u", "basic_auth_password": "p"}
    target = {"name": "lite", "url": str(sqlite_url.set(drivername="sqlite"))}
    target["script_location"] = str(SHOP / "migrations")
    config = write_config(tmp_path / "dw.toml", settings, [target])
    result = subprocess.run(
        [sys.executable, "-m", "driftwatch", "serve", "--config", str(config),
         "--web.config.file", str(web), "--listen", "127.0.0.1:0"],
        capture_output=True, text=True, check=False, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "give web_config_file or the tls_* and basic_auth_* keys, not both" in line

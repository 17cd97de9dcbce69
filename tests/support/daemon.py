"""Run the real `driftwatch serve` as a subprocess and read it over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

REPO_ROOT = Path(__file__).resolve().parents[2]

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
# a daemon under test announces every condition at the first check that shows it
NO_ALERT_WINDOWS: dict[str, float] = {
    "drift": 0, "pending": 0, "unmigrated": 0, "unknown_revision": 0,
    "multiple_script_heads": 0, "check_failing": 0,
}  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(path: Path, settings: Mapping[str, Any], targets: list[Mapping[str, Any]]) -> Path:
    lines = [f"{k} = {toml_value(v)}" for k, v in settings.items()]
    for target in targets:
        lines.append("\n[[targets]]")
        lines += [f"{k} = {toml_value(v)}" for k, v in target.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Daemon:
    def __init__(
        self,
        process: subprocess.Popen[str],
        port: int,
        log_path: Path,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.process = process
        self.port = port
        self.log_path = log_path
        self.tls = tls
        self.base = f"{'https' if tls else 'http'}://127.0.0.1:{port}"

    def get(self, path: str, headers: Mapping[str, str] | None = None) -> tuple[int, str]:
        request = urllib.request.Request(self.base + path, headers=dict(headers or {}))
        try:
            with urllib.request.urlopen(request, timeout=10, context=self.tls) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def metrics_text(self) -> str:
        status, body = self.get("/metrics")
        assert status == 200, body
        return body

    def samples(self) -> Samples:
        found: Samples = {}
        for family in text_string_to_metric_families(self.metrics_text()):
            for sample in family.samples:
                found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return found

    def value(self, name: str, **labels: str) -> float | None:
        return self.samples().get((name, tuple(sorted(labels.items()))))

    def series(self, name: str, **labels: str) -> dict[tuple[tuple[str, str], ...], float]:
        """Every sample of `name` whose labels include `labels`."""
        return {
            key: value
            for (sample, key), value in self.samples().items()
            if sample == name and set(labels.items()) <= set(key)
        }

    def wait_for(self, what: str, predicate: Callable[[], bool], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"daemon exited while waiting for {what}: {self.log()}")
            if predicate():
                return
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; log:\n{self.log()[-4000:]}")

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def terminate(self, timeout: float = 30) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


# sets the open-file limit (soft and hard, as `prlimit --nofile=N:N` does), then runs argv[2:]
_WITH_OPEN_FILE_LIMIT = (
    "import os, resource, sys; n = int(sys.argv[1]); "
    "resource.setrlimit(resource.RLIMIT_NOFILE, (n, n)); os.execv(sys.argv[2], sys.argv[2:])"
)


@contextmanager
def serve(
    config: Path,
    tmp_path: Path,
    *extra: str,
    env: Mapping[str, str] | None = None,
    open_files: int | None = None,
    tls_ca: Path | None = None,
    client_cert: tuple[Path, Path] | None = None,
) -> Iterator[Daemon]:
    """Start `driftwatch serve --config <config>` and wait until /healthz answers; with
    `open_files`, under that open-file limit (systemd's default is 1024); with `tls_ca`, speak
    HTTPS to it, trusting that certificate, and with `client_cert` (certificate, key) show it."""
    port = free_port()
    log_path = tmp_path / f"daemon-{port}.log"
    command = [sys.executable, "-m", "driftwatch", "serve", "--config", str(config)]
    command += ["--listen", f"127.0.0.1:{port}", *extra]
    if open_files is not None:
        command = [sys.executable, "-c", _WITH_OPEN_FILE_LIMIT, str(open_files), *command]
    with log_path.open("w", encoding="utf-8") as log_file:
        process = subprocess.Popen(
            command,
            cwd=tmp_path,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(env or {})},
        )
    tls = None if tls_ca is None else ssl.create_default_context(cafile=str(tls_ca))
    if tls is not None and client_cert is not None:
        tls.load_cert_chain(*client_cert)
    daemon = Daemon(process, port, log_path, tls)
    try:
        daemon.wait_for("/healthz", lambda: _answers(daemon), timeout=30)
        yield daemon
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def _answers(daemon: Daemon) -> bool:
    try:
        return daemon.get("/healthz")[0] == 200
    except OSError:
        return False

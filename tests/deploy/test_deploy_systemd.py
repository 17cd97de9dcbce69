"""deploy/systemd/driftwatch.service: a valid, hardened unit running `driftwatch serve`."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from driftwatch.serve.listener import MAX_CONNECTIONS, RESERVED_FOR_CHECKS, connection_limit
from tests.support.servers import unavailable
from tests.support.tools import REPO_ROOT, systemd_analyze_path

UNIT = REPO_ROOT / "deploy" / "systemd" / "driftwatch.service"
ENV_EXAMPLE = REPO_ROOT / "deploy" / "systemd" / "driftwatch.env.example"
# systemd-analyze security's scale is 0 (locked down) to 10 (exposed); 2.0 is well inside "OK"
MAX_EXPOSURE = 2.0


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """section -> key -> values; keys may repeat (SystemCallFilter=), unlike configparser."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        assert current is not None, f"{line!r} comes before any section"
        key, sep, value = line.partition("=")
        assert sep, f"not a key=value line: {line!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def unit() -> dict[str, dict[str, list[str]]]:
    return parse_unit(UNIT.read_text(encoding="utf-8"))


def test_unit_runs_the_daemon_with_its_config() -> None:
    """ExecStart is an absolute driftwatch binary running `serve --config ...`."""
    (exec_start,) = unit()["Service"]["ExecStart"]
    binary, *args = shlex.split(exec_start)
    assert binary.startswith("/")
    assert Path(binary).name == "driftwatch"
    assert args == ["serve", "--config", "/etc/driftwatch/driftwatch.toml"]


def test_unit_is_hardened() -> None:
    """Not root, read-only system, no new privileges, private /tmp, URL from a file."""
    service = unit()["Service"]
    single = {key: values[-1] for key, values in service.items()}
    assert single.get("DynamicUser") == "yes" or single.get("User") not in (None, "root")
    expected = {
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "NoNewPrivileges": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "Restart": "on-failure",
        "CapabilityBoundingSet": "",
    }
    for key, value in expected.items():
        assert single.get(key) == value, key
    assert single["EnvironmentFile"] == "/etc/driftwatch/driftwatch.env"
    assert "Environment" not in service or not any("URL" in v for v in service["Environment"])
    assert unit()["Install"]["WantedBy"] == ["multi-user.target"]


def test_unit_raises_the_open_file_limit() -> None:
    """LimitNOFILE lifts systemd's 1024 so that HTTP gets its full connection limit and the
    checks keep their reserve of descriptors beside it."""
    [limit] = unit()["Service"]["LimitNOFILE"]
    soft = int(limit.split(":")[0])
    assert connection_limit(soft) == MAX_CONNECTIONS
    assert soft - MAX_CONNECTIONS >= 4 * RESERVED_FOR_CHECKS


def test_environment_file_example_holds_a_placeholder() -> None:
    lines = [
        line
        for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines
    for line in lines:
        name, _, value = line.partition("=")
        assert re.fullmatch(r"[A-Z_][A-Z0-9_]*", name)
        assert "REPLACE-ME" in value


def runnable_copy(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at a stand-in executable: verify checks it exists."""
    (exec_start,) = unit()["Service"]["ExecStart"]
    binary = shlex.split(exec_start)[0]
    stand_in = tmp_path / "driftwatch"
    stand_in.write_text("#!/bin/sh\nexit 0\n")
    stand_in.chmod(0o755)
    copy = tmp_path / UNIT.name
    copy.write_text(UNIT.read_text(encoding="utf-8").replace(binary, str(stand_in)))
    return copy


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    """`systemd-analyze verify` passes and warns about nothing in the unit (unknown keys ...)."""
    tool = systemd_analyze_path()
    copy = runnable_copy(tmp_path)
    result = subprocess.run(
        [str(tool), "verify", str(copy)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    complaints = [line for line in result.stderr.splitlines() if copy.name in line]
    assert result.returncode == 0, result.stderr
    assert not complaints, complaints


def test_systemd_analyze_security_rates_the_unit_ok(tmp_path: Path) -> None:
    """The offline exposure score stays at or below MAX_EXPOSURE."""
    tool = systemd_analyze_path()
    version = subprocess.run(
        [str(tool), "--version"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    found = re.search(r"systemd (\d+)", version)
    assert found, version
    major = int(found[1])
    if major < 250:
        unavailable(f"systemd {major} has no `systemd-analyze security --offline` (needs 250)")
    copy = runnable_copy(tmp_path)
    result = subprocess.run(
        [
            str(tool),
            "security",
            "--offline=true",
            f"--threshold={int(MAX_EXPOSURE * 10)}",
            "--no-pager",
            str(copy),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    score = re.search(r"Overall exposure level for \S+: ([\d.]+)", result.stdout)
    assert score, result.stdout + result.stderr
    assert result.returncode == 0, f"exposure {score[1]} > {MAX_EXPOSURE}\n{result.stdout}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("[A]\nK=1\nK=2\n", {"A": {"K": ["1", "2"]}}), ("# c\n[B]\nE=\n", {"B": {"E": [""]}})],
)
def test_unit_parser(text: str, expected: dict[str, dict[str, list[str]]]) -> None:
    """The parser keeps repeated keys and empty values, which systemd gives meaning to."""
    assert parse_unit(text) == expected

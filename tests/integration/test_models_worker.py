"""The models' worker (`driftwatch.expected.models_worker`) as a real process, and the files
the models' code is read from."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from driftwatch.expected.model_files import project_files
from driftwatch.expected.models_worker import request_for
from tests.support.projects import MODELS_MODULE, make_project
from tests.support.scenarios import flat_target


def test_project_files_name_the_projects_modules_only(tmp_path: Path) -> None:
    """A module imported from the project is listed; the stdlib, installed packages and
    driftwatch itself are not."""
    (tmp_path / "mf_probe_models.py").write_text("import json\n", encoding="utf-8")
    sys.path.insert(0, str(tmp_path))
    try:
        __import__("mf_probe_models")
        files = project_files()
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("mf_probe_models", None)
    assert str((tmp_path / "mf_probe_models.py").resolve()) in files
    assert not [f for f in files if "/sqlalchemy/" in f or f.endswith("/json/__init__.py")]
    assert not [f for f in files if "/driftwatch/" in f]


def test_a_worker_answers_though_the_models_print(tmp_path: Path) -> None:
    """What the models print goes to stderr: the answer on stdout still parses, with their
    snapshot and their files."""
    project = make_project(tmp_path)
    models = project.write_models("noisy_models", "print('hello from the models')")
    target = flat_target(
        {"name": "app", "url": project.url, "script_location": str(project.scripts),
         "metadata": (models,)}
    )  # fmt: skip
    request = request_for(target, scratch_url=None, identity="test", cache_dir=None)
    request["sys_path"] = [str(tmp_path), *request["sys_path"]]
    # stdin stays open while the answer is read: its end tells the worker the daemon died
    worker = subprocess.Popen(
        [sys.executable, "-m", "driftwatch.expected.models_worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdin is not None and worker.stdout is not None
        worker.stdin.write(json.dumps(request) + "\n")
        worker.stdin.flush()
        out = worker.stdout.read()
        assert worker.wait(timeout=120) == 0
        stderr = worker.communicate()[1]
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    answer = json.loads(out)
    assert answer["ok"] is True, answer
    assert "hello from the models" in stderr
    assert {t["name"] for t in answer["snapshot"]["tables"]} == {"users", "orders"}
    names = {Path(f).name for f in answer["files"]}
    assert names == {"noisy_models.py", f"{MODELS_MODULE}.py"}

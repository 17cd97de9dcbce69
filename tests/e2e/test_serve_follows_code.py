"""The real daemon follows a deploy: models and migrations edited on disk, `alembic upgrade`
run, and no restart; its models are imported anew in a fresh interpreter each time their
code changes (issue 13)."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic.config import Config
from sqlalchemy.engine import URL

from tests.support.daemon import Daemon, serve, write_config
from tests.support.projects import MODELS_MODULE, Project, make_project
from tests.support.scenarios import migrate, plain_url

FAST = {"interval_seconds": 0.5, "jitter_seconds": 0, "log_format": "json"}
USERS_COLUMN = '    sa.Column("active", sa.Boolean,'
NICKNAME = '    sa.Column("nickname", sa.String(50), nullable=True),\n'
NICKNAME_MIGRATION = '''"""add users.nickname

Revision ID: d4
Revises: c3
"""

import sqlalchemy as sa
from alembic import op

revision = "d4"
down_revision = "c3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("nickname", sa.String(50), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("nickname")
'''


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` as a deploy does: the new file appears whole, never half written."""
    temporary = path.with_name(f".{path.name}.new")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)


def models_file(project: Project) -> Path:
    return project.root / f"{MODELS_MODULE}.py"


def add_nickname_to_models(project: Project) -> None:
    text = models_file(project).read_text(encoding="utf-8")
    assert USERS_COLUMN in text
    write_atomically(models_file(project), text.replace(USERS_COLUMN, NICKNAME + USERS_COLUMN))


def project_config(project: Project) -> Config:
    config = Config()
    config.set_main_option("script_location", str(project.scripts))
    return config


def target_of(project: Project, url: URL, **extra: object) -> dict[str, object]:
    return {
        "name": "app",
        "url": plain_url(url),
        "script_location": str(project.scripts),
        "metadata": project.metadata,
        **extra,
    }


def the_report(daemon: Daemon) -> dict[str, Any] | None:
    """The target's latest report; None before its first check."""
    status, body = daemon.get("/report")
    assert status == 200, body
    targets = json.loads(body)["targets"]
    if not targets:
        return None
    (target,) = targets
    assert isinstance(target, dict)
    return target


def checks(daemon: Daemon) -> float:
    return daemon.value("driftwatch_checks_total", target="app") or 0


def attributions(report: dict[str, Any]) -> set[str]:
    schema = report["schema"] or {}
    return {f["attribution"] for f in schema.get("findings", [])}


class Watch:
    """Every report the daemon served while the test polled it; none may show drift."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.reports: list[dict[str, Any]] = []

    def poll(self) -> dict[str, Any] | None:
        report = the_report(self.daemon)
        if report is not None:
            self.reports.append(report)
            assert "drift" not in attributions(report), json.dumps(report, indent=1)
        return report

    def until(self, what: str, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """Poll until a report whose check started after this call satisfies `predicate`."""
        after = checks(self.daemon)
        found: dict[str, Any] = {}

        def done() -> bool:
            nonlocal found
            report = self.poll()
            if report is None or checks(self.daemon) <= after + 1:
                return False
            found = report
            return predicate(found)

        self.daemon.wait_for(what, done, timeout=90)
        return found


def in_sync_at(revision: str) -> Callable[[dict[str, Any]], bool]:
    def check(report: dict[str, Any]) -> bool:
        revision_state = report["revision"] or {}
        return (
            report["error"] is None
            and revision_state.get("state") == "at_head"
            and revision_state.get("database_heads") == [revision]
            and report["schema"]["in_sync"] is True
        )

    return check


def deploy_and_upgrade(project: Project, url: URL, watch: Watch) -> None:
    """A correct deploy: the migration and the model written, then `alembic upgrade head`;
    the daemon is polled throughout, and ends in sync at the new head."""
    write_atomically(project.scripts / "versions" / "d4_add_users_nickname.py", NICKNAME_MIGRATION)
    add_nickname_to_models(project)
    watch.until("the new head seen", lambda r: (r["revision"] or {}).get("state") == "behind")
    migrate(url, "head", config=project_config(project))
    final = watch.until("in sync at d4", in_sync_at("d4"))
    assert final["schema"]["findings"] == []
    assert final["schema"]["method"] == "replay"


def test_deploy_on_postgresql_never_shows_drift(pg_url: URL, tmp_path: Path) -> None:
    """Model field, migration and `alembic upgrade head` on a running daemon against
    PostgreSQL (scratch: the daemon's embedded server): no tick shows drift, and it ends in
    sync at the new head, the new column expected by models and migrations alike."""
    project = make_project(tmp_path)
    migrate(pg_url, "head", config=project_config(project))
    config = write_config(tmp_path / "dw.toml", FAST, [target_of(project, pg_url)])
    with serve(config, tmp_path) as daemon:
        watch = Watch(daemon)
        watch.until("in sync at c3", in_sync_at("c3"))
        deploy_and_upgrade(project, pg_url, watch)
        assert "models rebuilt" in daemon.log()
        assert daemon.terminate() == 0
    assert len(watch.reports) > 3


def test_deploy_on_sqlite_never_shows_drift(tmp_path: Path) -> None:
    """The same deploy against SQLite (scratch databases in memory, in the worker too)."""
    project = make_project(tmp_path)
    config = write_config(tmp_path / "dw.toml", FAST, [target_of(project, project.url)])
    with serve(config, tmp_path) as daemon:
        watch = Watch(daemon)
        watch.until("in sync at c3", in_sync_at("c3"))
        deploy_and_upgrade(project, project.url, watch)
        assert daemon.terminate() == 0


def test_model_change_without_migration_is_unmigrated_and_broken_code_recovers(
    tmp_path: Path,
) -> None:
    """A model field with no migration becomes `unmigrated` (never drift) without a restart;
    models that no longer import fail the check with one line naming the error, the daemon
    runs on, and the check recovers once the file is mended."""
    project = make_project(tmp_path)
    config = write_config(tmp_path / "dw.toml", FAST, [target_of(project, project.url)])
    with serve(config, tmp_path) as daemon:
        watch = Watch(daemon)
        watch.until("in sync at c3", in_sync_at("c3"))
        good = models_file(project).read_text(encoding="utf-8")

        add_nickname_to_models(project)
        report = watch.until("unmigrated", lambda r: "unmigrated" in attributions(r))
        (finding,) = report["schema"]["findings"]
        assert (finding["kind"], finding["table"], finding["name"]) == (
            "missing_column",
            "users",
            "nickname",
        )
        assert finding["attribution"] == "unmigrated"
        assert report["revision"]["state"] == "at_head"

        write_atomically(models_file(project), good + "\ndef broken(:\n")
        report = watch.until("the check failing", lambda r: r["error"] is not None)
        error = report["error"]
        assert "\n" not in error
        assert "SyntaxError" in error, error
        assert MODELS_MODULE in error, error
        assert "Traceback" not in daemon.log()
        assert daemon.get("/healthz")[0] == 200

        write_atomically(models_file(project), good)
        watch.until("in sync again", in_sync_at("c3"))
        assert daemon.terminate() == 0


def test_a_broken_module_the_new_models_import_recovers_once_it_alone_is_mended(
    tmp_path: Path,
) -> None:
    """The models start importing a new module of the project that does not compile: the
    check fails naming it; mending that module alone (the models' own files untouched since)
    is a change too, and the check recovers."""
    project = make_project(tmp_path)
    config = write_config(tmp_path / "dw.toml", FAST, [target_of(project, project.url)])
    billing = project.root / "shop_billing.py"
    with serve(config, tmp_path) as daemon:
        watch = Watch(daemon)
        watch.until("in sync at c3", in_sync_at("c3"))
        write_atomically(billing, "def rate(:\n")
        text = models_file(project).read_text(encoding="utf-8")
        write_atomically(models_file(project), text + "\nimport shop_billing  # noqa: E402\n")
        report = watch.until("the check failing", lambda r: r["error"] is not None)
        assert "SyntaxError" in report["error"], report["error"]
        assert "shop_billing" in report["error"], report["error"]
        assert "\n" not in report["error"]

        write_atomically(billing, "def rate() -> int:\n    return 1\n")
        watch.until("in sync again", in_sync_at("c3"))
        assert "Traceback" not in daemon.log()
        assert daemon.terminate() == 0


def test_without_a_scratch_database_the_report_says_models_imported_at_start(
    tmp_path: Path,
) -> None:
    """Where models are compared in-process (alembic's autogenerate), an edit of their code
    is said in the report's notes, never silently ignored."""
    project = make_project(tmp_path)
    target = target_of(project, project.url, comparison="alembic")
    config = write_config(tmp_path / "dw.toml", FAST, [target])
    with serve(config, tmp_path) as daemon:
        watch = Watch(daemon)
        report = watch.until("in sync", in_sync_at("c3"))
        assert report["schema"]["notes"] == []

        add_nickname_to_models(project)
        report = watch.until("the note", lambda r: bool(r["schema"]["notes"]))
        (note,) = report["schema"]["notes"]
        assert "models' code changed since driftwatch serve started" in note
        assert "imported at start" in note
        assert report["schema"]["method"] == "alembic"
        assert report["schema"]["findings"] == []  # still the models of the start
        assert daemon.terminate() == 0


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def gone(pid: int) -> bool:
    """The process ended (a zombie waiting for init to reap it counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


def wait_until(what: str, predicate: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def start_hanging_rebuild(project: Project, daemon: Daemon) -> int:
    """Make the models' code hang on import; return the pid of the worker stuck on it."""
    watch = Watch(daemon)
    watch.until("in sync at c3", in_sync_at("c3"))
    text = models_file(project).read_text(encoding="utf-8")
    write_atomically(models_file(project), text + "\nimport time\n\ntime.sleep(3600)\n")
    workers: list[int] = []

    def a_worker() -> bool:
        workers[:] = children_of(daemon.process.pid)
        return bool(workers)

    daemon.wait_for("the models' worker", a_worker)
    (worker,) = workers
    assert "driftwatch.expected.models_worker" in Path(f"/proc/{worker}/cmdline").read_text()
    return worker


def test_a_hanging_rebuild_is_bounded_and_never_outlives_the_daemon(tmp_path: Path) -> None:
    """Models whose import hangs: the check fails naming the timeout, the worker is killed;
    on SIGTERM a worker still running is killed with the check, and the daemon exits 0."""
    project = make_project(tmp_path)
    target = target_of(project, project.url, check_timeout_seconds=3)
    settings = {**FAST, "shutdown_grace_seconds": 1}
    config = write_config(tmp_path / "dw.toml", settings, [target])
    with serve(config, tmp_path) as daemon:
        first = start_hanging_rebuild(project, daemon)
        report = Watch(daemon).until("the timeout", lambda r: r["error"] is not None)
        assert "check_timeout_seconds" in report["error"], report["error"]
        wait_until("the timed-out worker to end", lambda: gone(first))

        daemon.wait_for("the next worker", lambda: bool(children_of(daemon.process.pid)))
        (second,) = children_of(daemon.process.pid)
        assert daemon.terminate() == 0
        assert gone(second)


def test_a_worker_ends_when_its_daemon_is_killed(tmp_path: Path) -> None:
    """SIGKILL leaves the daemon no chance to clean up: its worker sees its stdin close and
    ends by itself instead of hanging on as an orphan."""
    project = make_project(tmp_path)
    config = write_config(tmp_path / "dw.toml", FAST, [target_of(project, project.url)])
    with serve(config, tmp_path) as daemon:
        worker = start_hanging_rebuild(project, daemon)
        os.kill(daemon.process.pid, signal.SIGKILL)
        daemon.process.wait(timeout=30)
        wait_until("the orphaned worker to end", lambda: gone(worker))

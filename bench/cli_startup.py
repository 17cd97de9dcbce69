"""`driftwatch check` against `alembic check` on the Control Plane, as whole processes.

The Control Plane (this repository: alembic.ini, alembic/, src/control_plane) is checked
the way its README says, with no configuration: `DATABASE_URL` names the database, and
`driftwatch check` finds the scripts and the models through alembic.ini. The script creates
a throwaway PostgreSQL database (driftwatch_bench_cli_<random>), runs `alembic upgrade head`
on it, then times both commands in turn (A B A B ...), each as a new process from start to
exit, after one untimed warm-up of each (driftwatch's builds the models' snapshot into a
temporary cache folder; every timed run reads it from there, as a second `driftwatch check`
on a developer's machine does). It prints min / median / max wall seconds of each, the ratio
of the medians, and the median of the pairwise ratios; it drops the database at the end.

    .venv/bin/python bench/cli_startup.py [--runs 9] [--url postgresql://postgres@127.0.0.1:5432/postgres]

Both run with compiled bytecode, as an installed package does (PYTHONDONTWRITEBYTECODE is
cleared for them: otherwise every run would compile driftwatch's modules from source, and
alembic's, installed with their bytecode, would not).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


async def admin(url: str, statement: str) -> None:
    parsed = make_url(url)
    conn = await asyncpg.connect(
        host=parsed.host, port=parsed.port, user=parsed.username, password=parsed.password,
        database=parsed.database,
    )  # fmt: skip
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def run(command: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one whole process; its output is read and dropped."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(
            f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
    return seconds


def spread(values: list[float]) -> str:
    return f"min {min(values):.3f}  median {statistics.median(values):.3f}  max {max(values):.3f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9, help="timed runs of each (default 9)")
    parser.add_argument("--url", default=os.environ.get("DRIFTWATCH_BENCH_POSTGRES_URL"))
    args = parser.parse_args()
    server = args.url or DEFAULT_URL
    name = f"driftwatch_bench_cli_{uuid.uuid4().hex[:8]}"
    database_url = make_url(server).set(drivername="postgresql+asyncpg", database=name)
    with tempfile.TemporaryDirectory(prefix="driftwatch-bench-cli-") as cache:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("PYTHONDONTWRITEBYTECODE", "VIRTUAL_ENV")
        }
        env.update(
            DATABASE_URL=database_url.render_as_string(hide_password=False),
            XDG_CACHE_HOME=cache,
        )
        driftwatch = [str(BIN / "driftwatch"), "check"]
        alembic = [str(BIN / "alembic"), "check"]
        asyncio.run(admin(server, f"CREATE DATABASE {name}"))
        try:
            run([str(BIN / "alembic"), "upgrade", "head"], env)
            run(driftwatch, env)  # warm-up: builds and caches the models' snapshot
            run(alembic, env)
            timed: dict[str, list[float]] = {"driftwatch": [], "alembic": []}
            for _ in range(args.runs):
                timed["driftwatch"].append(run(driftwatch, env))
                timed["alembic"].append(run(alembic, env))
        finally:
            asyncio.run(admin(server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    mine, theirs = timed["driftwatch"], timed["alembic"]
    pairs = [a / b for a, b in zip(mine, theirs, strict=True)]
    print(f"Control Plane at head on {name} (dropped); {args.runs} timed runs of each, in turn")
    print(f"  driftwatch check   wall s: {spread(mine)}")
    print(f"  alembic check      wall s: {spread(theirs)}")
    ratio = statistics.median(mine) / statistics.median(theirs)
    verdict = "met" if ratio <= 1 else "NOT met"
    print(
        f"  driftwatch/alembic: {ratio:.3f}x (medians; <= 1x: {verdict}), "
        f"pairwise median {statistics.median(pairs):.3f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

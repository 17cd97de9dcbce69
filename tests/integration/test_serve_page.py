"""The status page and the schema history in-process: `ServeApp` on aiohttp's test server,
real SQLite databases of the shop scenario changed behind the migrations' back."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest
from pydantic import SecretStr

from driftwatch.history.store import history_path
from driftwatch.serve.app import ServeApp
from tests.integration.test_serve_app import (
    Client,
    _status_is,
    app_for,
    basic,
    get,
    served,
    shop_database,
    wait_for,
)
from tests.support.scenarios import execute, shop_target

ROGUE = "ALTER TABLE users ADD COLUMN rogue INTEGER"


async def _report(client: Client) -> dict[str, dict[str, object]]:
    _, body = await get(client, "/report")
    return {t["name"]: t for t in json.loads(body)["targets"]}


async def _history(client: Client, name: str = "shop") -> list[str]:
    history = (await _report(client))[name]["history"]
    assert isinstance(history, list)
    return [entry["text"] for entry in history]


def test_the_page_shows_drift_and_its_history_and_report_carries_it(tmp_path: Path) -> None:
    """A column added by hand shows on `/` as drift and links to the target's page, which
    lists the finding and its history entry; /report carries the same history; the page
    is sent with a strict policy; an unknown target is a 404 page."""
    url = shop_database(tmp_path)
    app = app_for(shop_target(url))

    async def scenario(app: ServeApp, client: Client) -> None:
        await wait_for("ready", lambda: _status_is(client, "/readyz", 200))
        await asyncio.to_thread(execute, url, ROGUE)

        async def drifted() -> bool:
            return "drift appeared: extra_column rogue on main.users" in await _history(client)

        await wait_for("drift in the history", drifted)
        async with client.get("/") as response:
            assert response.status == 200
            assert response.content_type == "text/html"
            assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
            fleet = await response.text()
        assert 'href="/targets/shop"' in fleet and "DRIFT" in fleet
        status, page = await get(client, "/targets/shop")
        assert status == 200
        assert "extra_column" in page and "rogue" in page
        assert "drift appeared: extra_column rogue on main.users" in page
        assert (await _history(client))[0] == "revision c3 at first check (at head)"
        status, missing = await get(client, "/targets/nope")
        assert status == 404 and "no such target" in missing

    served(app, scenario)


def test_the_page_needs_the_same_credentials_as_the_metrics(tmp_path: Path) -> None:
    """With basic auth, `/` and a target's page answer 401 to a stranger, 200 with the
    credentials."""
    app = app_for(
        shop_target(shop_database(tmp_path)),
        basic_auth_username="oncall",
        basic_auth_password=SecretStr("s3cret"),
    )

    async def scenario(app: ServeApp, client: Client) -> None:
        await wait_for("ready", lambda: _status_is(client, "/readyz", 200))
        for path in ("/", "/targets/shop", "/targets/nope"):
            assert (await get(client, path))[0] == 401
            status, _ = await get(client, path, headers=basic("oncall", "s3cret"))
            assert status == (404 if path.endswith("nope") else 200)

    served(app, scenario)


def test_the_history_outlives_a_restart_without_entering_anything_twice(tmp_path: Path) -> None:
    """The history is saved beside the state file; the next daemon reads it, so drift that
    stood before the restart is neither `present at first check` nor `appeared` again, and
    a change made while it was down is entered as one."""
    url = shop_database(tmp_path)
    state_file = tmp_path / "state.json"

    def start() -> ServeApp:
        return app_for(shop_target(url), state_file=state_file)

    async def first_run(app: ServeApp, client: Client) -> None:
        await wait_for("ready", lambda: _status_is(client, "/readyz", 200))
        await asyncio.to_thread(execute, url, ROGUE)

        async def drifted() -> bool:
            return len(await _history(client)) == 2

        await wait_for("drift entered", drifted)

    served(start(), first_run)
    saved = json.loads(history_path(state_file).read_text())
    assert [e["event"] for e in saved["targets"]["shop"]["entries"]] == ["first_seen", "appeared"]
    execute(url, "ALTER TABLE users DROP COLUMN rogue")

    async def second_run(app: ServeApp, client: Client) -> None:
        await wait_for("ready", lambda: _status_is(client, "/readyz", 200))

        async def gone() -> bool:
            return len(await _history(client)) == 3

        await wait_for("drift gone", gone)
        assert await _history(client) == [
            "revision c3 at first check (at head)",
            "drift appeared: extra_column rogue on main.users",
            "drift gone: extra_column rogue on main.users",
        ]

    served(start(), second_run)


def test_an_unusable_history_file_is_moved_aside_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A history file that is not one (another program's, or cut short) does not stop the
    daemon: one warning, the file moved aside, history started afresh."""
    url = shop_database(tmp_path)
    state_file = tmp_path / "state.json"
    history_path(state_file).write_text('{"format": "driftwatch-history", "vers')
    with caplog.at_level(logging.WARNING, logger="driftwatch.history"):
        app = app_for(shop_target(url), state_file=state_file)
    (record,) = [r for r in caplog.records if r.name == "driftwatch.history"]
    assert record.getMessage() == "history file unusable: starting without it"
    assert len(list(tmp_path.glob("state.history.json.corrupt-*"))) == 1

    async def scenario(app: ServeApp, client: Client) -> None:
        await wait_for("ready", lambda: _status_is(client, "/readyz", 200))

        async def entered() -> bool:
            return len(await _history(client)) == 1

        await wait_for("a fresh history", entered)

    served(app, scenario)
    assert json.loads(history_path(state_file).read_text())["format"] == "driftwatch-history"

"""The daemon in-process: `ServeApp` started on a stack, its endpoints spoken to through
aiohttp's test client, against real SQLite databases of the shop scenario."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy.engine import URL, make_url

from driftwatch.config.settings import Settings
from driftwatch.config.targets import Target
from driftwatch.serve.app import ServeApp
from tests.support.scenarios import SHOP, execute, migrate, shop_target

FAST: dict[str, Any] = {"interval_seconds": 0.2, "jitter_seconds": 0}

Client = TestClient[web.Request, web.Application]
Scenario = Callable[[ServeApp, Client], Awaitable[None]]


def shop_database(tmp_path: Path, revision: str = "head") -> URL:
    url = make_url(f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}")
    migrate(url, revision)
    return url


def served(app: ServeApp, scenario: Scenario, *, before_checks: Scenario | None = None) -> None:
    """Run `app` on one stack with its endpoints on aiohttp's TestServer, play `scenario`
    against it, then close the stack; `before_checks` runs once HTTP is up and the
    scheduler is not yet started."""

    async def run() -> None:
        clients: list[Client] = []

        async def listen(stack: AsyncExitStack, web_app: web.Application) -> None:
            client = await stack.enter_async_context(TestClient(TestServer(web_app)))
            clients.append(client)
            if before_checks is not None:
                await before_checks(app, client)

        async with AsyncExitStack() as stack:
            await app.start(stack, listen=listen)
            await scenario(app, clients[0])
        assert not app.scheduler.alive()

    asyncio.run(run())


async def wait_for(what: str, predicate: Callable[[], Awaitable[bool]], within: float = 30) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def get(client: Client, path: str, **kwargs: Any) -> tuple[int, str]:
    async with client.get(path, **kwargs) as response:
        return response.status, await response.text()


async def samples(client: Client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    status, body = await get(client, "/metrics")
    assert status == 200, body
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


async def value(client: Client, name: str, **labels: str) -> float | None:
    return (await samples(client)).get((name, frozenset(labels.items())))


def app_for(*targets: Target, **settings: Any) -> ServeApp:
    return ServeApp(Settings(**{**FAST, **settings}), list(targets))


def test_endpoints_before_the_first_check_and_after_it(tmp_path: Path) -> None:
    """HTTP is up before the scheduler starts: /healthz and /readyz say 503 with their reason;
    once the target is checked, both are 200, /metrics is green and /report in sync."""
    app = app_for(shop_target(shop_database(tmp_path)))
    early: dict[str, tuple[int, str]] = {}

    async def before_checks(_app: ServeApp, client: Client) -> None:
        early["healthz"] = await get(client, "/healthz")
        early["readyz"] = await get(client, "/readyz")

    async def scenario(app: ServeApp, client: Client) -> None:
        await wait_for("ready", lambda: _status_is(client, "/readyz", 200))
        assert await get(client, "/healthz") == (200, "ok\n")
        assert await get(client, "/readyz") == (200, "ready\n")
        assert await value(client, "driftwatch_check_success", target="shop") == 1
        assert await value(client, "driftwatch_revision_at_head", target="shop") == 1
        assert await value(client, "driftwatch_schema_in_sync", target="shop") == 1
        async with client.get("/report") as response:
            assert response.status == 200
            assert response.content_type == "application/json"
            report = json.loads(await response.text())
        assert [(t["name"], t["status"]) for t in report["targets"]] == [("shop", "in_sync")]

    served(app, scenario, before_checks=before_checks)
    assert early == {
        "healthz": (503, "scheduler not running\n"),
        "readyz": (503, "not checked yet: shop\n"),
    }


def test_out_of_band_change_shows_as_drift_and_goes_away(tmp_path: Path) -> None:
    """A column added behind the migrations' back becomes a drift series on /metrics and a
    finding in /report; dropping it makes both go away, without a restart."""
    url = shop_database(tmp_path)
    app = app_for(shop_target(url))

    async def drift(client: Client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        return {
            key: v
            for key, v in (await samples(client)).items()
            if key[0] == "driftwatch_schema_drift_objects"
        }

    async def scenario(app: ServeApp, client: Client) -> None:
        await wait_for("ready", lambda: _status_is(client, "/readyz", 200))
        assert await drift(client) == {}
        await asyncio.to_thread(execute, url, "ALTER TABLE users ADD COLUMN rogue INTEGER")
        await wait_for("drift", lambda: _truthy(drift(client)))
        ((_, labels),) = (await drift(client)).keys()
        assert dict(labels)["kind"] == "extra_column"
        _, body = await get(client, "/report")
        (target,) = json.loads(body)["targets"]
        assert [f["kind"] for f in target["schema"]["findings"]] == ["extra_column"]

        await asyncio.to_thread(execute, url, "ALTER TABLE users DROP COLUMN rogue")
        await wait_for("drift gone", lambda: _falsy(drift(client)))
        assert await value(client, "driftwatch_schema_in_sync", target="shop") == 1

    served(app, scenario)


def test_a_failing_target_is_checked_and_the_daemon_stays_up(tmp_path: Path) -> None:
    """A target whose database is missing fails each check: it still counts as checked for
    /readyz (ready means every target has an answer), /healthz stays 200, and the failure
    is in /metrics and /report; the healthy target beside it is unaffected."""
    missing = make_url(f"sqlite+aiosqlite:///{tmp_path / 'nowhere' / 'gone.db'}")
    app = app_for(shop_target(shop_database(tmp_path)), shop_target(missing, name="gone"))

    async def scenario(app: ServeApp, client: Client) -> None:
        await wait_for("ready", lambda: _status_is(client, "/readyz", 200))
        assert (await get(client, "/healthz"))[0] == 200
        assert await value(client, "driftwatch_check_success", target="gone") == 0
        assert await value(client, "driftwatch_check_success", target="shop") == 1
        _, body = await get(client, "/report")
        status = {t["name"]: t["status"] for t in json.loads(body)["targets"]}
        assert status == {"gone": "error", "shop": "in_sync"}

    served(app, scenario)


def test_a_models_worker_that_cannot_start_fails_the_check_and_the_daemon_carries_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The models' code changes while the interpreter to rebuild them in is gone: the check
    fails with one line saying so (no traceback escapes into the scheduler, the target's
    state moves), and once the interpreter is back the next check rebuilds them."""
    module = "serve_app_worker_models"  # a name of its own: this process imports it
    models = tmp_path / f"{module}.py"
    shutil.copy(SHOP / "models.py", models)
    monkeypatch.syspath_prepend(str(tmp_path))
    app = app_for(shop_target(shop_database(tmp_path), metadata=(f"{module}:metadata",)))
    interpreter = sys.executable

    async def success(client: Client) -> float | None:
        return await value(client, "driftwatch_check_success", target="shop")

    async def scenario(app: ServeApp, client: Client) -> None:
        await wait_for("ready", lambda: _status_is(client, "/readyz", 200))
        assert await success(client) == 1
        monkeypatch.setattr(sys, "executable", str(tmp_path / "gone" / "python"))
        models.write_text(models.read_text(encoding="utf-8") + "\n# edited\n", "utf-8")
        await wait_for("the check failing", lambda: _equals(success(client), 0))
        _, body = await get(client, "/report")
        (target,) = json.loads(body)["targets"]
        assert "the models' worker could not start" in target["error"], target["error"]
        assert "\n" not in target["error"]

        monkeypatch.setattr(sys, "executable", interpreter)
        await wait_for("the check recovering", lambda: _equals(success(client), 1), within=120)
        _, body = await get(client, "/report")
        assert [t["status"] for t in json.loads(body)["targets"]] == ["in_sync"]

    try:
        served(app, scenario)
    finally:
        sys.modules.pop(module, None)


def test_basic_auth_guards_the_data_and_leaves_the_probes_open(tmp_path: Path) -> None:
    """With basic auth, /metrics and /report answer 401 (with a challenge) to a stranger and
    200 to the right credentials; /healthz and /readyz need none."""
    app = app_for(
        shop_target(shop_database(tmp_path)),
        basic_auth_username="scraper",
        basic_auth_password=SecretStr("s3cret"),
    )

    async def scenario(app: ServeApp, client: Client) -> None:
        await wait_for("ready", lambda: _status_is(client, "/readyz", 200))
        assert (await get(client, "/healthz"))[0] == 200
        for path in ("/metrics", "/report"):
            async with client.get(path) as response:
                assert response.status == 401
                assert response.headers["WWW-Authenticate"] == 'Basic realm="driftwatch"'
            assert (await get(client, path, headers=basic("scraper", "guess")))[0] == 401
            assert (await get(client, path, headers=basic("scraper", "s3cret")))[0] == 200

    served(app, scenario)


def basic(username: str, password: str) -> dict[str, str]:
    credentials = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {credentials}"}


async def _status_is(client: Client, path: str, status: int) -> bool:
    return (await get(client, path))[0] == status


async def _truthy(result: Awaitable[object]) -> bool:
    return bool(await result)


async def _falsy(result: Awaitable[object]) -> bool:
    return not await result


async def _equals(result: Awaitable[object], expected: object) -> bool:
    return await result == expected

"""The status page in a real headless Chromium, served by the real daemon process behind
basic auth: the fleet loads and shows the drifted target first, its link leads to the
target's page with the finding, its fix and its history, and a hostile table name stays
text. `-m browser` selects these tests; the screenshot stays in the test's temp folder."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

import pytest
from sqlalchemy.engine import make_url

from tests.support.daemon import Daemon, serve, write_config
from tests.support.scenarios import SHOP, SHOP_METADATA, execute, migrate, run_driftwatch
from tests.support.servers import unavailable

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]
USER, PASSWORD = "oncall", "s3cret"
HOSTILE_TABLE = "<script>document.title='pwned'</script>"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=412,915",  # a phone
)


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        unavailable("chromium is not installed (Debian: apt-get install chromium)")
    assert found is not None
    return found


class Browser:
    def __init__(self, executable: str, profile: Path) -> None:
        self.executable = executable
        self.profile = profile

    def run(self, *args: str) -> str:
        done = subprocess.run(
            [self.executable, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    def dom(self, url: str) -> str:
        """The document as Chromium rendered it."""
        return self.run("--dump-dom", url)

    def screenshot(self, url: str, path: Path) -> None:
        self.run(f"--screenshot={path}", url)


class Dom(HTMLParser):
    """Elements, links by their text, and the text of a rendered document."""

    def __init__(self, document: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.links: list[tuple[str, str]] = []  # (href, text)
        self.text: list[str] = []
        self._href: str | None = None
        self.feed(document)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "a":
            self._href = dict(attrs).get("href") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._href = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._href is not None:
            self.links.append((self._href, data.strip()))

    @property
    def all_text(self) -> str:
        return " ".join(" ".join(self.text).split())


def _shop(path: Path, *statements: str) -> dict[str, object]:
    url = make_url(f"sqlite+aiosqlite:///{path}")
    migrate(url, "head")
    if statements:
        execute(url, *statements)
    return {
        "name": path.stem,
        "url": url.render_as_string(hide_password=False),
        "script_location": str(SHOP / "migrations"),
        "metadata": [SHOP_METADATA],
    }


def _entered(daemon: Daemon, target: str, text: str) -> bool:
    """Whether `target`'s history in /report has an entry reading `text`."""
    status, body = daemon.get("/report", headers=_auth())
    if status != 200:
        return False
    for found in json.loads(body)["targets"]:
        if found["name"] == target:
            return text in [entry["text"] for entry in found["history"]]
    return False


def _auth() -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}


def test_the_page_in_a_browser_shows_the_drifted_target_and_follows_its_link(
    chromium: str, tmp_path: Path
) -> None:
    """Chromium loads `/` with the credentials in the URL: the drifted target is listed
    first (before the healthy one) with its badge; following its link shows the extra
    column with its fix and the history entry saying when it appeared; the hostile table
    name is text, not a script. `driftwatch history` reads the same entry from the file."""
    targets = [
        _shop(tmp_path / "alpha.db"),  # healthy, and first by name
        _shop(
            tmp_path / "shop.db",
            "ALTER TABLE users ADD COLUMN rogue INTEGER",
            f'CREATE TABLE "{HOSTILE_TABLE}" (id INTEGER)',
        ),
    ]
    settings = {
        "interval_seconds": 0.5,
        "jitter_seconds": 0,
        "basic_auth_username": USER,
        "basic_auth_password": PASSWORD,
        "state_file": str(tmp_path / "state.json"),
    }
    config = write_config(tmp_path / "dw.toml", settings, targets)
    browser = Browser(chromium, tmp_path / "chromium-profile")
    appeared = "drift appeared: extra_column rogue on main.users"
    with serve(config, tmp_path, env={"PYTHONPATH": str(REPO_ROOT)}) as daemon:
        daemon.wait_for("a first check of both", lambda: daemon.get("/readyz")[0] == 200)
        # the drift was there from the start; a change while watched is entered as appeared
        shop = make_url(f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}")
        execute(shop, "ALTER TABLE users DROP COLUMN rogue")
        gone = "drift gone: extra_column rogue on main.users"
        daemon.wait_for("drift gone", lambda: _entered(daemon, "shop", gone))
        execute(shop, "ALTER TABLE users ADD COLUMN rogue INTEGER")
        daemon.wait_for("drift appeared", lambda: _entered(daemon, "shop", appeared))

        base = f"http://{USER}:{PASSWORD}@127.0.0.1:{daemon.port}/"
        fleet = Dom(browser.dom(base))
        assert "driftwatch: schema drift" in fleet.all_text
        rows = [(href, text) for href, text in fleet.links if href.startswith("/targets/")]
        assert rows == [("/targets/shop", "shop"), ("/targets/alpha", "alpha")]
        assert "DRIFT" in fleet.all_text and "OK" in fleet.all_text

        page_url = urljoin(base, rows[0][0])
        document = browser.dom(page_url)
        page = Dom(document)
        assert "shop DRIFT" in page.all_text
        assert "extra_column" in page.all_text and "main.users.rogue" in page.all_text
        assert "ALTER TABLE users DROP COLUMN rogue" in page.all_text  # the fix
        assert appeared in page.all_text
        assert HOSTILE_TABLE in page.all_text  # shown as the database wrote it ...
        assert "script" not in page.tags  # ... and never run
        assert "<title>shop: driftwatch</title>" in document  # no script renamed it

        shot = tmp_path / "status-page-shop.png"
        browser.screenshot(page_url, shot)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert shot.stat().st_size > 5000  # a rendered page, not an empty one

        assert daemon.terminate() == 0
    history = run_driftwatch("history", "shop", "--config", str(config), cwd=tmp_path)
    assert history.returncode == 0, history.stderr
    assert [line.split("  ", 1)[1] for line in history.stdout.splitlines()] == [
        "revision c3 at first check (at head)",
        f"drift present at first check: extra_table main.{HOSTILE_TABLE}",
        "drift present at first check: extra_column rogue on main.users",
        "drift gone: extra_column rogue on main.users",
        appeared,
    ]

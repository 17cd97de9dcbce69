"""Secrets: which values the configuration makes secret, and how text is masked of them."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from driftwatch.config.loading import load_settings
from driftwatch.config.secrets import (
    configured_secrets,
    mask_url,
    scrubber,
    url_secrets,
    webhook_secrets,
)
from driftwatch.logs import JsonFormatter, SecretFilter, TextFormatter


def test_every_spelling_of_a_url_password_is_masked() -> None:
    """A password is masked as written in the URL, unescaped, and escaped in other ways."""
    scrub = scrubber(url_secrets("postgresql://app:p%40ss%2fword@db/app"))

    text = "p@ss/word; p%40ss%2Fword; p%40ss%2fword; p%40ss/word; postgresql://x:y@db/app"

    assert scrub(text) == "***; ***; ***; ***; postgresql://x:***@db/app"


def test_a_password_that_is_a_word_leaves_longer_words_alone() -> None:
    """`postgres` as a password is masked where it stands alone, not inside `postgresql`."""
    scrub = scrubber(url_secrets(make_url("postgresql://postgres:postgres@db/app")))

    assert scrub("postgresql://postgres@db: password postgres failed") == (
        "postgresql://***@db: password *** failed"
    )


def test_a_password_given_as_a_query_parameter_is_a_secret_too() -> None:
    """`?password=` (libpq takes it) is masked in the URL shown and in error texts."""
    url = make_url("postgresql+asyncpg://app@db/app?password=qu%2Fery-pw&ssl=require")

    assert mask_url(url) == "postgresql+asyncpg://app@db/app?password=***&ssl=require"
    assert scrubber(url_secrets(url))("auth with qu/ery-pw failed") == "auth with *** failed"


def test_a_webhook_url_is_secret_as_a_whole() -> None:
    """A webhook's URL, and its path (a Slack hook's token), are masked; its host is not."""
    scrub = scrubber(webhook_secrets("https://hooks.example.com/services/T0/B0/tok3n?x=1"))

    assert scrub("POST https://hooks.example.com/services/T0/B0/tok3n?x=1 failed") == (
        "POST *** failed"
    )
    assert scrub("path /services/T0/B0/tok3n on hooks.example.com") == (
        "path *** on hooks.example.com"
    )


def test_without_known_secrets_url_passwords_are_still_masked() -> None:
    """No secret known: the password of any URL in the text is still masked."""
    assert scrubber([])("mysql://root:hunter2@db/x") == "mysql://root:***@db/x"


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    for key in list(os.environ):
        if key.startswith("DRIFTWATCH_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def test_the_configuration_names_its_secrets_wherever_they_are_kept(
    clean: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Target URLs (inline, environment, file), notifier URLs and headers (inline and
    environment) and the basic auth password file all add their secrets; a source that
    cannot be read adds nothing and raises nothing."""
    (clean / "db-url").write_text("postgresql://app:from-file-1@db/app\n")
    (clean / "basic").write_text("basic-pass-3\n")
    monkeypatch.setenv("ENV_URL", "postgresql://app:from-env-2@db/app")
    monkeypatch.setenv("HEADER_TOKEN", "Bearer header-env-5")
    (clean / "dw.toml").write_text(
        'basic_auth_username = "u"\nbasic_auth_password_file = "basic"\n'
        '[[targets]]\nname = "a"\nurl = "postgresql://app:inline-0@db/app"\n'
        'script_location = "m"\n'
        '[[targets]]\nname = "b"\nurl_env = "ENV_URL"\nscript_location = "m"\n'
        '[[targets]]\nname = "c"\nurl_file = "db-url"\nscript_location = "m"\n'
        '[[targets]]\nname = "d"\nurl_env = "UNSET_URL"\nscript_location = "m"\n'
        '[[notifiers]]\ntype = "webhook"\nurl = "https://hook.example.com/hook-path-4"\n'
        'headers = { Authorization = "Bearer header-6" }\n'
        'headers_env = { "X-Token" = "HEADER_TOKEN" }\n'
    )

    found = configured_secrets(load_settings(clean / "dw.toml"))

    for secret in (
        "inline-0",
        "from-env-2",
        "from-file-1",
        "basic-pass-3",
        "https://hook.example.com/hook-path-4",
        "/hook-path-4",
        "header-env-5",
        "header-6",
    ):
        assert secret in found


@pytest.mark.parametrize("formatter", [TextFormatter(), JsonFormatter()])
def test_log_records_are_masked_in_message_fields_and_traceback(
    formatter: logging.Formatter,
) -> None:
    """A record's message, arguments, structured fields and traceback lose every secret."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(SecretFilter(scrubber(["s3cret-value"])))
    log = logging.getLogger("test_secrets")
    log.addHandler(handler)
    log.propagate = False
    try:
        try:
            raise RuntimeError("raised with s3cret-value")
        except RuntimeError:
            log.exception(
                "said %s", "s3cret-value", extra={"fields": {"error": "s3cret-value", "n": 1}}
            )
    finally:
        log.removeHandler(handler)
    written = stream.getvalue()
    assert "s3cret-value" not in written
    assert written.count("***") >= 3
    if isinstance(formatter, JsonFormatter):
        entry = json.loads(written)
        assert entry["n"] == 1
        assert "RuntimeError: raised with ***" in entry["exception"]

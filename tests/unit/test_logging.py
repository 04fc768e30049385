"""Logging: secrets never appear, every line names its component, JSON off a terminal."""

from __future__ import annotations

import json

import pytest
import structlog

from autocoder.logging import configure_logging, mask_secrets


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("postgresql://app:s3cret@db:5432/x", "postgresql://app:***@db:5432/x"),
        ("mysql://root:p%40ss@127.0.0.1/test failed", "mysql://root:***@127.0.0.1/test failed"),
        ("postgresql://postgres@127.0.0.1/test", "postgresql://postgres@127.0.0.1/test"),
        ("sqlite:///./autocoder.db", "sqlite:///./autocoder.db"),
        ("a http://u:p@h/ and b postgres://v:q@k/", "a http://u:***@h/ and b postgres://v:***@k/"),
    ],
)
def test_mask_secrets_hides_url_passwords(text: str, masked: str) -> None:
    assert mask_secrets(text) == masked


def test_json_lines_name_the_component_and_hide_secrets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("json", "info")
    log = structlog.get_logger("autocoder").bind(component="task_store")
    log.info(
        "connecting",
        url="postgresql://app:hunter2@db/prod",
        api_key="k-123",
        headers={"Authorization": "Bearer k-123", "Accept": "json"},
    )
    log.debug("not shown at info")
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    event = json.loads(lines[0])
    assert event["component"] == "task_store"
    assert event["event"] == "connecting"
    assert event["level"] == "info"
    assert event["url"] == "postgresql://app:***@db/prod"
    assert event["api_key"] == "***"
    assert event["headers"] == {"Authorization": "***", "Accept": "json"}
    assert "hunter2" not in lines[0] and "k-123" not in lines[0]


def test_exceptions_are_rendered_and_masked(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json", "info")
    log = structlog.get_logger("autocoder").bind(component="c")
    try:
        raise ConnectionError("cannot reach postgresql://u:topsecret@h/db")
    except ConnectionError:
        log.exception("failed")
    output = capsys.readouterr().err
    assert "topsecret" not in output
    assert "ConnectionError" in output


def test_an_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging("json", "loud")

"""Logging: secrets never appear, every line names its component, JSON off a terminal."""

from __future__ import annotations

import asyncio
import io
import json

import pytest
import structlog

from autocoder.logging import _Lines, configure_logging, mask_secrets


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


class Secretive:
    """A value JSON has no type for, whose text holds a password."""

    def __repr__(self) -> str:
        return "Secretive(postgresql://u:in-repr@h/db)"


@pytest.mark.parametrize(
    ("fields", "hidden"),
    [
        ({"nested": {"deeper": {"password": "p-nested"}}}, "p-nested"),  # a secret key inside
        ({"items": [{"token": "t-in-list"}]}, "t-in-list"),  # inside an array
        ({"where": Secretive()}, "in-repr"),  # a URL only the rendered text shows
        ({"route": "/tasks/{id}", "note": "see mysql://root:pw-plain@db/x"}, "pw-plain"),
    ],
)
def test_a_line_that_looks_plain_only_after_rendering_is_masked_too(
    capsys: pytest.CaptureFixture[str], fields: dict[str, object], hidden: str
) -> None:
    # The JSON pipeline writes a line without masking it key by key when nothing in it can
    # hide a secret; each case here hides one where that check has to see it.
    configure_logging("json", "info")
    log = structlog.get_logger("autocoder").bind(component="c")
    for _ in range(2):  # the second time, its set of keys is already known
        log.info("event", **fields)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2
    assert lines[0] == lines[1].replace(
        json.loads(lines[1])["timestamp"], json.loads(lines[0])["timestamp"]
    )
    assert hidden not in lines[0] and "***" in lines[0]


def test_a_plain_line_is_written_as_it_was_logged(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json", "info")
    log = structlog.get_logger("autocoder").bind(component="api")
    log.info("request", method="POST", route="/tasks/{id}", status=201, duration_ms=0.123)
    [line] = capsys.readouterr().err.strip().splitlines()
    event = json.loads(line)
    assert {k: event[k] for k in ("component", "event", "method", "route", "status")} == {
        "component": "api",
        "event": "request",
        "method": "POST",
        "route": "/tasks/{id}",
        "status": 201,
    }
    assert event["duration_ms"] == 0.123 and event["level"] == "info"
    assert event["timestamp"].endswith("Z") and len(event["timestamp"]) == 27


def test_the_info_lines_of_a_loop_turn_go_out_after_it_and_a_warning_at_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("json", "info")
    log = structlog.get_logger("autocoder").bind(component="c")
    seen: list[str] = []

    async def main() -> None:
        log.info("first")
        log.info("second")
        seen.append(capsys.readouterr().err)  # kept until the turn is over
        await asyncio.sleep(0)
        seen.append(capsys.readouterr().err)
        log.info("third")
        log.warning("fourth")  # written at once, after what was kept
        seen.append(capsys.readouterr().err)

    asyncio.run(main())
    log.info("outside a loop")
    seen.append(capsys.readouterr().err)
    events = [[json.loads(line)["event"] for line in text.splitlines()] for text in seen]
    assert events == [[], ["first", "second"], ["third", "fourth"], ["outside a loop"]]


def test_lines_written_together_are_whole_and_at_most_4096_bytes_a_write() -> None:
    class Recorder(io.BytesIO):
        def __init__(self) -> None:
            super().__init__()
            self.writes: list[bytes] = []

        def flush(self) -> None:
            self.writes.append(self.getvalue())
            self.seek(0)
            self.truncate()

    recorder = Recorder()
    lines = _Lines(recorder)

    async def main() -> None:
        for n in range(100):
            lines.info(b"%03d " % n + b"x" * 96)

    asyncio.run(main())
    assert len(recorder.writes) > 1
    assert all(0 < len(write) <= 4096 and write.endswith(b"\n") for write in recorder.writes)
    written = b"".join(recorder.writes).splitlines()
    assert written == [b"%03d " % n + b"x" * 96 for n in range(100)]


def test_an_info_line_written_directly_is_the_one_structlog_writes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from structlog.contextvars import bound_contextvars
    from structlog.testing import capture_logs

    from autocoder.logging import write_info_line

    configure_logging("json", "info")
    log = structlog.get_logger("autocoder").bind(component="api")
    fields = {"method": "GET", "route": "/t/{id}", "status": 200, "url": "mysql://u:pw@h/db"}
    with bound_contextvars(request_id="r-1", trace_id="t-1"):
        log.info("request", **fields)
        assert write_info_line(structlog.get_context(log), "request", dict(fields))
    through_structlog, direct = (
        json.loads(line) for line in capsys.readouterr().err.strip().splitlines()
    )
    assert list(direct) == list(through_structlog)  # the same keys, in the same order
    del direct["timestamp"], through_structlog["timestamp"]
    assert direct == through_structlog
    assert direct["url"] == "mysql://u:***@h/db" and direct["trace_id"] == "t-1"

    with capture_logs():  # structlog configured otherwise since: it is left to structlog
        assert not write_info_line({}, "request", {})
    configure_logging("json", "warning")  # info lines are not written at all
    assert not write_info_line({}, "request", {})
    configure_logging("console", "info")
    assert not write_info_line({}, "request", {})

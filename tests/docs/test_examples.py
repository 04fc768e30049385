"""Every example in README.md and docs/ runs as written (see ``tests/docs/examples.py``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.docs.examples import (
    DOCUMENTS,
    ROOT,
    RUN_LANGUAGES,
    blocks_of,
    output_matches,
    run_document,
)


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_example_of_the_document_runs(document: Path, tmp_path: Path) -> None:
    runnable = [b for b in blocks_of(document) if b.language in RUN_LANGUAGES]
    ran = run_document(document, tmp_path)
    skipped = [b for b in runnable if b.directive in ("skip", "file")]
    assert ran + len(skipped) == len(runnable)


def test_expected_output_matches_with_ellipses() -> None:
    assert output_matches(["a", "...", "d"], ["a", "b", "c", "d"])
    assert output_matches(["a ... c"], ["a b c"])
    assert not output_matches(["a", "d"], ["a", "b", "d"])
    assert not output_matches(["a"], [])


_LINK = re.compile(r"\]\(([^)\s]+)\)|<(https?://[^>]+)>")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_document_links_only_inside_the_repository(document: Path) -> None:
    text = document.read_text()
    assert "SPEC" not in text, "the docs are the reference; they cite no outside contract"
    for match in _LINK.finditer(text):
        target = match[1] or match[2]
        if target.startswith(("http://localhost", "http://127.0.0.1")):
            continue  # a system the reader runs
        assert "://" not in target, f"{document.name}: links outside the repository: {target}"
        path = target.partition("#")[0]
        if not path:
            continue
        resolved = (document.parent / path).resolve()
        assert resolved.is_relative_to(ROOT), f"{document.name}: {target} leaves the repository"
        assert resolved.exists(), f"{document.name}: {target} does not exist"

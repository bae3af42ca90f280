"""Segment tests run twice: with the C record parser, and with the Python parser alone (what an
install without a C compiler gets)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from restore_jobs.backup import segment


@pytest.fixture(params=["c", "python"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "c" and segment._native_parse is None:
        pytest.skip("the C record parser is not built (test_native_parser_is_built fails)")
    if request.param == "python":
        monkeypatch.setattr(segment, "_native_parse", None)
    yield request.param

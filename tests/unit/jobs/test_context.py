from __future__ import annotations

import pytest

from restore_jobs.jobs.context import DEFAULT_MIN_TRANSACTION_BYTES, MIN_TRANSACTION_BYTES, min_transaction_bytes


def test_minimum_transaction_size_defaults_to_4_mib(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MIN_TRANSACTION_BYTES, raising=False)
    assert min_transaction_bytes() == DEFAULT_MIN_TRANSACTION_BYTES == 4 << 20


def test_minimum_transaction_size_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MIN_TRANSACTION_BYTES, "0")
    assert min_transaction_bytes() == 0
    monkeypatch.setenv(MIN_TRANSACTION_BYTES, "1048576")
    assert min_transaction_bytes() == 1 << 20


@pytest.mark.parametrize("raw", ["-1", "4MiB", ""])
def test_a_bad_minimum_transaction_size_names_the_variable(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv(MIN_TRANSACTION_BYTES, raw)
    with pytest.raises(ValueError, match=f"{MIN_TRANSACTION_BYTES}: expected a whole number of bytes, got"):
        min_transaction_bytes()

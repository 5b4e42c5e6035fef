"""Tests for `noex_trio._results`: exit-reason predicates that no user value can break."""

from __future__ import annotations

import pytest

from noex_trio._results import check_exit_reason, is_crash, is_exit_reason


class Spiteful:
    """A value whose comparisons, truth and repr all raise."""

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no eq")

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        raise RuntimeError("no bool")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def test_predicates() -> None:
    assert is_crash(ValueError("x"))
    assert is_crash("killed")
    assert not is_crash("normal")
    assert not is_crash(Spiteful())
    assert is_exit_reason("normal")
    assert is_exit_reason("shutdown")
    assert is_exit_reason(KeyError("k"))
    assert not is_exit_reason("killed")
    assert not is_exit_reason(Spiteful())


def test_check_exit_reason() -> None:
    error = ValueError("x")
    assert check_exit_reason(error) is error
    assert check_exit_reason("normal") == "normal"
    with pytest.raises(
        ValueError,
        match=r"^expected reason to be 'normal', 'shutdown' or an exception instance, got 'bye'$",
    ):
        check_exit_reason("bye")
    with pytest.raises(
        ValueError,
        match=r"^expected Stop reason to be 'normal', 'shutdown' or an exception instance, "
        r"got <Spiteful object at 0x[0-9a-f]+; repr\(\) raised RuntimeError>$",
    ):
        check_exit_reason(Spiteful(), "Stop reason")

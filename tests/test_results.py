"""Tests for `noex_trio._results`: exit-reason predicates that no user value can break."""

from __future__ import annotations

import math

import pytest

from noex_trio._results import check_idle_timeout, is_crash, is_normal, is_shutdown


class Spiteful:
    """A value whose comparisons, truth and repr all raise."""

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no eq")

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        raise RuntimeError("no bool")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class SpitefulStr(str):
    """A str subclass whose comparisons raise: not the built-in "normal"."""

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no eq")

    __hash__ = str.__hash__


@pytest.mark.parametrize(
    "reason", ["normal", "shutdown", ("shutdown", "detail"), ("shutdown", Spiteful())]
)
def test_clean_reasons(reason: object) -> None:
    assert not is_crash(reason)


@pytest.mark.parametrize(
    "reason",
    [
        ValueError("x"),
        "killed",
        "bye",
        ("shutdown",),
        ("shutdown", 1, 2),
        ["shutdown", 1],
        (Spiteful(), 1),
        Spiteful(),
        SpitefulStr("normal"),
        None,
        42,
    ],
)
def test_abnormal_reasons(reason: object) -> None:
    assert is_crash(reason)


def test_predicates_never_compare_user_objects() -> None:
    assert not is_normal(Spiteful())
    assert not is_shutdown(Spiteful())
    assert not is_shutdown((SpitefulStr("shutdown"), 1))
    assert is_shutdown(("shutdown", Spiteful()))


@pytest.mark.parametrize(
    ("given", "expected"), [(0, 0.0), (1.5, 1.5), (3, 3.0), (math.inf, math.inf)]
)
def test_idle_timeout_values(given: float, expected: float) -> None:
    assert check_idle_timeout(given, "X.handle_cast") == expected


@pytest.mark.parametrize("bad", [-1, math.nan, "1", True, None])
def test_idle_timeout_rejects(bad: object) -> None:
    with pytest.raises(ValueError, match=r"^expected idle_timeout of X.handle_cast to be a number"):
        check_idle_timeout(bad, "X.handle_cast")

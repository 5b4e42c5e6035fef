"""Tests for `noex_trio._restart_intensity`: OTP's ``add_restart`` on float seconds."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from noex_trio import InvalidChildSpecError
from noex_trio._restart_intensity import RestartIntensity, check_intensity


def reference(max_restarts: int, max_seconds: float, times: list[float]) -> int | None:
    """Straight from the definition: the index of the restart that gives up, if any.

    A restart at `now` gives up when more than `max_restarts` restarts (itself included) lie
    in ``[now - max_seconds, now]``.
    """
    for index, now in enumerate(times):
        window = [t for t in times[: index + 1] if t >= now - max_seconds]
        if len(window) > max_restarts:
            return index
    return None


gaps = st.lists(
    st.one_of(
        st.just(0.0),  # simultaneous restarts
        st.floats(min_value=0, max_value=20, allow_nan=False),
        st.sampled_from([0.5, 1.0, 2.5, 5.0]),  # land exactly on window bounds
    ),
    max_size=40,
)


@settings(deadline=None, max_examples=500)
@given(
    max_restarts=st.integers(min_value=0, max_value=6),
    max_seconds=st.one_of(
        st.floats(min_value=0.001, max_value=30, allow_nan=False),
        st.sampled_from([1.0, 5.0, math.inf]),
    ),
    start=st.floats(min_value=0, max_value=1e6, allow_nan=False),
    gaps=gaps,
)
def test_window_matches_the_definition(
    max_restarts: int, max_seconds: float, start: float, gaps: list[float]
) -> None:
    times = list(itertools.accumulate(gaps, initial=start))[1:]
    intensity = RestartIntensity(max_restarts, max_seconds)
    expected = reference(max_restarts, max_seconds, times)
    for index, now in enumerate(times):
        allowed = intensity.add_restart(now)
        assert allowed is (index != expected)
        # Only what is still in the window is kept, and never more than one over the limit.
        assert all(t >= now - max_seconds for t in intensity.recent())
        assert len(intensity.recent()) <= max_restarts + 1
        if not allowed:
            break  # the supervisor is gone


def test_elixir_default_allows_three_restarts_in_five_seconds() -> None:
    intensity = RestartIntensity(3, 5.0)
    assert [intensity.add_restart(t) for t in (0, 1, 2)] == [True] * 3
    assert intensity.add_restart(5.0) is False  # 0 is still in [0, 5]: a fourth restart


def test_erlang_default_allows_one_restart_in_five_seconds() -> None:
    intensity = RestartIntensity(1, 5.0)
    assert intensity.add_restart(10) is True
    assert intensity.add_restart(15.5) is True  # 10 has left [10.5, 15.5]
    assert intensity.add_restart(20.5) is False  # 15.5 is in [15.5, 20.5]: a second restart


@pytest.mark.parametrize(
    ("max_restarts", "max_seconds", "message"),
    [
        (-1, 5, r"^expected max_restarts to be an int >= 0, got -1$"),
        (None, 5, r"^expected max_restarts to be an int >= 0, got None$"),
        (False, 5, r"^expected max_restarts to be an int >= 0, got False$"),
        (3, 0, r"^expected max_seconds to be a number of seconds > 0 or math\.inf, got 0$"),
        (3, -1.0, r"^expected max_seconds to be a number of seconds > 0 or math\.inf, got -1\.0$"),
        (
            3,
            math.nan,
            r"^expected max_seconds to be a number of seconds > 0 or math\.inf, got nan$",
        ),
        (3, True, r"^expected max_seconds to be a number of seconds > 0 or math\.inf, got True$"),
    ],
)
def test_bad_intensity(max_restarts: object, max_seconds: object, message: str) -> None:
    with pytest.raises(InvalidChildSpecError, match=message):
        check_intensity(max_restarts, max_seconds)


def test_good_intensity() -> None:
    assert check_intensity(0, 1) == (0, 1.0)
    assert check_intensity(3, math.inf) == (3, math.inf)

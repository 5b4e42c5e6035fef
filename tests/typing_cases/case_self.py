"""``GenServer.self(Cls)``: a process's own ref, typed as its behaviour's (issue 12 §4).

A typing case run by ``tests/test_typing.py`` (see ``case_start.py`` for the conventions).
"""

from __future__ import annotations

from typing import Any, assert_type

from noex_trio import GenServer, GenServerRef


# --8<-- [start:self]
class Ticker(GenServer[int, str, str, int]):
    def init(self) -> int:
        GenServer.send_after(GenServer.self(Ticker), "tick", 1.0)  # typed: casts are str
        return 0

    def handle_cast(self, msg: str, state: int) -> int:
        me = GenServer.self(type(self))
        assert_type(me, GenServerRef[str, str, int])
        GenServer.send_after(me, "tick", 1.0)
        return state + 1

    # --8<-- [end:self]

    def handle_info(self, msg: Any, state: int) -> int:
        assert_type(GenServer.self(), GenServerRef[Any, Any, Any])  # untyped, as before
        # E: Argument 2 to "send_after" of "GenServer" has incompatible type "int"; expected "str"
        GenServer.send_after(GenServer.self(Ticker), 1, 1.0)  # type: ignore[arg-type]
        # E: No overload variant of "self" of "GenServer" matches argument type "str"
        GenServer.self("Ticker")  # type: ignore[call-overload]
        return state

"""An ``init`` declared to return `Ignore` makes `start` return ``ref | None`` (issue 12 §4).

A typing case run by ``tests/test_typing.py`` (see ``case_start.py`` for the conventions).
"""

from __future__ import annotations

from typing import assert_type

from noex_trio import ChildSpec, GenServer, GenServerRef, Ignore


# --8<-- [start:ignore]
class Feature(GenServer[int, str, int, int]):
    def init(self, enabled: bool) -> int | Ignore:
        return 0 if enabled else Ignore()


async def start_feature() -> None:
    ref = await GenServer.start(Feature, True)
    assert_type(ref, GenServerRef[str, int, int] | None)
    if ref is not None:  # None: init returned Ignore, nothing runs
        await ref.call("get")
    # --8<-- [end:ignore]


class AsyncFeature(GenServer[int, str, int, int]):
    async def init(self) -> int | Ignore:
        return Ignore()


class Always(GenServer[int, str, int, int]):
    def init(self) -> int:
        return 0


async def accepted() -> None:
    assert_type(await GenServer.start(AsyncFeature), GenServerRef[str, int, int] | None)
    assert_type(await GenServer.start(Always), GenServerRef[str, int, int])
    spec = Feature.child_spec(True)  # its ref is optional too
    assert_type(spec, ChildSpec[GenServerRef[str, int, int] | None])


async def rejected() -> None:
    ref = await GenServer.start(Feature, True)
    # E: Item "None" of "GenServerRef[str, int, int] | None" has no attribute "call"
    await ref.call("get")  # type: ignore[union-attr]

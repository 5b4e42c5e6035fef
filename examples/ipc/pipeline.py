"""Pattern 4, pipeline processing: upload -> resize -> optimize -> store, each a process."""

from __future__ import annotations

import logging
from collections.abc import Callable

import attrs
import trio

from noex_trio import GenServer, GenServerRef, Registry, open_runtime


@attrs.frozen
class Image:
    name: str
    width: int
    size_kb: int
    steps: tuple[str, ...] = ()


@attrs.frozen
class Process:
    file: Image


@attrs.frozen
class Stored:
    key: str
    image: Image


StageRef = GenServerRef[Process, None, Stored]


# --8<-- [start:stages]
class Stage(GenServer[None, Process, None, Stored]):
    """One step: transform the image, hand it to the next stage, pass its answer back."""

    def __init__(
        self, name: str, transform: Callable[[Image], Image], next_stage: StageRef
    ) -> None:
        self.name, self.transform, self.next_stage = name, transform, next_stage

    def init(self) -> None:
        return None

    async def handle_call(self, msg: Process, state: None) -> tuple[Stored, None]:
        image = self.transform(msg.file)
        image = attrs.evolve(image, steps=(*image.steps, self.name))
        return await self.next_stage.call(Process(image)), state


class Storage(GenServer[list[Stored], Process, None, Stored]):
    """The last stage: keeps the result."""

    def init(self) -> list[Stored]:
        return []

    def handle_call(self, msg: Process, state: list[Stored]) -> tuple[Stored, list[Stored]]:
        stored = Stored(f"images/{len(state) + 1}/{msg.file.name}", msg.file)
        return stored, [*state, stored]


# --8<-- [end:stages]


def resize(image: Image) -> Image:
    return attrs.evolve(image, width=min(image.width, 1024), size_kb=image.size_kb // 2)


def optimize(image: Image) -> Image:
    return attrs.evolve(image, size_kb=image.size_kb * 3 // 4)


def validate(image: Image) -> Image:
    if image.size_kb <= 0:
        raise ValueError(f"{image.name} is empty")
    return image


async def main() -> list[Stored]:
    async with open_runtime():
        # --8<-- [start:wiring]
        # Start from the end, so each stage gets the ref of the next one when it starts.
        storage = await GenServer.start(Storage, name="storage-service")
        optimizer = await GenServer.start(Stage("optimize", optimize, storage))
        resizer = await GenServer.start(Stage("resize", resize, optimizer))
        upload = await GenServer.start(Stage("upload", validate, resizer), name="upload-service")

        # Usage: upload -> resize -> optimize -> store
        image_data = Image("cat.png", width=4000, size_kb=800)
        stored = await GenServer.call(upload, Process(image_data))
        # --8<-- [end:wiring]
        again = await Registry.lookup("upload-service", Stage).call(Process(image_data))
        results = [stored, again]
    for result in results:
        print(result)
    return results


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)  # show crash reports (logger "noex_trio")
    trio.run(main)

"""`dump_on_signal`: print ``rt.dump()`` whenever the program gets a signal.

A JVM prints its thread dump on ``SIGQUIT``; a noex_trio program that seems to hang can print
its process tree, the calls each process waits in and the wait-for cycles the same way:
``kill -USR1 <pid>`` from another shell. The signal is received by a task in the runtime's root
nursery (through `trio.open_signal_receiver`), so the dump is taken between two steps of the
program, like any snapshot, and the program goes on.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any, TextIO

import trio

from . import _checks as checks
from ._context import current_kernel, reset_library_context
from ._kernel import logger


def dump_on_signal(signum: int, *, file: TextIO | None = None) -> DumpOnSignal:
    """Print the runtime's dump (``rt.dump()``) each time the program gets `signum`.

    Use it as a context manager inside ``async with open_runtime()``, in the main thread::

        async with open_runtime() as rt:
            with noex_trio.dump_on_signal(signal.SIGUSR1):
                ...  # kill -USR1 <pid> prints the dump to stderr

    While the block runs, the signal no longer has its usual effect (it is only received);
    leaving the block restores its previous handler. A dump that cannot be written (a closed
    file) is logged on the ``noex_trio`` logger; the program goes on.

    Args:
        signum: the signal, e.g. ``signal.SIGUSR1`` (``SIGQUIT`` as the JVM, or ``SIGINFO``
            where the terminal sends it on Ctrl-T).
        file: where to write (``sys.stderr`` when the signal arrives, if None).

    Raises:
        TypeError, ValueError: `signum` is not a positive int, or `file` has no ``write``.
        NoRuntimeError: (on entering) outside ``async with open_runtime()``.
        RuntimeError: (on entering) not in the main thread (Trio receives signals there only).
    """
    signum = checks.count(signum, "signum", minimum=1)
    if file is not None and not callable(getattr(file, "write", None)):
        raise checks.type_error("file", "a text file (with a write method) or None", file)
    return DumpOnSignal(signum, file)


class DumpOnSignal:
    """The context manager `dump_on_signal` returns (one use)."""

    __slots__ = ("_file", "_receiver", "_scope", "_signum")

    def __init__(self, signum: int, file: TextIO | None) -> None:
        self._signum = signum
        self._file = file
        self._receiver: Any = None
        self._scope = trio.CancelScope()

    def __enter__(self) -> None:
        kernel = current_kernel()
        host = kernel.host()
        if self._receiver is not None:
            raise RuntimeError("dump_on_signal(...) can be entered once; call it again")
        self._receiver = trio.open_signal_receiver(self._signum)
        signals = self._receiver.__enter__()
        host.nursery.start_soon(self._print_dumps, kernel.runtime, signals)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._scope.cancel()
        self._receiver.__exit__(None, None, None)

    async def _print_dumps(self, runtime: Any, signals: Any) -> None:
        reset_library_context()
        with self._scope:
            # The block may have been left before this task first ran: the scope is cancelled
            # then (and the receiver closed), which this checkpoint sees.
            await trio.lowlevel.checkpoint()
            async for _ in signals:
                try:
                    text = runtime.dump()
                    file = self._file if self._file is not None else sys.stderr
                    file.write(text)
                    file.flush()
                except Exception:
                    logger.exception("dump_on_signal could not write the dump")

"""Where a task finds its runtime, its process and its host: the library's context variables.

Every task the library starts begins with these reset (`reset_library_context`): a process
started from inside another process, a timer, or a supervisor's child ``start`` function sees
its own values, never the starter's. ``current_runtime`` is the one variable a task inherits
(a runtime is the world its tasks live in).
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from ._exceptions import NoRuntimeError

if TYPE_CHECKING:
    from ._kernel import Kernel
    from ._process import Host, Process
    from ._runtime import Runtime

#: The runtime (its kernel) of the calling task: set by ``open_runtime``, inherited by every
#: task inside.
runtime_var: ContextVar[Kernel | None] = ContextVar("noex_trio_runtime", default=None)

#: The process whose task is running (None in plain Trio code).
#: The runtime's distribution while it encodes or decodes for the wire (``_distribution``):
#: refs pickle as node, incarnation and pid then. Anything with ``reduce_ref(ref)``.
wire_var: ContextVar[Any] = ContextVar("noex_trio_wire", default=None)

process_var: ContextVar[Process | None] = ContextVar("noex_trio_process", default=None)

#: Where ``GenServer.start`` puts new processes: a supervisor sets it while it runs a child's
#: ``start`` function. None means the runtime's root.
host_var: ContextVar[Host | None] = ContextVar("noex_trio_host", default=None)


def current_runtime() -> Runtime:
    """The runtime of the calling task.

    Raises:
        NoRuntimeError: outside ``async with open_runtime()``.
    """
    return current_kernel().runtime


def current_kernel() -> Kernel:
    """The kernel of the calling task's runtime.

    Raises:
        NoRuntimeError: outside ``async with open_runtime()``.
    """
    kernel = runtime_var.get()
    if kernel is None:
        raise NoRuntimeError()
    return kernel


def current_process() -> Process | None:
    """The process whose task is running, if any."""
    return process_var.get()


def reset_library_context(process: Process | None = None) -> None:
    """First thing in every task the library starts: forget the starter's process and host.

    Only variables that differ are set (each ``set`` copies the task's context, about 170
    bytes per process).
    """
    if process_var.get() is not process:
        process_var.set(process)
    if host_var.get() is not None:
        host_var.set(None)

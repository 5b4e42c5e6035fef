"""noex_trio: Erlang/OTP's GenServer, Supervisor, Registry and EventBus on Trio.

Start with ``async with open_runtime():``, then ``GenServer.start``, ``Supervisor.start`` and
friends. Every public name is importable from here.
"""

import contextlib

from ._child_spec import ChildInfo as ChildInfo
from ._child_spec import ChildSpec as ChildSpec
from ._child_spec import Restart as Restart
from ._child_spec import Shutdown as Shutdown
from ._circuit_breaker import CircuitBreaker as CircuitBreaker
from ._circuit_breaker import CircuitBreakerStatistics as CircuitBreakerStatistics
from ._circuit_breaker import CircuitState as CircuitState
from ._dump_on_signal import dump_on_signal as dump_on_signal
from ._dynamic_supervisor import ChildCounts as ChildCounts
from ._dynamic_supervisor import DynamicChildInfo as DynamicChildInfo
from ._dynamic_supervisor import DynamicSupervisor as DynamicSupervisor
from ._event_bus import BusEvent as BusEvent
from ._event_bus import EventBus as EventBus
from ._event_bus import EventListener as EventListener
from ._exceptions import AlreadyRegisteredError as AlreadyRegisteredError
from ._exceptions import CallTimeoutError as CallTimeoutError
from ._exceptions import CallToSelfError as CallToSelfError
from ._exceptions import ChildNotFoundError as ChildNotFoundError
from ._exceptions import CircuitOpenError as CircuitOpenError
from ._exceptions import DuplicateChildError as DuplicateChildError
from ._exceptions import InitializationError as InitializationError
from ._exceptions import InvalidChildSpecError as InvalidChildSpecError
from ._exceptions import LinkedExitError as LinkedExitError
from ._exceptions import MailboxFullError as MailboxFullError
from ._exceptions import MaxChildrenError as MaxChildrenError
from ._exceptions import MaxRestartsExceededError as MaxRestartsExceededError
from ._exceptions import MissingChildTemplateError as MissingChildTemplateError
from ._exceptions import NoexError as NoexError
from ._exceptions import NoRuntimeError as NoRuntimeError
from ._exceptions import NotInProcessError as NotInProcessError
from ._exceptions import NotRegisteredError as NotRegisteredError
from ._exceptions import ServerNotRunningError as ServerNotRunningError
from ._exceptions import UnknownBehaviourError as UnknownBehaviourError
from ._gen_server import CallResult as CallResult
from ._gen_server import CastResult as CastResult
from ._gen_server import GenServer as GenServer
from ._global_registry import GlobalRegistry as GlobalRegistry
from ._groups import GroupChange as GroupChange
from ._groups import Groups as Groups
from ._groups import GroupsStatistics as GroupsStatistics
from ._links import Down as Down
from ._links import DownReason as DownReason
from ._links import Exit as Exit
from ._links import MonitorRef as MonitorRef
from ._mailbox import Caller as Caller
from ._open_runtime import open_runtime as open_runtime
from ._process import ProcessRef as ProcessRef
from ._refs import EventBusRef as EventBusRef
from ._refs import GenServerRef as GenServerRef
from ._refs import RegistryRef as RegistryRef
from ._refs import SupervisorRef as SupervisorRef
from ._registry import RegistryEntry as RegistryEntry
from ._registry import RegistryInstance as RegistryInstance
from ._registry_facade import Registry as Registry
from ._remote_child import Placement as Placement
from ._remote_child import RemoteChild as RemoteChild
from ._remote_ref import RemoteName as RemoteName
from ._remote_ref import RemoteRef as RemoteRef
from ._results import Continue as Continue
from ._results import Crashed as Crashed
from ._results import ExitReason as ExitReason
from ._results import IdleTimeout as IdleTimeout
from ._results import Ignore as Ignore
from ._results import LifecycleEvent as LifecycleEvent
from ._results import NoReply as NoReply
from ._results import Reply as Reply
from ._results import Restarted as Restarted
from ._results import Started as Started
from ._results import Stop as Stop
from ._results import Terminated as Terminated
from ._retry import backoff_delays as backoff_delays
from ._retry import retry as retry
from ._runtime import Runtime as Runtime
from ._runtime import RuntimeStatistics as RuntimeStatistics
from ._runtime import current_runtime as current_runtime
from ._snapshot import CallWait as CallWait
from ._snapshot import ProcessNode as ProcessNode
from ._snapshot import RuntimeSnapshot as RuntimeSnapshot
from ._statistics import EventBusStatistics as EventBusStatistics
from ._statistics import ProcessKind as ProcessKind
from ._statistics import ProcessStatistics as ProcessStatistics
from ._statistics import ProcessStatus as ProcessStatus
from ._statistics import RegistryStatistics as RegistryStatistics
from ._statistics import SupervisorStatistics as SupervisorStatistics
from ._supervisor import Supervisor as Supervisor
from ._supervisor_server import AutoShutdown as AutoShutdown
from ._supervisor_server import Strategy as Strategy
from ._task import Task as Task
from ._task import TaskRef as TaskRef
from ._task import TaskSupervisor as TaskSupervisor
from ._task import TaskTimeoutError as TaskTimeoutError
from ._timers import TimerRef as TimerRef
from ._via import Via as Via

__all__ = [
    "AlreadyRegisteredError",
    "AutoShutdown",
    "BusEvent",
    "CallResult",
    "CallTimeoutError",
    "CallToSelfError",
    "CallWait",
    "Caller",
    "CastResult",
    "ChildCounts",
    "ChildInfo",
    "ChildNotFoundError",
    "ChildSpec",
    "CircuitBreaker",
    "CircuitBreakerStatistics",
    "CircuitOpenError",
    "CircuitState",
    "Continue",
    "Crashed",
    "Down",
    "DownReason",
    "DuplicateChildError",
    "DynamicChildInfo",
    "DynamicSupervisor",
    "EventBus",
    "EventBusRef",
    "EventBusStatistics",
    "EventListener",
    "Exit",
    "ExitReason",
    "GenServer",
    "GenServerRef",
    "GlobalRegistry",
    "GroupChange",
    "Groups",
    "GroupsStatistics",
    "IdleTimeout",
    "Ignore",
    "InitializationError",
    "InvalidChildSpecError",
    "LifecycleEvent",
    "LinkedExitError",
    "MailboxFullError",
    "MaxChildrenError",
    "MaxRestartsExceededError",
    "MissingChildTemplateError",
    "MonitorRef",
    "NoReply",
    "NoRuntimeError",
    "NoexError",
    "NotInProcessError",
    "NotRegisteredError",
    "Placement",
    "ProcessKind",
    "ProcessNode",
    "ProcessRef",
    "ProcessStatistics",
    "ProcessStatus",
    "Registry",
    "RegistryEntry",
    "RegistryInstance",
    "RegistryRef",
    "RegistryStatistics",
    "RemoteChild",
    "RemoteName",
    "RemoteRef",
    "Reply",
    "Restart",
    "Restarted",
    "Runtime",
    "RuntimeSnapshot",
    "RuntimeStatistics",
    "ServerNotRunningError",
    "Shutdown",
    "Started",
    "Stop",
    "Strategy",
    "Supervisor",
    "SupervisorRef",
    "SupervisorStatistics",
    "Task",
    "TaskRef",
    "TaskSupervisor",
    "TaskTimeoutError",
    "Terminated",
    "TimerRef",
    "UnknownBehaviourError",
    "Via",
    "backoff_delays",
    "current_runtime",
    "dump_on_signal",
    "open_runtime",
    "retry",
]


def _fixup_module_metadata() -> None:
    """Make public objects show ``noex_trio.X`` in reprs and tracebacks (like trio does)."""
    for name in __all__:
        obj = globals()[name]
        if getattr(obj, "__module__", "").startswith("noex_trio._"):
            with contextlib.suppress(AttributeError, TypeError):  # e.g. typing aliases
                obj.__module__ = "noex_trio"


_fixup_module_metadata()
del _fixup_module_metadata

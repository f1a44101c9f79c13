"""What an application implements, and how a worker loads it.

An app is a module with module-level callbacks, sync or async; only
``on_message`` is required::

    from business import api

    def on_connect(client_id): ...
    def on_websocket_connect(client_id, data): ...   # path, query, headers, cookies, server
    def on_message(client_id, message): ...          # str (text frame) or bytes (binary)
    def on_close(client_id): ...
    def on_worker_start(worker): ...
    def on_worker_stop(worker): ...

``on_message`` of one client is never run concurrently with another event of the
same client; events of different clients run concurrently.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from common.exceptions import ConfigError
from common.frames import EventKind
from common.imports import import_module

Handler = Callable[..., Any]
CALLBACKS = (
    "on_worker_start",
    "on_connect",
    "on_websocket_connect",
    "on_message",
    "on_close",
    "on_worker_stop",
)


async def call(handler: Handler | None, *args: Any) -> None:
    """Run a sync or async handler."""
    if handler is None:
        return
    result = handler(*args)
    if inspect.isawaitable(result):
        await result


@dataclass(frozen=True)
class App:
    """The callbacks of an application module (None where it defines none)."""

    name: str
    on_message: Handler
    on_worker_start: Handler | None = None
    on_connect: Handler | None = None
    on_websocket_connect: Handler | None = None
    on_close: Handler | None = None
    on_worker_stop: Handler | None = None

    @property
    def sync_kinds(self) -> frozenset[EventKind]:
        """Client events whose handler is a plain function (or absent): run inline."""
        kinds = {
            EventKind.CONNECT: self.on_connect,
            EventKind.WS_CONNECT: self.on_websocket_connect,
            EventKind.MESSAGE: self.on_message,
            EventKind.CLOSE: self.on_close,
        }
        return frozenset(k for k, h in kinds.items() if h is None or not _is_async(h))


def _is_async(handler: Handler) -> bool:
    # a coroutine function, or an object whose class defines ``async def __call__``
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        vars(type(handler)).get("__call__")
    )


def from_module(module: ModuleType | Any) -> App:
    """Collect the callbacks of a module (or any object with those attributes)."""
    found: dict[str, Handler] = {}
    for name in CALLBACKS:
        handler = getattr(module, name, None)
        if handler is None:
            continue
        if not callable(handler):
            raise ConfigError(f"{name} in {module!r} is not callable")
        found[name] = handler
    if "on_message" not in found:
        raise ConfigError(f"{getattr(module, '__name__', module)!r} defines no on_message")
    return App(getattr(module, "__name__", repr(module)), **found)


def load(path: str) -> App:
    """Import ``PACKAGE.MODULE`` (or ``PACKAGE.MODULE:object``) and collect its callbacks."""
    module_name, _, attribute = path.partition(":")
    module: Any = import_module(module_name, f"app {module_name!r}")
    if attribute:
        try:
            module = getattr(module, attribute)
        except AttributeError:
            raise ConfigError(f"{module_name!r} has no {attribute!r}") from None
    return from_module(module)

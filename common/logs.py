"""Log lines that a peer's or a client's input can cause, rate-limited.

A flood of bad frames, refused upgrades or failed handshakes must not flood the log
(a 200,000-frame fuzz once wrote 26 MB of gateway log). :class:`Throttled` writes the
first line of each kind at once, then at most one per ``interval`` seconds, each
saying how many like it were held back since the one before.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Kind:
    last: float
    held: int = 0


class Throttled:
    """A logger's lines, at most one per ``interval`` per key (the first at once)."""

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.interval = interval
        self._clock = clock
        self._kinds: dict[str, _Kind] = {}
        self.held = 0  # lines held back so far, every key

    def log(self, level: int, key: str, msg: str, *args: object, exc_info: bool = False) -> bool:
        """Log ``msg % args`` unless a line of ``key`` was written less than
        ``interval`` ago; True if written (with the traceback, if ``exc_info``)."""
        now = self._clock()
        kind = self._kinds.get(key)
        if kind is not None and now - kind.last < self.interval:
            kind.held += 1
            self.held += 1
            return False
        if kind is None:
            if len(self._kinds) > 1000:  # keys are ours, but stay bounded anyway
                self._kinds.clear()
            self._kinds[key] = _Kind(now)
        else:
            if kind.held:
                msg += " (and %d more like it in the last %.0fs)"
                args = (*args, kind.held, now - kind.last)
            kind.last, kind.held = now, 0
        self.logger.log(level, msg, *args, exc_info=exc_info)
        return True

    def warning(self, key: str, msg: str, *args: object) -> bool:
        return self.log(logging.WARNING, key, msg, *args)

    def info(self, key: str, msg: str, *args: object) -> bool:
        return self.log(logging.INFO, key, msg, *args)

    def error(self, key: str, msg: str, *args: object) -> bool:
        return self.log(logging.ERROR, key, msg, *args)

    def exception(self, key: str, msg: str, *args: object) -> bool:
        """An ERROR line with the traceback of the exception being handled."""
        return self.log(logging.ERROR, key, msg, *args, exc_info=True)

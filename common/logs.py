"""Log lines that a peer's or a client's input can cause, rate-limited.

A flood of bad frames, refused upgrades or failed handshakes must not flood the log
(a 200,000-frame fuzz once wrote 26 MB of gateway log). :class:`Throttled` writes the
first line of each kind at once, then at most one per ``interval`` seconds, each
saying how many like it were held back since the one before.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

MEMBERS_BURST = 32  # lines a second of processes joining or leaving (a restart's, whole)


@dataclass(slots=True)
class _Kind:
    last: float  # when its window of ``interval`` began
    held: int = 0
    said: int = 1  # lines written in the window


class Throttled:
    """A logger's lines, at most ``burst`` (one unless given) per ``interval`` per key
    (the first at once)."""

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        burst: int = 1,
    ) -> None:
        self.logger = logger
        self.interval = interval
        self.burst = burst  # lines of a key written in one interval before it holds back
        self._clock = clock
        self._kinds: dict[str, _Kind] = {}
        self.held = 0  # lines held back so far, every key

    def admit(self, key: str) -> str | None:
        """Whether a line of ``key`` may be written now: None if one was less than
        ``interval`` ago (this one is counted as held back), else what to add to it
        (how many were held back since the one before: "" if none)."""
        now = self._clock()
        kind = self._kinds.get(key)
        if kind is not None and now - kind.last < self.interval:
            if kind.said < self.burst:  # (events that come several at once, as a restart's)
                kind.said += 1
                return ""
            kind.held += 1
            self.held += 1
            return None
        if kind is None:
            if len(self._kinds) > 1000:  # keys are ours, but stay bounded anyway
                self._kinds.clear()
            self._kinds[key] = _Kind(now)
            return ""
        said = (
            f" (and {kind.held} more like it in the last {now - kind.last:.0f}s)"
            if kind.held
            else ""
        )
        kind.last, kind.held, kind.said = now, 0, 1
        return said

    def log(self, level: int, key: str, msg: str, *args: object, exc_info: bool = False) -> bool:
        """Log ``msg % args`` unless a line of ``key`` was written less than
        ``interval`` ago; True if written (with the traceback, if ``exc_info``)."""
        said = self.admit(key)
        if said is None:
            return False
        self.logger.log(level, msg + said, *args, exc_info=exc_info)
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


class JsonFormatter(logging.Formatter):
    """``--log-format json``: one JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        entry = {
            "time": f"{stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)

"""Query results that say which gateways did not answer.

A query sent to every gateway returns the merged answers of those that replied
before the deadline. The value behaves as the plain ``int``/``list``/``dict`` it
is, and carries ``missing`` (the internal addresses of the gateways that did not
answer) and ``complete``::

    n = await api.get_all_client_id_count()
    if not n.complete:
        log.warning("count is partial: %s did not answer", n.missing)
"""

from __future__ import annotations

from typing import Any


class _Partial:
    missing: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """True when every gateway asked has answered."""
        return not self.missing


class Count(_Partial, int):
    """A count (or a 0/1 flag, as GatewayWorker returns) with ``missing``."""


class Listing(_Partial, list):  # type: ignore[type-arg]
    """A list of client_ids, uids or group ids with ``missing``."""


class Mapping(_Partial, dict):  # type: ignore[type-arg]
    """A dict answer (sessions, per-group counts...) with ``missing``."""


def with_missing(value: Any, missing: tuple[str, ...]) -> Any:
    """Wrap a merged answer so that it reports the gateways that did not answer."""
    result: Any
    if isinstance(value, bool | int):
        result = Count(value)
    elif isinstance(value, list):
        result = Listing(value)
    elif isinstance(value, dict):
        result = Mapping(value)
    else:
        return value
    result.missing = missing
    return result

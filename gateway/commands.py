"""What a worker's or push client's commands do here: one method per op, as a table.

:class:`CommandTable` runs a command whose arguments were already checked against its
op's schema (:func:`common.ops.check_args`): sends go to the
:class:`~gateway.fanout.Fanout` with their targets from the
:class:`~gateway.clients.ClientIndex`; uid, group and session ops are the index's
own verbs; ``DRAIN`` calls the ``drain`` it was given (the gateway's stop, as SIGTERM).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from common.frames import Op

from .clients import ClientIndex
from .fanout import Fanout

log = logging.getLogger("gateway.workers")  # where these lines always were

CLOSE_NORMAL = 1000


class CommandTable:
    """The commands of one gateway, by op."""

    def __init__(self, index: ClientIndex, fanout: Fanout, drain: Callable[[], object]) -> None:
        self.index = index
        self.fanout = fanout
        self._drain = drain
        # op -> what runs it (its arguments checked already: what it raises is our bug)
        self.table: dict[Op, Callable[..., object]] = {
            Op.SEND_TO_ALL: self.send_to_all,
            Op.SEND_TO_CLIENT: self.send_to_client,
            Op.CLOSE_CLIENT: self.close_client,
            Op.DESTROY_CLIENT: self.destroy_client,
            Op.BIND_UID: index.bind_uid,
            Op.UNBIND_UID: index.unbind_uid,
            Op.SEND_TO_UID: self.send_to_uid,
            Op.JOIN_GROUP: index.join_group,
            Op.LEAVE_GROUP: index.leave_group,
            Op.UNGROUP: index.ungroup,
            Op.SEND_TO_GROUP: self.send_to_group,
            Op.SET_SESSION: index.set_session,
            Op.UPDATE_SESSION: index.update_session,
            Op.DRAIN: self.drain,
        }

    def send_to_all(
        self, message: str | bytes, client_ids: list[str] | None, exclude: list[str] | None
    ) -> None:
        self.fanout.deliver(self.index.all_targets(client_ids, exclude), message)

    def send_to_client(self, client_id: str, message: str | bytes) -> None:
        client = self.index.get(client_id)
        if client is not None:
            self.fanout.deliver((client,), message)

    def send_to_uid(self, uids: list[str], message: str | bytes) -> None:
        self.fanout.deliver(self.index.uid_targets(uids), message)

    def send_to_group(
        self, groups: list[str], message: str | bytes, exclude: list[str] | None
    ) -> None:
        self.fanout.deliver(self.index.group_targets(groups, exclude), message)

    def close_client(self, client_id: str, message: str | bytes | None) -> None:
        client = self.index.get(client_id)
        if client is None:
            return
        if message is not None:
            self.fanout.deliver((client,), message)
        self.fanout.close_after(client.conn, CLOSE_NORMAL, "")

    def destroy_client(self, client_id: str) -> None:
        client = self.index.get(client_id)
        if client is not None:
            client.conn.abort()

    def drain(self) -> None:
        log.warning("asked to drain (gw drain): closing clients in waves, then stopping")
        self._drain()

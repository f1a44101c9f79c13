"""What the dispatcher asks of clients' connections: stop reading, read again, go away.

:class:`ClientFlow` is the :class:`~gateway.dispatch.FlowSink` of a gateway: a client
whose backlog is full is no longer read (TCP backpressure) until it is down to half,
and with no worker and the waiting room full a client is closed with 1013 (try again
later) after what is already queued for it. It needs nothing of the dispatcher, so
it is made before it.
"""

from __future__ import annotations

import logging

from common.frames import EventKind
from common.logs import Throttled

from .clients import Client
from .fanout import Fanout

log = logging.getLogger("gateway.edge")  # where these lines always were

CLOSE_TRY_AGAIN_LATER = 1013


class ClientFlow:
    """Pauses, resumes and refuses clients for the dispatcher."""

    def __init__(self, fanout: Fanout, max_pending: int) -> None:
        self.fanout = fanout
        self.max_pending = max_pending  # --max-pending-events: the waiting room's size
        self.log = Throttled(log)

    def pause_reading(self, client: Client) -> None:
        client.conn.pause_reading()

    def resume_reading(self, client: Client) -> None:
        client.conn.resume_reading()

    def refuse(self, client: Client, kind: EventKind, refused: int) -> None:
        self.log.warning(
            "no-worker",
            "no business worker and %d events waiting: closing clients (%d refused events so far)",
            self.max_pending,
            refused,
        )
        if kind != EventKind.CLOSE:
            self.fanout.close_after(client.conn, CLOSE_TRY_AGAIN_LATER, "no business worker")

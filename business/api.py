"""The Gateway API: what handlers and push clients call.

Sends (``send_to_*``, ``join_group``, ``bind_uid``, sessions...) are plain methods:
they queue a command and return at once; commands to one gateway leave in order, in
one batch per event-loop pass. Queries are coroutines with a deadline
(``timeout=``, default 5 s): a query sent to every gateway returns what arrived in
time and says which gateways did not answer (:mod:`business.results`); a query
for one client raises :class:`~common.exceptions.QueryTimeout` if its gateway is
silent.

"one" calls go to the gateway encoded in the client_id only; "all" calls go to
every gateway (see :mod:`common.ops`). GatewayWorker's camelCase names map to these
snake_case ones one to one (README has the table).

Where calls go: a push client (:class:`~business.client.AsyncGatewayClient`) sends
through its own :class:`~business.cluster.Cluster`. The module-level :data:`api`
(``from business import api``, GatewayWorker's ``Gateway::``) sends through the
cluster of the worker it is called from: the worker of the event being handled
(:func:`~business.context.current`), or, in ``on_worker_start``/``on_worker_stop``
and whatever they start, the worker running them
(:func:`~business.context.running_worker`). Several workers can run in one process
(the in-process tests do): each handler's calls go through its own worker.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from common import ids, ops
from common.exceptions import InvalidArgument, NotRunning, QueryTimeout, RemoteError
from common.frames import Op
from common.logs import Throttled
from common.protocol import encode_command

from .cluster import Cluster
from .context import Context, current, running_worker
from .results import with_missing

log = logging.getLogger(__name__)
throttled = Throttled(log)  # a handler may call at every event

Message = str | bytes | dict[str, Any] | list[Any]


def encode_message(message: Any, raw: bool = False) -> str | bytes:
    """str -> text frame, bytes -> binary frame, dict/list -> JSON text frame.

    ``raw`` is accepted for GatewayWorker compatibility: frames are never re-encoded
    by the gateway, so raw and non-raw sends of str/bytes are the same.
    """
    if isinstance(message, str | bytes):
        return message
    if isinstance(message, dict | list) and not raw:
        return json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    raise InvalidArgument(f"a message is str, bytes, dict or list, not {type(message).__name__}")


def _client_ids(value: str | Iterable[str] | None) -> list[str]:
    """One client_id or several, as a list (a str is one id, never its characters)."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _listed(value: Any, what: str) -> list[str]:
    values = value if isinstance(value, list | tuple | set | frozenset) else [value]
    return [ids.name_key(v, what) for v in values]


class GatewayAPI:
    """Every GatewayWorker API call that does not need a current client, sent through
    :attr:`cluster` (which a subclass provides: see the module docstring)."""

    @property
    def cluster(self) -> Cluster:
        """The links calls go through; NotRunning where there are none."""
        raise NotRunning("the Gateway API is used outside a running worker or client")

    # -- plumbing -------------------------------------------------------------------
    def _one(self, op: Op, client_id: str, *args: Any) -> None:
        address = ids.gateway_of(client_id)
        self.cluster.link(address).command(op, [client_id, *args])

    def _all(self, op: Op, *args: Any) -> None:
        cluster = self.cluster
        if cluster.listed is None:
            throttled.warning(
                "dropped",
                "%s dropped: no register has answered yet (%s)",
                op.name.lower(),
                ", ".join(cluster.registers),
            )
            return
        data = encode_command(op, list(args))  # once, whatever the number of gateways
        for link in cluster.listed_links():
            link.outbox.send(data)

    async def _ask(self, op: Op, *args: Any, timeout: float | None = None) -> Any:
        spec = ops.SPECS[op]
        assert spec.merge is not None
        cluster = self.cluster
        wait = cluster.query_timeout if timeout is None else timeout
        if spec.one:
            address = ids.gateway_of(args[0])
            if cluster.gone(address):
                # no gateway of ours (gone, or never one): its clients are not online,
                # as the original answers from its worker's gateway connections, at
                # once (no session, no uid)
                return ops.empty(spec.merge)
            addresses = [address]
        elif cluster.listed is None:  # no register answered: say so, do not return "0"
            missing = tuple(f"register {address}" for address in cluster.registers)
            return with_missing(ops.empty(spec.merge), missing)
        else:
            addresses = [link.address for link in cluster.listed_links()]
        answers, missing, error = await cluster.query(op, list(args), addresses, wait)
        if error is not None:
            raise RemoteError(f"{op.name}: {error}")
        if spec.one:
            if missing:
                raise QueryTimeout(f"{op.name}: gateway {missing[0]} did not answer in {wait:g}s")
            return ops.merge(spec.merge, answers)
        return with_missing(ops.merge(spec.merge, answers), missing)

    # -- sending --------------------------------------------------------------------
    def send_to_all(
        self,
        message: Message,
        client_ids: str | Iterable[str] | None = None,
        exclude: str | Iterable[str] | None = None,
        raw: bool = False,
    ) -> None:
        """Send to every client, or to ``client_ids`` only, minus ``exclude`` (each one
        client_id or several, as the original's)."""
        data = encode_message(message, raw)
        skip = _client_ids(exclude) or None
        if client_ids is None:
            self._all(Op.SEND_TO_ALL, data, None, skip)
            return
        by_gateway: dict[str, list[str]] = {}
        for client_id in _client_ids(client_ids):
            by_gateway.setdefault(ids.gateway_of(client_id), []).append(client_id)
        for address, chosen in by_gateway.items():
            self.cluster.link(address).command(Op.SEND_TO_ALL, [data, chosen, skip])

    def send_to_client(self, client_id: str, message: Message, raw: bool = False) -> None:
        """Send to one client; dropped silently if it is offline (as the original)."""
        self._one(Op.SEND_TO_CLIENT, client_id, encode_message(message, raw))

    def close_client(self, client_id: str, message: Message | None = None) -> None:
        """Send ``message`` (if any), flush, then close with code 1000."""
        data = None if message is None else encode_message(message)
        self._one(Op.CLOSE_CLIENT, client_id, data)

    def destroy_client(self, client_id: str) -> None:
        """Drop the connection at once, without flushing or a closing handshake."""
        self._one(Op.DESTROY_CLIENT, client_id)

    def bind_uid(self, client_id: str, uid: str | int) -> None:
        """Bind a uid (a uid may have many connections; a connection one uid)."""
        self._one(Op.BIND_UID, client_id, ids.name_key(uid, "uid"))

    def unbind_uid(self, client_id: str, uid: str | int) -> None:
        self._one(Op.UNBIND_UID, client_id, ids.name_key(uid, "uid"))

    def send_to_uid(self, uid: Any, message: Message, raw: bool = False) -> None:
        """Send to every connection of a uid (or of each uid of a list)."""
        self._all(Op.SEND_TO_UID, _listed(uid, "uid"), encode_message(message, raw))

    def join_group(self, client_id: str, group: str | int) -> None:
        self._one(Op.JOIN_GROUP, client_id, ids.name_key(group))

    def leave_group(self, client_id: str, group: str | int) -> None:
        self._one(Op.LEAVE_GROUP, client_id, ids.name_key(group))

    def ungroup(self, group: str | int) -> None:
        """Dissolve a group on every gateway (its clients stay connected)."""
        self._all(Op.UNGROUP, ids.name_key(group))

    def send_to_group(
        self,
        group: Any,
        message: Message,
        exclude: str | Iterable[str] | None = None,
        raw: bool = False,
    ) -> None:
        """Send to every member of a group (or of each group of a list), minus
        ``exclude`` (one client_id or several)."""
        skip = _client_ids(exclude) or None
        self._all(Op.SEND_TO_GROUP, _listed(group, "group"), encode_message(message, raw), skip)

    def set_session(self, client_id: str, session: dict[Any, Any]) -> None:
        """Replace a client's session."""
        self._check_session(session)
        self._one(Op.SET_SESSION, client_id, session)

    def update_session(self, client_id: str, session: dict[Any, Any]) -> None:
        """Merge keys into a client's session (at the gateway: no lost update)."""
        self._check_session(session)
        self._one(Op.UPDATE_SESSION, client_id, session)

    @staticmethod
    def _check_session(session: Any) -> None:
        if not isinstance(session, dict):
            raise InvalidArgument(f"a session is a dict, not {type(session).__name__}")

    # -- queries --------------------------------------------------------------------
    async def is_online(self, client_id: str, *, timeout: float | None = None) -> int:
        """1 if the client is connected, else 0."""
        return int(await self._ask(Op.IS_ONLINE, client_id, timeout=timeout) or 0)

    async def get_session(self, client_id: str, *, timeout: float | None = None) -> Any:
        """The gateway's copy of a client's session, or None if it is offline."""
        return await self._ask(Op.GET_SESSION, client_id, timeout=timeout)

    async def get_uid_by_client_id(
        self, client_id: str, *, timeout: float | None = None
    ) -> str | None:
        return await self._ask(Op.GET_UID_BY_CLIENT_ID, client_id, timeout=timeout)  # type: ignore[no-any-return]

    async def is_uid_online(self, uid: str | int, *, timeout: float | None = None) -> int:
        return await self._ask(Op.IS_UID_ONLINE, ids.name_key(uid, "uid"), timeout=timeout)  # type: ignore[no-any-return]

    async def get_client_id_by_uid(self, uid: str | int, *, timeout: float | None = None) -> Any:
        return await self._ask(Op.GET_CLIENT_ID_BY_UID, ids.name_key(uid, "uid"), timeout=timeout)

    async def get_client_id_count_by_group(
        self, group: Any, *, timeout: float | None = None
    ) -> Any:
        return await self._ask(
            Op.GET_CLIENT_ID_COUNT_BY_GROUP, ids.name_key(group), timeout=timeout
        )

    async def get_client_id_list_by_group(self, group: Any, *, timeout: float | None = None) -> Any:
        return await self._ask(Op.GET_CLIENT_ID_LIST_BY_GROUP, ids.name_key(group), timeout=timeout)

    async def get_uid_list_by_group(self, group: Any, *, timeout: float | None = None) -> Any:
        return await self._ask(Op.GET_UID_LIST_BY_GROUP, ids.name_key(group), timeout=timeout)

    async def get_uid_count_by_group(self, group: Any, *, timeout: float | None = None) -> Any:
        return await self._ask(Op.GET_UID_COUNT_BY_GROUP, ids.name_key(group), timeout=timeout)

    async def get_client_sessions_by_group(
        self, group: Any, *, timeout: float | None = None
    ) -> Any:
        return await self._ask(
            Op.GET_CLIENT_SESSIONS_BY_GROUP, ids.name_key(group), timeout=timeout
        )

    async def get_all_client_id_count(self, *, timeout: float | None = None) -> Any:
        return await self._ask(Op.GET_ALL_CLIENT_ID_COUNT, timeout=timeout)

    async def get_all_client_id_list(self, *, timeout: float | None = None) -> Any:
        return await self._ask(Op.GET_ALL_CLIENT_ID_LIST, timeout=timeout)

    async def get_all_uid_list(self, *, timeout: float | None = None) -> Any:
        return await self._ask(Op.GET_ALL_UID_LIST, timeout=timeout)

    async def get_all_uid_count(self, *, timeout: float | None = None) -> Any:
        return await self._ask(Op.GET_ALL_UID_COUNT, timeout=timeout)

    async def get_all_group_id_list(self, *, timeout: float | None = None) -> Any:
        return await self._ask(Op.GET_ALL_GROUP_ID_LIST, timeout=timeout)

    async def get_all_group_uid_list(self, *, timeout: float | None = None) -> Any:
        return await self._ask(Op.GET_ALL_GROUP_UID_LIST, timeout=timeout)

    async def get_all_group_client_id_list(self, *, timeout: float | None = None) -> Any:
        return await self._ask(Op.GET_ALL_GROUP_CLIENT_ID_LIST, timeout=timeout)

    async def get_all_group_uid_count(self, *, timeout: float | None = None) -> Any:
        return await self._ask(Op.GET_ALL_GROUP_UID_COUNT, timeout=timeout)

    async def get_all_group_client_id_count(self, *, timeout: float | None = None) -> Any:
        return await self._ask(Op.GET_ALL_GROUP_CLIENT_ID_COUNT, timeout=timeout)

    async def get_all_client_sessions(self, *, timeout: float | None = None) -> Any:
        return await self._ask(Op.GET_ALL_CLIENT_SESSIONS, timeout=timeout)

    async def is_uids_online(self, uids: Iterable[Any], *, timeout: float | None = None) -> Any:
        return await self._ask(Op.IS_UIDS_ONLINE, _listed(uids, "uid"), timeout=timeout)

    async def batch_get_client_id_by_uid(
        self, uids: Iterable[Any], *, timeout: float | None = None
    ) -> Any:
        return await self._ask(Op.BATCH_GET_CLIENT_ID_BY_UID, _listed(uids, "uid"), timeout=timeout)

    async def batch_get_client_id_count_by_group(
        self, groups: Iterable[Any], *, timeout: float | None = None
    ) -> Any:
        return await self._ask(
            Op.BATCH_GET_CLIENT_ID_COUNT_BY_GROUP, _listed(groups, "group"), timeout=timeout
        )

    async def get_status(self, *, timeout: float | None = None) -> Any:
        """Per-gateway status (clients, workers, memory, counters), by internal address."""
        return await self._ask(Op.GET_STATUS, timeout=timeout)

    async def get_connections(self, *, timeout: float | None = None) -> Any:
        """Every client connection of every gateway (client_id, uid, groups, remote
        address, connected_at: wall time), as ``gw connections`` lists them."""
        return await self._ask(Op.GET_CONNECTIONS, timeout=timeout)

    # GatewayWorker's shorter names for two counts
    get_client_count_by_group = get_client_id_count_by_group
    get_all_client_count = get_all_client_id_count
    # the original spells it destoryClient: code ported from it keeps working
    destory_client = destroy_client


class WorkerAPI(GatewayAPI):
    """The API inside a worker: adds the "current client" helpers.

    The current client, and the worker running, are tracked with
    :class:`~contextvars.ContextVar` s, so concurrent handlers (of different clients,
    or of different workers) never see each other's.
    """

    @property
    def cluster(self) -> Cluster:
        """The cluster of the worker this is called from (see the module docstring)."""
        context = current()
        if context is not None and context.cluster is not None:
            return context.cluster
        cluster = running_worker()
        if cluster is None:
            raise NotRunning(
                "the Gateway API is used outside a running worker: in a handler, in "
                "on_worker_start/on_worker_stop, or in what they start"
            )
        return cluster

    @property
    def current(self) -> Context:
        """The client whose event is being handled; NotRunning outside a handler."""
        context = current()
        if context is None:
            raise NotRunning("no current client: this is only valid inside an event handler")
        return context

    @property
    def client_id(self) -> str:
        return self.current.client_id

    @property
    def session(self) -> dict[Any, Any]:
        """The current client's session; changes are written back after the handler."""
        return self.current.session

    @session.setter
    def session(self, value: dict[Any, Any]) -> None:
        """``api.session = {...}`` replaces it, as the original's ``$_SESSION = [...]``."""
        if not isinstance(value, dict):
            raise InvalidArgument(f"a session is a dict, not {type(value).__name__}")
        value, session = dict(value), self.current.session  # (it may be that dict itself)
        session.clear()  # the same dict: what the handler changed is still found after it
        session.update(value)

    def send_to_current_client(self, message: Message, raw: bool = False) -> None:
        context = self.current
        context.link.command(Op.SEND_TO_CLIENT, [context.client_id, encode_message(message, raw)])

    def close_current_client(self, message: Message | None = None) -> None:
        self.close_client(self.current.client_id, message)

    def destroy_current_client(self) -> None:
        self.destroy_client(self.current.client_id)

    destory_current_client = destroy_current_client  # the original's destoryCurrentClient

    def set_session(self, client_id: str, session: dict[Any, Any]) -> None:
        context = current()
        if context is not None and context.client_id == client_id and not context.closing:
            context.session.clear()
            context.session.update(session)
        super().set_session(client_id, session)

    def update_session(self, client_id: str, session: dict[Any, Any]) -> None:
        context = current()
        if context is not None and context.client_id == client_id and not context.closing:
            context.session.update(session)
        super().update_session(client_id, session)


api = WorkerAPI()
"""The API of the running worker: ``from business import api``."""

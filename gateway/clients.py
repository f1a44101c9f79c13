"""The gateway's index of its clients: session, uid and groups (pure, no I/O).

Group ids and uids are compared as strings, as in GatewayWorker (PHP array keys):
``100`` and ``"100"`` name the same group. ``0``, ``"0"``, ``""`` and ``None`` are
not valid ids, as in the original. A uid may have many connections; a connection
has at most one uid and any number of groups; an empty group vanishes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from common.exceptions import InvalidArgument
from common.frames import EventKind, Op
from common.ids import name_key as key
from common.limits import TokenBucket
from common.protocol import pack_session

if TYPE_CHECKING:  # the I/O side, named for its type only: this module loads no I/O
    from .connection import Connection


@dataclass(slots=True, eq=False)
class Client:
    """One connection's state. ``conn`` is its connection (the I/O side)."""

    client_id: str
    remote: str
    conn: Connection[Client]
    session: dict[Any, Any] = field(default_factory=dict)
    uid: str | None = None
    groups: tuple[str, ...] = ()  # a tuple: most clients are in a few groups (a set: 216 B)
    worker: bytes | None = None  # sticky worker, None until the first event
    idle_ticks: int = 0  # heartbeat ticks since the client last sent anything
    inflight: int = 0  # events sent to its worker and not yet acknowledged (0 or 1)
    backlog: deque[tuple[EventKind, Any]] | None = None  # waiting events (made on need)
    paused: bool = False  # reading from the client paused: its backlog is full
    plain: bool = True  # no compression extension: shared frame bytes can be written
    auth: bytes | None = None  # the verified identity (claims, msgpack-encoded), if any
    since: float = 0.0  # when it connected (wall clock: gw connections shows its age)
    bucket: TokenBucket | None = None  # the --rate-limit token bucket, if any
    _packed: bytes | None = None

    def packed_session(self) -> bytes:
        """The session, msgpack-encoded once per change."""
        if self._packed is None:
            self._packed = pack_session(self.session)
        return self._packed

    def session_changed(self) -> None:
        self._packed = None


class ClientIndex:
    """Every client of one gateway, by id, uid and group."""

    def __init__(self) -> None:
        self.clients: dict[str, Client] = {}
        # a uid's connections: a list (most uids have one: a third of a set's size)
        self.uids: dict[str, list[str]] = {}
        self.groups: dict[str, set[str]] = {}
        self._queries: dict[Op, Callable[..., Any]] = {
            Op.IS_ONLINE: lambda cid: int(cid in self.clients),
            Op.IS_UID_ONLINE: lambda uid: int(key(uid, "uid") in self.uids),
            Op.GET_CLIENT_ID_BY_UID: lambda uid: sorted(self.uids.get(key(uid, "uid"), ())),
            Op.GET_UID_BY_CLIENT_ID: self._uid_of,
            Op.GET_CLIENT_ID_COUNT_BY_GROUP: lambda g: len(self.groups.get(key(g), ())),
            Op.GET_ALL_CLIENT_ID_COUNT: lambda: len(self.clients),
            Op.GET_CLIENT_ID_LIST_BY_GROUP: lambda g: sorted(self.groups.get(key(g), ())),
            Op.GET_ALL_CLIENT_ID_LIST: lambda: list(self.clients),
            Op.GET_UID_LIST_BY_GROUP: self._uids_in,
            Op.GET_UID_COUNT_BY_GROUP: self._uids_in,
            Op.GET_ALL_UID_LIST: lambda: list(self.uids),
            Op.GET_ALL_UID_COUNT: lambda: list(self.uids),
            Op.GET_ALL_GROUP_ID_LIST: lambda: list(self.groups),
            Op.GET_ALL_GROUP_UID_LIST: self._group_uids,
            Op.GET_ALL_GROUP_UID_COUNT: self._group_uids,
            Op.GET_ALL_GROUP_CLIENT_ID_LIST: lambda: {g: sorted(m) for g, m in self.groups.items()},
            Op.GET_ALL_GROUP_CLIENT_ID_COUNT: lambda: {g: len(m) for g, m in self.groups.items()},
            Op.GET_CLIENT_SESSIONS_BY_GROUP: lambda g: self._sessions(self.groups.get(key(g), ())),
            Op.GET_ALL_CLIENT_SESSIONS: lambda: self._sessions(self.clients),
            Op.GET_SESSION: self._session_of,
            Op.GET_CONNECTIONS: self._connections,
            Op.IS_UIDS_ONLINE: lambda uids: {str(u): int(str(u) in self.uids) for u in uids},
            Op.BATCH_GET_CLIENT_ID_BY_UID: lambda uids: {
                str(u): sorted(self.uids.get(str(u), ())) for u in uids
            },
            Op.BATCH_GET_CLIENT_ID_COUNT_BY_GROUP: lambda groups: {
                str(g): len(self.groups.get(str(g), ())) for g in groups
            },
        }  # fmt: skip

    # -- membership -----------------------------------------------------------------
    def add(self, client: Client) -> None:
        self.clients[client.client_id] = client

    def get(self, client_id: str) -> Client | None:
        return self.clients.get(client_id)

    def remove(self, client_id: str) -> Client | None:
        """Forget a client: unbind its uid and leave its groups."""
        client = self.clients.pop(client_id, None)
        if client is None:
            return None
        if client.uid is not None:
            self._unbind(client.uid, client_id)
        for group in client.groups:
            self._leave(group, client_id)
        return client

    def _unbind(self, uid: str, client_id: str) -> None:
        members = self.uids.get(uid)
        if members is not None and client_id in members:
            members.remove(client_id)
            if not members:
                del self.uids[uid]

    def _leave(self, group: str, client_id: str) -> None:
        members = self.groups.get(group)
        if members is not None:
            members.discard(client_id)
            if not members:
                del self.groups[group]

    def bind_uid(self, client_id: str, uid: Any) -> bool:
        """Bind (rebinding moves the connection from its previous uid)."""
        uid = key(uid, "uid")
        client = self.clients.get(client_id)
        if client is None:
            return False
        if client.uid is not None and client.uid != uid:
            self._unbind(client.uid, client_id)
        client.uid = uid
        members = self.uids.setdefault(uid, [])
        if client_id not in members:
            members.append(client_id)
        return True

    def unbind_uid(self, client_id: str, uid: Any) -> bool:
        uid = key(uid, "uid")
        client = self.clients.get(client_id)
        if client is None or client.uid != uid:
            return False
        client.uid = None
        self._unbind(uid, client_id)
        return True

    def join_group(self, client_id: str, group: Any) -> bool:
        group = key(group)
        client = self.clients.get(client_id)
        if client is None:
            return False
        if group not in client.groups:
            client.groups += (group,)
        self.groups.setdefault(group, set()).add(client_id)
        return True

    def leave_group(self, client_id: str, group: Any) -> bool:
        group = key(group)
        client = self.clients.get(client_id)
        if client is None or group not in client.groups:
            return False
        client.groups = tuple(g for g in client.groups if g != group)
        self._leave(group, client_id)
        return True

    def ungroup(self, group: Any) -> int:
        """Dissolve a group; returns how many members it had here."""
        name = key(group)
        members = self.groups.pop(name, set())
        for client_id in members:
            client = self.clients[client_id]
            client.groups = tuple(g for g in client.groups if g != name)
        return len(members)

    # -- sessions -------------------------------------------------------------------
    def set_session(self, client_id: str, session: dict[Any, Any]) -> bool:
        client = self.clients.get(client_id)
        if client is None:
            return False
        client.session = dict(session)
        client.session_changed()
        return True

    def update_session(
        self, client_id: str, values: dict[Any, Any], deleted: Iterable[Any] = ()
    ) -> bool:
        """Merge keys into a session (and delete some): last writer wins per key."""
        client = self.clients.get(client_id)
        if client is None:
            return False
        client.session_changed()
        client.session.update(values)
        for name in deleted:
            client.session.pop(name, None)
        return True

    # -- targets of sends -----------------------------------------------------------
    def all_targets(
        self, client_ids: Iterable[str] | None, exclude: Iterable[str] | None
    ) -> list[Client]:
        if client_ids is None:
            chosen: Iterable[Client] = self.clients.values()
        else:
            chosen = filter(None, map(self.clients.get, client_ids))
        if exclude:
            skip = set(exclude)
            return [c for c in chosen if c.client_id not in skip]
        return list(chosen)

    def uid_targets(self, uids: Iterable[Any]) -> list[Client]:
        uids = list(uids)
        if len(uids) == 1:  # the common case (a private message): no set to build
            clients = self.clients
            return [clients[cid] for cid in self.uids.get(str(uids[0]), ())]
        ids = {cid for uid in uids for cid in self.uids.get(str(uid), ())}
        return [self.clients[cid] for cid in ids]

    def group_targets(self, groups: Iterable[Any], exclude: Iterable[str] | None) -> list[Client]:
        groups = list(groups)
        if len(groups) == 1 and not exclude:  # the common case: no set to build
            clients = self.clients
            return [clients[cid] for cid in self.groups.get(str(groups[0]), ())]
        ids = {cid for group in groups for cid in self.groups.get(str(group), ())}
        if exclude:
            ids.difference_update(exclude)
        return [self.clients[cid] for cid in ids]

    # -- queries --------------------------------------------------------------------
    def query(self, op: Op, args: list[Any]) -> Any:
        """Answer a query for this gateway's clients; raise for unknown ops or bad args."""
        handler = self._queries.get(op)
        if handler is None:
            raise InvalidArgument(f"{op.name} is not a query this gateway answers")
        return handler(*args)

    def _uid_of(self, client_id: str) -> str | None:
        client = self.clients.get(client_id)
        return None if client is None else client.uid

    def _session_of(self, client_id: str) -> dict[Any, Any] | None:
        client = self.clients.get(client_id)
        return None if client is None else client.session

    def _uids_in(self, group: Any) -> list[str]:
        members = self.groups.get(key(group), ())
        return list({u for cid in members if (u := self.clients[cid].uid) is not None})

    def _group_uids(self) -> dict[str, list[str]]:
        return {
            g: list({u for cid in m if (u := self.clients[cid].uid) is not None})
            for g, m in self.groups.items()
        }

    def _connections(self) -> list[dict[str, Any]]:
        return [
            {
                "client_id": c.client_id,
                "uid": c.uid,
                "groups": sorted(c.groups),
                "remote": c.remote,
                "connected_at": c.since,
            }
            for c in self.clients.values()
        ]

    def _sessions(self, ids: Iterable[str]) -> dict[str, dict[Any, Any]]:
        return {cid: self.clients[cid].session for cid in ids}

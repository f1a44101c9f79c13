"""client_id codec.

A client_id is 28 lowercase hex characters, 14 bytes, big-endian::

    +----------------+------------+--------------------+------------------+
    | IPv4 (4 bytes) | port (2)   | gateway epoch (4)  | counter (4)      |
    +----------------+------------+--------------------+------------------+

IPv4 and port are the owning gateway's *internal* (ZeroMQ) address, so any process
can route a single-client command from the id alone, as in GatewayWorker. The
original's 20-character id repeats after a gateway restart because its counter
starts again at 1; ours adds the gateway's epoch, a random 32-bit value drawn at
each gateway start, so ids stay unique across restarts.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import struct
from dataclasses import dataclass
from typing import Any

from .exceptions import ClientIdError, InvalidArgument

_LAYOUT = struct.Struct(">4sHII")
ID_LENGTH = _LAYOUT.size * 2
# lower-case hex digits only: bytes.fromhex() would also take upper case (an id no
# gateway's index holds) and skip white space (a short buffer for unpack)
FORM = re.compile(f"[0-9a-f]{{{ID_LENGTH}}}").fullmatch
"""A match if a str has a client_id's form (see above), else None: :func:`is_client_id`
without the call, for generated code."""


@dataclass(frozen=True, slots=True)
class ClientId:
    """The decoded parts of a client_id."""

    ip: str
    port: int
    epoch: int
    counter: int

    @property
    def gateway_address(self) -> str:
        """The ZeroMQ endpoint of the gateway that owns this client."""
        return f"tcp://{self.ip}:{self.port}"


def new_epoch() -> int:
    """A random, non-zero 32-bit epoch for a starting gateway."""
    while True:
        epoch = int.from_bytes(os.urandom(4), "big")
        if epoch:
            return epoch


def encode(ip: str, port: int, epoch: int, counter: int) -> str:
    """Build the client_id of connection number ``counter`` of a gateway."""
    try:
        packed_ip = ipaddress.IPv4Address(ip).packed
        return _LAYOUT.pack(packed_ip, port, epoch, counter).hex()
    except (ipaddress.AddressValueError, struct.error) as exc:
        raise ClientIdError(f"cannot encode client_id from {ip}:{port}: {exc}") from None


def decode(client_id: str) -> ClientId:
    """Split a client_id; raise :class:`ClientIdError` if it is not one of ours."""
    if not is_client_id(client_id):  # the form first (see FORM)
        raise ClientIdError(f"not a client_id: {client_id!r}")
    raw = bytes.fromhex(client_id)
    packed_ip, port, epoch, counter = _LAYOUT.unpack(raw)
    return ClientId(str(ipaddress.IPv4Address(packed_ip)), port, epoch, counter)


def is_client_id(value: Any) -> bool:
    """Whether ``value`` has a client_id's form (as :func:`decode` checks it), cheaply:
    where the gateway it names is not needed yet."""
    return type(value) is str and FORM(value) is not None


def gateway_of(client_id: str) -> str:
    """The ZeroMQ endpoint of the gateway that owns ``client_id``; ClientIdError if it
    is not one of ours (checked as :func:`decode` checks it)."""
    if not is_client_id(client_id):
        raise ClientIdError(f"not a client_id: {client_id!r}")
    return _gateway(client_id[:GATEWAY_DIGITS])


GATEWAY_DIGITS = 12
"""A client_id's first digits (IPv4, 4 bytes, and port, 2) name its gateway: ids with
the same ``client_id[:GATEWAY_DIGITS]`` have the same :func:`gateway_of`."""


@functools.lru_cache(maxsize=1024)
def _gateway(digits: str) -> str:
    """A pure memo: every one-client call is routed by its id, and gateways are few (a
    decode is ~1.7 us, most of it ipaddress's; the cache bounds what forged ids cost)."""
    ip, port = bytes.fromhex(digits[:8]), int(digits[8:], 16)
    return f"tcp://{ipaddress.IPv4Address(ip)}:{port}"


def name_key(value: Any, what: str = "group") -> str:
    """Normalize a group id or uid to a string; refuse what the original refuses.

    As in GatewayWorker (PHP array keys), ``100`` and ``"100"`` name the same group;
    ``0``, ``"0"``, ``""`` and ``None`` are not valid ids.
    """
    if value is None or isinstance(value, bool) or value in ("", "0", 0):
        raise InvalidArgument(f"{value!r} is not a valid {what} id")
    if not isinstance(value, str | int):
        raise InvalidArgument(f"a {what} id is a string or an integer, got {value!r}")
    return str(value)

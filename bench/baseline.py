"""The "no cluster" baseline: the chat protocol served by one ``websockets`` process.

websockets' own asyncio server, as a user would write it, tuned like a gateway where
websockets allows (uvloop, ``max_queue=16``, no keepalive pings, compression off unless
asked), and with the same efficient choices: a reply is encoded once and written to
every recipient with :func:`websockets.broadcast`. (The gateway runs websockets'
Sans-I/O core in its own ``asyncio.Protocol`` instead.) What it lacks is what the
cluster adds: workers in other processes, ZeroMQ hops, sessions shipped with events,
acknowledgements, more than one core.

    python -m bench.baseline --listen 127.0.0.1:0 [--compression]

prints ``GW-READY {"role": "baseline", "websocket": "host:port", "pid": ...}`` when it
serves, and stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from typing import Any

from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

from common import ready
from common.service import raise_open_file_limit

from . import chat


class ChatServer:
    """Indexes of connections by uid and group, and the message handler."""

    def __init__(self) -> None:
        self.everyone: set[ServerConnection] = set()
        self.uids: dict[str, set[ServerConnection]] = {}
        self.groups: dict[str, set[ServerConnection]] = {}

    async def handle(self, conn: ServerConnection) -> None:
        session: dict[str, Any] = {}
        self.everyone.add(conn)
        try:
            async for text in conn:
                self.on_message(conn, session, text)
        except ConnectionClosed:
            pass
        finally:
            self.everyone.discard(conn)
            self._discard(self.uids, session.get("uid"), conn)
            self._discard(self.groups, session.get("group"), conn)

    def on_message(self, conn: ServerConnection, session: dict[str, Any], text: Any) -> None:
        message = chat.parse(text)
        if message is None:
            broadcast([conn], chat.reply(400, "invalid json"))
            return
        event, mode = message["event"], message.get("mode")
        if event == "join":
            if mode == chat.GROUP:
                session["group"] = group = str(message["group_id"])
                self.groups.setdefault(group, set()).add(conn)
            else:
                session["uid"] = uid = str(message["from_user_id"])
                self.uids.setdefault(uid, set()).add(conn)
            session.update({key: message.get(key) for key in chat.SESSION_KEYS})
            broadcast([conn], chat.reply(0, "success", message))
        elif event == "speak":
            data = chat.speak_reply(message)
            if mode == chat.PRIVATE:
                targets = self.uids.get(str(message["to_user_id"]), ())
            elif mode == chat.GROUP:
                targets = self.groups.get(str(message["group_id"]), ())
            else:
                targets = self.everyone
            broadcast(targets, data)
        else:
            broadcast([conn], chat.reply(400, "default invalid", message))

    @staticmethod
    def _discard(table: dict[str, set[ServerConnection]], name: Any, conn: Any) -> None:
        members = table.get(name) if name is not None else None
        if members is not None:
            members.discard(conn)
            if not members:
                del table[name]


async def main(listen: str, compression: bool) -> None:
    host, _, port = listen.rpartition(":")
    chat_server = ChatServer()
    async with serve(
        chat_server.handle,
        host,
        int(port),
        max_size=1 << 20,
        ping_interval=None,
        max_queue=16,
        server_header=None,
        compression="deflate" if compression else None,
    ) as server:
        stop = asyncio.get_running_loop().create_future()
        for signum in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(signum, stop.set_result, None)
        bound = next(iter(server.sockets)).getsockname()
        ready.print_ready("baseline", {"websocket": f"{host}:{bound[1]}", "pid": os.getpid()})
        await stop
        server.close(close_connections=False)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--listen", default="127.0.0.1:0")
    parser.add_argument("--compression", action="store_true")
    args = parser.parse_args()
    raise_open_file_limit()
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        asyncio.run(main(args.listen, args.compression))
    else:
        uvloop.run(main(args.listen, args.compression))

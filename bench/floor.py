"""The floors under the bench's figures: the kernel's cost of a small ``send()`` (S4),
and the ZeroMQ hop's own cost (S3, from :mod:`bench.hop`).

    python -m bench.floor [--clients 1000] [--seconds 3] [--rate 3000] [--no-hop]

A receiver process (asyncio + uvloop, reading and discarding, like the load
generator) holds ``--clients`` connections; this process writes one 64-byte frame to
each member of a group of 100, group after group, with plain non-blocking
``socket.send`` (no event loop, no framing: the least a server can do per delivered
frame), and reports its own CPU per send:

- back to back (the receiver is always busy: the S4 closed-loop case), and
- one group every 1.7 ms (the receiver sleeps in between: the S4 fixed-rate case,
  ~600 messages/s to groups of 100).

On loopback the kernel runs the receiving side's TCP path, and wakes the receiver,
inside the sender's syscall, so this is a floor for "server CPU per delivered frame"
that no server code goes under on this machine.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import socket
import time
from typing import Any

from common.service import raise_open_file_limit

FRAME = b"\x81\x3e" + b"x" * 62  # an unmasked 62-byte text frame: 64 bytes
GROUP = 100


def _receiver(port_queue: Any, clients: int) -> None:
    import asyncio

    import uvloop

    class Discard(asyncio.Protocol):
        def data_received(self, data: bytes) -> None:
            pass

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Discard, "127.0.0.1", 0, backlog=clients)
        port_queue.put(server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    uvloop.run(main())


def _cpu() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def measure(socks: list[socket.socket], seconds: float, pace: float) -> tuple[float, float, int]:
    """Send to each group in turn for ``seconds``, ``pace`` seconds apart (0: none).

    Returns (user, kernel CPU microseconds per send, sends).
    """
    groups = [socks[i : i + GROUP] for i in range(0, len(socks), GROUP)]
    sends = 0
    start_cpu, start = _cpu(), time.monotonic()
    next_round = start
    while time.monotonic() - start < seconds:
        for members in groups:
            for sock in members:
                try:
                    sock.send(FRAME)
                    sends += 1
                except BlockingIOError:
                    pass  # the receiver fell behind: skip, as a server would queue
            if pace:
                next_round += pace
                delay = next_round - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
    user, kernel = _cpu()
    return (
        (user - start_cpu[0]) / max(sends, 1) * 1e6,
        (kernel - start_cpu[1]) / max(sends, 1) * 1e6,
        sends,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="CPU of one small send() on loopback")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument(
        "--rate",
        type=float,
        default=3000.0,
        help="The hop's open loop: round trips a second (S3's half rate).",
    )
    parser.add_argument("--no-hop", action="store_true", help="Only the send() floor.")
    args = parser.parse_args()
    raise_open_file_limit()
    ctx = multiprocessing.get_context("spawn")
    ports: Any = ctx.Queue()
    receiver = ctx.Process(target=_receiver, args=(ports, args.clients), daemon=True)
    receiver.start()
    try:
        port = ports.get(timeout=30)
        socks = []
        for _ in range(args.clients):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)
            socks.append(sock)
        print(f"{args.clients} clients in groups of {GROUP}, {args.seconds:g} s per mode")
        print("| mode | sends | sender CPU per send, us | of which kernel, us |")
        print("| --- | --- | --- | --- |")
        for label, pace in (
            ("back to back (receiver busy)", 0.0),
            ("a group every 1.7 ms (receiver sleeps)", 0.0017),
        ):
            user, kernel, sends = measure(socks, args.seconds, pace)
            print(f"| {label} | {sends:,} | {user + kernel:.2f} | {kernel:.2f} |")
        for sock in socks:
            sock.close()
    finally:
        receiver.terminate()
        receiver.join(5)
    if not args.no_hop:
        from .hop import report

        print()
        print("The ZeroMQ hop (bare pyzmq ROUTER/DEALER, two processes):")
        report(args.seconds, 100, args.rate)


if __name__ == "__main__":
    main()

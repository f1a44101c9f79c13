"""The transport's floor under S3: a bare pyzmq ROUTER/DEALER ping-pong, two processes.

    python -m bench.hop [--seconds 3] [--inflight 100] [--rate 3000]

Each S3 message crosses the gateway <-> worker link once each way (an event out, a
command and an ack back in one batch). This measures that hop alone: a DEALER
process sends 64-byte messages, a ROUTER process answers each at once, both with
bare pyzmq driven as our event loops drive it (wait on the socket with a poller, then
receive without blocking until there is nothing left), but no event loop, no framing,
no msgpack: the least any design on ZeroMQ pays. It reports the CPU per round trip
of the echo side (woken, receives, answers: its Python thread and libzmq's I/O
thread), and the floor: twice that, since in the cluster both ends of the hop (the
gateway: event out, command in; the worker: event in, command out) do that much.
The DEALER side is not counted: its open loop paces itself with sleeps, which here
cost more than the hop (a short sleep is ~60 us of CPU on this kind of VM), as the
load generator's pacing is not counted in the bench either:

- closed loop, ``--inflight`` messages in flight (S3's saturation: 100 pairs);
- open loop at ``--rate`` round trips a second (S3's half rate): the processes sleep
  in between, and every message pays libzmq's wake-ups (its I/O thread hands each
  message to the application thread through a mailbox).

The table's "S3 floor" rows put the cluster's figures beside these.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import time
from typing import Any

import zmq

PAYLOAD = b"x" * 64


def _echo(ports: Any) -> None:
    """The ROUTER side: answer every message, until told to stop."""
    context = zmq.Context()
    sock = context.socket(zmq.ROUTER)
    ports.put(sock.bind_to_random_port("tcp://127.0.0.1"))
    poller = zmq.Poller()
    poller.register(sock, zmq.POLLIN)
    cpu0: float | None = None  # counted from the warm-up message on
    while True:
        poller.poll()
        while True:
            try:
                identity, data = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            if data == b"stop":
                ports.put(_cpu() - (cpu0 or 0.0))
                sock.close(linger=0)
                context.term()
                return
            sock.send_multipart([identity, data])
            if cpu0 is None:
                cpu0 = _cpu()


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def round_trips(seconds: float, inflight: int, rate: float | None) -> dict[str, float]:
    """Run one phase; the CPU of both processes per round trip (us), the rate and p50."""
    ctx = multiprocessing.get_context("spawn")
    ports: Any = ctx.Queue()
    echo = ctx.Process(target=_echo, args=(ports,), daemon=True)
    echo.start()
    port = ports.get(timeout=30)
    context = zmq.Context()
    sock = context.socket(zmq.DEALER)
    sock.connect(f"tcp://127.0.0.1:{port}")
    poller = zmq.Poller()
    poller.register(sock, zmq.POLLIN)

    def receive() -> int:
        """Wait, then take every reply already there."""
        poller.poll()
        got = 0
        while True:
            try:
                sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                return got
            got += 1

    sock.send(PAYLOAD)  # warm the connection up
    receive()
    latencies: list[float] = []
    done = 0
    cpu0, start = _cpu(), time.monotonic()
    if rate is None:  # closed loop: keep `inflight` in flight
        for _ in range(inflight):
            sock.send(PAYLOAD)
        while time.monotonic() - start < seconds:
            got = receive()
            done += got
            for _ in range(got):
                sock.send(PAYLOAD)
        pending = inflight
        while pending:
            pending -= receive()
    else:  # open loop: one round trip every 1/rate s, on schedule
        interval, next_send = 1.0 / rate, start
        while time.monotonic() - start < seconds:
            delay = next_send - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sent = time.monotonic()
            sock.send(PAYLOAD)
            done += receive()
            latencies.append(time.monotonic() - sent)
            next_send += interval
    wall = time.monotonic() - start
    mine = _cpu() - cpu0  # the sender (and its pacing)
    sock.send(b"stop")
    theirs = ports.get(timeout=30)  # from the warm-up to the stop: a little over
    echo.join(10)
    sock.close(linger=0)
    context.term()
    latencies.sort()
    return {
        "round_trips": done,
        "rate": done / wall,
        "echo_us": theirs / max(done, 1) * 1e6,
        "floor_us": 2 * theirs / max(done, 1) * 1e6,
        "dealer_us": mine / max(done, 1) * 1e6,
        "p50_ms": latencies[len(latencies) // 2] * 1e3 if latencies else float("nan"),
    }


def report(seconds: float, inflight: int, rate: float) -> None:
    """Print the hop's table: closed loop, then open loop at ``rate``."""
    print(
        "| mode | round trips/s | echo side, CPU us | floor (2 x echo), us | sender (pacing "
        "included), us | p50 ms |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for label, paced in (
        (f"closed loop, {inflight} in flight", None),
        (f"open loop at {rate:g}/s", rate),
    ):
        found = round_trips(seconds, inflight, paced)
        print(
            f"| {label} | {found['rate']:,.0f} | {found['echo_us']:.1f} | "
            f"{found['floor_us']:.1f} | {found['dealer_us']:.1f} | {found['p50_ms']:.3f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description="ZeroMQ ROUTER/DEALER round trip floor")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--inflight", type=int, default=100)
    parser.add_argument("--rate", type=float, default=3000.0)
    args = parser.parse_args()
    report(args.seconds, args.inflight, args.rate)


if __name__ == "__main__":
    main()

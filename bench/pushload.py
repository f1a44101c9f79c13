"""S9's reference: the Python push client sending at a given rate, in its own process.

``python -m bench.pushload --register HOST:PORT --client-ids A,B --rate R --seconds S``
starts an :class:`~business.client.AsyncGatewayClient`, waits until its gateways have
welcomed it, then sends ``send_to_client`` calls (to the client_ids in turn, the same
64-byte text as S9's HTTP requests) in chunks of ``--chunk`` per event-loop pass,
paced to ``--rate`` sends a second, and prints one JSON line: the sends, the seconds,
and this process's CPU seconds meanwhile (every thread: the ZeroMQ I/O thread too).
Its collector is tuned as every ``gw`` role's (:func:`common.launch.tune_gc`).
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time

import click

MESSAGE = "x" * 64  # the text every S9 send carries


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _run(
    register: str, client_ids: list[str], rate: float, seconds: float, chunk: int
) -> dict[str, float]:
    from business.client import AsyncGatewayClient

    async with AsyncGatewayClient(register, timeout=5) as client:
        for link in client.cluster.links.values():
            await asyncio.wait_for(link.welcomed.wait(), 10)
        send = client.send_to_client
        interval = chunk / rate
        sent, begun, cpu = 0, time.monotonic(), _cpu()
        due = begun
        while time.monotonic() - begun < seconds:
            for _ in range(chunk):
                send(client_ids[sent % len(client_ids)], MESSAGE)
                sent += 1
            due += interval
            await asyncio.sleep(max(0.0, due - time.monotonic()))
        elapsed, used = time.monotonic() - begun, _cpu() - cpu
    return {"sent": sent, "seconds": elapsed, "cpu": used}


@click.command()
@click.option("--register", required=True)
@click.option("--client-ids", required=True, help="Comma-separated.")
@click.option("--rate", type=float, required=True, help="Sends a second.")
@click.option("--seconds", type=float, required=True)
@click.option("--chunk", type=int, default=100, help="Sends per event-loop pass.")
def main(register: str, client_ids: str, rate: float, seconds: float, chunk: int) -> None:
    import uvloop

    from common.launch import tune_gc

    tune_gc()  # as gw api's own process (every gw role): the comparison is of the code
    result = uvloop.run(_run(register, client_ids.split(","), rate, seconds, chunk))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()

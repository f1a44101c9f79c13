"""Commands that ask a running cluster through a push client: ``gw status``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import click

from common.options import option, register_option

from .client import AsyncGatewayClient


@click.command()
@register_option
@option("--secret", envvar="GW_SECRET", default=None, help="The cluster's shared secret.")
@option("--timeout", type=float, default=3.0, help="Seconds to wait for the gateways.")
def status(registers: tuple[str, ...], secret: str | None, timeout: float) -> None:
    """Show every gateway's clients, workers, memory and counters (JSON)."""

    async def ask() -> dict[str, Any]:
        async with AsyncGatewayClient(registers, secret=secret, timeout=timeout) as client:
            result = await client.get_status()
            return {"gateways": dict(result), "missing": list(result.missing)}

    click.echo(json.dumps(asyncio.run(ask()), indent=2, ensure_ascii=False))

"""The HTTP side of the API: aiohttp handlers that turn requests into Gateway API calls.

Each request, in order: its key (:mod:`.auth`) and its rate (a token bucket per key,
or per address without keys), its body (at most ``--max-body`` bytes of JSON), its
arguments (:func:`.calls.bind`), whether its gateways can be reached
(:mod:`.reach`), then the push client's own method. Whatever cannot be done is
answered with an error (:mod:`.errors`) and a log line, at most one a second per kind
(:class:`~common.logs.Throttled`): never with the key, nor the body.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from common.exceptions import NotRunning
from common.limits import Buckets
from common.logs import Throttled

from . import batches
from .auth import BadCredentials, KeyRing
from .batches import SENT, SENT_JSON, call_named
from .calls import CALLS, from_json, to_json
from .doing import Batch, Doer
from .errors import ApiError
from .metrics import Stats

if TYPE_CHECKING:
    from ..client import AsyncGatewayClient

log = logging.getLogger("business.httpapi")
JSON = "application/json"
FAILED_RATE, FAILED_BURST = 5.0, 20.0  # requests with a wrong or no key, per address


class HttpApi:
    """The handlers, and what they share: the push client, the keys, the limits, the counts."""

    def __init__(
        self,
        client: AsyncGatewayClient,
        keys: KeyRing,
        *,
        rate_limit: float,
        max_body: int,
        document: bytes,
        metrics: Callable[[], Awaitable[bytes]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.keys = keys
        self.max_body = max_body
        self.rate_limit = rate_limit
        self.limits = Buckets(rate_limit, 2 * rate_limit) if rate_limit > 0 else None
        self.failures = Buckets(FAILED_RATE, FAILED_BURST)
        self.stats = Stats()
        self.stopping = False
        self._document = document
        self._metrics = metrics
        self._clock = clock
        self.doer = Doer(client)
        self._log = Throttled(log)

    def stop(self) -> None:
        """Refuse every call from now on (503, "stopping"): the API is stopping."""
        self.stopping = True

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/v1/openapi.json", self.openapi),
            web.route("*", "/api/v1/batch", self.batch),
            web.route("*", "/api/v1/{call}", self.call),
            web.get("/healthz", self.healthz),
            web.get("/readyz", self.readyz),
            web.get("/metrics", self.metrics),
            web.route("*", "/{tail:.*}", self.not_found),
        ]

    # -- endpoints ------------------------------------------------------------------
    async def call(self, request: web.Request) -> web.Response:
        """``POST /api/v1/<call>``: one call, its arguments a JSON object."""
        started = time.perf_counter()
        name = request.match_info["call"]
        call = CALLS.get(name)
        label = name if call is not None else "unknown"
        self.stats.in_progress += 1
        try:
            self._admit(request)
            call = call_named(name)  # unknown: 404, after the key and the rate
            self._post(request)
            payload = await self.doer.do(call, await self._body(request, {}))
            body = SENT_JSON if payload is SENT else to_json(payload)
            response = web.Response(body=body, content_type=JSON)
        except ApiError as err:
            response = self._refuse(request, label, err)
        except Exception:
            response = self._bug(request, label)
        finally:
            self.stats.in_progress -= 1
        self.stats.request(label, response.status, time.perf_counter() - started)
        return response

    async def batch(self, request: web.Request) -> web.Response:
        """``POST /api/v1/batch``: a JSON array of ``{"call": NAME, "args": {...}}``, done
        in order; the answer is the array of their replies."""
        started = time.perf_counter()
        self.stats.in_progress += 1
        try:
            self._admit(request)
            self._post(request)
            items = batches.checked(await self._body(request, None))

            def refused(label: str, err: ApiError) -> None:
                self._logged(request, f"batch {label}", err)

            replies = await Batch(self.doer, self.stats, refused).run(items)
            response = web.Response(body=batches.answer(replies), content_type=JSON)
        except ApiError as err:
            response = self._refuse(request, "batch", err)
        except Exception:
            response = self._bug(request, "batch")
        finally:
            self.stats.in_progress -= 1
        self.stats.request("batch", response.status, time.perf_counter() - started)
        return response

    async def openapi(self, request: web.Request) -> web.Response:
        self.stats.request("openapi", 200, 0.0)
        return web.Response(body=self._document, content_type=JSON)

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(self, request: web.Request) -> web.Response:
        ok, why = self.readiness()
        return web.Response(
            status=200 if ok else 503, text="ready\n" if ok else f"not ready: {why}\n"
        )

    async def metrics(self, request: web.Request) -> web.Response:
        if self._metrics is None:
            return await self.not_found(request)
        from prometheus_client import CONTENT_TYPE_LATEST

        return web.Response(
            body=await self._metrics(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def not_found(self, request: web.Request) -> web.Response:
        err = ApiError(
            "not_found",
            f"no such path: {request.path[:100]} (the calls are "
            "POST /api/v1/<call>; GET /api/v1/openapi.json lists them)",
        )
        self.stats.request("unknown", err.status, 0.0)
        return response_of(err)

    def readiness(self) -> tuple[bool, str]:
        """Ready once a register has sent the gateway list, and until stopping."""
        if self.stopping:
            return False, "stopping"
        try:
            listed = self.client.cluster.listed
        except NotRunning:
            return False, "stopping"
        if listed is None:
            return False, "no register has answered yet"
        return True, ""

    # -- the steps of a request -----------------------------------------------------
    def _admit(self, request: web.Request) -> None:
        """Its key, then its rate: ApiError 401 or 429 if it is not let in."""
        remote = request.remote or "?"
        who = remote
        if not self.keys.open:
            found = self.keys.identify(request.headers.get("Authorization"))
            if isinstance(found, BadCredentials):
                if not self.failures.take(remote, self._clock()):
                    raise ApiError(
                        "rate_limited",
                        "too many requests without a valid API key from this address",
                        retry_after=1.0,
                    )
                raise ApiError("unauthorized", found.value)
            who = f"key #{found}"
        if self.limits is not None and not self.limits.take(who, self._clock()):
            raise ApiError(
                "rate_limited",
                f"over {self.rate_limit:g} requests a second "
                f"(--rate-limit) for {'this key' if who != remote else 'this address'}",
                retry_after=1.0 / self.rate_limit,
            )
        if self.stopping:
            raise ApiError("stopping", "the API is stopping", retry_after=1.0)

    @staticmethod
    def _post(request: web.Request) -> None:
        if request.method != "POST":
            raise ApiError(
                "method_not_allowed", f"{request.path[:100]} takes POST, not {request.method[:10]}"
            )

    async def _body(self, request: web.Request, empty: Any) -> Any:
        """The request's JSON (``empty`` if it has no body)."""
        too_large = ApiError("too_large", f"the body is over {self.max_body} bytes (--max-body)")
        if request.content_length is not None and request.content_length > self.max_body:
            raise too_large  # not even read
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise too_large from None
        except ConnectionResetError:  # (aiohttp's): a warning a second, not a bug's traceback
            raise ApiError(
                "incomplete_body", "the client went away before its body ended"
            ) from None
        if not raw.strip():
            return empty
        try:
            return from_json(raw)
        except (ValueError, RecursionError) as exc:
            raise ApiError("bad_json", f"the body is not JSON: {str(exc)[:120]}") from None

    # -- answers --------------------------------------------------------------------
    def _refuse(self, request: web.Request, label: str, err: ApiError) -> web.Response:
        self._logged(request, label, err)
        return response_of(err)

    def _logged(self, request: web.Request, label: str, err: ApiError) -> None:
        self._log.warning(
            err.code, "%d %s from %s: %s", err.status, label, request.remote, err.message
        )

    def _bug(self, request: web.Request, label: str) -> web.Response:
        self._log.exception("internal", "500 %s from %s: a bug", label, request.remote)
        return response_of(ApiError("internal", "an internal error (logged)"))


def response_of(err: ApiError) -> web.Response:
    headers = {}
    if err.retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(err.retry_after)))
    if err.code == "unauthorized":
        headers["WWW-Authenticate"] = 'Bearer realm="gw api"'
    elif err.code == "method_not_allowed":
        headers["Allow"] = "POST"
    response = web.Response(
        status=err.status, body=to_json(err.body()), content_type=JSON, headers=headers
    )
    if err.code == "too_large":
        response.force_close()  # its body is not read: the connection cannot go on
    return response

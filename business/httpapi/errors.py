"""What the HTTP API answers when a request cannot be done: a status, a code, a message (pure).

Every refusal is ``{"error": {"code": "...", "message": "..."}}`` with its status
(inside a batch, each failed call's reply adds its ``status``):

====== ===================== ==========================================================
status code                  when
====== ===================== ==========================================================
400    bad_json              the body is not JSON (or not the JSON the endpoint takes)
400    invalid_argument      an argument is missing, unknown, or of the wrong type/value
400    unknown_gateway       a client_id names a gateway that is not in the cluster
400    incomplete_body       the client went away before its body ended (nobody reads this)
401    unauthorized          no API key, an unknown scheme, or a wrong key
404    unknown_call          no such call (``GET /api/v1/openapi.json`` lists them)
404    not_found             no such path
405    method_not_allowed    a method other than POST (a call takes POST only)
413    too_large             the body is over ``--max-body``
413    batch_too_large       a batch of more calls (or queries) than a batch takes
429    rate_limited          over ``--rate-limit`` (or too many failed keys): Retry-After
502    gateway_error         a gateway refused the query
503    no_gateway            no register answered yet, or the gateways it needs are not reachable
503    stopping              the API is stopping
504    query_timeout         the gateway of a one-client query did not answer in time
500    internal              a bug: logged with its traceback
====== ===================== ==========================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.exceptions import ClientIdError, InvalidArgument, NotRunning, QueryTimeout, RemoteError

STATUS_CODES: dict[str, int] = {
    "bad_json": 400, "invalid_argument": 400, "unknown_gateway": 400, "incomplete_body": 400,
    "unauthorized": 401,
    "unknown_call": 404, "not_found": 404, "method_not_allowed": 405, "too_large": 413,
    "batch_too_large": 413, "rate_limited": 429, "gateway_error": 502, "no_gateway": 503,
    "stopping": 503, "query_timeout": 504, "internal": 500,
}  # fmt: skip
"""Every error code, and its HTTP status."""


@dataclass(slots=True)
class ApiError(Exception):
    """A request (or one call of a batch) that is answered with an error."""

    code: str
    message: str
    retry_after: float | None = None  # seconds: a Retry-After header (429, 503)

    @property
    def status(self) -> int:
        return STATUS_CODES[self.code]

    def body(self) -> dict[str, Any]:
        """The error as a request's whole answer."""
        return {"error": {"code": self.code, "message": self.message}}

    def item(self) -> dict[str, Any]:
        """The error as one reply of a batch (which answers 200 as a whole)."""
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


def from_exception(exc: Exception) -> ApiError | None:
    """The answer to an exception a Gateway API call raised; None if it is a bug."""
    if isinstance(exc, QueryTimeout):
        return ApiError("query_timeout", str(exc))
    if isinstance(exc, InvalidArgument | ClientIdError):
        return ApiError("invalid_argument", str(exc))
    if isinstance(exc, RemoteError):
        return ApiError("gateway_error", str(exc))
    if isinstance(exc, NotRunning):
        return ApiError("stopping", "the API is stopping", retry_after=1.0)
    return None

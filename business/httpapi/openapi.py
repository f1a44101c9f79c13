"""The OpenAPI 3.1 document of the HTTP API, made from the calls' schema (pure).

Every call's request body is its arguments as :mod:`.calls` takes them (the op's own
schema, from :mod:`common.ops`), and its answer the op's merged result
(:data:`common.ops.RESULTS`): the document cannot say anything the gateway does not
check. ``GET /api/v1/openapi.json`` serves it.
"""

from __future__ import annotations

import inspect
from typing import Any

from ..api import GatewayAPI
from .calls import CALLS, MAX_BATCH, MAX_BATCH_QUERIES, MAX_TIMEOUT, Call
from .errors import STATUS_CODES

_REF = "#/components/responses/"
# the answers every call can get, by status (what each means: .errors)
_ERRORS = {
    "400": "BadRequest",
    "401": "Unauthorized",
    "413": "TooLarge",
    "429": "RateLimited",
    "503": "Unavailable",
}
_ORIGINAL = {"destroy_client": "destoryClient"}  # GatewayWorker's own spelling


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return _ORIGINAL.get(name, first + "".join(word.title() for word in rest))


def _described(call: Call) -> str:
    doc = inspect.getdoc(getattr(GatewayAPI, call.name)) or ""
    where = "the gateway of its client_id" if call.one else "every gateway"
    parts = [
        doc.split("\n\n")[0].replace("\n", " "),
        f"GatewayWorker's `{_camel(call.name)}`; sent to {where}.",
    ]
    if call.query and not call.one:
        parts.append(
            "`missing` names the gateways (or registers) that did not answer: "
            "the result is theirs only."
        )
    return " ".join(p for p in parts if p)


def arguments(call: Call) -> dict[str, Any]:
    """The JSON Schema of a call's request body."""
    properties = {arg.name: arg.schema for arg in call.args}
    if call.query:
        properties["timeout"] = {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": MAX_TIMEOUT,
            "description": "Seconds to wait for the answers (default: the API's --query-timeout).",
        }
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    required = [arg.name for arg in call.args if arg.required]
    if required:
        schema["required"] = required
    return schema


def answer(call: Call) -> dict[str, Any]:
    """The JSON Schema of a call's answer (status 200)."""
    from common.ops import RESULTS

    properties: dict[str, Any] = {"result": RESULTS[call.op] if call.query else {"type": "null"}}
    if call.query and not call.one:
        properties["missing"] = {"type": "array", "items": {"type": "string"}}
    return {
        "type": "object",
        "properties": properties,
        "required": sorted(properties),
        "additionalProperties": False,
    }


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _operation(call: Call) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": {"description": "Done.", "content": _json(answer(call))}}
    responses.update({status: {"$ref": _REF + name} for status, name in _ERRORS.items()})
    if call.query:
        responses["502"] = {"$ref": _REF + "GatewayError"}
    if call.query and call.one:
        responses["504"] = {"$ref": _REF + "QueryTimeout"}
    return {
        "operationId": call.name,
        "summary": f"{call.name} ({_camel(call.name)})",
        "description": _described(call),
        "tags": ["queries" if call.query else "sends"],
        "requestBody": {
            "required": any(a.required for a in call.args),
            "content": _json(arguments(call)),
        },
        "responses": responses,
    }


def _batch() -> dict[str, Any]:
    item = {
        "type": "object",
        "required": ["call"],
        "additionalProperties": False,
        "properties": {
            "call": {"type": "string", "enum": sorted(CALLS)},
            "args": {"type": "object"},
        },
    }
    reply = {
        "oneOf": [
            {"type": "object", "required": ["result"]},
            {"$ref": "#/components/schemas/BatchError"},
        ]
    }
    return {
        "post": {
            "operationId": "batch",
            "summary": "Several calls, done in order",
            "description": f"A list of at most {MAX_BATCH:,} calls (of which at most "
            f"{MAX_BATCH_QUERIES} queries), done one after the other; the answer "
            "is the list of their replies, in the same order. A call that fails "
            "does not stop the others: its reply is an error with its status.",
            "tags": ["batch"],
            "requestBody": {
                "required": True,
                "content": _json({"type": "array", "items": item, "maxItems": MAX_BATCH}),
            },
            "responses": {
                "200": {
                    "description": "Every call's reply.",
                    "content": _json({"type": "array", "items": reply}),
                },
                **{status: {"$ref": _REF + name} for status, name in _ERRORS.items()},
            },
        }
    }


def _plain_get(summary: str, media: str, security: bool = False) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "responses": {
            "200": {"description": "OK", "content": {media: {"schema": {"type": "string"}}}}
        },
    }
    if not security:
        operation["security"] = []
    if summary.startswith("Ready"):
        operation["responses"]["503"] = {"description": "Not ready: the reason, as text."}
    return {"get": operation}


def _error(code_names: list[str]) -> dict[str, Any]:
    return {
        "description": "Refused: " + ", ".join(code_names) + ".",
        "content": _json({"$ref": "#/components/schemas/Error"}),
    }


def _responses() -> dict[str, Any]:
    by_status: dict[int, list[str]] = {}
    for code, status in STATUS_CODES.items():
        by_status.setdefault(status, []).append(code)
    names = {
        400: "BadRequest",
        401: "Unauthorized",
        413: "TooLarge",
        429: "RateLimited",
        502: "GatewayError",
        503: "Unavailable",
        504: "QueryTimeout",
    }
    return {name: _error(by_status[status]) for status, name in names.items()}


def document(version: str) -> dict[str, Any]:
    """The whole OpenAPI 3.1 document."""
    paths: dict[str, Any] = {
        f"/api/v1/{name}": {"post": _operation(call)} for name, call in sorted(CALLS.items())
    }
    paths["/api/v1/batch"] = _batch()
    paths["/api/v1/openapi.json"] = _plain_get("This document", "application/json")
    paths["/healthz"] = _plain_get("Alive: the process's event loop answers", "text/plain")
    paths["/readyz"] = _plain_get("Ready: a register has sent the gateway list", "text/plain")
    paths["/metrics"] = _plain_get("Prometheus metrics", "text/plain")
    fields: dict[str, Any] = {
        "code": {"type": "string", "enum": sorted(STATUS_CODES)},
        "message": {"type": "string"},
    }
    error = {
        "type": "object",
        "required": ["code", "message"],
        "additionalProperties": False,
        "properties": fields,
    }
    batch_error = {
        "type": "object",
        "required": ["code", "message", "status"],
        "additionalProperties": False,
        "properties": {**fields, "status": {"type": "integer"}},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "gatewayworker-py HTTP API",
            "version": version,
            "description": "Every Gateway API call of the cluster, for any backend: "
            "POST /api/v1/<call> with the arguments as a JSON object.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"apikey": []}],
        "tags": [
            {"name": "sends", "description": "Queued at once, in order; no answer."},
            {"name": "queries", "description": "Answered by the gateways, with a deadline."},
            {"name": "batch", "description": "Several calls at once."},
        ],
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": error}},
                "BatchError": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": batch_error},
                },
            },
            "responses": _responses(),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Authorization: Bearer <API key>",
                },
                "apikey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "Authorization: apikey <API key>",
                },
            },
        },
    }

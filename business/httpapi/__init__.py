"""``gw api``: the Gateway API over HTTP, for backends in any language.

One aiohttp server that is a push client of the cluster (:mod:`business.client`):
``POST /api/v1/<call>`` with the arguments as a JSON object, ``POST /api/v1/batch``
for several calls, ``GET /api/v1/openapi.json`` for the document of every call.

=============== ============================================================
module          concern
=============== ============================================================
``calls``       the calls (from :mod:`common.ops`), their JSON arguments and answers (pure)
``reach``       whether a call's gateways can be reached, before it is sent (pure)
``auth``        API keys: parsing, constant-time comparison, the start-up rule (pure)
``errors``      each refusal's status and code (pure)
``openapi``     the OpenAPI 3.1 document, made from the calls (pure)
``metrics``     counts by call and status, latency, for Prometheus
``endpoints``   the aiohttp handlers: a request's steps
``server``      the process: push client + HTTP server, start and graceful stop
``cli``         ``gw api``
=============== ============================================================
"""

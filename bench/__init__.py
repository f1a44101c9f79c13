"""Benchmark suite: the cluster against a single-process ``websockets`` baseline.

Run it with ``python -m bench`` (``make bench``); see docs/benchmarks.md.

    chat.py      the seed-001 chat protocol: messages and replies (pure)
    app.py       the bench's business-worker app (that protocol over the Gateway API)
    baseline.py  the same protocol in one ``websockets`` process (the "no cluster" line)
    wsclient.py  a minimal WebSocket client protocol (no task per connection)
    pool.py      load-generator processes, each driven over a pipe (LoadGen, Crowds)
    loadgen.py   S1-S7's load-generator processes (asyncio, one per core)
    servers.py   start/stop the servers under test; their CPU and RSS from /proc
    phases.py    one measured phase; closed loops on both servers, then an open loop
    scenarios.py S1..S7, their rows
    hop.py       S3's floor: bare pyzmq round trips
    floor.py     the floors under S3 and S4 (the kernel's send(), the hop), printed alone
    routing.py   S6: first-pick routers side by side
    api.py       S9: the HTTP API (gw api) beside the Python push client
    httpload.py  a minimal HTTP/1.1 keep-alive client (no task per connection)
    pushload.py  S9's reference: the Python push client at a given rate, in its own process
    threads.py   the worker's thread-pool path against plain async handlers
    profile.py   a scenario under cProfile
    limits.py    S8: what this machine allows N clients (open files, ports, conntrack...),
                 and the limit a failed connect names
    fleet.py     S8's cluster: gateway groups sharing a port each, workers, /metrics
    crowd.py     S8's load generator: idle clients from many source addresses, that come back
    scale.py     S8: 100,000 clients: connect, idle, send_to_all, storms, memory after
    report.py    the table
"""

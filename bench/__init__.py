"""Benchmark suite: the cluster against a single-process ``websockets`` baseline.

Run it with ``python -m bench`` (``make bench``); see docs/benchmarks.md.

    chat.py      the seed-001 chat protocol: messages and replies (pure)
    app.py       the bench's business-worker app (that protocol over the Gateway API)
    baseline.py  the same protocol in one ``websockets`` process (the "no cluster" line)
    wsclient.py  a minimal WebSocket client protocol (no task per connection)
    loadgen.py   load-generator processes (asyncio, one per core), driven over pipes
    servers.py   start/stop the servers under test; their CPU and RSS from /proc
    scenarios.py S1..S6
    report.py    the table
"""

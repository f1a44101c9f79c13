"""Token buckets: how many messages or control frames a client may send per second.

The bucket itself is :class:`common.limits.TokenBucket` (the HTTP API's request
limits use it too); it is named here for the gateway's modules.
"""

from __future__ import annotations

from common.limits import TokenBucket

__all__ = ["TokenBucket"]

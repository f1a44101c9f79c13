"""One root for every error this project raises.

::

    GatewayError
     |   local: this process, or the caller's own input
     +-- ConfigError            bad option or environment value
     +-- ClientIdError          a client_id that is not ours (caller's input)
     +-- InvalidArgument        a group/uid/message the API refuses (caller's input)
     +-- NotRunning             the worker or push client is not started
     |   remote: what a peer sent, or did not send
     +-- ProtocolError          an internal frame that cannot be decoded or has bad arguments
     +-- RemoteError            a gateway answered a query with an error
     +-- QueryTimeout           no gateway answered a query before its deadline (a TimeoutError)

Partial answers are *not* errors: a query result carries ``missing``, the
gateways that did not answer (see :mod:`business.results`).
"""

from __future__ import annotations


class GatewayError(Exception):
    """Root of every exception raised by this project."""


class ConfigError(GatewayError):
    """An option, an environment variable or an app module is not usable."""


class ClientIdError(GatewayError):
    """A string that is not a client_id issued by one of our gateways."""


class InvalidArgument(GatewayError, ValueError):
    """An API argument that the original also refuses (e.g. group id 0 or '')."""


class NotRunning(GatewayError):
    """The API was used outside a running worker or before the push client started."""


class ProtocolError(GatewayError):
    """An internal frame could not be decoded, is not of this version, or its
    arguments do not match its op's schema: the peer's fault, never ours."""


class RemoteError(GatewayError):
    """A gateway refused a query (its reply carries the reason)."""


class QueryTimeout(GatewayError, TimeoutError):
    """A single-gateway query got no answer before its deadline."""

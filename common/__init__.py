"""Shared core of the cluster: protocol, ids, configuration, transport helpers.

``common`` imports no role package; only :mod:`common.cli` reaches into the roles,
lazily, one per subcommand.
"""

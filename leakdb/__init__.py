"""LeakDB: a fast in-memory key-value store for Python, with pluggable persistence and a Redis server."""

from __future__ import annotations

__version__ = "0.2.0"

# The Redis version whose command semantics LeakDB follows; INFO reports it as redis_version.
REDIS_VERSION = "7.0.15"

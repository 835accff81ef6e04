"""LeakDB: a fast in-memory key-value store for Python, with pluggable persistence and a Redis server."""

from __future__ import annotations

__version__ = "0.2.0"

# The Redis version whose command semantics LeakDB follows; INFO reports it as redis_version.
REDIS_VERSION = "7.0.15"

from .errors import StorageError, ValueNotAnIntegerError  # noqa: E402
from .queue import QueueItem  # noqa: E402
from .storage import (  # noqa: E402
    DefaultStorage,
    PersistentQueueStorage,
    PersistentStorage,
    QueueStorage,
    make_storage,
)

__all__ = [
    "REDIS_VERSION",
    "DefaultStorage",
    "PersistentQueueStorage",
    "PersistentStorage",
    "QueueItem",
    "QueueStorage",
    "StorageError",
    "ValueNotAnIntegerError",
    "__version__",
    "make_storage",
]

"""LeakDB: a fast in-memory key-value store for Python, with pluggable persistence and a Redis server."""

from __future__ import annotations

from .errors import StorageError, ValueNotAnIntegerError
from .queue import QueueItem
from .storage import (
    DefaultStorage,
    PersistentQueueStorage,
    PersistentStorage,
    QueueStorage,
    make_storage,
)
from .version import REDIS_VERSION, __version__

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

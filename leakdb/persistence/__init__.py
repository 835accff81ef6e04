"""Persistence backends: where a persistent storage keeps its keys between runs.

Each backend implements :class:`~leakdb.persistence.base.Backend`; :func:`open_backend` picks one by name.
"""

from __future__ import annotations

from .base import Backend, deserialize, register_type, serialize
from .shelve import ShelveBackend
from .sqlite import SQLiteBackend

BACKENDS: dict[str, type[Backend]] = {"sqlite": SQLiteBackend, "shelve": ShelveBackend}


def open_backend(backend: str | Backend, filename: str | None) -> Backend:
    """A backend by name (opened on `filename`), or `backend` itself if it is already a Backend."""
    if isinstance(backend, Backend):
        return backend
    try:
        cls = BACKENDS[backend]
    except KeyError:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}") from None
    if not filename:
        raise ValueError(f"the {backend} backend needs a filename")
    return cls(filename)


__all__ = [
    "BACKENDS",
    "Backend",
    "SQLiteBackend",
    "ShelveBackend",
    "deserialize",
    "open_backend",
    "register_type",
    "serialize",
]

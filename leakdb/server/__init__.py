"""The network server: the listener and its clients over gevent, and the ``leakdb-server`` command.

It serves a storage object from the Python API, running requests through the command layer.  The
listener is imported on first use, so that ``leakdb-server`` answers a mistake or ``--help`` without
loading gevent and the command table first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .listener import Server, banner, serve

__all__ = ["Server", "banner", "serve"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import listener

        return getattr(listener, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

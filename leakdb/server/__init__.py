"""The network server: the listener and its clients over gevent, and the ``leakdb-server`` command.

It serves a storage object from the Python API, running requests through the command layer.
"""

from __future__ import annotations

from .listener import Server, banner, serve

__all__ = ["Server", "banner", "serve"]

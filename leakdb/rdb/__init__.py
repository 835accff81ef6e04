"""Redis's serialization format (RDB version 10, as Redis 7.0 writes it) for single values: what DUMP
returns, RESTORE and MIGRATE read, and any RDB file holds per key.

It sits between the commands and the backends on one side and the engine on the other: it knows
the engine's value types and nothing of sockets, commands or files.  ``crc64`` and ``lzf`` are the
checksum and the compression, ``strings`` the lengths and strings everything is made of,
``listpack`` the compact blobs (listpacks, intsets, and the ziplists and zipmaps of older versions),
``streams`` the stream type, and ``objects`` every type and the DUMP payload.
"""

from __future__ import annotations

from .objects import RDB_VERSION, check_payload, decode_value, dump_payload, encode_value, load_payload

__all__ = ["RDB_VERSION", "check_payload", "decode_value", "dump_payload", "encode_value", "load_payload"]

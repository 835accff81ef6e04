"""FUNCTION DUMP's payload: Redis's RDB encoding of function libraries, with its version and CRC64.

A payload is, per library, the RDB_OPCODE_FUNCTION2 byte and the library's code as an RDB string, then
the RDB version (2 bytes, little endian) and the CRC64 (Jones polynomial, as Redis computes it) of all
that, little endian.  LeakDB writes strings uncompressed, which every Redis reads; it reads Redis's
LZF-compressed and integer-encoded strings too, so dumps move both ways.  The same payload is what a
persistent storage keeps, so libraries survive restarts.
"""

from __future__ import annotations

from ... import errors

OPCODE_FUNCTION2 = 245
OPCODE_FUNCTION = 246  # Redis 7.0 release candidates' layout
RDB_VERSION = 10
_POLY = 0x95AC9329AC4BC9B5  # 0xad93d23594c935a9, bit-reversed


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc_table()


def crc64(data: bytes, crc: int = 0) -> int:
    table = _TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc


class PayloadError(ValueError):
    """A payload that cannot be read; the text is Redis's reply."""


def encode_length(length: int) -> bytes:
    if length < 1 << 6:
        return bytes((length,))
    if length < 1 << 14:
        return bytes((0x40 | length >> 8, length & 0xFF))
    if length <= 0xFFFFFFFF:
        return b"\x80" + length.to_bytes(4, "big")
    return b"\x81" + length.to_bytes(8, "big")


def dump(codes: list[bytes]) -> bytes:
    """The FUNCTION DUMP payload of libraries with these codes."""
    body = b"".join(bytes((OPCODE_FUNCTION2,)) + encode_length(len(code)) + code for code in codes)
    body += RDB_VERSION.to_bytes(2, "little")
    return body + crc64(body).to_bytes(8, "little")


def verify(payload: bytes, check_crc: bool = True) -> None:
    """Redis's verifyDumpPayload: a known RDB version and the right checksum."""
    if len(payload) < 10:
        raise PayloadError("short")
    version = int.from_bytes(payload[-10:-8], "little")
    if version > RDB_VERSION:
        raise PayloadError("version")
    if check_crc and int.from_bytes(payload[-8:], "little") != crc64(payload[:-8]):
        raise PayloadError("checksum")


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def take(self, count: int) -> bytes:
        if self.position + count > len(self.data):
            raise PayloadError("truncated")
        chunk = self.data[self.position : self.position + count]
        self.position += count
        return chunk

    def length(self) -> tuple[int, bool]:
        """(length, whether it is an encoding marker rather than a length)."""
        first = self.take(1)[0]
        kind = first >> 6
        if kind == 0:
            return first & 0x3F, False
        if kind == 1:
            return (first & 0x3F) << 8 | self.take(1)[0], False
        if kind == 3:
            return first & 0x3F, True
        if first == 0x80:
            return int.from_bytes(self.take(4), "big"), False
        if first == 0x81:
            return int.from_bytes(self.take(8), "big"), False
        raise PayloadError("bad length")

    def string(self) -> bytes:
        value, encoded = self.length()
        if not encoded:
            return self.take(value)
        if value in (0, 1, 2):
            width = 1 << value
            return b"%d" % int.from_bytes(self.take(width), "little", signed=True)
        if value == 3:
            compressed, _ = self.length()
            size, _ = self.length()
            return lzf_decompress(self.take(compressed), size)
        raise PayloadError("unknown string encoding")


def lzf_decompress(data: bytes, size: int) -> bytes:
    out = bytearray()
    position = 0
    while position < len(data):
        control = data[position]
        position += 1
        if control < 32:
            out += data[position : position + control + 1]
            position += control + 1
            continue
        length = control >> 5
        if length == 7:
            length += data[position]
            position += 1
        back = ((control & 0x1F) << 8) + data[position] + 1
        position += 1
        start = len(out) - back
        if start < 0:
            raise PayloadError("bad lzf reference")
        for index in range(length + 2):
            out.append(out[start + index])
    if len(out) != size:
        raise PayloadError("bad lzf length")
    return bytes(out)


def library_codes(payload: bytes) -> list[bytes]:
    """The code of every library in a verified payload, in order; PayloadError with Redis's words."""
    reader = _Reader(payload[:-10])
    codes = []
    while reader.position < len(reader.data):
        opcode = reader.take(1)[0]
        if opcode not in (OPCODE_FUNCTION, OPCODE_FUNCTION2):
            raise PayloadError(errors.FUNCTION_RESTORE_NOT_FUNCTION)
        try:
            if opcode == OPCODE_FUNCTION2:
                codes.append(reader.string())
                continue
            # The release candidates' layout: name, engine, an optional description, code without
            # its first line, which Redis rebuilds.
            name, engine = reader.string(), reader.string()
            if reader.length()[0]:
                reader.string()
            codes.append(b"#!%s name=%s\n" % (engine, name) + reader.string())
        except PayloadError:
            raise PayloadError(errors.FUNCTION_RESTORE_FAILED) from None
    return codes

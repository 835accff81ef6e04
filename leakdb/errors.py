"""Every error LeakDB can raise or reply with, in one place.

The engine raises :class:`CommandError` subclasses; the server turns them into RESP error replies with
exactly these words, which are the words Redis uses, so clients that match on error text keep working.
"""

from __future__ import annotations


class LeakDBError(Exception):
    """Base class of every LeakDB error."""


class CommandError(LeakDBError):
    """An error a Redis client sees as an error reply; ``str(error)`` is the reply's text."""

    message = "ERR"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message if message is not None else self.message)


class WrongTypeError(CommandError, TypeError):
    """The key holds a value of another type than the operation needs."""

    message = "WRONGTYPE Operation against a key holding the wrong kind of value"


class NotAnIntegerError(CommandError, ValueError):
    """A value or argument is not a 64-bit signed integer."""

    message = "ERR value is not an integer or out of range"


class NotAFloatError(CommandError, ValueError):
    message = "ERR value is not a valid float"


class OverflowError_(CommandError, ValueError):
    message = "ERR increment or decrement would overflow"


class SyntaxErrorReply(CommandError):
    message = "ERR syntax error"


class NoSuchKeyError(CommandError, KeyError):
    message = "ERR no such key"

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class OutOfRangeError(CommandError):
    message = "ERR index out of range"


class DBIndexError(CommandError):
    message = "ERR DB index is out of range"


class StorageError(LeakDBError):
    """A data file that LeakDB cannot read or write; the file is left untouched."""


# Replies that are always the same bytes; building them once keeps the hot path free of formatting.
WRONGTYPE = b"-" + WrongTypeError.message.encode() + b"\r\n"
NOT_INTEGER = b"-" + NotAnIntegerError.message.encode() + b"\r\n"
NOT_FLOAT = b"-" + NotAFloatError.message.encode() + b"\r\n"
OVERFLOW = b"-" + OverflowError_.message.encode() + b"\r\n"
SYNTAX = b"-" + SyntaxErrorReply.message.encode() + b"\r\n"
NO_SUCH_KEY = b"-ERR no such key\r\n"
DB_INDEX = b"-" + DBIndexError.message.encode() + b"\r\n"
NAN_OR_INFINITY = b"-ERR increment would produce NaN or Infinity\r\n"
NOT_INTEGER_TIMEOUT = b"-ERR timeout is not an integer or out of range\r\n"
EXPIRE_TIME_INVALID = "ERR invalid expire time in '{}' command"
NOAUTH = b"-NOAUTH Authentication required.\r\n"
WRONGPASS = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
STRING_TOO_LONG = b"-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"
OFFSET_OUT_OF_RANGE = b"-ERR offset is out of range\r\n"
MAX_CLIENTS = b"-ERR max number of clients reached\r\n"


def wrong_arity(name: str) -> bytes:
    return b"-ERR wrong number of arguments for '%s' command\r\n" % name.lower().encode()


def unknown_command(name: bytes, args: list[bytes]) -> bytes:
    # Redis shows the command and up to the first few arguments, each quoted and cut at 128 bytes.
    shown = " ".join("'%s'" % _printable(a[:128]) for a in args[:20])
    return b"-ERR unknown command '%s', with args beginning with: %s\r\n" % (
        _printable(name[:128]).encode(),
        shown.encode(),
    )


def unknown_subcommand(sub: bytes, command: str) -> bytes:
    return b"-ERR unknown subcommand '%s'. Try %s HELP.\r\n" % (
        _printable(sub[:128]).encode(),
        command.upper().encode(),
    )


def error_reply(message: str) -> bytes:
    """Encode an error message as a RESP error; newlines would break the frame, so they become spaces."""
    return b"-" + message.replace("\r", " ").replace("\n", " ").encode() + b"\r\n"


def _printable(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").replace("\r", " ").replace("\n", " ")


class ValueNotAnIntegerError(NotAnIntegerError):
    """The Python API's incr/decr found a value that is not an integer; the message names the key."""

    def __init__(self, key: bytes) -> None:
        super().__init__(f"value of key {key!r} is not an integer or out of range")
        self.key = key

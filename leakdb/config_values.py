"""The kinds of value a setting takes: how each is read from text, refused in Redis's words, and
written back as CONFIG GET shows it.

Each parser takes the text a user wrote (a flag, a config file line, a CONFIG SET argument) and returns
the value, or raises :class:`BadValue` whose text is Redis's reason (``argument must be between 0 and
65535 inclusive``).  The settings table in :mod:`leakdb.config` names one parser per setting.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import errors

INT_MAX = 2**31 - 1
INT_MIN = -(2**31)
UINT_MAX = 2**32 - 1
LONG_MAX = 2**63 - 1
LONG_MIN = -(2**63)
ULLONG_MAX = 2**64 - 1


class BadValue(ValueError):
    """Raised by a setting's parser; ``str()`` is the reason in Redis's words."""


# Redis reads integers with string2ll: no sign but '-', no leading zero, no "-0", no spaces.
_INTEGER = re.compile(r"0|-?[1-9][0-9]*")


def parse_integer(raw: str) -> int:
    if not _INTEGER.fullmatch(raw):
        raise BadValue(errors.CONFIG_NOT_INTEGER)
    value = int(raw)
    if not LONG_MIN <= value <= LONG_MAX:
        raise BadValue(errors.CONFIG_NOT_INTEGER)
    return value


def integer(low: int, high: int) -> Callable[[str], int]:
    """A parser for integers from `low` to `high`, refusing what Redis refuses with Redis's words."""

    def parse(raw: str) -> int:
        value = parse_integer(raw)
        if not low <= value <= high:
            raise BadValue(errors.CONFIG_OUT_OF_RANGE.format(low, high))
        return value

    return parse


def parse_bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered == "yes":
        return True
    if lowered == "no":
        return False
    raise BadValue(errors.CONFIG_NOT_BOOL)


def format_bool(value: bool) -> str:
    return "yes" if value else "no"


_MEMORY = re.compile(r"([0-9]*)(b|k|kb|m|mb|g|gb)?")
_UNITS = {None: 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2, "g": 1000**3, "gb": 1024**3}


def parse_memory(raw: str) -> int:
    """Redis memory units: ``100mb`` is 100 * 1024**2 bytes, ``1g`` is 10**9, a bare number is bytes,
    and an empty value is 0.  As Redis reads them into 64 bits: a number too large saturates and a
    unit's product wraps around (what :func:`memory` then makes of it is Redis's range check)."""
    found = _MEMORY.fullmatch(raw.lower())
    if found is None or (not found.group(1) and raw):
        raise BadValue(errors.CONFIG_NOT_MEMORY)
    number = min(int(found.group(1) or 0), ULLONG_MAX)
    return number * _UNITS[found.group(2)] % (ULLONG_MAX + 1)


def memory(low: int = 0) -> Callable[[str], int]:
    """A memory value of at least `low` bytes and at most LONG_MAX (Redis's signed memory settings:
    a value past LONG_MAX reads as negative, so it is refused as below the range)."""

    def parse(raw: str) -> int:
        value = parse_memory(raw)
        if value > LONG_MAX:
            value -= ULLONG_MAX + 1
        if value < low:
            raise BadValue(errors.CONFIG_OUT_OF_RANGE.format(low, LONG_MAX))
        return value

    return parse


def choice(*choices: str) -> Callable[[str], str]:
    """One of `choices`, in any case; kept lower case, as Redis shows it."""

    def parse(raw: str) -> str:
        lowered = raw.lower()
        if lowered not in choices:
            raise BadValue(errors.CONFIG_NOT_CHOICE.format(", ".join(choices)))
        return lowered

    return parse


def text(raw: str) -> str:
    return raw


def nonempty(raw: str) -> str:
    if not raw:
        raise BadValue(errors.CONFIG_EMPTY)
    return raw


def named_nonempty(name: str) -> Callable[[str], str]:
    """A value that may not be empty, refused as Redis words it (``appendfilename can't be empty``)."""

    def parse(raw: str) -> str:
        if not raw:
            raise BadValue(errors.CONFIG_NAMED_EMPTY.format(name))
        return raw

    return parse


def parse_save(raw: str) -> str:
    """``""`` or pairs of ``seconds changes``, as Redis checks them (LeakDB saves by its storage mode)."""
    words = raw.split()
    if len(words) % 2 or not all(_INTEGER.fullmatch(word) and int(word) >= 0 for word in words):
        raise BadValue(errors.CONFIG_SAVE_INVALID)
    return " ".join(words)


_HOSTNAME = re.compile(r"[A-Za-z0-9.-]*")


def parse_hostname(raw: str) -> str:
    if not _HOSTNAME.fullmatch(raw):
        raise BadValue(errors.CONFIG_BAD_HOSTNAME)
    return raw


_TEMPLATE_VARIABLES = {
    "title",
    "listen-addr",
    "server-mode",
    "port",
    "tls-port",
    "unixsocket",
    "config-file",
}


def parse_proc_title_template(raw: str) -> str:
    """Redis's proc-title-template: text with ``{variable}`` names it knows, not empty, balanced."""
    rest = raw
    if not raw:
        raise BadValue(errors.CONFIG_BAD_TEMPLATE)
    while rest:
        opening, closing = rest.find("{"), rest.find("}")
        if opening < 0 and closing < 0:
            break
        if opening < 0 or closing < opening:
            raise BadValue(errors.CONFIG_BAD_TEMPLATE)
        if rest[opening + 1 : closing] not in _TEMPLATE_VARIABLES:
            raise BadValue(errors.CONFIG_BAD_TEMPLATE)
        rest = rest[closing + 1 :]
    return raw


def parse_percentiles(raw: str) -> tuple[float, ...]:
    """latency-tracking-info-percentiles: numbers from 0 to 100, space separated (may be none)."""
    values = []
    for word in raw.split():
        try:
            value = float(word)
        except ValueError:
            raise BadValue(errors.CONFIG_BAD_PERCENTILES) from None
        if not 0.0 <= value <= 100.0:
            raise BadValue(errors.CONFIG_PERCENTILE_RANGE)
        values.append(value)
    return tuple(values)


def format_percentiles(values: tuple[float, ...]) -> str:
    return " ".join(f"{value:f}".rstrip("0").rstrip(".") for value in values)


def parse_oom_values(raw: str) -> tuple[int, int, int]:
    """oom-score-adj-values: three integers from -2000 to 2000 (master, replica, background child)."""
    words = raw.split()
    if len(words) != 3:
        raise BadValue(errors.CONFIG_WRONG_ARGUMENTS)
    values = []
    for word in words:
        if not _INTEGER.fullmatch(word) or not -2000 <= int(word) <= 2000:
            raise BadValue(errors.CONFIG_OOM_VALUES)
        values.append(int(word))
    return (values[0], values[1], values[2])


def format_words(values: tuple) -> str:
    return " ".join(str(value) for value in values)


def parse_replicaof(raw: str) -> str:
    """replicaof: ``host port`` or ``no one``.  LeakDB never replicates, so at start-up it refuses any
    master; the setting is kept so that CONFIG GET and a config file with ``replicaof no one`` work."""
    words = raw.split()
    if len(words) != 2:
        raise BadValue(errors.CONFIG_WRONG_ARGUMENTS)
    if [word.lower() for word in words] == ["no", "one"]:
        return ""
    if not _INTEGER.fullmatch(words[1]):
        raise BadValue(errors.CONFIG_NOT_INTEGER)
    raise BadValue(errors.CONFIG_NO_REPLICATION)


def parse_octal(raw: str) -> int:
    if not re.fullmatch(r"[0-7]+", raw):
        raise BadValue(errors.CONFIG_NOT_OCTAL)
    value = int(raw, 8)
    if value > 0o777:
        raise BadValue(errors.CONFIG_OUT_OF_RANGE.format(0, 777))
    return value


def format_octal(value: int) -> str:
    return f"{value:o}"


@dataclass(frozen=True)
class Setting:
    """One setting: its parser raises :class:`BadValue` for a value it refuses, so the command line,
    the config file and CONFIG SET refuse the same values with the same words."""

    name: str
    default: Any
    parse: Callable[[str], Any]
    help: str
    mutable: bool = True
    format: Callable[[Any], str] = str
    choices: tuple[str, ...] = ()
    metavar: str = ""
    #: How many words the value may take on a config file line (``save 3600 1 300 100``).
    many_words: bool = False
    # For a setting given in parts (client-output-buffer-limit names some classes): how a parsed
    # value combines with the current one.
    merge: Callable[[Any, Any], Any] | None = None
    #: Why the setting has no effect in LeakDB ("" when it acts): kept and reported, and a config file
    #: line setting it gets a warning at start-up.
    inert: str = ""
    #: Not listed by CONFIG GET patterns, only by its exact name: LeakDB's own settings (so that
    #: ``CONFIG GET *`` lists Redis's names) and Redis's hidden debugging settings.
    hidden: bool = False
    #: Refused by CONFIG SET as Redis refuses its protected settings (dir, dbfilename).
    protected: bool = False
    #: Why CONFIG SET may not change it while the server runs ("" when it may); the current value is
    #: accepted, so that a harness restoring defaults is not refused.
    fixed: str = ""

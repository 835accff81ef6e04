"""Numbers as Redis reads and writes them: 64-bit integers (string2ll), C's strtod for scores, and
x87 long doubles for INCRBYFLOAT and HINCRBYFLOAT, so every reply matches Redis digit for digit.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from ..errors import NotAFloatError

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def parse_int(raw: bytes) -> int | None:
    """`raw` as a 64-bit signed integer if it is written the one way Redis accepts, else None.

    Redis rejects signs other than a leading '-', spaces, leading zeros and '-0'; Python's int()
    accepts all of them, so the round trip through formatting is the check.
    """
    if not raw or len(raw) > 20:
        return None
    try:
        number = int(raw)
    except ValueError:
        return None
    if b"%d" % number != raw or not INT64_MIN <= number <= INT64_MAX:
        return None
    return number


# INCRBYFLOAT computes in x87 long double (64-bit mantissa) in Redis; these helpers round exactly
# as that type does and print with "%.17Lf" minus trailing zeros, so replies match digit for digit.
_LONG_DOUBLE_BITS = 64
_LONG_DOUBLE_MAX_EXP = 16384


def parse_long_double(raw: bytes) -> Fraction | None:
    """`raw` as Redis's string2ld reads it, rounded to long double; None if it is not a number."""
    if not raw or raw[:1].isspace() or raw[-1:].isspace() or b"_" in raw or len(raw) > 5000:
        return None
    if b"x" in raw or b"X" in raw:
        return _parse_hex_long_double(raw)
    try:
        number = Decimal(raw.decode("ascii"))
    except (InvalidOperation, UnicodeDecodeError):
        return None
    if number.is_nan():
        return None
    if number.is_infinite():
        return None  # represented separately: callers treat infinity as an overflow
    value = round_long_double(Fraction(number))
    if value == 0 and number != 0:
        return None  # underflow: strtold reports ERANGE with a zero, and Redis refuses the number
    return value


# strtold also reads C99 hexadecimal floats ("0x1.8p3"); Decimal does not.
_HEX_FLOAT = re.compile(rb"([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:[pP]([+-]?[0-9]+))?\Z")


def _parse_hex_long_double(raw: bytes) -> Fraction | None:
    found = _HEX_FLOAT.match(raw)
    if found is None or not (found.group(2) or found.group(3)):
        return None
    sign, whole, fraction, exponent = found.groups()
    fraction = fraction or b""
    mantissa = int((whole + fraction) or b"0", 16)
    power = int(exponent or b"0") - 4 * len(fraction)
    if abs(power) > 20000:  # beyond long double either way: overflow or underflow, both refused
        return None if mantissa else Fraction(0)
    value = round_long_double(Fraction(mantissa) * Fraction(2) ** power)
    if value is None or (value == 0 and mantissa):
        return None  # out of range: strtold reports ERANGE, and Redis refuses the number
    return -value if sign == b"-" else value


def round_long_double(value: Fraction) -> Fraction | None:
    """Round to the nearest long double (ties to even); None when it overflows to infinity."""
    if value == 0:
        return Fraction(0)
    sign = -1 if value < 0 else 1
    magnitude = abs(value)
    exponent = magnitude.numerator.bit_length() - magnitude.denominator.bit_length()
    if Fraction(2) ** exponent > magnitude:
        exponent -= 1
    shift = _LONG_DOUBLE_BITS - 1 - max(exponent, -16382)
    scaled = magnitude * Fraction(2) ** shift
    mantissa = round(scaled)  # Fraction rounds half to even
    result = Fraction(mantissa) / Fraction(2) ** shift
    if result >= Fraction(2) ** _LONG_DOUBLE_MAX_EXP:
        return None
    return sign * result


def format_long_double(value: Fraction) -> bytes:
    """Redis's LD_STR_HUMAN: seventeen decimals, then trailing zeros and a bare point removed."""
    scaled = value * 10**17
    rounded = round(scaled)
    negative = rounded < 0
    digits = str(abs(rounded)).rjust(18, "0")
    text = digits[:-17] + "." + digits[-17:]
    text = text.rstrip("0").rstrip(".")
    if negative and text != "0":
        text = "-" + text
    return text.encode()


def is_infinity(raw: bytes | None) -> bool:
    return raw is not None and _INFINITY.fullmatch(raw) is not None


_INFINITY = re.compile(rb"[+-]?inf(inity)?", re.IGNORECASE)


# What C's strtod reads: decimal and hexadecimal floats, inf/infinity and nan, any case.
_DECIMAL = re.compile(rb"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
_HEX = re.compile(rb"[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?\Z")
_STRTOD_INFINITY = re.compile(rb"[+-]?(?:inf|infinity)\Z", re.IGNORECASE)
_NONZERO_DIGIT = re.compile(rb"[1-9]")
_NONZERO_HEX_DIGIT = re.compile(rb"[1-9a-fA-F]")
C_SPACE = b" \t\n\x0b\x0c\r"


def strtod(text: bytes) -> tuple[float, bool] | None:
    """(value, out of range) for a whole C-string number, as strtod reads it; None if it is not one."""
    if _DECIMAL.match(text):
        value = float(text)
        mantissa = text.split(b"e")[0].split(b"E")[0]
        zero_digits = _NONZERO_DIGIT
    elif _HEX.match(text):
        value = float.fromhex(text.decode())
        mantissa = text[text.index(b"x") + 1 if b"x" in text else text.index(b"X") + 1 :]
        mantissa = re.split(rb"[pP]", mantissa)[0]
        zero_digits = _NONZERO_HEX_DIGIT
    elif _STRTOD_INFINITY.match(text):
        return (-math.inf if text[:1] == b"-" else math.inf), False
    else:
        return None
    overflow = math.isinf(value)
    underflow = value == 0.0 and zero_digits.search(mantissa) is not None
    return value, overflow or underflow


def parse_score(raw: bytes) -> float:
    """A score or increment argument (getDoubleFromObject); NotAFloatError if Redis refuses it."""
    # Plain integers are the common case: float() rounds them exactly as strtod does, and fewer than
    # 300 digits can neither overflow nor underflow, so the regex walk below can be skipped.
    if len(raw) < 300 and (raw.isdigit() or (raw[:1] == b"-" and raw[1:].isdigit())):
        return float(raw)
    parsed = strtod(raw)
    if parsed is None or parsed[1]:
        raise NotAFloatError()
    return parsed[0]

"""The string formats kube-apiserver checks in custom resources (kube-openapi's strfmt).

A format not listed here is not checked, as the real server ignores unknown formats.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone

from modeldeploy.sandbox.apiserver.crd.durations import parse_openapi_duration

_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))?"
)
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_UUID = re.compile(
    r"[0-9a-f]{8}-?[0-9a-f]{4}-?([0-9a-f])[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.I
)
_HOSTNAME_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", re.I)
_EMAIL = re.compile(r"(?:[^<>@\s]*<)?[^@\s<>]+@[^@\s<>]+(?:>)?")
_MAC = re.compile(
    r"[0-9a-f]{2}([-:])[0-9a-f]{2}(?:\1[0-9a-f]{2}){4}(?:(?:\1[0-9a-f]{2}){2}(?:(?:\1[0-9a-f]{2}){12})?)?"
    r"|[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}(?:\.[0-9a-f]{4}(?:(?:\.[0-9a-f]{4}){5})?)?",
    re.I,
)
_HEX_COLOR = re.compile(r"#?([0-9a-f]{3}|[0-9a-f]{6})", re.I)
_RGB_PART = r"\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*"
_RGB_COLOR = re.compile(rf"rgb\({_RGB_PART},{_RGB_PART},{_RGB_PART}\)")
_SSN = re.compile(r"\d{3}[- ]?\d{2}[- ]?\d{4}")
_CREDIT_CARD = re.compile(
    r"4[0-9]{12}(?:[0-9]{3})?|5[1-5][0-9]{14}|(222[1-9]|22[3-9][0-9]|2[3-6][0-9]{2}|27[01][0-9]|2720)[0-9]{12}"
    r"|6(?:011|5[0-9][0-9])[0-9]{12}|3[47][0-9]{13}|3(?:0[0-5]|[68][0-9])[0-9]{11}|(?:2131|1800|35\d{3})\d{11}"
)
_BSON_OBJECT_ID = re.compile(r"[0-9a-f]{24}", re.I)


def parse_date_time(text: str) -> datetime | None:
    """An RFC 3339 date-time (and the variants strfmt accepts); None when invalid."""
    match = _DATE_TIME.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, _zulu, sign, off_h, off_m = match.groups()
    zone = UTC
    if sign:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        zone = timezone(-offset if sign == "-" else offset)
    try:
        return datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")[:6]),
            tzinfo=zone,
        )
    except ValueError:
        return None


def parse_date(text: str) -> date | None:
    match = _DATE.fullmatch(text)
    if match is None:
        return None
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


def decode_base64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _is_uri(text: str) -> bool:
    # Go's url.Parse is lenient: it rejects control characters and bad %-escapes.
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in text):
        return False
    return re.search(r"%(?![0-9a-fA-F]{2})", text) is None


def _is_hostname(text: str) -> bool:
    labels = text.split(".")
    return len(text) <= 255 and all(_HOSTNAME_LABEL.fullmatch(label) for label in labels)


def _is_ip(text: str, version: int) -> bool:
    try:
        return ipaddress.ip_address(text).version == version
    except ValueError:
        return False


def _is_cidr(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return "/" in text


def _uuid_version(version: str | None) -> Callable[[str], bool]:
    def check(text: str) -> bool:
        match = _UUID.fullmatch(text)
        return match is not None and (version is None or match.group(1) == version)

    return check


def _luhn(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        number = int(char)
        if position % 2:
            number = number * 2 - 9 if number > 4 else number * 2
        total += number
    return total % 10 == 0


def _is_credit_card(text: str) -> bool:
    digits = re.sub(r"[\s-]", "", text)
    return _CREDIT_CARD.fullmatch(digits) is not None and _luhn(digits)


def _is_isbn10(text: str) -> bool:
    digits = re.sub(r"[\s-]", "", text)
    if re.fullmatch(r"\d{9}[\dX]", digits) is None:
        return False
    total = sum((10 - i) * (10 if c == "X" else int(c)) for i, c in enumerate(digits))
    return total % 11 == 0


def _is_isbn13(text: str) -> bool:
    digits = re.sub(r"[\s-]", "", text)
    if re.fullmatch(r"\d{13}", digits) is None:
        return False
    return sum((3 if i % 2 else 1) * int(c) for i, c in enumerate(digits)) % 10 == 0


def _matches(pattern: re.Pattern[str]) -> Callable[[str], bool]:
    return lambda text: pattern.fullmatch(text) is not None


FORMAT_CHECKS: dict[str, Callable[[str], bool]] = {
    "bsonobjectid": _matches(_BSON_OBJECT_ID),
    "uri": _is_uri,
    "email": _matches(_EMAIL),
    "hostname": _is_hostname,
    "ipv4": lambda text: _is_ip(text, 4),
    "ipv6": lambda text: _is_ip(text, 6),
    "cidr": _is_cidr,
    "mac": _matches(_MAC),
    "uuid": _uuid_version(None),
    "uuid3": _uuid_version("3"),
    "uuid4": _uuid_version("4"),
    "uuid5": _uuid_version("5"),
    "isbn": lambda text: _is_isbn10(text) or _is_isbn13(text),
    "isbn10": _is_isbn10,
    "isbn13": _is_isbn13,
    "creditcard": _is_credit_card,
    "ssn": _matches(_SSN),
    "hexcolor": _matches(_HEX_COLOR),
    "rgbcolor": _matches(_RGB_COLOR),
    "byte": lambda text: decode_base64(text) is not None,
    "password": lambda text: True,
    "date": lambda text: parse_date(text) is not None,
    "duration": lambda text: parse_openapi_duration(text) is not None,
    "date-time": lambda text: parse_date_time(text) is not None,
    "datetime": lambda text: parse_date_time(text) is not None,
}


def format_error(format_name: str, text: str) -> bool:
    """Whether `text` breaks the named format (unknown formats never do)."""
    check = FORMAT_CHECKS.get(format_name)
    return check is not None and not check(text)

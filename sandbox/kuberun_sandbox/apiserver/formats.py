"""The string ``format`` values kube-apiserver checks in CRD schemas, as a ``jsonschema`` FormatChecker.

Why not ``jsonschema.FormatChecker()``: its ``date-time`` needs an optional dependency and silently
passes everything without it, and it checks formats (``email``, ``uri``...) with rules that differ
from the Go ``strfmt`` registry the real server uses. These are the formats kuberun's and most
operators' schemas use, with ``strfmt``'s accepted spellings.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import ipaddress
import re
import uuid

import jsonschema

_DATE_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:?\d{2})?$")

checker = jsonschema.FormatChecker(formats=())


@checker.checks("date-time")
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    m = _DATE_TIME.match(value)
    if m is None:
        return False
    try:
        datetime.datetime.strptime(f"{m.group(1)} {m.group(2)}", "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return False
    return True


@checker.checks("date")
def _date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        datetime.datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        return False
    return True


@checker.checks("byte")
def _byte(value: object) -> bool:
    return not isinstance(value, str) or is_base64(value)


@checker.checks("uuid")
def _uuid(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@checker.checks("ipv4")
def _ipv4(value: object) -> bool:
    return not isinstance(value, str) or _parses(ipaddress.IPv4Address, value)


@checker.checks("ipv6")
def _ipv6(value: object) -> bool:
    return not isinstance(value, str) or _parses(ipaddress.IPv6Address, value)


@checker.checks("cidr")
def _cidr(value: object) -> bool:
    return not isinstance(value, str) or _parses(ipaddress.ip_network, value)


def _parses(parse: object, value: str) -> bool:
    try:
        parse(value)  # type: ignore[operator]
    except ValueError:
        return False
    return True


def is_base64(value: str) -> bool:
    """Standard base64 with padding, as Go's ``base64.StdEncoding`` decodes ``[]byte`` fields."""
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True

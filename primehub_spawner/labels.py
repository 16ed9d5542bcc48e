"""Label-safe, reversible encoding of user and group names (DESIGN §5).

A Kubernetes label value is at most 63 characters of `[A-Za-z0-9._-]`, starting and ending
with an alphanumeric. Names that already fit (and do not look escaped) are kept as they
are, so `alice` stays `alice`. Others become `escaped-` followed by the name with every
byte outside `[a-z0-9]` written as `-xx` (hex), which reads back exactly. A value too long
for a label is cut and ends in `.` and a hash: it still groups pods, but no longer reads back
(the `primehub.io/usage` annotation keeps the exact name).
"""
from __future__ import annotations

import hashlib
import re

PREFIX = "escaped-"
_PLAIN = re.compile(r"^[a-z0-9]([-a-z0-9._]*[a-z0-9])?$")
_SAFE = set("abcdefghijklmnopqrstuvwxyz0123456789")
MAX = 63


def escape_label(name: str) -> str:
    if _PLAIN.match(name) and len(name) <= MAX and not name.startswith(PREFIX):
        return name
    escaped = PREFIX + "".join(
        chr(b) if chr(b) in _SAFE else f"-{b:02x}" for b in name.encode("utf-8"))
    if len(escaped) > MAX:
        digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:10]
        # `.` before the hash: escaping never writes one, so a cut value cannot read back
        # as another name (after `-`, the hash's first two digits would decode as a byte).
        escaped = f"{escaped[:MAX - 11].rstrip('-')}.{digest}"
    return escaped


def unescape_label(value: str) -> str | None:
    """The name a label value was made from, or None if it was cut to fit."""
    if not value.startswith(PREFIX):
        return value
    body = value[len(PREFIX):]
    out = bytearray()
    i = 0
    while i < len(body):
        if body[i] == "-":
            chunk = body[i + 1:i + 3]
            if len(chunk) != 2 or not all(c in "0123456789abcdef" for c in chunk):
                return None
            out.append(int(chunk, 16))
            i += 3
        else:
            out.append(ord(body[i]))
            i += 1
    try:
        decoded = out.decode("utf-8")
    except UnicodeDecodeError:
        return None
    # A value that was cut to fit ends in a hash and does not round-trip.
    return decoded if escape_label(decoded) == value else None

"""Pod label values for user and group names, in PrimeHub's own encoding (DESIGN §5).

PrimeHub's hub, admission webhook, usage service and controller find a user's or a group's
pods by the labels `primehub.io/user` and `primehub.io/group`, whose values are always
`escaped-` followed by the name escaped with `escapism` (`-` as escape character, only
`a-z` and `0-9` kept, every other byte written `-XX`, the result lower-cased). We write the
same values, so PrimeHub's tools count our pods and our quota counts theirs; PrimeHub reads
a value back with `escapism.unescape(value[len("escaped-"):], escape_char="-")`.

A label value is at most 63 characters. PrimeHub never cuts (a longer value made the API
server refuse its pod); we cut a value that would be longer to 52 characters and end it in
`.` and a hash of the name, so it stays a valid and unique label value. A cut value no
longer reads back (escaping never writes `.`, so it cannot read back as another name);
the `primehub.io/usage` annotation keeps the exact name.
"""
from __future__ import annotations

import hashlib
import string

import escapism

from .names import is_label_value

PREFIX = "escaped-"
MAX = 63
_SAFE = frozenset(string.ascii_lowercase + string.digits)
_HASH = 10


def escape_label(name: str) -> str:
    """The `primehub.io/user` or `primehub.io/group` value for a user or group name."""
    value = PREFIX + escapism.escape(name, safe=_SAFE, escape_char="-").lower()
    if len(value) <= MAX and is_label_value(value):
        return value
    # Too long (or, for an empty name, ending in `-`): cut, then `.` and a hash.
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:_HASH]
    return f"{value[:MAX - _HASH - 1].rstrip('-')}.{digest}"


def project_label(group: str) -> str:
    """The `project` label value: the group name as PrimeHub writes it when that is a label
    value; otherwise (PrimeHub's own pod would have been refused) the escaped form above."""
    return group if group and is_label_value(group) else escape_label(group)

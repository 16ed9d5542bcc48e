"""Quantities ("2G", "512Mi", "500m") as plain numbers: the one parser of the package.

Two readings of the same syntax, because two worlds write these strings:

- **PrimeHub's** (`parse_memory`, `parse_cpu`, `parse_size_attribute`), for what operators
  write into custom resources and Keycloak attributes: a plain `K`/`M`/`G`/`T`/`P`/`E`
  means a power of 1024, as in KubeSpawner's `ByteSpecification`, PrimeHub's admission
  quota and its home sizes. `Ki`/`Mi`/`Gi` are binary too; `k` and `m` are decimal.
- **Kubernetes'** (`parse_quantity`, `parse_kube_memory`), for what the API server holds in
  pod specs and node status: `G` is 10^9, `Gi` is 2^30.

Only ASCII digits count, and values are bounded (at most 2^63, Kubernetes' own int64
range), so a 400-digit string is a sentence, never an OverflowError or infinity.
"""
from __future__ import annotations

import math
import re
from decimal import Decimal

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_KUBE_DECIMAL = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}
# PrimeHub reads a plain upper-case suffix as binary; Kubernetes has only a lower-case `k`.
_PRIMEHUB_PLAIN = {"K": 2**10, "k": 10**3, "M": 2**20, "G": 2**30, "T": 2**40, "P": 2**50,
                   "E": 2**60}
_QUANTITY = re.compile(r"[ ]*([0-9]{1,30}(?:\.[0-9]{1,30})?|\.[0-9]{1,30})[ ]*"
                       r"(Ki|Mi|Gi|Ti|Pi|Ei|[kKMGTPEm]?)[ ]*")
_BARE_NUMBER = re.compile(r"[ ]*[0-9]{1,30}(?:\.[0-9]{1,30})?[ ]*")
LARGEST = Decimal(2) ** 63
GIB = 2**30


def _parse(value: object, plain: dict[str, int]) -> Decimal:
    # Every refusal is a ValueError, wrong types included: callers turn that one exception
    # into a sentence about the field it came from.
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a quantity")  # noqa: TRY004 - see above
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a finite quantity")
        amount = Decimal(repr(value))
    elif isinstance(value, str):
        match = _QUANTITY.fullmatch(value)
        if not match:
            raise ValueError(f"{_short(value)!r} is not a quantity like '2G', '512Mi' or '1.5'")
        number, suffix = match.groups()
        if suffix == "m":
            scale = Decimal("0.001")
        elif suffix in _BINARY:
            scale = Decimal(_BINARY[suffix])
        else:
            scale = Decimal(plain.get(suffix, 1))
        amount = Decimal(number) * scale
    else:
        raise ValueError(f"{_short(repr(value))} is not a quantity")  # noqa: TRY004
    if amount < 0:
        raise ValueError(f"{value!r} is negative")
    if amount > LARGEST:
        raise ValueError(f"{_short(str(value))!r} is too large for a quantity")
    return amount


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _whole(amount: Decimal) -> int:
    """Rounded up to whole units (Kubernetes rounds memory up to whole bytes)."""
    return int(amount.to_integral_value(rounding="ROUND_CEILING"))


def parse_quantity(value: object) -> float:
    """Kubernetes' reading of a quantity (`G` = 10^9); ValueError with a sentence otherwise."""
    return float(_parse(value, _KUBE_DECIMAL))


def parse_kube_memory(value: object) -> int:
    """Bytes of a memory quantity the API server holds (a pod's limits), Kubernetes' reading."""
    return _whole(_parse(value, _KUBE_DECIMAL))


def parse_memory(value: object) -> int:
    """Bytes of a size written in a custom resource or attribute (PrimeHub: `2G` = 2 GiB)."""
    return _whole(_parse(value, _PRIMEHUB_PLAIN))


def parse_cpu(value: object) -> float:
    """Cores: `1.5`, `500m`."""
    return float(_parse(value, _PRIMEHUB_PLAIN))


def parse_size_attribute(value: object) -> int:
    """Bytes of a Keycloak size attribute: like `parse_memory`, but a bare number is GiB."""
    bare = (isinstance(value, str) and _BARE_NUMBER.fullmatch(value)) or (
        isinstance(value, (int, float)) and not isinstance(value, bool))
    if not bare:
        return parse_memory(value)
    size = _parse(value, _PRIMEHUB_PLAIN) * GIB
    if size > LARGEST:
        raise ValueError(f"{_short(str(value))!r} GiB is too large for a size")
    return _whole(size)


def format_memory(size: int) -> str:
    """Bytes as a short binary label: 2147483648 -> '2Gi', 1610612736 -> '1.5Gi'."""
    for suffix, unit in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if size >= unit:
            return f"{size / unit:.4g}{suffix}"
    return str(size)


def format_size(size: int) -> str:
    """Bytes as a quantity Kubernetes stores exactly: whole Gi or Mi when they fit."""
    for suffix, unit in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if size >= unit and size % unit == 0:
            return f"{size // unit}{suffix}"
    return str(size)


def format_cpu(cores: float) -> str:
    """Cores as a short label: 2.0 -> '2', 0.5 -> '0.5'."""
    return f"{cores:g}"

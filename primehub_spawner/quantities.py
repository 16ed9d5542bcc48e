"""Kubernetes quantities ("2G", "512Mi", "500m") as plain numbers.

Memory is parsed the way Kubernetes reads it (G is 10^9, Gi is 2^30), so that the bytes we
hand to KubeSpawner mean exactly what the same string means in a pod spec or a quota.
"""
from __future__ import annotations

import re

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15,
            "E": 10**18, "m": 10**-3, "": 1}
_QUANTITY = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?|\.[0-9]+)\s*(Ki|Mi|Gi|Ti|Pi|Ei|[kKMGTPEm]?)\s*$")


def parse_quantity(value: object) -> float:
    """A quantity string or number as a float; ValueError with a sentence otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a quantity")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"{value!r} is negative")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a quantity")
    match = _QUANTITY.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a quantity like '2G', '512Mi' or '1.5'")
    number, suffix = match.groups()
    return float(number) * _BINARY.get(suffix, _DECIMAL.get(suffix, 1))


def parse_memory(value: object) -> int:
    """Bytes, rounded up (Kubernetes rounds memory up to whole bytes)."""
    amount = parse_quantity(value)
    whole = int(amount)
    return whole if whole == amount else whole + 1


def parse_cpu(value: object) -> float:
    return parse_quantity(value)


def format_memory(size: int) -> str:
    """Bytes as a short human label: 4000000000 -> '4G', 1073741824 -> '1Gi'."""
    for suffix, unit in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20)):
        if size >= unit and size % unit == 0:
            return f"{size // unit}{suffix}"
    for suffix, unit in (("T", 10**12), ("G", 10**9), ("M", 10**6), ("k", 10**3)):
        if size >= unit:
            return f"{size / unit:g}{suffix}"
    return str(size)


def format_cpu(cores: float) -> str:
    return f"{cores:g}"

"""DynamoDB's billing units, from item sizes, by AWS's documented rules.

Units, per AWS's "Item sizes and formats" and on-demand pricing pages: an item's size is the
sum of its attribute names and values (numbers: 1 byte per two significant digits plus 1;
lists and maps: 3 bytes plus 1 per element); a write costs 1 WRU per KB of the larger of the
item before and after it (a delete: of the item removed; at least 1, a failed conditional
write too), twice that inside a transaction; a read costs 1 RRU per 4 KB read (a query: of
all the items it returned together, at least one unit), half when eventually consistent;
a transaction's ConditionCheck is counted as a transactional read (2 RRU per 4 KB).
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

__all__ = ["item_size", "read_units", "value_size", "write_units"]


def _number_size(text: str) -> int:
    digits = text.lstrip("-").replace(".", "").lstrip("0").rstrip("0")
    if "e" in text.lower():  # DynamoDB numbers never come back in exponent form
        digits = format(Decimal(text), "f").replace(".", "").replace("-", "").strip("0")
    return math.ceil(max(len(digits), 1) / 2) + 1


def value_size(value: dict[str, Any]) -> int:
    """The size of one attribute value in DynamoDB JSON, name excluded."""
    kind, inner = next(iter(value.items()))
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return _number_size(inner)
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in inner)
    if kind == "NS":
        return sum(_number_size(n) for n in inner)
    if kind == "BS":
        return sum(len(b) for b in inner)
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in inner)
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in inner.items())
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: dict[str, Any] | None) -> int:
    """The size of an item in DynamoDB JSON (0 when absent)."""
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(*sizes: int) -> int:
    """Write request units of a write touching items of these sizes (the larger counts)."""
    return max(1, math.ceil(max(sizes, default=0) / 1024))


def read_units(size: int, *, consistent: bool) -> float:
    """Read request units of a read of ``size`` bytes."""
    units = max(1, math.ceil(size / 4096))
    return float(units) if consistent else units / 2

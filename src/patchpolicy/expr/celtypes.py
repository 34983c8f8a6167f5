"""The coarse static types of the CEL checks: what each literal, function and method
returns, and which operators have an overload for which operand types.

A type is a CEL type name (``int``, ``string``, ``list``, ``timestamp``...), ``number``
(some number, kind unknown), ``null``, or :data:`ANY` (nothing known: it may be a bool).
"""

from __future__ import annotations

__all__ = [
    "ANY",
    "FUNCTION_TYPES",
    "LITERAL_TYPES",
    "MACROS",
    "METHOD_TYPES",
    "NUMBERS",
    "ORDER_FREE_METHODS",
    "STRING_METHODS",
    "SYMBOLS",
    "TIMESTAMP_ONLY",
    "TIMESTAMP_OR_DURATION",
    "TYPE_NAMES",
    "arithmetic",
    "combine",
    "family",
    "has_overload",
    "known",
]

# Identifiers that name CEL types, usable as values (``type(x) == int``).
TYPE_NAMES = frozenset(
    {"int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type",
     "type", "timestamp", "duration", "dyn"}
)
MACROS = frozenset({"exists", "all", "exists_one", "map", "filter"})
# Uses of a list that do not depend on its order (the memo key may sort it).
ORDER_FREE_METHODS = frozenset({"exists", "all", "exists_one", "size"})
METHOD_TYPES = {
    "startsWith": "bool", "endsWith": "bool", "contains": "bool", "matches": "bool",
    "exists": "bool", "all": "bool", "exists_one": "bool",
    "size": "int", "map": "list", "filter": "list",
    "getFullYear": "int", "getMonth": "int", "getDate": "int", "getDayOfMonth": "int",
    "getDayOfWeek": "int", "getDayOfYear": "int", "getHours": "int", "getMinutes": "int",
    "getSeconds": "int", "getMilliseconds": "int",
}
FUNCTION_TYPES = {
    "has": "bool", "size": "int", "int": "int", "uint": "uint", "double": "double",
    "string": "string", "bytes": "bytes", "bool": "bool", "timestamp": "timestamp",
    "duration": "duration", "type": "type", "matches": "bool", "dyn": "any",
}
LITERAL_TYPES = {
    "INT_LIT": "int", "UINT_LIT": "uint", "FLOAT_LIT": "double", "STRING_LIT": "string",
    "MLSTRING_LIT": "string", "BYTES_LIT": "bytes", "BOOL_LIT": "bool", "NULL_LIT": "null",
}
# "any": nothing known (may be a bool); every other name is a definite CEL type.
ANY = "any"
STRING_METHODS = frozenset({"startsWith", "endsWith", "contains", "matches"})
TIMESTAMP_ONLY = frozenset(
    {"getFullYear", "getMonth", "getDate", "getDayOfMonth", "getDayOfWeek", "getDayOfYear"}
)
TIMESTAMP_OR_DURATION = frozenset({"getHours", "getMinutes", "getSeconds", "getMilliseconds"})
NUMBERS = frozenset({"int", "uint", "double", "number"})
SYMBOLS = {
    "relation_lt": "<", "relation_le": "<=", "relation_gt": ">", "relation_ge": ">=",
    "relation_eq": "==", "relation_ne": "!=", "addition_add": "+", "addition_sub": "-",
    "multiplication_mul": "*", "multiplication_div": "/", "multiplication_mod": "%",
}
"""The operator of each grammar rule, as the messages write it."""


def known(cel_type: str) -> bool:
    """Whether anything is known about a value of this static type."""
    return cel_type != ANY


def family(cel_type: str) -> str:
    """Numbers are one family: the engines compare int, uint and double by value."""
    return "number" if cel_type in NUMBERS else cel_type


def has_overload(op: str, left: str, right: str) -> bool:
    """Whether CEL has ``left op right`` (True when either type is unknown)."""
    if not (known(left) and known(right)):
        return True
    if left in NUMBERS and right in NUMBERS:
        # No implicit conversion in CEL arithmetic: int + double is "no such overload".
        exact = left == right or "number" in (left, right)
        return exact and (op != "multiplication_mod" or "double" not in (left, right))
    pair = (left, right)
    if op == "addition_add":
        return (left == right and left in ("string", "bytes", "list", "duration")) or pair in (
            ("timestamp", "duration"), ("duration", "timestamp"))
    if op == "addition_sub":
        return pair in (("timestamp", "timestamp"), ("timestamp", "duration"),
                        ("duration", "duration"))
    return False


def combine(a: str, b: str) -> str:
    """Static type of ``c ? a : b``: known only when both branches agree."""
    if a == b:
        return a
    if ANY in (a, b):
        other = b if a == ANY else a
        return ANY if other == "bool" else other
    return a if a != "bool" else b


def arithmetic(op: str, left: str, right: str) -> str:
    """Static type of an arithmetic result; never ``bool`` (no CEL overload returns it)."""
    if {left, right} == {"timestamp"} and op == "addition_sub":
        return "duration"
    if "timestamp" in (left, right):
        return "timestamp"
    if left == right and left not in (ANY, "null", "bool"):
        return left
    for side in (left, right):
        if side not in (ANY, "null", "bool", "type"):
            return side
    return "number"

"""The schema layer: apiVersion and kind, then the kind's pydantic model; each pydantic
error becomes a Diagnostic at the file:line:col of the value (or key) it is about, with
its JSON path, the document and item it is in, and a did-you-mean for unknown keys."""

from __future__ import annotations

import difflib
import json
import re
import typing
from collections.abc import Sequence
from typing import Any

import pydantic

from patchpolicy.errors import Diagnostic, Location
from patchpolicy.loader.positions import (
    SourceDocument,
    key_position,
    message_context,
    position,
)
from patchpolicy.model.exceptions import ExceptionSet
from patchpolicy.model.fleet import API_VERSION, FleetSnapshot
from patchpolicy.model.policy import PatchPolicy
from patchpolicy.model.policytest import PolicyTest

KINDS: dict[str, type[pydantic.BaseModel]] = {
    "PatchPolicy": PatchPolicy,
    "ExceptionSet": ExceptionSet,
    "PolicyTest": PolicyTest,
    "FleetSnapshot": FleetSnapshot,
}


def validate_document(doc: SourceDocument) -> tuple[pydantic.BaseModel | None, list[Diagnostic]]:
    """Check apiVersion/kind, then the kind's model; every error mapped to a place."""
    data = doc.data
    if not isinstance(data, dict):
        return None, [Diagnostic(doc.where(), "a document must be a mapping with apiVersion and kind")]
    diags = []
    api = data.get("apiVersion")
    if api != API_VERSION:
        what = "missing apiVersion" if api is None else f"unsupported apiVersion {api!r}"
        diags.append(Diagnostic(doc.where(["apiVersion"]), f"{what}: expected '{API_VERSION}'"))
    kind = data.get("kind")
    model = KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        close = difflib.get_close_matches(str(kind), sorted(KINDS), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        what = "missing kind" if kind is None else f"unknown kind {kind!r}{hint}"
        diags.append(
            Diagnostic(doc.where(["kind"]), f"{what}: expected one of {', '.join(sorted(KINDS))}")
        )
    if diags or model is None:
        return None, diags
    try:
        return model.model_validate(_to_plain(data)), []
    except pydantic.ValidationError as e:
        return None, _schema_diagnostics(doc, model, e)


def _to_plain(node: Any) -> Any:
    """ruamel containers -> plain dict/list/str so pydantic sees ordinary types."""
    if isinstance(node, dict):
        return {str(k): _to_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_to_plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    return node


def _schema_diagnostics(
    doc: SourceDocument, model: type[pydantic.BaseModel], err: pydantic.ValidationError
) -> list[Diagnostic]:
    items = err.errors(include_url=False)
    meant = _meant_keys(model, items)
    out = []
    for item in items:
        loc = tuple(item["loc"])
        if item["type"] == "missing" and loc in meant:
            continue
        line, col = position(doc.data, loc)
        if item["type"] == "extra_forbidden":
            kp = key_position(doc.data, loc[:-1], str(loc[-1]))
            if kp:
                line, col = kp
        out.append(Diagnostic(Location(doc.path, line, col),
                              message_context(doc, loc) + _error_text(model, item, loc),
                              json_path=_json_path(loc)))
    return out


def _meant_keys(
    model: type[pydantic.BaseModel], items: Sequence[Any]
) -> set[tuple[Any, ...]]:
    """The required keys that a typo'd key was meant to be.

    A typo'd key gives two pydantic errors: the unknown key and the required key it was
    meant to be. Report only the unknown key, whose did-you-mean names the missing one.
    """
    meant: set[tuple[Any, ...]] = set()
    for item in items:
        if item["type"] == "extra_forbidden" and item["loc"]:
            owner = tuple(item["loc"][:-1])
            close = difflib.get_close_matches(
                str(item["loc"][-1]), _allowed_fields(model, owner), n=1, cutoff=0.6
            )
            if close:
                meant.add((*owner, close[0]))
    return meant


def _error_text(model: type[pydantic.BaseModel], item: Any, loc: tuple[Any, ...]) -> str:
    """One pydantic error as the house-style message (without its place and context)."""
    typ = item["type"]
    msg = str(item["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    elif msg.startswith("Assertion failed, "):
        msg = msg[len("Assertion failed, ") :]
    path = ".".join(str(p) for p in loc)
    if typ == "missing":
        field = loc[-1] if loc else "?"
        parent = ".".join(str(p) for p in loc[:-1]) or "document"
        return f"missing required key '{field}' in {parent}"
    if typ == "extra_forbidden":
        key = str(loc[-1])
        allowed = _allowed_fields(model, loc[:-1])
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else (
            f" (allowed: {', '.join(allowed)})" if allowed else ""
        )
        return f"unknown key '{key}'{hint}"
    if typ == "too_short" and item.get("ctx", {}).get("min_length") == 1:
        # pydantic says "list should have at least 1 item after validation, not 0".
        return f"{path}: must not be empty"
    value = item.get("input")
    shown = "" if isinstance(value, dict | list) else f" (got {value!r})"
    text = f"{path}: {msg[0].lower()}{msg[1:]}"
    if shown and repr(value) not in text:
        text += shown
    return text


def _allowed_fields(model: type[pydantic.BaseModel], loc: Sequence[str | int]) -> list[str]:
    """Field names (by alias) of the sub-model that ``loc`` points into, best effort."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, pydantic.BaseModel)):
            return []
        field = None
        for fname, info in current.model_fields.items():
            if (info.alias or fname) == part:
                field = info
                break
        if field is None:
            return []
        current = _unwrap_model(field.annotation)
    if isinstance(current, type) and issubclass(current, pydantic.BaseModel):
        return [info.alias or name for name, info in current.model_fields.items()]
    return []


def _unwrap_model(ann: Any) -> Any:
    for _ in range(5):
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        if isinstance(ann, type) and issubclass(ann, pydantic.BaseModel):
            return ann
        if not args:
            return ann
        models = [a for a in args if isinstance(a, type) and issubclass(a, pydantic.BaseModel)]
        ann = models[0] if models else args[0]
    return ann


def _json_path(loc: Sequence[Any]) -> str:
    """A pydantic location as a JSONPath: ``("spec", "rules", 0)`` -> ``$.spec.rules[0]``."""
    out = "$"
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(part)):
            out += f".{part}"
        else:
            out += f"[{json.dumps(str(part))}]"
    return out

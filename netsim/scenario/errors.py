"""Scenario errors and their messages: every one names the field path, the value and
what is allowed."""

from __future__ import annotations

import copy
import difflib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ValidationError

# --------------------------------------------------------------------------- error messages


def _with_default_tag(cls: type[BaseModel], name: Any, value: Any) -> Any:
    """A section of a tagged union written without its tag (``compression.error_feedback =
    true``) takes the member whose tag has a default (``method = "none"``), as if the
    section were absent, instead of failing with "method is missing"."""
    info = cls.model_fields.get(name) if isinstance(name, str) else None
    tag = getattr(info, "discriminator", None)
    if info is None or not isinstance(tag, str) or not isinstance(value, Mapping) or tag in value:
        return value
    for member in _members(info.annotation):
        field = getattr(member, "model_fields", {}).get(tag)
        if field is not None and not field.is_required():
            return {tag: field.default, **value}
    return value


class _FieldError(ValueError):
    """Raised inside validators to report a sub-field with its own path and allowed values."""

    def __init__(self, field: str, value: Any, allowed: str, problem: str | None = None) -> None:
        if problem is not None:
            super().__init__(f"{field} = {value!r}: {problem}")
        else:
            super().__init__(f"{field} = {value!r} is not allowed; expected {allowed}")


def _format_errors(
    exc: ValidationError, data: Mapping[str, Any], source: str, root: type[BaseModel]
) -> str:
    """One line per error of validating ``data`` into ``root``."""
    lines = [f"invalid {source}:"]
    for err in exc.errors():
        lines.append("  " + _format_one(err, data, root))
    return "\n".join(lines)


def _format_one(err: Mapping[str, Any], data: Mapping[str, Any], root: type[BaseModel]) -> str:
    loc, parent_cls = _user_path(err["loc"], data, root)
    path = ".".join(p if isinstance(p, str) and p.isprintable() else repr(p) for p in loc)
    path = path or "(top level)"
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "value_error" and isinstance(ctx.get("error"), _FieldError):
        prefix = f"{path}." if path != "(top level)" else ""
        return prefix + str(ctx["error"])
    if kind == "extra_forbidden":
        allowed = sorted(parent_cls.model_fields) if parent_cls else []
        hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        did_you_mean = f" (did you mean '{hint[0]}'?)" if hint else ""
        return f"{path}: unknown field{did_you_mean}; allowed fields here: {', '.join(allowed)}"
    if kind == "missing":
        return f"{path}: required field is missing"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        key = ctx.get("discriminator", "").strip("'")
        expected = ctx.get("expected_tags") or _tags_of(parent_cls, loc)
        value = f" = {ctx['tag']!r}" if "tag" in ctx else " is missing"
        return f"{path}.{key}{value}: expected one of {expected}"
    if kind in _STRICT_TYPES:  # what strict mode refused to coerce
        value, expected = err["input"], _STRICT_TYPES[kind]
        if isinstance(value, bool) and kind != "bool_type":
            expected += ", not true/false"
        elif isinstance(value, float) and kind == "int_type":
            expected += " (no decimal point or exponent)"
        return f"{path} = {value!r} is not allowed; expected {expected}"
    if kind in _BOUNDS:  # 1e+11, not 100000000000
        bound = next(iter(ctx.values()))
        return f"{path} = {err['input']!r}: Input should be {_BOUNDS[kind]} {bound:g}"
    return f"{path} = {err['input']!r}: {err['msg']}"


_BOUNDS = {
    "greater_than": "greater than",
    "greater_than_equal": "greater than or equal to",
    "less_than": "less than",
    "less_than_equal": "less than or equal to",
}


_STRICT_TYPES = {"int_type": "an integer", "float_type": "a number", "bool_type": "true or false"}


def _user_path(
    loc: tuple[Any, ...], data: Any, root: type[BaseModel]
) -> tuple[list[Any], type[BaseModel] | None]:
    """Drop pydantic's union-tag components from ``loc``; also return the model owning the leaf."""
    kept: list[Any] = []
    node: Any = data
    cls: type[BaseModel] | None = root
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, dict) and part in node:
            owner = cls
            kept.append(part)
            node = node[part]
            cls = _field_model(cls, part, node)
            if last:
                cls = owner
        elif isinstance(node, list) and isinstance(part, int):
            kept.append(part)
            node = node[part] if part < len(node) else None
            cls = None
        elif last and isinstance(node, dict) and (cls is None or part in cls.model_fields):
            kept.append(part)  # e.g. a required field the user left out
        # else: a union tag inserted by pydantic; the user never wrote it
    return kept, cls


def _field_model(cls: type[BaseModel] | None, name: Any, value: Any) -> type[BaseModel] | None:
    """The model class validating field ``name`` of ``cls`` for the given input value."""
    if cls is None or name not in cls.model_fields:
        return None
    ann = cls.model_fields[name].annotation
    models = [m for m in _members(ann) if isinstance(m, type) and issubclass(m, BaseModel)]
    if len(models) == 1:
        return models[0]  # a plain section: no tag to match
    for member in models:
        tag_fields = [
            f
            for f, info in member.model_fields.items()
            if typing.get_origin(info.annotation) is Literal
        ]
        if not tag_fields or not isinstance(value, dict):
            return member
        tag = tag_fields[0]
        if value.get(tag) in typing.get_args(member.model_fields[tag].annotation):
            return member
        if tag not in value and not member.model_fields[tag].is_required():
            return member  # the member an untagged section stands for (_with_default_tag)
    return None


def _members(ann: Any) -> list[Any]:
    origin = typing.get_origin(ann)
    if origin is Annotated:
        return _members(typing.get_args(ann)[0])
    if origin in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(ann) for m in _members(arg)]
    return [ann]


def _tags_of(cls: type[BaseModel] | None, loc: list[Any]) -> str:
    if cls is None or not loc or loc[-1] not in cls.model_fields:
        return "?"
    tags: list[str] = []
    for member in _members(cls.model_fields[loc[-1]].annotation):
        for info in getattr(member, "model_fields", {}).values():
            if typing.get_origin(info.annotation) is Literal:
                tags.extend(repr(t) for t in typing.get_args(info.annotation))
                break
    return ", ".join(tags)


def _strip_none(value: Any) -> Any:
    """``value`` without None entries, paths as strings (TOML has neither null nor paths)."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {k: _strip_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_strip_none(v) for v in value]
    return copy.copy(value)

"""Typed values from plain data, and the dotted keys at the edges.

:func:`from_dict` builds a dataclass (a run config, a method's or a suite's options) from a mapping, recursively,
rejecting unknown keys (with the closest valid names) and wrong types; :func:`parse_overrides` reads ``--set a.b=c``
pairs into a nested mapping, :func:`flatten` writes one back as dotted keys, :func:`deep_merge` layers mappings.
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Literal

import yaml

from harness.domains import domain_of
from harness.errors import ConfigError
from harness.registry import close_matches


def deep_merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for key, value in update.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr": 1e-4}}`` → ``{"train.lr": 1e-4}``: the dotted keys of ``--set``, leaf values as they are."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def parse_overrides(pairs: list[str]) -> dict:
    """``["train.lr=3e-4", "method_config.gamma=0.5"]`` → nested dict; values parsed as YAML scalars."""
    values = []
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects key=value, got {pair!r}")
        values.append((key.strip(), yaml.safe_load(raw) if raw.strip() else ""))
    return nest(values)


def nest(values) -> dict:
    """``[("train.lr", 3e-4), ("suites", ["id"])]`` → ``{"train": {"lr": 3e-4}, "suites": ["id"]}``: dotted keys with
    their (typed) values as the nested mapping a config is merged with; the inverse of :func:`flatten`."""
    out: dict = {}
    for key, value in values:
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def show(value: Any) -> str:
    """A setting's value as ``--set`` / ``--grid`` take it (YAML flow style): ``0.4``, ``true``, ``[id, splits]``."""
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return f"[{','.join(map(show, value))}]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {show(v)}" for k, v in value.items()) + "}"
    return str(value)


def from_dict(cls, data: dict, where: str = ""):
    """Build dataclass ``cls`` from ``data``, recursively: the one validator of every setting (run config, world,
    a method's ``Config``, a suite's ``Options``).

    Rejects unknown keys (with close matches), wrong types, a value outside a ``Literal``'s choices, a non-finite
    float, and a value outside the domain declared on its field (:func:`harness.domains.setting`); then, when
    ``cls`` defines ``invalid()`` (constraints between its fields, returning ``(key, problem)`` or None), that.
    Every error is one ``ConfigError`` line that names the dotted key.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else key
        if key not in fields:
            raise ConfigError(f"unknown config key {path!r}{close_matches(key, list(fields))}")
        kwargs[key] = _coerce(hints[key], value, path)
        if (domain := domain_of(fields[key])) is not None and not domain.contains(kwargs[key]):
            raise ConfigError(f"{path}: must be {domain.describe()}, got {kwargs[key]!r}")
    obj = cls(**kwargs)
    if callable(check := getattr(obj, "invalid", None)) and (problem := check()) is not None:
        key, message = problem
        raise ConfigError(f"{where + '.' if where else ''}{key}: {message}")
    return obj


def _coerce(tp, value, path: str):
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, path)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in typing.get_args(tp):
            return None
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
        origin = typing.get_origin(tp)
    if origin is list:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        elif isinstance(value, (int, float)):  # one number (`--set noise.rates=0.2`) is a list of one
            value = [value]
        if not isinstance(value, list):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        (item_tp,) = typing.get_args(tp)
        return [_coerce(item_tp, v, path) for v in value]
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices or isinstance(value, bool) != isinstance(choices[0], bool):
            raise ConfigError(f"{path}: expected one of {', '.join(map(str, choices))}, got {value!r}")
        return value
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is Any:
        return value
    if tp is float and not isinstance(value, bool):
        try:  # YAML 1.1 reads "1e-5" (no dot) as a string
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{path}: expected float, got {value!r}") from None
        if not math.isfinite(number):
            raise ConfigError(f"{path}: expected a finite number, got {value!r}")
        return number
    if tp is bool and not isinstance(value, bool):
        raise ConfigError(f"{path}: expected true/false, got {value!r}")
    if tp in (int, float, str) and (not isinstance(value, tp) or isinstance(value, bool) and tp is not bool):
        raise ConfigError(f"{path}: expected {tp.__name__}, got {value!r}")
    return value

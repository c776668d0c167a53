"""Settings: frozen dataclasses that check themselves, and the one way overrides are applied.

Every settings class (`FeatureSettings`, `FoldSettings`, `TrainSettings`, `AugSettings`)
checks its values in `__post_init__`, so a bad number is one `SettingsError` before any work
starts. Overrides are flat `name=value` pairs (`lr=0.001`, `aug.snr_db=[0, 20]`), applied in
layers whose names are recorded as the source of each value:

    resolve(TrainSettings(), [("policy (demo data on a CPU)", {...}), ("typed (SET)", {...})])

returns the settings and `{field: source}`. A later layer wins; values are converted to the
type of the field's default (an int field refuses 1.5, a choice field refuses a typo).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable
from typing import Any

from competition.errors import UserError

DEFAULT = "default"


class SettingsError(UserError, ValueError):
    """A setting out of range, of the wrong type, or unknown; the message names it and what is allowed."""


# --- checks used by the settings classes -------------------------------------------------------


def check_number(name: str, value, lo: float | None = None, hi: float | None = None, *,
                 lo_open: bool = False, hi_open: bool = False, integer: bool = False) -> None:
    """Raise SettingsError unless `value` is a finite number in the range (an int when `integer`)."""
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)) \
            or (not integer and not math.isfinite(value)):
        raise SettingsError(f"{name} must be {kind}, not {value!r}")
    low_bad = lo is not None and (value <= lo if lo_open else value < lo)
    high_bad = hi is not None and (value >= hi if hi_open else value > hi)
    if low_bad or high_bad:
        lo_s = "" if lo is None else f"{'>' if lo_open else '>='} {lo:g}"
        hi_s = "" if hi is None else f"{'<' if hi_open else '<='} {hi:g}"
        raise SettingsError(f"{name} must be {kind} {' and '.join(s for s in (lo_s, hi_s) if s)}, not {value!r}")


def check_choice(name: str, value, choices: Iterable) -> None:
    choices = tuple(choices)
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(map(str, choices))}, not {value!r}")


def check_range_pair(name: str, pair, lo: float | None = None, hi: float | None = None) -> None:
    """A (low, high) pair of numbers within [lo, hi] with low <= high."""
    if not isinstance(pair, tuple) or len(pair) != 2:
        raise SettingsError(f"{name} must be a pair [low, high], not {pair!r}")
    for v in pair:
        check_number(name, v, lo, hi)
    if pair[0] > pair[1]:
        raise SettingsError(f"{name} must be [low, high] with low <= high, not {list(pair)}")


# --- flat views and overrides ---------------------------------------------------------------------


def flatten(obj, prefix: str = "") -> dict[str, Any]:
    """`{name: value}` of a (nested) settings dataclass; nested fields as `outer.inner`."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            out.update(flatten(value, f"{prefix}{f.name}."))
        else:
            out[f"{prefix}{f.name}"] = value
    return out


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        head, dot, rest = key.partition(".")
        if dot:
            out.setdefault(head, {})[rest] = value
        else:
            out[key] = value
    return out


def rebuild(obj, flat: dict[str, Any]):
    """`obj` with the flat values applied (nested dataclasses rebuilt); runs every `__post_init__`."""
    nested = _nest(flat)
    changes = {}
    for f in dataclasses.fields(obj):
        if f.name not in nested:
            continue
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            changes[f.name] = rebuild(value, nested[f.name])
        else:
            changes[f.name] = nested[f.name]
    return dataclasses.replace(obj, **changes)


def convert(name: str, value, like):
    """`value` (as parsed from JSON or given in code) converted to the type of `like` (the field's
    current value): int, float, bool, str or a tuple of those; a SettingsError otherwise."""
    if isinstance(like, tuple):
        if isinstance(value, (list, tuple)):
            if like and len(value) == len(like):
                return tuple(convert(name, v, e) for v, e in zip(value, like, strict=True))
            if like and len({type(e) for e in like}) == 1:
                return tuple(convert(name, v, like[0]) for v in value)
            return tuple(value)
        raise SettingsError(f"{name} must be a list like {list(like)}, not {value!r}")
    if isinstance(like, bool):
        if isinstance(value, bool):
            return value
        raise SettingsError(f"{name} must be true or false, not {value!r}")
    if isinstance(like, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise SettingsError(f"{name} must be an integer, not {value!r}")
    if isinstance(like, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise SettingsError(f"{name} must be a number, not {value!r}")
    if isinstance(like, str):
        if isinstance(value, str):
            return value
        raise SettingsError(f"{name} must be text, not {value!r}")
    return value


def parse_items(items: Iterable[str], what: str = "SET") -> dict[str, Any]:
    """`["lr=0.001", "aug.snr_db=[0,20]", "balance=weights"]` -> a flat dict; values are read
    as JSON where they parse (numbers, lists, true/false) and as text otherwise."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise SettingsError(f"{what} needs NAME=VALUE pairs, got {item!r}")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def resolve(base, layers: Iterable[tuple[str, dict[str, Any]]]):
    """(settings, sources): `base` with each layer's flat overrides applied in order, and for
    every flat field the name of the layer that set it (`"default"` where none did).
    Unknown names are a SettingsError listing the known ones."""
    values = flatten(base)
    sources = dict.fromkeys(values, DEFAULT)
    for source, overrides in layers:
        for key, value in overrides.items():
            if key not in values:
                raise SettingsError(f"unknown setting {key!r} ({source}); known: {', '.join(sorted(values))}")
            values[key] = convert(key, value, values[key])
            sources[key] = source
    return rebuild(base, values), sources

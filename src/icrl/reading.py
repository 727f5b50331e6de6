"""Every JSON file icrl reads back, validated in one place.

A run directory's ``config.json``, ``dataset.json``, ``metrics.jsonl`` and ``tune.json``, an
``eval.json`` and a sweep's ``sweep.json``: each reader checks what its callers rely on and raises ``RunFileError``,
one line naming the file and what is wrong (not JSON, not UTF-8, a list where an object belongs,
a missing field, a NaN or a string where a number belongs). ``metrics.jsonl`` is the exception
that repairs itself: a last line cut by a kill is dropped (``read_metrics``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from .errors import IcrlError


class RunFileError(IcrlError, ValueError):
    """A file of a run (or sweep) directory that is damaged, foreign or incomplete."""


def read_json(path, what: str = "a JSON file"):
    """The parsed JSON of ``path``; ``RunFileError`` naming it if it is unreadable or not JSON."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise RunFileError(f"{path}: not {what} (not UTF-8 text)") from None
    try:
        return json.loads(text)
    except ValueError as err:
        raise RunFileError(f"{path}: not {what} (invalid JSON: {err})") from None


def read_object(path, what: str, required: dict | None = None) -> dict:
    """``read_json`` of a JSON object whose ``required`` fields (``{name: type or tuple}``) are present
    with those types."""
    data = read_json(path, what)
    if not isinstance(data, dict):
        raise RunFileError(f"{path}: not {what} (a JSON {type(data).__name__}, expected an object)")
    for name, kind in (required or {}).items():
        if name not in data:
            raise RunFileError(f"{path}: not {what} (no {name!r} field)")
        if not isinstance(data[name], kind) or isinstance(data[name], bool) and kind is not bool:
            raise RunFileError(f"{path}: not {what} ({name} is {data[name]!r}, expected {_names(kind)})")
    return data


def _names(kind) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join({dict: "an object", list: "a list", str: "a string", int: "an integer",
                        float: "a number", type(None): "null"}.get(k, k.__name__) for k in kinds)


def read_run_config(path) -> dict:
    """A run's ``config.json``: a JSON object (its fields are checked where it is compared)."""
    return read_object(path, "a run config (config.json)", {"env": str, "data": dict, "model": dict, "train": dict})


def read_dataset_record(path) -> dict:
    """A run's ``dataset.json``: which dataset it trained on (``path``, ``num_histories``)."""
    return read_object(path, "a dataset record (dataset.json)", {"path": str, "num_histories": int})


def read_results(path) -> dict:
    """An ``eval.json``: ``env``, ``metric``, ``protocol.policy`` and ``suites`` of
    ``{suite: {policy: {"final": number, "normalized": number or null, ...}}}``, every number finite."""
    path = Path(path)
    what = "an icrl eval.json"
    data = read_object(path, what, {"env": str, "metric": str, "suites": dict, "protocol": dict})
    if not isinstance(data["protocol"].get("policy"), str):
        raise RunFileError(f"{path}: not {what} (protocol.policy is {data['protocol'].get('policy')!r}, expected a string)")
    for suite, row in data["suites"].items():
        if not isinstance(row, dict):
            raise RunFileError(f"{path}: not {what} (suites.{suite} is {row!r}, expected an object of policies)")
        for policy, entry in row.items():
            where = f"suites.{suite}.{policy}"
            if not isinstance(entry, dict) or "final" not in entry:
                raise RunFileError(f"{path}: not {what} ({where} has no 'final' score)")
            for key in ("final", "normalized"):
                value = entry.get(key)
                if value is None and key == "normalized":
                    continue
                if not _finite(value):
                    raise RunFileError(f"{path}: {where}.{key} is {value!r}, expected a finite number")
    return data


def read_tuning_record(path) -> dict:
    """A run's ``tune.json`` (``icrl tune``): a ``protocol`` with ``action_selection`` sample or
    argmax, a finite ``temperature`` > 0 when sampling, ``tuned_on`` "validation", and the
    ``trained_config`` it was tuned for."""
    path = Path(path)
    what = "an icrl tuning record (tune.json)"
    data = read_object(path, what, {"protocol": dict, "trained_config": dict, "candidates": list})
    p = data["protocol"]
    selection, temperature = p.get("action_selection"), p.get("temperature")
    if selection not in ("sample", "argmax") or p.get("tuned_on") != "validation":
        raise RunFileError(f"{path}: not {what} (protocol is {p!r})")
    if selection == "sample" and not (_finite(temperature) and temperature > 0):
        raise RunFileError(f"{path}: protocol.temperature is {temperature!r}, expected a finite number > 0")
    return data


def read_sweep_record(path) -> dict:
    """A run's ``sweep.json`` (``{}`` if there is none): ``preset`` and ``variant`` strings and an
    integer ``seed`` >= 0 where present."""
    path = Path(path)
    if not path.exists():
        return {}
    data = read_object(path, "a sweep record (sweep.json)")
    for key, kind in (("preset", str), ("variant", str), ("seed", int)):
        value = data.get(key)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)
                                  or (kind is int and value < 0)):
            raise RunFileError(f"{path}: {key} is {value!r}, expected {_names(kind)}{' >= 0' if kind is int else ''}")
    return data


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_metrics(path) -> tuple[list[dict], bool]:
    """The rows of a ``metrics.jsonl`` and whether its last line was cut (a kill during an append:
    that line is left out). A damaged line elsewhere is a ``RunFileError`` naming its number."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
    except FileNotFoundError:
        return [], False
    rows, cut = [], False
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    for number, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict) or not isinstance(row.get("step", 0), int):
                raise ValueError("not a row of metrics with an integer step")
        except ValueError as err:
            if number == last:
                cut = True
                continue
            raise RunFileError(f"{path}: line {number + 1} is not a metrics row ({err}); fix or remove it") from None
        rows.append(row)
    return rows, cut

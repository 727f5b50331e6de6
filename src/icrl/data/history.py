"""Learning-history datasets: the HDF5 schema, writer and reader.

Schema ``icrl-history`` version 3, one file per dataset. Versions 1 and 2 are still read: version
2 named ``targets`` ``policy``, and version 1 files are version 2 files without it. Histories are
stored back to back ("ragged"): history ``h`` occupies steps ``offsets[h]:offsets[h + 1]`` of every per-step array.

Per step (``N`` steps in all):
  ``observations``  ``(N,)`` int16 cells (discrete), ``(N, d)`` float32 (vector), ``(N,)`` uint8 zeros (none)
  ``actions``       ``(N,)`` int16, local index into the history's action set
  ``rewards``       ``(N,)`` float32
  ``dones``         ``(N,)`` bool, the episode ended with this step
  ``targets``       ``(N, A)`` float16, optional: the soft training targets of this step, a
                    distribution over the history's local actions, zero past ``num_actions``.
                    With ``data.targets=policy`` the teacher's action distribution (exact, or
                    for Thompson sampling a Monte-Carlo estimate); with ``data.targets=optimal``
                    DPT's labels, uniform over the actions optimal in the step's state
Per history (``H`` histories):
  ``offsets``       ``(H + 1,)`` int64
  ``num_actions``   ``(H,)`` int16
  ``action_sets``   ``(H, A)`` int16, global action ids, ``-1`` past ``num_actions``
  ``task/<name>``   task parameters (``means``, ``arm_features``, ``goals``); a Gymnasium family's
                    ``task/task_json``, ``(H,)`` UTF-8 strings: each history's task dict as JSON
File attributes: ``format`` ("icrl-history"), ``schema_version``, ``env``, ``teacher``, ``suite``,
``seed``, ``config`` (JSON of the resolved generation config), ``icrl_version``, ``obs_kind``,
``obs_dim``, ``num_histories``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from ..envs.base import TaskSet
from ..errors import IcrlError
from ..io import check_room, ensure_folder, file_mode, remove_stale_temps, temp_path

FORMAT = "icrl-history"
SCHEMA_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
LEGACY_TARGETS = "policy"  # the name of ``targets`` in version 2 files
TARGETS_SUM_TOLERANCE = 0.02  # float16 rounding of up to 125 probabilities
# What a task parameter can hold (Bernoulli means, darkroom goal cells); others need only be finite.
STEP_FIELDS = ("observations", "actions", "rewards", "dones")
HISTORY_FIELDS = ("offsets", "num_actions", "action_sets")
REQUIRED_ATTRS = ("format", "schema_version", "env", "teacher", "suite", "seed", "config", "obs_kind", "obs_dim")


class DatasetError(IcrlError, ValueError):
    """A dataset file that is missing, corrupt, foreign or inconsistent."""


@dataclass
class HistoryDataset:
    """Learning histories in memory (the arrays of the schema above) plus the file's metadata."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    dones: np.ndarray
    offsets: np.ndarray
    num_actions: np.ndarray
    action_sets: np.ndarray
    task_params: dict[str, np.ndarray] = field(default_factory=dict)
    attrs: dict = field(default_factory=dict)
    targets: np.ndarray | None = None  # (N, A) soft targets (teacher distributions or optimal-action labels), if recorded

    @property
    def num_histories(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def env(self) -> str:
        return self.attrs["env"]

    def history(self, h: int) -> dict[str, np.ndarray]:
        sl = slice(int(self.offsets[h]), int(self.offsets[h + 1]))
        return {name: getattr(self, name)[sl] for name in STEP_FIELDS}

    def tasks(self) -> TaskSet:
        return TaskSet(self.env, self.num_actions, self.action_sets, dict(self.task_params))


def obs_storage_dtype(obs_kind: str):
    return {"discrete": np.int16, "vector": np.float32, "none": np.uint8}[obs_kind]


class HistoryWriter:
    """Appends histories to a new HDF5 file, written to a temporary name and renamed on ``close``.

    Use as a context manager; if the block raises, the temporary file is removed and any existing
    file at ``path`` is left untouched.
    """

    def __init__(self, path, *, env: str, teacher: str, suite: str, seed: int, config: dict,
                 obs_kind: str, obs_dim: int, max_actions: int, overwrite: bool = False, with_targets: bool = False):
        from .. import __version__

        self.path = Path(path)
        if self.path.is_dir():
            raise IsADirectoryError(21, "is a directory, not a dataset file", str(self.path))
        if self.path.exists() and not overwrite:
            raise FileExistsError(f"{self.path} already exists; pass --force (overwrite=True) to replace it")
        ensure_folder(self.path.parent, f"the folder of {self.path}")
        remove_stale_temps(self.path)
        self.tmp = temp_path(self.path)
        self.file = h5py.File(self.tmp, "w")
        self.obs_kind, self.obs_dim, self.max_actions = obs_kind, obs_dim, max_actions
        attrs = {
            "format": FORMAT, "schema_version": SCHEMA_VERSION, "env": env, "teacher": teacher,
            "suite": suite, "seed": int(seed), "config": json.dumps(config, sort_keys=True),
            "icrl_version": __version__, "obs_kind": obs_kind, "obs_dim": int(obs_dim),
        }  # no timestamps anywhere: the same config and seed give the same bytes
        self.file.attrs.update(attrs)
        obs_shape = (obs_dim,) if obs_kind == "vector" else ()
        self._steps = {
            "observations": self._create("observations", (0, *obs_shape), obs_storage_dtype(obs_kind)),
            "actions": self._create("actions", (0,), np.int16),
            "rewards": self._create("rewards", (0,), np.float32),
            "dones": self._create("dones", (0,), bool),
        }
        if with_targets:
            self._steps["targets"] = self._create("targets", (0, max_actions), np.float16)
        self._num_actions: list[np.ndarray] = []
        self._action_sets: list[np.ndarray] = []
        self._params: dict[str, list[np.ndarray]] = {}
        self._offsets = [0]

    def _create(self, name, shape, dtype):
        chunk = (1 << 16 if name != "targets" else 1 << 12, *shape[1:])  # targets rows are A values wide
        return self.file.create_dataset(name, shape=shape, maxshape=(None, *shape[1:]), dtype=dtype, chunks=chunk,
                                        track_times=False, **_filters(dtype))

    def append(self, tasks: TaskSet, observations, actions, rewards, dones, valid, targets=None) -> None:
        """Add one history per task from ``(B, T, ...)`` arrays; only ``valid`` steps are kept.

        ``targets``: ``(B, T, A)`` distributions over each task's actions (the teacher's, or the
        optimal-action labels), required when the writer was made ``with_targets`` and refused
        otherwise.
        """
        valid = np.asarray(valid, dtype=bool)
        lengths = valid.sum(axis=1)
        arrays = {"observations": observations, "actions": actions, "rewards": rewards, "dones": dones}
        if (targets is not None) != ("targets" in self._steps):
            raise DatasetError("targets must be given exactly when the writer was made with_targets=True")
        if targets is not None:
            arrays["targets"] = _pad_to(np.asarray(targets).reshape(-1, targets.shape[-1]), self.max_actions, 0).reshape(
                *targets.shape[:2], self.max_actions)
        steps = int(valid.sum())
        # before HDF5 writes: a write it fails for want of room breaks its state (and crashes the process)
        check_room(self.path, self.tmp, steps * sum(self._steps[k].dtype.itemsize * int(np.prod(self._steps[k].shape[1:]))
                                                     for k in arrays))
        for name, data in arrays.items():
            flat = np.asarray(data)[valid]
            ds = self._steps[name]
            n = ds.shape[0]
            ds.resize(n + len(flat), axis=0)
            ds[n:] = flat.astype(ds.dtype)
        self._offsets.extend((self._offsets[-1] + np.cumsum(lengths)).tolist())
        self._num_actions.append(tasks.num_actions)
        self._action_sets.append(_pad_to(tasks.action_sets, self.max_actions, -1))
        for key, value in tasks.params.items():
            per_action = value.ndim >= 2 and value.shape[1] == tasks.action_sets.shape[1]
            self._params.setdefault(key, []).append(_pad_to(value, self.max_actions, 0) if per_action else value)

    def close(self) -> Path:
        f = self.file
        checked = {"track_times": False, "fletcher32": True}
        f.create_dataset("offsets", data=np.asarray(self._offsets, dtype=np.int64), **checked)
        f.create_dataset("num_actions", data=np.concatenate(self._num_actions).astype(np.int16), **checked)
        f.create_dataset("action_sets", data=np.concatenate(self._action_sets).astype(np.int16), **checked)
        group = f.create_group("task", track_times=False)
        for key, parts in self._params.items():
            values = np.concatenate(parts)
            if values.dtype.kind in "US":  # task dicts as JSON text (GymFamily tasks): UTF-8 strings
                # (no checksum filter exists for variable-length data: the JSON is parsed on reading instead)
                group.create_dataset(key, data=values.astype(object), dtype=h5py.string_dtype(), track_times=False)
            else:
                group.create_dataset(key, data=values, **checked)
        f.attrs["num_histories"] = len(self._offsets) - 1
        f.flush()  # a full disk fails here, with the file still open (abort can then close it cleanly)
        f.close()
        os.chmod(self.tmp, file_mode())
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Close and remove the temporary file. Its writes go to /dev/null first: after a write
        failed for want of room, HDF5's flush of its caches would fail again and crash the process."""
        try:
            _discard_writes(self.file, self.tmp)
            self.file.close()
        except (OSError, RuntimeError):
            pass  # nothing of the file is kept anyway
        finally:
            self.tmp.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        from ..io import no_room

        try:
            if exc_type is None:
                self.close()
                return
        except OSError as err:
            exc = err
        self.abort()
        full = no_room(self.path, exc) if isinstance(exc, OSError) else None
        if full is not None:
            raise full from None
        if exc_type is None:
            raise exc


def _discard_writes(file, tmp: Path) -> None:
    """Point HDF5's descriptor of the temporary file ``tmp`` at /dev/null (the file is dropped)."""
    fds = []
    try:
        fds.append(int(file.id.get_vfd_handle()))
    except Exception:  # a half-closed file: find its descriptor by name (Linux)
        try:
            target = str(tmp.resolve())
            fds = [int(fd) for fd in os.listdir("/proc/self/fd")
                   if os.path.realpath(f"/proc/self/fd/{fd}") == target]
        except OSError:
            return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd in fds:
            os.dup2(null, fd)
    finally:
        os.close(null)


def _filters(dtype) -> dict:
    """HDF5 filters of a per-step dataset; all are built into HDF5, so any reader can open the file.

    Integers (cells, action indices) are small numbers of wide types: the lossless scale-offset
    filter stores each chunk with just the bits its values need, several times faster than gzip
    and about as small. Floats and flags are gzipped (level 1, shuffled bytes) and every chunk
    carries a Fletcher-32 checksum, so that damaged bytes are refused on reading instead of loading
    as plausible-looking numbers. HDF5 allows no checksum beside scale-offset: integer arrays are
    range-checked on reading instead (cells, actions, offsets).
    """
    if np.issubdtype(dtype, np.integer):
        return {"scaleoffset": 0}
    return {"compression": "gzip", "compression_opts": 1, "shuffle": True, "fletcher32": True}


def _pad_to(array: np.ndarray, width: int, value) -> np.ndarray:
    if array.shape[1] > width:
        raise DatasetError(f"action sets of width {array.shape[1]} exceed the dataset's max_actions={width}")
    pad = [(0, 0), (0, width - array.shape[1])] + [(0, 0)] * (array.ndim - 2)
    return np.pad(array, pad, constant_values=value)


def dataset_attrs(path) -> dict:
    """A dataset's attributes (env, teacher, seed, the data ``config`` it was made from, ...)
    without reading its arrays; refuses foreign files and unreadable attributes like ``load_histories``."""
    path = _as_path(path)
    with _open(path) as f:
        attrs = _checked_attrs(path, f)
    return _parse_config(path, attrs)


def _as_path(path) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise DatasetError(f"dataset path {path!r} is invalid: allowed a file name (str or Path)")
    return Path(path)


def _open(path: Path):
    if path.is_dir():
        raise DatasetError(f"{path}: a directory, not a dataset file")
    if not path.exists():
        raise DatasetError(f"{path}: no such dataset file")
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise DatasetError(f"{path}: not a readable HDF5 file ({err})") from None


def _checked_attrs(path, f) -> dict:
    attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    if attrs.get("format") != FORMAT:
        raise DatasetError(f"{path}: not an icrl learning-history file (format attribute is {attrs.get('format')!r}, expected {FORMAT!r})")
    try:
        version = int(attrs.get("schema_version", -1))
    except (TypeError, ValueError):
        version = attrs.get("schema_version")
    if version not in READABLE_VERSIONS:
        raise DatasetError(f"{path}: schema version {version} is not supported (this icrl reads versions "
                           f"{', '.join(map(str, READABLE_VERSIONS))})")
    missing = [k for k in REQUIRED_ATTRS if k not in attrs]
    if missing:
        raise DatasetError(f"{path}: incomplete dataset, missing {', '.join(missing)}")
    return attrs


def _parse_config(path, attrs: dict) -> dict:
    try:
        attrs["config"] = json.loads(attrs["config"])
    except (TypeError, ValueError) as err:
        raise DatasetError(f"{path}: corrupt config attribute, not JSON ({err})") from None
    if not isinstance(attrs["config"], dict):
        raise DatasetError(f"{path}: corrupt config attribute, a JSON {type(attrs['config']).__name__} "
                           "instead of the data config the file was made from")
    return attrs


def load_histories(path) -> HistoryDataset:
    """Read a dataset written by ``HistoryWriter``; refuses foreign, corrupt or inconsistent files."""
    path = _as_path(path)
    with _open(path) as f:
        attrs = _checked_attrs(path, f)
        missing = [k for k in STEP_FIELDS + HISTORY_FIELDS if k not in f]
        if missing:
            raise DatasetError(f"{path}: incomplete dataset, missing {', '.join(missing)}")
        if "task" in f and not isinstance(f["task"], h5py.Group):
            raise DatasetError(f"{path}: corrupt dataset ('task' is not a group of task parameters)")
        try:
            arrays = {k: f[k][()] for k in STEP_FIELDS + HISTORY_FIELDS}
            params = {k: _read_param(f["task"][k]) for k in f["task"]} if "task" in f else {}
            name = "targets" if int(attrs["schema_version"]) >= 3 else LEGACY_TARGETS
            targets = f[name][()] if name in f else None
        except OSError as err:  # HDF5 reports a failed checksum or decompression this way
            raise DatasetError(f"{path}: corrupt dataset, its bytes are damaged ({err})") from None
        except (KeyError, ValueError) as err:
            raise DatasetError(f"{path}: corrupt dataset ({err})") from None
    attrs = _parse_config(path, attrs)
    ds = HistoryDataset(**arrays, task_params=params, attrs=attrs, targets=targets)
    _check_consistent(path, ds)
    return ds


def _read_param(dataset) -> np.ndarray:
    """A task parameter's values; strings (task JSON) as a numpy ``str`` array."""
    if h5py.check_string_dtype(dataset.dtype) is not None:
        return np.array(dataset.asstr()[()], dtype=str)
    return dataset[()]


def _param_ranges(env) -> dict:
    """The registered env class's ``param_ranges`` (e.g. bandit means in [0, 1]); {} if unknown."""
    from ..suites import ENV_SPECS

    spec = ENV_SPECS.get(str(env))
    return spec.env_class.param_ranges if spec is not None else {}


def _check_task_json(path, name: str, values: np.ndarray) -> None:
    for text in values:
        try:
            task = json.loads(str(text))
        except ValueError:
            task = None
        if not isinstance(task, dict):
            raise DatasetError(f"{path}: corrupt task parameters: task/{name} holds {str(text)[:60]!r}, not a JSON task dict")


def _check_consistent(path, ds: HistoryDataset) -> None:
    n = len(ds.actions)
    offsets = ds.offsets
    if any(len(getattr(ds, k)) != n for k in STEP_FIELDS):
        raise DatasetError(f"{path}: per-step arrays have different lengths")
    if len(offsets) < 2 or offsets[0] != 0 or offsets[-1] != n or (np.diff(offsets) < 0).any():
        raise DatasetError(f"{path}: offsets do not partition the {n} steps into histories")
    H = len(offsets) - 1
    if len(ds.num_actions) != H or len(ds.action_sets) != H or any(len(v) != H for v in ds.task_params.values()):
        raise DatasetError(f"{path}: per-history arrays do not have {H} rows")
    per_step_limit = np.repeat(ds.num_actions.astype(np.int64), np.diff(offsets))
    if n and ((ds.actions < 0) | (ds.actions >= per_step_limit)).any():
        raise DatasetError(f"{path}: some actions lie outside their history's action set")
    if not np.isfinite(ds.rewards).all() or (ds.observations.dtype.kind == "f" and not np.isfinite(ds.observations).all()):
        raise DatasetError(f"{path}: corrupt dataset (non-finite rewards or observations)")
    if ds.attrs.get("obs_kind") == "discrete" and n and not (
            (ds.observations >= 0) & (ds.observations < int(ds.attrs["obs_dim"]))).all():
        raise DatasetError(f"{path}: corrupt dataset (observed cells outside [0, {int(ds.attrs['obs_dim']) - 1}])")
    param_ranges = _param_ranges(ds.attrs.get("env"))
    for name, value in ds.task_params.items():
        if value.dtype.kind == "U":  # task dicts as JSON (GymFamily tasks)
            _check_task_json(path, name, value)
            continue
        low, high = param_ranges.get(name, (-np.inf, np.inf))
        if not (np.isfinite(value).all() and (value >= low).all() and (value <= high).all()):
            raise DatasetError(f"{path}: corrupt task parameters: task/{name} holds values outside [{low}, {high}]"
                               if np.isfinite(value).all() else f"{path}: corrupt task parameters: task/{name} is not finite")
    if ds.targets is not None:
        p = ds.targets
        if p.shape != (n, ds.action_sets.shape[1]):
            raise DatasetError(f"{path}: targets has shape {p.shape}, expected ({n}, {ds.action_sets.shape[1]})")
        outside = np.arange(p.shape[1])[None, :] >= per_step_limit[:, None]
        total = p.sum(axis=1, dtype=np.float32)
        if not np.isfinite(p).all() or (p < 0).any() or (p[outside] != 0).any() or (np.abs(total - 1) > TARGETS_SUM_TOLERANCE).any():
            raise DatasetError(f"{path}: targets rows are not distributions over their history's action set")

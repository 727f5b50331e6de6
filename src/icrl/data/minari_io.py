"""Learning histories to and from Minari datasets (``icrl export-minari`` / ``icrl import-minari``).

Minari (Farama's offline-RL dataset standard, 0.5.x) stores episodes, with no notion of a learning
history (an ordered sequence of episodes of one learner on one task) or of a per-task action set;
those travel in metadata. **Export** writes one Minari episode per in-context episode, in history
order, with episode metadata

- ``history``: the history's index; ``episode``: the episode's index within its history;
- ``action_set``: the history's global action ids (its local action ``a`` is ``action_set[a]``);
- ``task``: the task as JSON (a family's task dict; else ``{parameter: value}``, e.g. ``{"goals": 40}``);
- ``task.<name>``: each task parameter of the history as stored (what the import reads back);

and the dataset metadata ``icrl_history``: JSON of the file's attributes (env, teacher, suite,
seed, the config it was generated from, observation kind and size). Actions are the local indices
(``Discrete(max actions)``); observations ``Discrete(obs_dim)`` cells or ``Box`` vectors
(``Discrete(1)`` zeros for bandits). An icrl history records no observation after an episode's
last step, which Minari episodes carry: the export repeats the last observation there, and the
import drops it. icrl histories do not tell termination from truncation: an episode's end is
exported as ``terminations`` (``truncations`` stay False) and read back from either. The teacher's
recorded action distributions (``data.targets=policy``) are not exported.

**Import** reads such a dataset back into an identical history file (``load_histories`` gives
the same arrays, task parameters and attributes). A plain Minari dataset (no ``icrl_history``
metadata) is grouped into histories by an episode-metadata key the user names (``history_key``):
episodes with the same value, in episode order, form one history, with the dataset's whole
action space as its action set.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from ..envs.base import TaskSet
from .history import DatasetError, HistoryWriter, load_histories

META_KEY = "icrl_history"  # the dataset metadata entry of an exported history file
TASK_PREFIX = "task."


def _minari():
    try:
        import minari
    except ImportError:
        raise DatasetError("Minari is not installed: pip install 'icrl[minari]'") from None
    return minari


def _spaces(obs_kind: str, obs_dim: int, max_actions: int):
    from gymnasium import spaces

    obs = {"discrete": spaces.Discrete(max(obs_dim, 1)), "none": spaces.Discrete(1),
           "vector": spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32)}[obs_kind]
    return obs, spaces.Discrete(max_actions)


def _exists(minari, dataset_id: str) -> bool:
    return dataset_id in minari.list_local_datasets()


def export_minari(histories, dataset_id: str, *, force: bool = False) -> str:
    """Write the history file ``histories`` as the local Minari dataset ``dataset_id``.

    One Minari episode per in-context episode (see the module for the metadata). Refuses an
    existing dataset (``FileExistsError``) unless ``force``, which replaces it; ``DatasetError``
    for an unreadable history file or a missing Minari. Returns ``dataset_id``.
    """
    minari = _minari()
    from minari.data_collector import EpisodeBuffer

    data = load_histories(histories)
    if _exists(minari, dataset_id):
        if not force:
            raise FileExistsError(f"Minari dataset {dataset_id!r} already exists; pass --force (force=True) to replace it")
        minari.delete_dataset(dataset_id)
    attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in data.attrs.items()}
    obs_kind, obs_dim = attrs["obs_kind"], int(attrs["obs_dim"])
    obs_dtype = np.float32 if obs_kind == "vector" else np.int64
    buffers, metadata = [], []
    for h in range(data.num_histories):
        steps = data.history(h)
        ends = np.flatnonzero(steps["dones"]) + 1
        bounds = [0, *ends.tolist()] + ([] if len(ends) and ends[-1] == len(steps["dones"]) else [len(steps["dones"])])
        task = {f"{TASK_PREFIX}{k}": (str(v[h]) if v.dtype.kind == "U" else v[h]) for k, v in data.task_params.items()}
        task["task"] = _task_text(data.task_params, h)
        action_set = data.action_sets[h, : int(data.num_actions[h])].astype(np.int64)
        for e, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
            obs = steps["observations"][a:b].astype(obs_dtype)
            buffers.append(EpisodeBuffer(
                id=len(buffers), observations=np.concatenate([obs, obs[-1:]]),
                actions=steps["actions"][a:b].astype(np.int64), rewards=steps["rewards"][a:b].astype(np.float64),
                terminations=steps["dones"][a:b].astype(bool), truncations=np.zeros(b - a, dtype=bool)))
            metadata.append({"history": h, "episode": e, "action_set": action_set, **task})
    observation_space, action_space = _spaces(obs_kind, obs_dim, data.action_sets.shape[1])
    with warnings.catch_warnings():  # no env to recover and no reference scores: Minari warns about both
        warnings.simplefilter("ignore")
        dataset = minari.create_dataset_from_buffers(
            dataset_id, buffers, action_space=action_space, observation_space=observation_space,
            algorithm_name=str(attrs["teacher"]),
            description=f"icrl learning histories: {data.num_histories} histories of {attrs['teacher']} on {attrs['env']}")
    dataset.storage.update_episode_metadata(metadata)
    attrs["config"] = json.dumps(attrs["config"], sort_keys=True)
    dataset.storage.update_metadata({META_KEY: json.dumps(attrs, sort_keys=True)})
    return dataset_id


def _task_text(params: dict, h: int) -> str:
    """History ``h``'s task as JSON: a family's task dict, else ``{parameter: value}``."""
    from ..envs.gymfamily import TASK_PARAM

    if TASK_PARAM in params:
        return str(params[TASK_PARAM][h])
    return json.dumps({k: np.asarray(v[h]).tolist() for k, v in sorted(params.items())}, sort_keys=True)


def import_minari(dataset_id: str, out, *, history_key: str | None = None, env: str | None = None,
                  force: bool = False) -> Path:
    """Read the local Minari dataset ``dataset_id`` into the history file ``out``.

    A dataset written by ``export_minari`` comes back as the identical history file. Any other
    dataset needs ``history_key``, the episode-metadata key whose value groups episodes into
    histories (in episode order); its histories get the dataset's whole action space and the
    environment name ``env`` (default: the dataset's env id, else ``dataset_id``). Raises
    ``DatasetError`` for an unknown dataset, a missing key or unsupported spaces,
    ``FileExistsError`` for an existing ``out`` without ``force``.
    """
    minari = _minari()
    if not _exists(minari, dataset_id):
        raise DatasetError(f"no local Minari dataset {dataset_id!r} (local: {', '.join(sorted(minari.list_local_datasets())) or 'none'})")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = minari.load_dataset(dataset_id)
    storage = dataset.storage
    meta = list(storage.get_episode_metadata(range(storage.total_episodes)))
    saved = storage.metadata.get(META_KEY)
    if saved is not None and history_key is None:
        attrs = json.loads(saved)
        attrs["config"] = json.loads(attrs["config"])
        groups = _group(meta, "history", dataset_id)
    else:
        if history_key is None:
            raise DatasetError(f"{dataset_id} is a plain Minari dataset: name the episode-metadata key that groups its "
                               f"episodes into histories (--history-key; keys: {', '.join(sorted(meta[0])) if meta else 'none'})")
        attrs = _plain_attrs(dataset, dataset_id, env)
        groups = _group(meta, history_key, dataset_id)
    obs_kind, obs_dim = attrs["obs_kind"], int(attrs["obs_dim"])
    max_actions = int(dataset.action_space.n)
    writer = HistoryWriter(out, env=attrs["env"], teacher=attrs["teacher"], suite=attrs["suite"], seed=attrs["seed"],
                           config=attrs["config"], obs_kind=obs_kind, obs_dim=obs_dim, max_actions=max_actions,
                           overwrite=force)
    with writer:
        for indices in groups:
            episodes = list(dataset.iterate_episodes(indices))
            first = meta[indices[0]]
            if saved is not None and history_key is None:
                action_set = np.asarray(first["action_set"], dtype=np.int64)
                params = {k[len(TASK_PREFIX):]: np.asarray([first[k]]) for k in sorted(first) if k.startswith(TASK_PREFIX)}
            else:
                action_set, params = np.arange(max_actions), {}
            obs = np.concatenate([np.asarray(ep.observations)[:-1].reshape(len(ep.actions), -1) for ep in episodes])
            obs = obs.reshape(-1) if obs_kind != "vector" else obs
            dones = np.concatenate([np.asarray(ep.terminations) | np.asarray(ep.truncations) for ep in episodes])
            rewards = np.concatenate([ep.rewards for ep in episodes])
            actions = np.concatenate([ep.actions for ep in episodes]).reshape(-1)
            padded = np.full((1, max_actions), -1, dtype=np.int64)
            padded[0, : len(action_set)] = action_set
            tasks = TaskSet(attrs["env"], np.array([len(action_set)]), padded, params)
            writer.append(tasks, obs[None], actions[None], rewards[None], dones[None], np.ones((1, len(actions)), bool))
    return Path(out)


def _group(meta: list[dict], key: str, dataset_id: str) -> list[list[int]]:
    """Episode indices per history: episodes sharing ``meta[i][key]``, histories in order of first appearance
    (exported histories: by history index, episodes by their index within it)."""
    if any(key not in m for m in meta):
        raise DatasetError(f"{dataset_id}: episode metadata has no key {key!r} on every episode "
                           f"(keys: {', '.join(sorted(meta[0])) if meta else 'none'})")
    groups: dict = {}
    for i, m in enumerate(meta):
        value = m[key]
        groups.setdefault(value.item() if isinstance(value, np.generic) else str(value), []).append(i)
    if key == "history":
        return [sorted(ids, key=lambda i: int(meta[i]["episode"])) for _, ids in sorted(groups.items())]
    return list(groups.values())


def _plain_attrs(dataset, dataset_id: str, env: str | None) -> dict:
    from gymnasium import spaces

    if not isinstance(dataset.action_space, spaces.Discrete):
        raise DatasetError(f"{dataset_id}: the action space must be Discrete, got {dataset.action_space}")
    space = dataset.observation_space
    if isinstance(space, spaces.Discrete):
        obs_kind, obs_dim = "discrete", int(space.n)
    elif isinstance(space, spaces.Box):
        obs_kind, obs_dim = "vector", int(spaces.flatdim(space))
    else:
        raise DatasetError(f"{dataset_id}: the observation space must be Discrete or Box, got {space}")
    spec = dataset.env_spec
    name = env or (spec.id if spec is not None else dataset_id)
    algorithm = dataset.storage.metadata.get("algorithm_name") or "unknown"
    return {"env": name, "teacher": str(algorithm), "suite": "minari", "seed": 0, "obs_kind": obs_kind,
            "obs_dim": obs_dim, "config": {"minari_dataset": dataset_id}}

"""The protocol every batched environment follows.

A batched environment holds ``B`` independent tasks and steps them together with numpy.
Each task has its own *action set*: an ordered list of global action ids (``action_sets[b, :n]``,
padded with ``-1``) of length ``num_actions[b]``. Policies choose *local* indices
``0 <= a < num_actions[b]``; the environment maps them to global ids. Permuting or replacing an
action set therefore changes what a local index means, which is exactly what Headless-AD has to
cope with and what plain AD cannot.

Episodes end at different times in different tasks: ``step`` resets a finished task on its own
(auto-reset) and reports ``done[b] = True`` for the step that ended its episode; the returned
observation is then the first observation of the next episode.
"""

from __future__ import annotations

import copy
from copy import deepcopy
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ..errors import IcrlError


class EnvError(IcrlError, ValueError):
    """A bad action, shape or task description given to an environment."""


# The most actions a task may have outside a model's own limit (Agent action sets, Gymnasium
# bandits): far past any in-context learner's, so that a typo (1e9) fails at once, not in memory.
MAX_ACTIONS = 65536


def check_seed(seed, name: str = "seed", *, sequence: bool = False) -> None:
    """``EnvError`` naming ``seed`` unless it is None or an integer >= 0 (what numpy's generators
    take), or with ``sequence`` also a list of such integers (a ``SeedSequence`` entropy)."""
    def ok(value):
        return not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, np.integer)) and value >= 0

    if seed is None or ok(seed) or (sequence and isinstance(seed, (list, tuple)) and seed and all(map(ok, seed))):
        return
    raise EnvError(f"{name}={seed!r} is invalid: allowed an integer >= 0{' (or a list of them)' if sequence else ''}")


def check_count(value, name: str, most: int) -> int:
    """``value`` as an int if it is an integer in [1, ``most``]; ``EnvError`` naming it otherwise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or not 1 <= value <= most:
        raise EnvError(f"{name} must be >= 1, got {value!r} (an integer, at most {most})")
    return int(value)


class TaskStreams:
    """One independent random stream per task, drawn from like a ``numpy.random.Generator``.

    A draw whose first axis is the number of tasks takes row ``b`` from task ``b``'s stream, so
    what a task draws does not depend on which other tasks share its batch: a suite evaluated on
    its own, in chunks, or merged with other suites sees the same numbers (evaluation seeds its
    rollouts this way, ``rollout(task_seeds=...)``). Slower than one generator for the whole batch
    (one call per task per draw), so datasets and baselines keep a single generator.
    """

    def __init__(self, generators):
        self.generators = list(generators)

    @classmethod
    def from_seeds(cls, seeds) -> TaskStreams:
        """A stream per seed (anything ``numpy.random.default_rng`` takes, e.g. a ``SeedSequence``)."""
        return cls(np.random.default_rng(s) for s in seeds)

    def __len__(self) -> int:
        return len(self.generators)

    def rows(self, index, copy: bool = False) -> TaskStreams:
        """The streams of tasks ``index`` (a boolean mask or integer positions): shared (draws
        advance them here too), or with ``copy`` independent copies in their current state."""
        index = np.asarray(index)
        positions = np.flatnonzero(index) if index.dtype == bool else index
        pick = (lambda g: deepcopy(g)) if copy else (lambda g: g)
        return TaskStreams([pick(self.generators[int(i)]) for i in positions])

    def _draw(self, method: str, size, *args, **kwargs) -> np.ndarray:
        shape = (size,) if np.isscalar(size) else tuple(size)
        if not shape or shape[0] != len(self.generators):
            raise EnvError(f"TaskStreams of {len(self.generators)} tasks cannot draw shape {shape}: "
                           "the first axis must be the number of tasks")
        return np.stack([getattr(g, method)(*args, size=shape[1:], **kwargs) for g in self.generators])

    def random(self, size, dtype=np.float64) -> np.ndarray:
        return self._draw("random", size, dtype=dtype)

    def standard_normal(self, size) -> np.ndarray:
        return self._draw("standard_normal", size)

    def integers(self, low, high, size) -> np.ndarray:
        return self._draw("integers", size, low, high)


@dataclass
class TaskSet:
    """A batch of tasks of one environment: action sets plus the environment's task parameters.

    ``params`` holds one array per task parameter, first axis = task (for example ``means`` of a
    Bernoulli bandit, ``arm_features`` of a contextual bandit, ``goals`` of the darkroom).
    """

    env: str
    num_actions: np.ndarray  # (B,) int
    action_sets: np.ndarray  # (B, A_max) int, -1 padded
    params: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.num_actions = np.asarray(self.num_actions, dtype=np.int64)
        self.action_sets = np.asarray(self.action_sets, dtype=np.int64)
        if self.num_actions.ndim != 1:
            raise EnvError(f"num_actions must be 1-D (one count per task), got shape {self.num_actions.shape}")
        if self.action_sets.ndim != 2 or len(self.action_sets) != len(self.num_actions):
            raise EnvError(
                f"action_sets must have shape (num_tasks, max_actions) = ({len(self.num_actions)}, A), "
                f"got {self.action_sets.shape}"
            )
        if len(self.num_actions) and (self.num_actions.min() < 1 or self.num_actions.max() > self.action_sets.shape[1]):
            raise EnvError(
                f"num_actions must lie in [1, {self.action_sets.shape[1]}], "
                f"got values in [{self.num_actions.min()}, {self.num_actions.max()}]"
            )
        for name, value in self.params.items():
            if len(value) != len(self.num_actions):
                raise EnvError(f"task parameter {name!r} has {len(value)} rows for {len(self.num_actions)} tasks")

    def __len__(self) -> int:
        return len(self.num_actions)

    @property
    def action_mask(self) -> np.ndarray:
        return np.arange(self.action_sets.shape[1])[None, :] < self.num_actions[:, None]

    def subset(self, index) -> TaskSet:
        """Tasks ``index`` (a slice or an index array), trimmed to their own widest action set."""
        num_actions = self.num_actions[index]
        width = int(num_actions.max()) if len(num_actions) else 1
        params = {k: _trim(v[index], self.action_sets.shape[1], width) for k, v in self.params.items()}
        return TaskSet(self.env, num_actions, self.action_sets[index][:, :width], params)

    @staticmethod
    def concatenate(parts: list[TaskSet]) -> TaskSet:
        """Stack task sets of one environment, padding action sets to the widest."""
        envs = {p.env for p in parts}
        if len(envs) != 1:
            raise EnvError(f"cannot concatenate task sets of different environments: {sorted(envs)}")
        width = max(p.action_sets.shape[1] for p in parts)
        action_sets = np.concatenate([_pad(p.action_sets, width, -1) for p in parts])
        params = {}
        for key in parts[0].params:
            per_action = parts[0].params[key].ndim >= 2 and parts[0].params[key].shape[1] == parts[0].action_sets.shape[1]
            params[key] = np.concatenate(
                [_pad(p.params[key], width, 0) if per_action else p.params[key] for p in parts]
            )
        return TaskSet(parts[0].env, np.concatenate([p.num_actions for p in parts]), action_sets, params)


def _pad(array: np.ndarray, width: int, value) -> np.ndarray:
    if array.shape[1] >= width:
        return array
    pad = [(0, 0), (0, width - array.shape[1])] + [(0, 0)] * (array.ndim - 2)
    return np.pad(array, pad, constant_values=value)


def _trim(array: np.ndarray, old_width: int, width: int) -> np.ndarray:
    """Per-action parameters (second axis = action) follow the action-set trimming."""
    if array.ndim >= 2 and array.shape[1] == old_width:
        return array[:, :width]
    return array


class BatchedEnv:
    """Base class: ``B`` tasks stepped at once.

    Subclasses set the class attributes and implement ``_reset_tasks`` and ``_step``; those that
    set ``supports_select`` also extend ``select`` to index their own per-task arrays.
    """

    supports_select: ClassVar[bool] = False
    name: ClassVar[str]
    obs_kind: ClassVar[str]  # "none" | "vector" | "discrete"
    obs_dim: ClassVar[int]  # vector length, or number of discrete observations; 0 for "none"
    max_episode_steps: ClassVar[int | None] = None  # None: every step is its own episode
    # Inclusive (low, high) of task parameters, checked when a dataset is read (damaged files).
    param_ranges: ClassVar[dict[str, tuple[float, float]]] = {}

    def __init__(self, tasks: TaskSet, seed: int | None = None):
        if tasks.env != self.name:
            raise EnvError(f"{type(self).__name__} got tasks of environment {tasks.env!r}, expected {self.name!r}")
        if len(tasks) == 0:
            raise EnvError("an environment needs at least one task")
        self.tasks = tasks
        self.rng = np.random.default_rng(seed)
        self.num_envs = len(tasks)
        self.num_actions = tasks.num_actions
        self.action_sets = tasks.action_sets
        self.action_width = tasks.action_sets.shape[1]  # slots of every per-action array (the widest set)
        self.action_mask = tasks.action_mask
        self._obs: np.ndarray | None = None

    @property
    def max_actions(self) -> int:
        """The former name of ``action_width`` (read-only; kept for environments written against it)."""
        return self.action_width

    @property
    def obs_shape(self) -> tuple[int, ...]:
        return (self.obs_dim,) if self.obs_kind == "vector" else ()

    @property
    def obs_dtype(self):
        return np.float32 if self.obs_kind == "vector" else np.int64

    def reset(self, seed=None) -> np.ndarray:
        """Start every task's first episode; returns the observations, shape ``(B, *obs_shape)``.

        ``seed``: anything ``numpy.random.default_rng`` takes, or ``TaskStreams`` (one per task).
        """
        if isinstance(seed, TaskStreams):
            if len(seed) != self.num_envs:
                raise EnvError(f"{self.name}: {len(seed)} task streams for {self.num_envs} tasks")
            self.rng = seed
        elif seed is not None:
            self.rng = np.random.default_rng(seed)
        self._obs = self._reset_tasks(np.ones(self.num_envs, dtype=bool))
        return self._obs.copy()

    def check_actions(self, actions) -> np.ndarray:
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,):
            raise EnvError(f"{self.name}: expected actions of shape ({self.num_envs},), got {actions.shape}")
        if actions.dtype.kind not in "iu":  # signed or unsigned integers
            raise EnvError(f"{self.name}: actions must be integer indices into each task's action set, got dtype {actions.dtype}")
        bad = (actions < 0) | (actions >= self.num_actions)
        if bad.any():
            b = int(np.flatnonzero(bad)[0])
            raise EnvError(
                f"{self.name}: action {int(actions[b])} is not available in task {b}, "
                f"which has {int(self.num_actions[b])} actions (allowed 0..{int(self.num_actions[b]) - 1})"
            )
        return actions.astype(np.int64, copy=False)

    def step(self, actions) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
        """Apply one action per task.

        Returns ``(next_obs, reward, done, info)``; ``info["regret"]`` is the expected regret of
        the chosen action (bandits) and ``info["success"]`` marks reaching the goal (darkroom).
        """
        if self._obs is None:
            raise EnvError(f"{self.name}: call reset() before step()")
        actions = self.check_actions(actions)
        reward, done, info = self._step(actions)
        self._obs = self._next_obs(done)
        return self._obs.copy(), reward.astype(np.float32, copy=False), done, info

    def select(self, index) -> BatchedEnv:
        """A new environment of tasks ``index`` of this one, each in its current state.

        ``index`` is a 1-D array of positions in this batch. A task that is mid-episode goes on
        where it is, so stepping the new environment with actions ``a[index]`` gives exactly what
        stepping this one with ``a`` gives for those tasks. The new environment shares this one's
        random generator; this environment is left as it is. Subclasses set ``supports_select``,
        call ``super().select(index)`` and index their own per-task arrays into the copy.
        """
        if not self.supports_select:
            raise NotImplementedError(f"{type(self).__name__} cannot select a subset of its tasks (supports_select is False)")
        index = np.asarray(index)
        if index.ndim != 1 or not np.issubdtype(index.dtype, np.integer):
            raise EnvError(f"{self.name}: select takes a 1-D integer array of task positions, got {index.dtype} of shape {index.shape}")
        if len(index) == 0:
            raise EnvError("an environment needs at least one task")
        new = copy.copy(self)  # shares the random generator; every per-task array is replaced below
        params = {key: value[index] for key, value in self.tasks.params.items()}
        new.tasks = TaskSet(self.tasks.env, self.num_actions[index], self.action_sets[index], params)
        new.num_envs = len(index)
        new.num_actions = new.tasks.num_actions
        new.action_sets = new.tasks.action_sets
        new.action_mask = self.action_mask[index]
        new._obs = None if self._obs is None else self._obs[index]
        if isinstance(self.rng, TaskStreams):  # per-task streams: each kept task goes on with its own
            new.rng = self.rng.rows(index, copy=True)
        return new

    def optimal_actions(self) -> np.ndarray:
        """``(B, A)`` bool: the local actions that are optimal in each task's current state (after
        ``reset``), the labels of DPT-style training; several where they tie. Environments that
        can compute them override this."""
        raise NotImplementedError(f"{type(self).__name__} does not compute optimal actions")

    # -- for subclasses -------------------------------------------------------------------------
    def rng_for(self, which):
        """The generator to draw for the tasks ``which`` (a mask): the tasks' own streams under
        ``TaskStreams``, else the environment's generator (draw ``which.sum()`` rows from it)."""
        return self.rng.rows(which) if isinstance(self.rng, TaskStreams) else self.rng

    def _reset_tasks(self, which: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
        raise NotImplementedError

    def _observe(self, which: np.ndarray) -> np.ndarray:
        """Observations of the tasks in ``which``, whose episodes go on after a step."""
        raise NotImplementedError

    def _next_obs(self, done: np.ndarray) -> np.ndarray:
        """After ``_step``: reset the tasks whose episode ended, observe the others.

        Returns every task's observation. Subclasses may override this with a faster equivalent.
        """
        obs = self._obs
        if done.any():
            obs[done] = self._reset_tasks(done)
        if not done.all():
            obs[~done] = self._observe(~done)
        return obs

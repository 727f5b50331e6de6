"""Gymnasium adapters: one task of a batched environment as a single ``gymnasium.Env``.

Each adapter wraps the batched environment with ``B = 1`` (the dynamics live in one place only)
and registers under the ``icrl/`` namespace when ``icrl`` is imported::

    import gymnasium as gym
    import icrl  # noqa: F401  (registers the ids)

    env = gym.make("icrl/DarkRoom-v0", goal=(2, 7), action_set=[0, 31, 62])
    obs, info = env.reset(seed=0)

Episode conventions:

- ``icrl/BernoulliBandit-v0`` and ``icrl/ContextualBandit-v0``: each pull is one step of one
  endless episode: ``terminated`` and ``truncated`` are always False. A bandit has no natural end;
  the paper's horizon is 300 pulls, which ``gym.make(..., max_episode_steps=300)`` adds as a
  ``TimeLimit``. ``info["regret"]`` is the expected regret of the pull (``max mu - mu[a]``, or
  against the best arm for the current context).
- ``icrl/DarkRoom-v0``: ``terminated`` when a compound action passes through the goal (reward 1),
  ``truncated`` after ``MAX_STEPS`` = 20 steps without it. The observation returned with the last
  step is where the agent really is, not the start of a next episode: the adapter never
  auto-resets; call ``reset()`` to play again (stepping a finished episode raises ``EnvError``).
- ``icrl/KeyDoor-v0``: Dark Key-to-Door; the same conventions as the darkroom, with
  ``MAX_STEPS`` = 50. Rewards are 1 for the key (first time in the episode) and 1 for the door
  with the key (``terminated``); a step may pay both. Each episode starts in a random cell
  (neither key nor door) drawn from ``self.np_random``.

All randomness (rewards, contexts) comes from Gymnasium's ``self.np_random``, so
``reset(seed=...)`` makes a run reproducible. Task parameters drawn from a constructor ``seed``
(bandit means, arm features, a darkroom goal, a key and a door) are fixed for the life of the environment.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium
import numpy as np
from gymnasium import spaces

from .bandit import BernoulliBandit
from .base import MAX_ACTIONS, BatchedEnv, EnvError, TaskSet, check_seed
from .contextual import CONTEXT_DIM, ContextualBandit
from .darkroom import GRID, MAX_STEPS, NUM_COMPOUND_ACTIONS, DarkRoom
from .keydoor import MAX_STEPS as KEYDOOR_MAX_STEPS
from .keydoor import KeyDoor

DEFAULT_NUM_ARMS = 10


class _SingleTaskEnv(gymnasium.Env):
    """A batched environment holding one task, seen through the Gymnasium API."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}
    env_id: ClassVar[str]

    def __init__(self, batched_env: BatchedEnv, render_mode: str | None = None):
        if render_mode is not None:
            raise EnvError(
                f"{self.env_id}: render_mode {render_mode!r} is not supported (no render modes)"
            )
        self.batched_env = batched_env
        self.num_actions = int(batched_env.num_actions[0])
        self.action_space = spaces.Discrete(self.num_actions)
        self._needs_reset = True

    @property
    def tasks(self) -> TaskSet:
        return self.batched_env.tasks

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if options:
            raise EnvError(f"{self.env_id}: reset takes no options, got {sorted(options)}")
        self.batched_env.rng = self.np_random  # one random stream: Gymnasium's
        obs = self.batched_env.reset()
        self._needs_reset = False
        return self._observation(obs[0]), {}

    def step(self, action):
        if self._needs_reset:
            raise EnvError(f"{self.env_id}: call reset() before step() (no episode is running)")
        index = self._check_action(action)
        self.batched_env.rng = self.np_random  # follow a user who replaced np_random
        obs, reward, done, info = self.batched_env.step(np.array([index], dtype=np.int64))
        return self._transition(obs, float(reward[0]), bool(done[0]), info)

    def _check_action(self, action) -> int:
        a = np.asarray(action)
        if a.shape != ():
            raise EnvError(
                f"{self.env_id}: expected one integer action, got {action!r} of shape {a.shape}"
            )
        if a.dtype == np.bool_ or not np.issubdtype(a.dtype, np.integer):
            raise EnvError(
                f"{self.env_id}: actions must be integers in 0..{self.num_actions - 1}, "
                f"got {action!r} of type {type(action).__name__}"
            )
        if not 0 <= int(a) < self.num_actions:
            raise EnvError(
                f"{self.env_id}: action {int(a)} is not available; this task has {self.num_actions} "
                f"actions (allowed 0..{self.num_actions - 1})"
            )
        return int(a)

    # -- for subclasses -------------------------------------------------------------------------
    def _observation(self, obs: np.ndarray):
        raise NotImplementedError

    def _transition(self, obs, reward: float, done: bool, info: dict):
        raise NotImplementedError


def _seeded_rng(seed: int | None) -> np.random.Generator:
    """numpy's generator of ``seed`` (None: fresh entropy); ``EnvError`` naming a bad seed."""
    check_seed(seed)
    return np.random.default_rng(seed)


def _check_num_arms(env_id: str, num_arms) -> int:
    if isinstance(num_arms, bool) or not isinstance(num_arms, (int, np.integer)) or not 1 <= num_arms <= MAX_ACTIONS:
        raise EnvError(f"{env_id}: num_arms must be an integer >= 1, got {num_arms!r} (at most {MAX_ACTIONS})")
    return int(num_arms)


def _arm_tasks(env: str, num_arms: int, params: dict[str, np.ndarray]) -> TaskSet:
    return TaskSet(env, np.array([num_arms]), np.arange(num_arms)[None, :], params)


class BernoulliBanditEnv(_SingleTaskEnv):
    """A Bernoulli bandit: ``means=[...]`` given, or ``num_arms`` means drawn U[0, 1] from ``seed``.

    No observation (``Discrete(1)``, always 0); each pull is one step of an endless episode.
    """

    env_id = "icrl/BernoulliBandit-v0"

    def __init__(
        self, means=None, num_arms: int | None = None, seed: int | None = None, render_mode=None
    ):
        if means is not None and num_arms is not None:
            raise EnvError(f"{self.env_id}: give means= or num_arms=, not both")
        if means is None:
            num_arms = _check_num_arms(
                self.env_id, DEFAULT_NUM_ARMS if num_arms is None else num_arms
            )
            means = _seeded_rng(seed).random(num_arms)
        try:
            means = np.asarray(means, dtype=np.float64)
        except (TypeError, ValueError):
            raise EnvError(f"{self.env_id}: means={means!r} is invalid: allowed a list of numbers in [0, 1]") from None
        if means.ndim != 1 or len(means) < 1:
            raise EnvError(
                f"{self.env_id}: means must be a non-empty 1-D list, got shape {means.shape}"
            )
        if not np.isfinite(means).all() or means.min() < 0 or means.max() > 1:
            raise EnvError(f"{self.env_id}: means must lie in [0, 1], got {means.tolist()}")
        self.means = means.copy()
        super().__init__(
            BernoulliBandit(_arm_tasks("bandit", len(means), {"means": means[None, :]})),
            render_mode,
        )
        self.observation_space = spaces.Discrete(1)

    def _observation(self, obs):
        return 0

    def _transition(self, obs, reward, done, info):
        return 0, reward, False, False, {"regret": float(info["regret"][0])}


class ContextualBanditEnv(_SingleTaskEnv):
    """A linear contextual bandit: ``arm_features`` of shape ``(A, 2)`` given, or ``num_arms``
    features drawn ``N(0, I)/sqrt(2)`` from ``seed``.

    The observation is the context (``Box(shape=(2,), float32)``, unbounded since it is Gaussian)
    on which the next arm is chosen; each pull is one step of an endless episode.
    """

    env_id = "icrl/ContextualBandit-v0"

    def __init__(
        self,
        arm_features=None,
        num_arms: int | None = None,
        seed: int | None = None,
        render_mode=None,
    ):
        if arm_features is not None and num_arms is not None:
            raise EnvError(f"{self.env_id}: give arm_features= or num_arms=, not both")
        if arm_features is None:
            num_arms = _check_num_arms(
                self.env_id, DEFAULT_NUM_ARMS if num_arms is None else num_arms
            )
            arm_features = _seeded_rng(seed).standard_normal((num_arms, CONTEXT_DIM)) / np.sqrt(2.0)
        try:
            features = np.asarray(arm_features, dtype=np.float64)
        except (TypeError, ValueError):
            raise EnvError(f"{self.env_id}: arm_features={arm_features!r} is invalid: allowed a "
                           f"(num_arms, {CONTEXT_DIM}) array of numbers") from None
        if features.ndim != 2 or features.shape[1] != CONTEXT_DIM or len(features) < 1:
            raise EnvError(
                f"{self.env_id}: arm_features must have shape (num_arms, {CONTEXT_DIM}), got {features.shape}"
            )
        if not np.isfinite(features).all():
            raise EnvError(f"{self.env_id}: arm_features must be finite, got {features.tolist()}")
        self.arm_features = features.copy()
        tasks = _arm_tasks("contextual", len(features), {"arm_features": features[None]})
        super().__init__(ContextualBandit(tasks), render_mode)
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(CONTEXT_DIM,), dtype=np.float32)

    def _observation(self, obs):
        return np.array(obs, dtype=np.float32)

    def _transition(self, obs, reward, done, info):
        return self._observation(obs[0]), reward, False, False, {"regret": float(info["regret"][0])}


class _GridEpisodeEnv(_SingleTaskEnv):
    """A grid task with episodes: the cell as observation, ``terminated`` on success,
    ``truncated`` at the step limit, and no auto-reset (the last observation is where the agent is)."""

    def _observation(self, obs):
        return int(obs)

    def _transition(self, obs, reward, done, info):
        terminated = bool(info["success"][0])
        truncated = done and not terminated
        self._needs_reset = done  # the batched env has already started a new episode: hide it
        return int(info["final_obs"][0]), reward, terminated, truncated, {"success": terminated}


class DarkRoomEnv(_GridEpisodeEnv):
    """Darkroom with compound actions: ``goal`` a cell index or ``(row, col)`` (default: drawn
    from ``seed``), ``action_set`` a list of distinct compound action ids (default all 125).

    Action ``i`` is compound action ``action_set[i]``; the observation is the cell ``row * 9 + col``.
    """

    env_id = "icrl/DarkRoom-v0"
    max_episode_steps = MAX_STEPS

    def __init__(self, goal=None, action_set=None, seed: int | None = None, render_mode=None):
        if goal is None:
            goal = int(_seeded_rng(seed).integers(GRID * GRID))
        self.goal = _check_cell(self.env_id, "goal", goal)
        self.action_set = _check_compound_action_set(self.env_id, action_set)
        ids = self.action_set
        tasks = TaskSet(
            "darkroom",
            np.array([len(ids)]),
            self.action_set[None, :],
            {"goals": np.array([self.goal])},
        )
        super().__init__(DarkRoom(tasks), render_mode)
        self.observation_space = spaces.Discrete(GRID * GRID)


def _check_compound_action_set(env_id: str, action_set) -> np.ndarray:
    """A non-empty list of distinct compound action ids (default: all 125)."""
    ids = np.arange(NUM_COMPOUND_ACTIONS) if action_set is None else np.asarray(action_set)
    if ids.ndim != 1 or len(ids) < 1 or not np.issubdtype(ids.dtype, np.integer):
        raise EnvError(
            f"{env_id}: action_set must be a non-empty list of integer action ids, got {action_set!r}"
        )
    bad = ids[(ids < 0) | (ids >= NUM_COMPOUND_ACTIONS)]
    if len(bad):
        raise EnvError(
            f"{env_id}: action ids must lie in 0..{NUM_COMPOUND_ACTIONS - 1}, got {bad.tolist()}"
        )
    if len(np.unique(ids)) != len(ids):
        raise EnvError(f"{env_id}: action ids must be distinct, got {ids.tolist()}")
    return ids.astype(np.int64)


def _check_cell(env_id: str, name: str, value) -> int:
    """A cell index in 0..80 or ``(row, col)``."""
    c = np.asarray(value)
    if c.shape == (2,) and np.issubdtype(c.dtype, np.integer) and ((0 <= c) & (c < GRID)).all():
        return int(c[0]) * GRID + int(c[1])
    if c.shape == () and np.issubdtype(c.dtype, np.integer) and 0 <= int(c) < GRID * GRID:
        return int(c)
    raise EnvError(
        f"{env_id}: {name} must be a cell index in 0..{GRID * GRID - 1} or (row, col) "
        f"with row, col in 0..{GRID - 1}, got {value!r}"
    )


class KeyDoorEnv(_GridEpisodeEnv):
    """Dark Key-to-Door with compound actions: ``key`` and ``door`` cell indices or ``(row, col)``
    (different cells; those not given are drawn from ``seed``), ``action_set`` a list of distinct
    compound action ids (default all 125).

    Action ``i`` is compound action ``action_set[i]``; the observation is the cell ``row * 9 + col``
    (whether the key is held is not observed). Each episode starts in a random cell that is neither
    the key nor the door; ``info["success"]`` marks reaching the door with the key.
    """

    env_id = "icrl/KeyDoor-v0"
    max_episode_steps = KEYDOOR_MAX_STEPS

    def __init__(
        self, key=None, door=None, action_set=None, seed: int | None = None, render_mode=None
    ):
        rng = _seeded_rng(seed)
        num_cells = GRID * GRID
        if key is not None:
            key = _check_cell(self.env_id, "key", key)
        if door is not None:
            door = _check_cell(self.env_id, "door", door)
        if key is None and door is None:
            key, door = (int(c) for c in rng.choice(num_cells, size=2, replace=False))
        elif key is None:
            key = (door + 1 + int(rng.integers(num_cells - 1))) % num_cells  # any cell but the door
        elif door is None:
            door = (key + 1 + int(rng.integers(num_cells - 1))) % num_cells
        if key == door:
            raise EnvError(f"{self.env_id}: key and door must be different cells, both are {key}")
        self.key, self.door = key, door
        self.action_set = _check_compound_action_set(self.env_id, action_set)
        tasks = TaskSet(
            "keydoor",
            np.array([len(self.action_set)]),
            self.action_set[None, :],
            {"keys": np.array([key]), "doors": np.array([door])},
        )
        super().__init__(KeyDoor(tasks), render_mode)
        self.observation_space = spaces.Discrete(num_cells)


GYM_ENVS: dict[str, type[_SingleTaskEnv]] = {
    cls.env_id: cls for cls in (BernoulliBanditEnv, ContextualBanditEnv, DarkRoomEnv, KeyDoorEnv)
}


def register_envs() -> None:
    """Register the adapters with Gymnasium; calling it again does nothing."""
    for env_id, cls in GYM_ENVS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(id=env_id, entry_point=f"{__name__}:{cls.__name__}")


__all__ = ["BernoulliBanditEnv", "ContextualBanditEnv", "DarkRoomEnv", "KeyDoorEnv", "GYM_ENVS", "register_envs"]

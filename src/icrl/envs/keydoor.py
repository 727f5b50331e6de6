"""Dark Key-to-Door with compound actions.

The Dark Key-to-Door task of Algorithm Distillation (Laskin et al., "In-context Reinforcement
Learning with Algorithm Distillation", 2022), with the compound actions of Headless-AD's darkroom
(see ``darkroom.py``): a 9x9 grid holding an invisible key cell and an invisible door cell
(``key != door``). An action is a sequence of three atomic moves (noop, up, right, down, left),
5**3 = 125 actions with global id ``25*m0 + 5*m1 + m2``; walls clip a move.

Each episode starts in a uniformly random cell that is neither the key nor the door, without the
key. The three moves of an action are applied in order and rewards accrue per move:

- reaching the key cell for the first time in the episode gives +1, and the agent then holds the
  key;
- reaching the door cell while holding the key (picked up at an earlier move, possibly earlier in
  the same compound action) gives +1 and ends the episode (a success);
- reaching the door without the key gives nothing and does not end the episode.

A step's reward is the sum over its moves (0, 1 or 2); the best return of an episode is 2. An
episode also ends after ``MAX_STEPS`` = 50 compound steps. The observation is the agent's cell
``row * 9 + col`` only: whether the key is held is not observed (the "dark" part), so a learner
has to infer it from its own history (the reward of 1 it collected earlier in the episode).
"""

from __future__ import annotations

import numpy as np

from .base import BatchedEnv, EnvError
from .darkroom import (
    GRID,
    NUM_COMPOUND_ACTIONS,
    action_paths,
    optimal_from,
    steps_to_go,
    visited_cells,
)

MAX_STEPS = 50
NUM_CELLS = GRID * GRID


def random_start_cells(keys: np.ndarray, doors: np.ndarray, rng) -> np.ndarray:
    """One uniform cell per task among the 79 that are neither its key nor its door.

    ``rng``: a ``numpy.random.Generator`` or ``TaskStreams`` of ``len(keys)`` tasks (one draw each).
    """
    low, high = np.minimum(keys, doors), np.maximum(keys, doors)
    u = rng.integers(0, NUM_CELLS - 2, size=len(keys))
    u = u + (u >= low)  # skip the lower of the two cells ...
    return u + (u >= high)  # ... then the higher one


class KeyDoor(BatchedEnv):
    """``B`` Dark Key-to-Door tasks stepped at once.

    Task parameters (``TaskSet.params``): ``keys`` and ``doors``, ``(B,)`` int cells in
    ``[0, 80]`` with ``keys != doors``. Action sets hold compound action ids in ``[0, 124]``.

    State, one entry per task: ``agent_cell`` ``(B,)`` int, ``has_key`` ``(B,)`` bool (never
    observed), ``t`` ``(B,)`` int steps taken in the current episode. Observations are ``(B,)``
    int cells. ``step`` returns ``(B,)`` float32 rewards in {0, 1, 2}, ``(B,)`` bool ``done`` and
    ``info`` with ``success`` / ``terminal`` ``(B,)`` bool (the door reached with the key) and
    ``final_obs`` ``(B,)`` int (the landing cell, before an ended episode is reset).
    """

    name = "keydoor"
    obs_kind = "discrete"
    obs_dim = NUM_CELLS
    max_episode_steps = MAX_STEPS
    supports_select = True
    param_ranges = {"keys": (0, NUM_CELLS - 1), "doors": (0, NUM_CELLS - 1)}
    # Distinct "rewards collected so far in this episode" counts a non-final state can have (0 or
    # 1: the key's reward): how many states a cell stands for (see ExploreReplay).
    reward_phases = 2

    def __init__(self, tasks, seed=None):
        super().__init__(tasks, seed)
        for required in ("keys", "doors"):
            if required not in tasks.params:
                raise EnvError(f"keydoor tasks need a {required!r} parameter (one cell per task)")
        keys = self._check_cells("keys", tasks.params["keys"])
        doors = self._check_cells("doors", tasks.params["doors"])
        same = np.flatnonzero(keys == doors)
        if len(same):
            b = int(same[0])
            raise EnvError(f"keydoor task {b}: key and door must be different cells, both are {int(keys[b])}")
        ids = self.action_sets
        bad = ((ids < 0) | (ids >= NUM_COMPOUND_ACTIONS)) & self.action_mask
        if bad.any():
            b, a = (int(i[0]) for i in np.nonzero(bad))
            raise EnvError(
                f"keydoor action ids must lie in [0, {NUM_COMPOUND_ACTIONS - 1}], "
                f"got {int(ids[b, a])} (task {b}, action {a})"
            )
        self.keys = keys
        self.doors = doors
        self._action_ids = np.where(self.action_mask, ids, 0)  # padding -> a valid id, never chosen
        self._visited = visited_cells()
        self.agent_cell = np.zeros(self.num_envs, dtype=np.int64)  # set by reset
        self.has_key = np.zeros(self.num_envs, dtype=bool)
        self.t = np.zeros(self.num_envs, dtype=np.int64)
        self._optimal = None  # (2 = key held, B, 81, A) optimal actions, made on first use

    def _check_cells(self, name: str, value) -> np.ndarray:
        cells = np.asarray(value)
        if cells.shape != (self.num_envs,) or not np.issubdtype(cells.dtype, np.integer):
            raise EnvError(f"keydoor {name} must be {self.num_envs} integer cells, got {cells.dtype} of shape {cells.shape}")
        bad = np.flatnonzero((cells < 0) | (cells >= NUM_CELLS))
        if len(bad):
            b = int(bad[0])
            raise EnvError(f"keydoor {name} must be cells in [0, {NUM_CELLS - 1}], got {int(cells[b])} (task {b})")
        return cells.astype(np.int64)

    def optimal_actions(self):
        """The local actions on a shortest way to finish from each task's state (cell, key held):
        to the door with the key; without it, via the key (an action may take both in order)."""
        if self._optimal is None:
            paths = action_paths(self._action_ids)
            key_at, door_at = paths == self.keys[:, None, None, None], paths == self.doors[:, None, None, None]
            landing = paths[..., -1].astype(np.int64)
            with_key_dist, with_key_cost = steps_to_go(door_at.any(axis=3), landing, self.action_mask)
            # without the key: finishing needs the door after the key within the action
            after_key = np.logical_or.accumulate(key_at, axis=3)
            finish = (door_at & after_key).any(axis=3)
            dist, cost = steps_to_go(finish, landing, self.action_mask, switch=key_at.any(axis=3), then=with_key_dist)
            self._optimal = np.stack([optimal_from(dist, cost, self.action_mask),
                                      optimal_from(with_key_dist, with_key_cost, self.action_mask)])
        return self._optimal[self.has_key.astype(np.int64), np.arange(self.num_envs), self.agent_cell]

    def select(self, index):
        new = super().select(index)
        new._optimal = None if self._optimal is None else self._optimal[:, index]
        new.keys = self.keys[index]
        new.doors = self.doors[index]
        new._action_ids = self._action_ids[index]
        new.agent_cell = self.agent_cell[index]
        new.has_key = self.has_key[index]
        new.t = self.t[index]
        return new

    @property
    def pos(self) -> np.ndarray:
        """``(B, 2)`` row and column of the agent."""
        return np.stack(np.divmod(self.agent_cell, GRID), axis=1)

    def _reset_tasks(self, which):
        self.agent_cell[which] = random_start_cells(self.keys[which], self.doors[which], self.rng_for(which))
        self.has_key[which] = False
        self.t[which] = 0
        return self.agent_cell[which]

    def _observe(self, which):
        return self.agent_cell[which]

    def _step(self, actions):
        ids = self._action_ids[np.arange(self.num_envs), actions]
        visited = self._visited[self.agent_cell, ids]  # (B, 3)
        key_hit = visited == self.keys[:, None]
        door_hit = visited == self.doors[:, None]
        # Held after move k: held before the action, or the key reached at move <= k. A door move
        # never is a key move (key != door), so door & held-after means the key came first.
        held = self.has_key[:, None] | np.logical_or.accumulate(key_hit, axis=1)
        success = (door_hit & held).any(axis=1)
        picked = held[:, -1] & ~self.has_key
        landed = visited[:, -1].copy()
        self.agent_cell = landed.copy()  # _next_obs writes into agent_cell; final_obs must not move
        self.has_key = held[:, -1]
        self.t += 1
        done = success | (self.t >= MAX_STEPS)
        reward = picked.astype(np.float32) + success
        info = {"success": success, "terminal": success, "final_obs": landed}
        return reward, done, info


__all__ = ["KeyDoor", "MAX_STEPS", "random_start_cells", "visited_cells"]

"""Darkroom with compound actions.

A 9x9 grid; the agent starts in the centre and looks for an invisible goal cell. An action is a
sequence of three atomic moves (noop, up, right, down, left), so there are 5**3 = 125 actions; the
global id of moves ``(m0, m1, m2)`` is ``25*m0 + 5*m1 + m2``. Walls clip a move. The reward is 1 if
any of the three cells visited passes through the goal, and the episode then ends; otherwise it
ends after ``MAX_STEPS`` compound steps. The observation is the agent's cell ``row * 9 + col``.
"""

from __future__ import annotations

import numpy as np

from .base import BatchedEnv, EnvError

GRID = 9
START = (GRID // 2, GRID // 2)
MAX_STEPS = 20
MOVE_NAMES = ("noop", "up", "right", "down", "left")
MOVES = np.array([(0, 0), (-1, 0), (0, 1), (1, 0), (0, -1)], dtype=np.int64)  # (drow, dcol)
MOVES_PER_ACTION = 3
NUM_COMPOUND_ACTIONS = len(MOVES) ** MOVES_PER_ACTION


def compound_moves(action_ids) -> np.ndarray:
    """Atomic move indices ``(..., 3)`` of global compound action ids."""
    ids = np.asarray(action_ids, dtype=np.int64)
    return np.stack([(ids // 25) % 5, (ids // 5) % 5, ids % 5], axis=-1)


def describe_action(action_id: int) -> str:
    return "-".join(MOVE_NAMES[m] for m in compound_moves(action_id))


def cell(row, col):
    return row * GRID + col


class DarkRoom(BatchedEnv):
    name = "darkroom"
    obs_kind = "discrete"
    obs_dim = GRID * GRID
    max_episode_steps = MAX_STEPS

    def __init__(self, tasks, seed=None):
        super().__init__(tasks, seed)
        goals = np.asarray(tasks.params["goals"], dtype=np.int64)
        if goals.min() < 0 or goals.max() >= GRID * GRID:
            raise EnvError(f"darkroom goals must be cells in [0, {GRID * GRID - 1}], got {goals.min()}..{goals.max()}")
        ids = self.action_sets
        if ((ids < 0) & self.action_mask).any() or ids.max() >= NUM_COMPOUND_ACTIONS:
            raise EnvError(f"darkroom action ids must lie in [0, {NUM_COMPOUND_ACTIONS - 1}]")
        self.goal_rc = np.stack([goals // GRID, goals % GRID], axis=1)
        # Per task and local action: the three (drow, dcol) moves, looked up once.
        self.action_moves = MOVES[compound_moves(np.where(ids >= 0, ids, 0))]  # (B, A, 3, 2)
        self.pos = np.zeros((self.num_envs, 2), dtype=np.int64)
        self.t = np.zeros(self.num_envs, dtype=np.int64)

    def _reset_tasks(self, which):
        self.pos[which] = START
        self.t[which] = 0
        return cell(self.pos[which, 0], self.pos[which, 1])

    def _observe(self, which):
        return cell(self.pos[which, 0], self.pos[which, 1])

    def _step(self, actions):
        rows = np.arange(self.num_envs)
        moves = self.action_moves[rows, actions]  # (B, 3, 2)
        hit = np.zeros(self.num_envs, dtype=bool)
        pos = self.pos
        for k in range(MOVES_PER_ACTION):
            pos = np.clip(pos + moves[:, k], 0, GRID - 1)
            hit |= (pos == self.goal_rc).all(axis=1)
        self.pos = pos
        self.t += 1
        done = hit | (self.t >= MAX_STEPS)
        # final_obs: where the step really led, before an ended episode is reset (for bootstrapping).
        info = {"success": hit, "terminal": hit, "final_obs": cell(pos[:, 0], pos[:, 1])}
        return hit.astype(np.float32), done, info

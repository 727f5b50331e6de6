"""Darkroom with compound actions.

A 9x9 grid; the agent starts in the centre and looks for an invisible goal cell. An action is a
sequence of three atomic moves (noop, up, right, down, left), so there are 5**3 = 125 actions; the
global id of moves ``(m0, m1, m2)`` is ``25*m0 + 5*m1 + m2``. Walls clip a move. The reward is 1 if
any of the three cells visited passes through the goal, and the episode then ends; otherwise it
ends after ``MAX_STEPS`` compound steps. The observation is the agent's cell ``row * 9 + col``.
"""

from __future__ import annotations

import functools

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


START_CELL = cell(*START)


@functools.cache
def visited_cells() -> np.ndarray:
    """``(81, 125, 3)`` read-only: the cell after each of the three moves of action ``id`` from
    cell ``c`` (walls clip each move), so ``[..., -1]`` is where the action lands."""
    rows, cols = np.divmod(np.arange(GRID * GRID), GRID)
    pos = np.stack([rows, cols], axis=-1)[:, None, :]  # (81, 1, 2)
    moves = MOVES[compound_moves(np.arange(NUM_COMPOUND_ACTIONS))]  # (125, 3, 2)
    visited = []
    for k in range(MOVES_PER_ACTION):
        pos = np.clip(pos + moves[None, :, k], 0, GRID - 1)  # (81, 125, 2)
        visited.append(cell(pos[..., 0], pos[..., 1]))
    table = np.stack(visited, axis=-1).astype(np.int64)  # (81, 125, 3)
    table.flags.writeable = False  # shared by every DarkRoom and KeyDoor
    return table


@functools.cache
def _transition_tables() -> tuple[np.ndarray, np.ndarray]:
    """Where every compound action leads from every cell, and which cells it passes through.

    ``landing[c * 125 + id]`` is the cell reached from cell ``c`` by action ``id``;
    ``passes[g * 81 * 125 + c * 125 + id]`` is True when one of its three moves ends on cell ``g``
    (goal-major: a task only ever reads its own goal's slice). Stepping is then two table look-ups
    per task instead of three clipped moves.
    """
    visited = visited_cells()
    passes = (visited[None, ...] == np.arange(GRID * GRID)[:, None, None, None]).any(axis=3)  # (81 goals, 81, 125)
    landing, passes = visited[..., -1].reshape(-1).copy(), passes.reshape(-1)
    landing.flags.writeable = passes.flags.writeable = False  # shared by every DarkRoom
    return landing, passes


UNREACHABLE = 10**6  # steps_to_go of a cell from which the task cannot be finished


def steps_to_go(finish: np.ndarray, landing: np.ndarray, action_mask: np.ndarray,
                switch: np.ndarray | None = None, then: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fewest compound steps to finish a grid task, by value iteration over the cells.

    ``finish`` ``(B, 81, A)``: local action ``a`` from cell ``c`` finishes the task (passes the
    goal); ``landing`` ``(B, 81, A)``: the cell it lands on; ``action_mask`` ``(B, A)``: the
    available actions. With ``switch`` (an action that moves the task into another phase, e.g.
    picking up the key) and ``then`` ``(B, 81)`` (steps to go in that phase), such an action costs
    1 + ``then[landing]``. Returns ``dist`` ``(B, 81)`` (``UNREACHABLE`` where the task cannot be
    finished with these actions) and ``cost`` ``(B, 81, A)``, the steps to go after taking each action.
    """
    B, C, _ = landing.shape
    rows = np.arange(B)[:, None, None]
    dist = np.full((B, C), UNREACHABLE, dtype=np.int64)
    for _ in range(C + 1):  # a shortest path visits each cell at most once
        cost = np.where(finish, 1, 1 + dist[rows, landing])
        if switch is not None:
            cost = np.where(switch & ~finish, 1 + then[rows, landing], cost)
        cost = np.where(action_mask[:, None, :], np.minimum(cost, UNREACHABLE), UNREACHABLE)
        new = cost.min(axis=2)
        if np.array_equal(new, dist):
            break
        dist = new
    return dist, cost


def optimal_from(dist: np.ndarray, cost: np.ndarray, action_mask: np.ndarray) -> np.ndarray:
    """``(B, 81, A)`` bool: the actions on a shortest path from each cell (every available action
    where the task cannot be finished: none is better)."""
    stuck = (dist >= UNREACHABLE)[..., None]
    return np.where(stuck, action_mask[:, None, :], cost == dist[..., None])


def action_paths(action_ids: np.ndarray) -> np.ndarray:
    """``(B, 81, A, 3)`` int8: the cells each task's local actions visit from every cell."""
    return visited_cells().astype(np.int8)[:, action_ids].transpose(1, 0, 2, 3)


class DarkRoom(BatchedEnv):
    name = "darkroom"
    obs_kind = "discrete"
    obs_dim = GRID * GRID
    max_episode_steps = MAX_STEPS
    supports_select = True
    param_ranges = {"goals": (0, GRID * GRID - 1)}

    def __init__(self, tasks, seed=None):
        super().__init__(tasks, seed)
        goals = np.asarray(tasks.params["goals"], dtype=np.int64)
        if goals.min() < 0 or goals.max() >= GRID * GRID:
            raise EnvError(f"darkroom goals must be cells in [0, {GRID * GRID - 1}], got {goals.min()}..{goals.max()}")
        ids = self.action_sets
        if ((ids < 0) & self.action_mask).any() or ids.max() >= NUM_COMPOUND_ACTIONS:
            raise EnvError(f"darkroom action ids must lie in [0, {NUM_COMPOUND_ACTIONS - 1}]")
        self.goals = goals
        self._goal_starts = goals * (GRID * GRID * NUM_COMPOUND_ACTIONS)  # the goal's slice of _passes
        self._action_ids = ids.astype(np.int16).reshape(-1)  # global id of [b, a] at b * A + a (small: read at random)
        self._row_starts = np.arange(self.num_envs) * self.action_width
        self._landing, self._passes = _transition_tables()
        self.agent_cell = np.full(self.num_envs, START_CELL, dtype=np.int64)  # the agent's cell
        self.t = np.zeros(self.num_envs, dtype=np.int64)
        self._optimal = None  # (B, 81, A) optimal actions per cell, made on first use

    def optimal_actions(self):
        """The local actions on a shortest path to the goal from each task's cell (ties: all),
        among the task's own actions; computed once per task set by value iteration."""
        if self._optimal is None:
            ids = self._action_ids.reshape(self.num_envs, self.action_width).astype(np.int64)
            paths = action_paths(np.where(self.action_mask, ids, 0))
            finish = (paths == self.goals[:, None, None, None]).any(axis=3)
            dist, cost = steps_to_go(finish, paths[..., -1].astype(np.int64), self.action_mask)
            self._optimal = optimal_from(dist, cost, self.action_mask)
        return self._optimal[np.arange(self.num_envs), self.agent_cell]

    def select(self, index):
        new = super().select(index)
        new._optimal = None if self._optimal is None else self._optimal[index]
        new.goals = self.goals[index]
        new._goal_starts = self._goal_starts[index]
        new._action_ids = self._action_ids.reshape(self.num_envs, self.action_width)[index].reshape(-1)
        new._row_starts = np.arange(new.num_envs) * self.action_width
        new.agent_cell = self.agent_cell[index]
        new.t = self.t[index]
        return new

    @property
    def pos(self) -> np.ndarray:
        """``(B, 2)`` row and column of the agent."""
        return np.stack(np.divmod(self.agent_cell, GRID), axis=1)

    def _reset_tasks(self, which):
        self.agent_cell[which] = START_CELL
        self.t[which] = 0
        return self.agent_cell[which]

    def _observe(self, which):
        return self.agent_cell[which]

    def _next_obs(self, done):
        # The generic auto-reset in two whole-batch operations.
        self.agent_cell = np.where(done, START_CELL, self.agent_cell)
        self.t = np.where(done, 0, self.t)
        return self.agent_cell

    def _step(self, actions):
        key = self.agent_cell * NUM_COMPOUND_ACTIONS + self._action_ids[self._row_starts + actions]
        hit = self._passes[self._goal_starts + key]
        landed = self._landing[key]  # a new array: _next_obs replaces agent_cell, never writes into it
        self.agent_cell = landed
        self.t += 1
        done = hit | (self.t >= MAX_STEPS)
        # final_obs: where the step really led, before an ended episode is reset (for bootstrapping).
        info = {"success": hit, "terminal": hit, "final_obs": landed}
        return hit.astype(np.float32), done, info

"""MiniGrid random-goal rooms as a ``GymFamily`` (presets ``minigrid``, ``minigrid-cpu``; needs ``minigrid``).

A task is the goal cell of an empty 6x6 MiniGrid room (4x4 free cells; Farama's ``minigrid``
package), ``{"goal": [x, y]}``; the agent always starts in the top-left cell facing east. Of the 15
goal cells, ``TEST_GOALS`` are held out as test tasks. The observation is the agent's partial
7x7x3 view (``ImgObsWrapper``: object, colour and state per cell), a ``Box`` flattened to 147
numbers, so the goal is seen only once it is in view. The agent uses MiniGrid's three moves (turn
left, turn right, forward); an action is a sequence of 2 of them: 9 compound actions, 4 held out
as unseen. Reward on reaching the goal: MiniGrid's ``1 - 0.9 * steps / max_steps``.

Teacher: ``noisy_oracle`` (tabular learners need discrete observations); the oracle is a
breadth-first-search planner over (cell, direction) on the full grid. ``copy_env`` copies only
the agent's state (the room is static), so the look-ahead over compound actions is cheap.
"""

from __future__ import annotations

import copy
import functools
from collections import deque

import gymnasium

from ..family import GymFamily

SIZE = 6  # with walls: 4x4 free cells
START = (1, 1)
CELLS = [(x, y) for y in range(1, SIZE - 1) for x in range(1, SIZE - 1) if (x, y) != START]
TEST_GOALS = [(4, 2), (2, 4), (3, 3), (4, 4)]
MAX_STEPS = 15  # compound steps (30 moves) per episode
DIRECTIONS = ((1, 0), (0, 1), (-1, 0), (0, -1))  # MiniGrid's agent_dir 0..3: east, south, west, north


def sample_goals(rng, n: int, split: str) -> list[dict]:
    pool = TEST_GOALS if split == "test" else [c for c in CELLS if c not in TEST_GOALS]
    return [{"goal": list(pool[i])} for i in rng.integers(0, len(pool), size=n)]


class _Navigation(gymnasium.ActionWrapper):
    """MiniGrid with its three moves only: 0 turn left, 1 turn right, 2 forward."""

    def __init__(self, env):
        super().__init__(env)
        self.action_space = gymnasium.spaces.Discrete(3)

    def action(self, action):
        return int(action)


def make_room(task: dict, seed: int):
    try:
        from minigrid.envs.empty import EmptyEnv
        from minigrid.wrappers import ImgObsWrapper
    except ImportError:
        from ..family import FamilyError

        raise FamilyError("the minigrid family needs the minigrid package: pip install 'icrl[gym]'") from None

    class RandomGoalRoom(EmptyEnv):
        def _gen_grid(self, width, height):
            from minigrid.core.grid import Grid
            from minigrid.core.world_object import Goal

            self.grid = Grid(width, height)
            self.grid.wall_rect(0, 0, width, height)
            self.put_obj(Goal(), *task["goal"])
            self.agent_pos, self.agent_dir = START, 0
            self.mission = "get to the green goal square"

    return _Navigation(ImgObsWrapper(RandomGoalRoom(size=SIZE, max_steps=2 * MAX_STEPS)))


def copy_room(env):
    """A copy that steps independently of ``env``: each wrapper and the room shallow-copied (the
    grid is shared: moving never changes it)."""
    new = copy.copy(env)
    if isinstance(env, gymnasium.Wrapper):
        new.env = copy_room(env.env)
    return new


@functools.lru_cache(maxsize=64)
def _distances(goal: tuple[int, int]) -> dict:
    """Moves to the goal from every (x, y, direction) of the room, by breadth-first search backwards."""
    free = {(x, y) for x in range(1, SIZE - 1) for y in range(1, SIZE - 1)}
    dist = {}
    queue = deque()
    for d, (dx, dy) in enumerate(DIRECTIONS):  # one forward move onto the goal
        before = (goal[0] - dx, goal[1] - dy)
        if before in free:
            dist[(*before, d)] = 1
            queue.append((*before, d))
    while queue:
        x, y, d = queue.popleft()
        dx, dy = DIRECTIONS[d]
        previous = [(x, y, (d + 1) % 4), (x, y, (d - 1) % 4)]  # turned left / right into d
        if (x - dx, y - dy) in free and (x - dx, y - dy) != goal:
            previous.append((x - dx, y - dy, d))  # moved forward into (x, y)
        for state in previous:
            if state not in dist:
                dist[state] = dist[(x, y, d)] + 1
                queue.append(state)
    return dist


def shortest_moves(env, obs) -> list[int]:
    """The moves (0 left, 1 right, 2 forward) on a shortest path to the goal from the agent's state."""
    room = env.unwrapped
    goal = tuple(int(v) for v in room.goal_pos) if hasattr(room, "goal_pos") else _find_goal(room)
    dist = _distances(goal)
    x, y, d = int(room.agent_pos[0]), int(room.agent_pos[1]), int(room.agent_dir)
    here = dist.get((x, y, d))
    if here is None:
        return [0, 1, 2]
    dx, dy = DIRECTIONS[d]
    after = {0: (x, y, (d - 1) % 4), 1: (x, y, (d + 1) % 4), 2: (x + dx, y + dy, d)}
    moves = [m for m, state in after.items() if dist.get(state, 0 if state[:2] == goal else -1) == here - 1]
    return moves or [0, 1, 2]


def _find_goal(room) -> tuple[int, int]:
    for x in range(room.grid.width):
        for y in range(room.grid.height):
            cell = room.grid.get(x, y)
            if cell is not None and cell.type == "goal":
                return x, y
    raise ValueError("the room has no goal")


MINIGRID = GymFamily(
    name="minigrid", make_env=make_room, sample_tasks=sample_goals, compound=2, action_split=0.4,
    teacher="noisy_oracle", oracle=shortest_moves, episodes=30, max_episode_steps=MAX_STEPS,
    copy_env=copy_room, reference="icrl.suites.minigrid_rooms:MINIGRID",
    # tuning on 20 validation tasks per suite, not 50: MiniGrid steps cost about 10x FrozenLake's, and
    # tuning plays 5 protocols on 8 suites (an estimated 16 min at 50 on 2 cores, 12 min at 20)
    cpu_overrides={"eval": {"tune_num_tasks": 20}},
    num_train_tasks=len(CELLS) - len(TEST_GOALS), num_test_tasks=len(TEST_GOALS),
)

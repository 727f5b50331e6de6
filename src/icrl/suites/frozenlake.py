"""Gymnasium's FrozenLake on random maps, as a ``GymFamily`` (presets ``frozenlake``, ``frozenlake-cpu``).

A task is a 4x4 map from ``gymnasium.envs.toy_text.frozen_lake.generate_random_map`` (start top
left, goal bottom right, holes that end the episode with no reward; always solvable), given as
``{"map": ["SFFF", "FHFH", ...]}``. Training and test maps are disjoint: a map belongs to the test
split when the CRC-32 of its rows is divisible by ``TEST_EVERY``, so no test map is ever trained on.
Moves are deterministic (``is_slippery=False``); the observation is the cell (``Discrete(16)``);
an action is a sequence of 2 moves (left, down, right, up): 16 compound actions, 6 of them held out
as unseen test actions. An episode lasts at most ``MAX_STEPS`` compound steps.

Teacher: tabular Q-learning, its epsilon falling over the 50 episodes of a history. Unlike the
darkroom, explore-replay is the weaker teacher here: holes end most random episodes, so uniform
exploration finds the goal in about a third of the tasks within 50 episodes (train actions), while
Q-learning's random initial values send it to untried actions and it reaches 0.8-1.0 success by
its last episode; explore-replay is scored beside it. The oracle (breadth-first search on the map)
gives optimal moves for ``noisy_oracle`` and DPT labels.
"""

from __future__ import annotations

import functools
import zlib
from collections import deque

import numpy as np

from ..family import GymFamily, register

SIZE = 4
FROZEN_PROBABILITY = 0.8
TEST_EVERY = 5  # one map in TEST_EVERY (by its CRC-32) is a test map
MAX_STEPS = 12  # compound steps (24 moves) per episode
MOVES = ((0, -1), (1, 0), (0, 1), (-1, 0))  # FrozenLake's actions: left, down, right, up as (drow, dcol)


def is_test_map(rows) -> bool:
    return zlib.crc32("".join(rows).encode()) % TEST_EVERY == 0


def sample_maps(rng: np.random.Generator, n: int, split: str) -> list[dict]:
    """``n`` random solvable maps of ``split`` (``"train"`` or ``"test"``) as ``{"map": rows}``."""
    from gymnasium.envs.toy_text.frozen_lake import generate_random_map

    maps = []
    while len(maps) < n:
        rows = generate_random_map(SIZE, FROZEN_PROBABILITY, seed=int(rng.integers(2**31 - 1)))
        if is_test_map(rows) == (split == "test"):
            maps.append({"map": list(rows)})
    return maps


def make_frozenlake(task: dict, seed: int):
    from gymnasium.envs.toy_text.frozen_lake import FrozenLakeEnv

    return FrozenLakeEnv(desc=task["map"], is_slippery=False)


def _land(rows, cell: int, move: int) -> int:
    r, c = divmod(cell, len(rows))
    dr, dc = MOVES[move]
    r, c = min(max(r + dr, 0), len(rows) - 1), min(max(c + dc, 0), len(rows) - 1)
    return r * len(rows) + c


def shortest_moves(env, obs) -> list[int]:
    """The moves on a shortest path to the goal from cell ``obs`` (holes are dead ends); every
    move where the goal cannot be reached."""
    rows = tuple(bytes(r).decode() if not isinstance(r, str) else r for r in env.unwrapped.desc)
    dist = _distances(rows)
    here = int(obs)
    if dist[here] < 0:
        return list(range(len(MOVES)))
    return [m for m in range(len(MOVES)) if dist[_land(rows, here, m)] == dist[here] - 1]


@functools.lru_cache(maxsize=4096)
def _distances(rows: tuple[str, ...]) -> tuple[int, ...]:
    """Moves to the goal from every cell of a map (-1: unreachable), by breadth-first search backwards."""
    cells = "".join(rows)
    dist = [-1] * len(cells)
    goal = cells.index("G")
    dist[goal] = 0
    queue = deque([goal])
    while queue:
        cell = queue.popleft()
        for other in range(len(cells)):
            if dist[other] < 0 and cells[other] not in "HG" and any(
                    _land(rows, other, m) == cell for m in range(len(MOVES))):
                dist[other] = dist[cell] + 1
                queue.append(other)
    return tuple(dist)


FROZENLAKE = register(GymFamily(
    name="frozenlake", make_env=make_frozenlake, sample_tasks=sample_maps, compound=2, action_split=0.4,
    teacher="qlearning", baselines=("explore_replay",), oracle=shortest_moves, episodes=50, max_episode_steps=MAX_STEPS, metric="success",
))

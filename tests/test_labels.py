"""Optimal-action labels (``BatchedEnv.optimal_actions``, for DPT-style training) against brute
force: the bandits by direct argmax, the grid tasks by a breadth-first search over atomic moves
written here, independently of the environments' tables."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from icrl.envs import TaskSet, make_env
from icrl.suites import eval_suite

STEP = {0: (0, 0), 1: (-1, 0), 2: (0, 1), 3: (1, 0), 4: (0, -1)}  # noop, up, right, down, left


def walk(cell: int, action_id: int) -> list[int]:
    """The three cells an action visits from ``cell``, one clipped atomic move at a time."""
    r, c = divmod(cell, 9)
    out = []
    for m in (action_id // 25, (action_id // 5) % 5, action_id % 5):
        r, c = min(8, max(0, r + STEP[m][0])), min(8, max(0, c + STEP[m][1]))
        out.append(r * 9 + c)
    return out


def bfs(start, ids, advance):
    """Fewest actions from ``start`` until ``advance(state, id)`` reports the end; None if never.
    ``advance`` returns (finished, next state)."""
    seen, frontier, depth = {start}, deque([start]), 1
    while frontier:
        nxt = deque()
        for state in frontier:
            for a in ids:
                finished, after = advance(state, a)
                if finished:
                    return depth
                if after not in seen:
                    seen.add(after)
                    nxt.append(after)
        frontier, depth = nxt, depth + 1
    return None


def optimal_by_search(start, ids, advance):
    best = bfs(start, ids, advance)
    if best is None:
        return set(range(len(ids)))
    good = set()
    for i, a in enumerate(ids):
        finished, after = advance(start, a)
        rest = 0 if finished else bfs(after, ids, advance)
        if rest is not None and 1 + rest == best:
            good.add(i)
    return good


def grid_tasks(env, rng, n=4):
    ids = [np.sort(rng.choice(125, size=int(rng.integers(3, 25)), replace=False)) for _ in range(n)]
    width = max(map(len, ids))
    sets = np.array([np.pad(x, (0, width - len(x)), constant_values=-1) for x in ids])
    cells = np.array([rng.choice(81, 2, replace=False) for _ in range(n)])  # goal, or key and door
    params = {"goals": cells[:, 0]} if env == "darkroom" else {"keys": cells[:, 0], "doors": cells[:, 1]}
    return TaskSet(env, [len(x) for x in ids], sets, params), ids


@pytest.mark.parametrize("seed", range(3))
def test_darkroom_labels_are_the_shortest_paths(seed):
    rng = np.random.default_rng(seed)
    tasks, ids = grid_tasks("darkroom", rng)
    env = make_env(tasks)
    env.reset(seed=0)
    for cell in rng.choice(81, size=6, replace=False):
        env.agent_cell[:] = cell
        labels = env.optimal_actions()
        for b, goal in enumerate(tasks.params["goals"]):
            def advance(c, a, goal=goal):
                path = walk(c, a)
                return goal in path, path[-1]
            assert set(np.flatnonzero(labels[b])) == optimal_by_search(int(cell), ids[b], advance), (b, cell)


@pytest.mark.parametrize("seed", range(3))
def test_keydoor_labels_are_the_shortest_ways_via_the_key(seed):
    rng = np.random.default_rng(10 + seed)
    tasks, ids = grid_tasks("keydoor", rng)
    env = make_env(tasks)
    env.reset(seed=0)
    for cell in rng.choice(81, size=4, replace=False):
        for held in (False, True):
            env.agent_cell[:], env.has_key[:] = cell, held
            labels = env.optimal_actions()
            for b in range(len(tasks)):
                key, door = tasks.params["keys"][b], tasks.params["doors"][b]

                def advance(state, a, key=key, door=door):
                    c, k = state
                    for v in walk(c, a):
                        k = k or v == key
                        if v == door and k:
                            return True, None
                    return False, (walk(c, a)[-1], k)

                expected = optimal_by_search((int(cell), held), ids[b], advance)
                assert set(np.flatnonzero(labels[b])) == expected, (b, cell, held)


def test_bandit_labels_are_the_best_arms_with_ties():
    means = np.array([[0.2, 0.9, 0.9, 0.1], [0.5, 0.3, 0.0, 0.0]])
    env = make_env(TaskSet("bandit", [4, 2], np.array([[0, 1, 2, 3], [0, 1, -1, -1]]), {"means": means}))
    env.reset(seed=0)
    np.testing.assert_array_equal(env.optimal_actions(), [[False, True, True, False], [True, False, False, False]])


def test_contextual_labels_follow_the_current_context():
    tasks = eval_suite("contextual", "eval", seed=0, num_tasks=20)
    env = make_env(tasks)
    obs = env.reset(seed=1)
    rng = np.random.default_rng(0)
    for _ in range(5):
        labels = env.optimal_actions()
        for b in range(len(tasks)):
            n = tasks.num_actions[b]
            values = [float(tasks.params["arm_features"][b, a] @ env._context[b]) for a in range(n)]
            assert np.flatnonzero(labels[b]).tolist() == [int(np.argmax(values))]
        obs = env.step((rng.random(len(tasks)) * tasks.num_actions).astype(np.int64))[0]
    assert obs.shape == (20, 2)


def test_labels_follow_select():
    tasks = eval_suite("keydoor", "test_test", seed=0, num_tasks=6)
    env = make_env(tasks)
    env.reset(seed=0)
    full = env.optimal_actions()
    np.testing.assert_array_equal(env.select(np.array([4, 1])).optimal_actions(), full[[4, 1]])

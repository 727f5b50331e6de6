"""Dark Key-to-Door with compound actions: task and action splits, training tasks, 10 eval sets.

A task is a (key, door) pair of distinct cells: 81 * 80 = 6,480 tasks, split once (seeded) into
85% training and 15% test pairs, so test tasks are unseen key/door combinations (the AD paper
trains on fewer than 2,000 of them). Actions follow the darkroom's split (50 train / 75 test
compound actions, ``darkroom_split``). Eval sets mirror the darkroom's: 5 action sets (``train``,
``perm_train``, ``cut_test``, ``test``, ``all``) x {train, test} tasks, named
``<action set>_<tasks>``.

Teacher: ``explore_replay`` keyed by (cell, rewards so far in the episode): Q-learning on the
cell alone cannot tell whether the key is held, so its histories do not converge; the
demonstrator's do (about 1.5 of the best return 2 after 30 episodes with all 125 actions, since
a random start off the replayed path must first find it). Q-learning is kept as a baseline. The
metric is the return of the last in-context episode (0, 1 or 2); normalised, 0 = random play and
1 = the demonstrator over the same number of episodes, the paper's reference (``paper_reference``).
``keydoor-cpu`` learns from AD-epsilon contexts (``noisy_oracle``) with optimal-action targets and
is normalised against ``noisy_oracle``, the teacher of its contexts (``reference_policy``), with
explore-replay beside it as ``normalized_paper``.
"""

from __future__ import annotations

import numpy as np

from ..envs.base import TaskSet
from ..envs.keydoor import NUM_CELLS, KeyDoor
from . import EnvSpec, Horizon, register, stream
from .darkroom import (
    DARKROOM_ACTION_SETS,
    DARKROOM_TRAIN_ACTIONS,
    darkroom_action_set,
    darkroom_split,
    draw_from_pool,
)

KEYDOOR_TEST_FRACTION = 0.15
KEYDOOR_SPLIT_SEED = 0  # one split for the whole project, like the darkroom's


def keydoor_split(seed: int = KEYDOOR_SPLIT_SEED) -> dict[str, np.ndarray]:
    """``train_pairs`` / ``test_pairs``: ``(N, 2)`` (key, door) cells, disjoint, 85% / 15%."""
    keys, doors = np.divmod(np.arange(NUM_CELLS * NUM_CELLS), NUM_CELLS)
    pairs = np.stack([keys, doors], axis=1)[keys != doors]
    pairs = pairs[stream(seed, "keydoor", "split").permutation(len(pairs))]
    n_test = int(round(KEYDOOR_TEST_FRACTION * len(pairs)))
    return {"train_pairs": pairs[n_test:], "test_pairs": pairs[:n_test]}


def keydoor_tasks(rng, num_tasks, pair_pool, action_set, permute: bool, cycle: bool, sizes=None) -> TaskSet:
    """Tasks with (key, door) pairs from ``pair_pool`` (drawn at random, or cycled for eval sets);
    ``sizes``: action subsets, as in ``draw_from_pool``."""
    pairs, action_sets, num_actions = draw_from_pool(rng, num_tasks, pair_pool, action_set, permute, cycle, sizes)
    return TaskSet("keydoor", num_actions, action_sets, {"keys": pairs[:, 0], "doors": pairs[:, 1]})


def _train_tasks(rng, num_tasks, min_actions, max_actions) -> TaskSet:
    return keydoor_tasks(rng, num_tasks, keydoor_split()["train_pairs"], darkroom_split()["train_actions"],
                         permute=False, cycle=False, sizes=(min_actions, max_actions))


def _eval_suite(name: str, rng, num_tasks: int) -> TaskSet:
    action_name, task_name = name.rsplit("_", 1)
    return keydoor_tasks(rng, num_tasks, keydoor_split()[f"{task_name}_pairs"],
                         darkroom_action_set(darkroom_split(), action_name), permute=action_name == "perm_train", cycle=True)


SPEC = register(EnvSpec(
    name="keydoor",
    env_class=KeyDoor,
    eval_suites=tuple(f"{a}_{t}" for a in DARKROOM_ACTION_SETS for t in ("train", "test")),
    teacher="explore_replay",
    baselines=("random", "qlearning", "qlearning@20ep", "explore_replay"),
    paper_reference="explore_replay",
    reference="the explore-replay demonstrator over the same episodes",
    metric="return",
    default_horizon=Horizon(episodes=100),
    universe=125,
    train_min_actions=DARKROOM_TRAIN_ACTIONS,
    train_max_actions=DARKROOM_TRAIN_ACTIONS,
    make_train_tasks=_train_tasks,
    make_eval_suite=_eval_suite,
))

"""Darkroom with compound actions: the seeded goal and action splits, training tasks, 10 eval sets."""

from __future__ import annotations

import numpy as np

from ..envs.base import EnvError, TaskSet
from ..envs.darkroom import GRID, NUM_COMPOUND_ACTIONS, DarkRoom
from . import EnvSpec, Horizon, register, stream

DARKROOM_ACTION_SETS = ("train", "perm_train", "cut_test", "test", "all")
DARKROOM_GOAL_SETS = ("train", "test")
DARKROOM_TRAIN_GOALS = 68
DARKROOM_TRAIN_ACTIONS = 50
DARKROOM_SPLIT_SEED = 0  # one split for the whole project: datasets and eval suites must agree on it


def darkroom_split(seed: int = DARKROOM_SPLIT_SEED) -> dict[str, np.ndarray]:
    """The seeded goal and action splits: 68/13 goals, 50/75 compound actions.

    The split does not follow the dataset or eval seed: a model trained on one seed's data and
    evaluated with another seed must still see the same train and test actions and goals.
    """
    rng = stream(seed, "darkroom", "split")
    goals = rng.permutation(GRID * GRID)
    actions = rng.permutation(NUM_COMPOUND_ACTIONS)
    return {
        "train_goals": goals[:DARKROOM_TRAIN_GOALS],
        "test_goals": goals[DARKROOM_TRAIN_GOALS:],
        "train_actions": actions[:DARKROOM_TRAIN_ACTIONS],
        "test_actions": actions[DARKROOM_TRAIN_ACTIONS:],
    }


def draw_from_pool(rng, num_tasks, pool, action_set, permute: bool, cycle: bool,
                   sizes: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(chosen, action_sets, num_actions)``: task parameters from ``pool`` (rows drawn at random,
    or cycled evenly through a shuffled pool for eval sets), the ``(num_tasks, A)`` action sets
    (``action_set`` repeated, each row shuffled on its own with ``permute``) and ``(num_tasks,)``
    action counts. ``sizes=(lo, hi)`` below ``len(action_set)``: each task takes instead a subset
    of ``action_set`` of a uniform size in ``[lo, hi]``, uniform and in random order, ``-1``
    padded (``data.min_actions``/``max_actions`` of a task family trained on one action pool).
    Shared by the grid tasks (darkroom goals, keydoor pairs, ``GymFamily`` tasks)."""
    rng, perm_rng = rng.spawn(2)
    if cycle:
        chosen = pool[rng.permutation(len(pool))][np.arange(num_tasks) % len(pool)]
    else:
        chosen = pool[rng.integers(0, len(pool), size=num_tasks)]
    action_set = np.asarray(action_set)
    action_sets = np.tile(action_set, (num_tasks, 1))
    num_actions = np.full(num_tasks, len(action_set))
    if sizes is not None and tuple(sizes) != (len(action_set), len(action_set)):
        lo, hi = sizes  # checked against the pool by suites.train_tasks (and the config)
        num_actions = perm_rng.integers(lo, hi + 1, size=num_tasks)
        action_sets = perm_rng.permuted(action_sets, axis=1)
        action_sets[np.arange(len(action_set))[None, :] >= num_actions[:, None]] = -1
    elif permute:
        action_sets = perm_rng.permuted(action_sets, axis=1)
    return chosen, action_sets, num_actions


def darkroom_tasks(rng, num_tasks, goal_pool, action_set, permute: bool, cycle_goals: bool, sizes=None) -> TaskSet:
    """Tasks with goals from ``goal_pool`` (drawn at random, or cycled evenly for eval sets);
    ``sizes``: action subsets, as in ``draw_from_pool``."""
    goals, action_sets, num_actions = draw_from_pool(rng, num_tasks, goal_pool, action_set, permute, cycle_goals, sizes)
    return TaskSet("darkroom", num_actions, action_sets, {"goals": goals})


def darkroom_action_set(split, name: str, universe: int = NUM_COMPOUND_ACTIONS) -> np.ndarray:
    """The compound actions of action set ``name`` (one of ``DARKROOM_ACTION_SETS``) of ``split``
    (``train_actions``, ``test_actions``) among ``universe`` actions (also a ``GymFamily``'s)."""
    if name in ("train", "perm_train"):
        return split["train_actions"]
    if name == "cut_test":
        return split["test_actions"][:DARKROOM_TRAIN_ACTIONS]
    if name == "test":
        return split["test_actions"]
    if name == "all":
        return np.arange(universe)
    raise EnvError(f"unknown darkroom action set {name!r}; known: {DARKROOM_ACTION_SETS}")


def _train_tasks(rng, num_tasks, min_actions, max_actions) -> TaskSet:
    split = darkroom_split()
    return darkroom_tasks(rng, num_tasks, split["train_goals"], split["train_actions"], permute=False, cycle_goals=False,
                          sizes=(min_actions, max_actions))


def _eval_suite(name: str, rng, num_tasks: int) -> TaskSet:
    """``<action set>_<goals>``: e.g. ``cut_test_train`` = the first 50 test actions, train goals."""
    action_name, goal_name = name.rsplit("_", 1)
    split = darkroom_split()
    return darkroom_tasks(rng, num_tasks, split[f"{goal_name}_goals"], darkroom_action_set(split, action_name),
                          permute=action_name == "perm_train", cycle_goals=True)


SPEC = register(EnvSpec(
    name="darkroom",
    env_class=DarkRoom,
    eval_suites=tuple(f"{a}_{g}" for a in DARKROOM_ACTION_SETS for g in DARKROOM_GOAL_SETS),
    teacher="qlearning",
    # Q-learning with its epsilon schedule fitted to the evaluation's episodes and to 20 (a fair
    # curve at a short horizon), and after its 200 episodes: the paper's reference point
    baselines=("random", "qlearning", "qlearning@20ep", "qlearning@200ep"),
    paper_reference="qlearning@200ep",
    reference="tabular Q-learning",
    metric="success",
    default_horizon=Horizon(episodes=200),
    universe=NUM_COMPOUND_ACTIONS,
    train_min_actions=DARKROOM_TRAIN_ACTIONS,
    train_max_actions=DARKROOM_TRAIN_ACTIONS,
    make_train_tasks=_train_tasks,
    make_eval_suite=_eval_suite,
))

"""The paper's training and evaluation task sets, seeded and reproducible.

``train_tasks(env, num_tasks, seed)`` makes the tasks a teacher learns on (the dataset);
``eval_suite(env, name, seed)`` makes one named evaluation set. The ``train`` eval suite of the
bandits is the first tasks of the training set of the same seed, as in the paper.

Every suite draws from its own random stream, derived from the seed and the suite's name, so
adding a suite never changes another.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from .envs.base import EnvError, TaskSet
from .envs.contextual import CONTEXT_DIM
from .envs.darkroom import GRID, NUM_COMPOUND_ACTIONS


@dataclass(frozen=True)
class EnvSpec:
    """What differs between environments, beyond the environment class itself."""

    name: str
    eval_suites: tuple[str, ...]
    teacher: str  # the teacher whose histories the models learn from
    baselines: tuple[str, ...]  # policies scored by `icrl baselines`
    metric: str  # "regret" (bandits) or "success" (darkroom)
    universe: int  # largest action id + 1 that tasks may use (bandits: the most arms of any suite)
    train_min_actions: int
    train_max_actions: int


BANDIT_ARMS = (10, 20, 25, 30, 40, 50, 100)
CONTEXTUAL_ARMS = (20, 25, 30, 40, 50, 100)
DARKROOM_ACTION_SETS = ("train", "perm_train", "cut_test", "test", "all")
DARKROOM_GOAL_SETS = ("train", "test")

ENV_SPECS: dict[str, EnvSpec] = {
    "bandit": EnvSpec(
        "bandit",
        ("train", "inverse", "all_new") + tuple(f"num_{k}" for k in BANDIT_ARMS),
        teacher="thompson",
        baselines=("random", "ucb", "thompson"),
        metric="regret",
        universe=max(BANDIT_ARMS),
        train_min_actions=4,
        train_max_actions=20,
    ),
    "contextual": EnvSpec(
        "contextual",
        ("train", "eval") + tuple(f"num_{k}" for k in CONTEXTUAL_ARMS),
        teacher="linucb",
        baselines=("random", "linucb"),
        metric="regret",
        universe=max(CONTEXTUAL_ARMS),
        train_min_actions=4,
        train_max_actions=20,
    ),
    "darkroom": EnvSpec(
        "darkroom",
        tuple(f"{a}_{g}" for a in DARKROOM_ACTION_SETS for g in DARKROOM_GOAL_SETS),
        teacher="qlearning",
        baselines=("random", "qlearning"),
        metric="success",
        universe=NUM_COMPOUND_ACTIONS,
        train_min_actions=50,
        train_max_actions=50,
    ),
}

EVAL_TASKS = 100  # tasks per eval suite in the paper
SKEW_PROBABILITY = 0.95  # share of tasks whose high-mean arms follow the suite's parity
DARKROOM_TRAIN_GOALS = 68
DARKROOM_TRAIN_ACTIONS = 50


def env_spec(env: str) -> EnvSpec:
    try:
        return ENV_SPECS[env]
    except KeyError:
        raise EnvError(f"unknown environment {env!r}; known: {sorted(ENV_SPECS)}") from None


def stream(seed: int, *names: str) -> np.random.Generator:
    """A random generator for (seed, names), independent of every other name."""
    keys = [zlib.crc32(n.encode()) for n in names]
    return np.random.default_rng([int(seed), *keys])


# -- Bernoulli bandit ---------------------------------------------------------------------------
def bandit_tasks(rng, num_tasks, min_arms, max_arms, high_parity: int | None) -> TaskSet:
    """Arm counts uniform in [min_arms, max_arms].

    With ``high_parity`` p (0 even, 1 odd) the arms of that parity get means U[0.5, 1] and the
    others U[0, 0.5] in 95% of tasks, and the other way round in the rest; with None, U[0, 1].
    """
    arms_rng, means_rng, skew_rng = rng.spawn(3)  # one stream per array: prefixes don't depend on num_tasks
    num_arms = arms_rng.integers(min_arms, max_arms + 1, size=num_tasks)
    width = int(max_arms)
    u = means_rng.random((num_tasks, width))
    if high_parity is None:
        means = u
    else:
        keep = skew_rng.random(num_tasks) < SKEW_PROBABILITY
        parity = np.where(keep, high_parity, 1 - high_parity)[:, None]
        high = (np.arange(width)[None, :] % 2) == parity
        means = np.where(high, 0.5 + 0.5 * u, 0.5 * u)
    mask = np.arange(width)[None, :] < num_arms[:, None]
    action_sets = np.where(mask, np.arange(width)[None, :], -1)
    return TaskSet("bandit", num_arms, action_sets, {"means": np.where(mask, means, 0.0)})


# -- contextual bandit --------------------------------------------------------------------------
def contextual_tasks(rng, num_tasks, min_arms, max_arms) -> TaskSet:
    arms_rng, features_rng = rng.spawn(2)
    num_arms = arms_rng.integers(min_arms, max_arms + 1, size=num_tasks)
    width = int(max_arms)
    features = features_rng.standard_normal((num_tasks, width, CONTEXT_DIM)) / np.sqrt(2.0)
    mask = np.arange(width)[None, :] < num_arms[:, None]
    action_sets = np.where(mask, np.arange(width)[None, :], -1)
    return TaskSet("contextual", num_arms, action_sets, {"arm_features": features * mask[..., None]})


# -- darkroom -----------------------------------------------------------------------------------
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


def darkroom_tasks(rng, num_tasks, goal_pool, action_set, permute: bool, cycle_goals: bool) -> TaskSet:
    """Tasks with goals from ``goal_pool`` (drawn at random, or cycled evenly for eval sets)."""
    rng, perm_rng = rng.spawn(2)
    if cycle_goals:
        goals = goal_pool[rng.permutation(len(goal_pool))][np.arange(num_tasks) % len(goal_pool)]
    else:
        goals = goal_pool[rng.integers(0, len(goal_pool), size=num_tasks)]
    action_sets = np.tile(np.asarray(action_set), (num_tasks, 1))
    if permute:
        action_sets = perm_rng.permuted(action_sets, axis=1)
    num_actions = np.full(num_tasks, len(action_set))
    return TaskSet("darkroom", num_actions, action_sets, {"goals": goals})


def darkroom_action_set(split, name: str) -> np.ndarray:
    if name in ("train", "perm_train"):
        return split["train_actions"]
    if name == "cut_test":
        return split["test_actions"][:DARKROOM_TRAIN_ACTIONS]
    if name == "test":
        return split["test_actions"]
    if name == "all":
        return np.arange(NUM_COMPOUND_ACTIONS)
    raise EnvError(f"unknown darkroom action set {name!r}; known: {DARKROOM_ACTION_SETS}")


# -- public API ---------------------------------------------------------------------------------
def train_tasks(env: str, num_tasks: int, seed: int, min_actions: int | None = None,
                max_actions: int | None = None) -> TaskSet:
    """The training tasks of ``env`` for a dataset of ``num_tasks`` histories.

    ``min_actions``/``max_actions`` (bandits only; default: the paper's 4..20 arms) change the
    range of arm counts, e.g. to retrain AD for K arms as the paper does (``data.min_actions``).
    """
    spec = env_spec(env)
    if num_tasks < 1:
        raise EnvError(f"num_tasks must be >= 1, got {num_tasks}")
    rng = stream(seed, env, "train")
    lo = spec.train_min_actions if min_actions is None else int(min_actions)
    hi = spec.train_max_actions if max_actions is None else int(max_actions)
    if (lo, hi) != (spec.train_min_actions, spec.train_max_actions) and env == "darkroom":
        raise EnvError(f"darkroom trains on its fixed {spec.train_max_actions} train actions; "
                       f"got an action range {lo}..{hi}")
    if not 1 <= lo <= hi <= spec.universe:
        raise EnvError(f"{env} training action range {lo}..{hi} is invalid: allowed 1 <= min <= max <= {spec.universe}")
    if env == "bandit":
        return bandit_tasks(rng, num_tasks, lo, hi, high_parity=1)
    if env == "contextual":
        return contextual_tasks(rng, num_tasks, lo, hi)
    split = darkroom_split()
    return darkroom_tasks(rng, num_tasks, split["train_goals"], split["train_actions"], permute=False, cycle_goals=False)


def eval_suite(env: str, name: str, seed: int, num_tasks: int = EVAL_TASKS, train_seed: int | None = None) -> TaskSet:
    """The eval suite ``name`` of ``env`` (names as in ``ENV_SPECS[env].eval_suites``).

    The bandits' ``train`` suite is the first tasks of the training set made with ``train_seed``
    (default: ``seed``); pass the dataset's seed so that it really holds the training tasks.
    """
    spec = env_spec(env)
    if name not in spec.eval_suites:
        raise EnvError(f"unknown {env} suite {name!r}; known: {', '.join(spec.eval_suites)}")
    if num_tasks < 1:
        raise EnvError(f"num_tasks must be >= 1, got {num_tasks}")
    rng = stream(seed, env, "eval", name)
    lo, hi = spec.train_min_actions, spec.train_max_actions
    if name == "train" and env in ("bandit", "contextual"):
        return train_tasks(env, num_tasks, seed if train_seed is None else train_seed)
    if name.startswith("num_"):
        k = int(name[4:])
        if env == "bandit":
            return bandit_tasks(rng, num_tasks, k, k, high_parity=None)
        return contextual_tasks(rng, num_tasks, k, k)
    if env == "bandit":
        parity = {"inverse": 0, "all_new": None}[name]
        return bandit_tasks(rng, num_tasks, lo, hi, high_parity=parity)
    if env == "contextual":  # "eval": new tasks from the training distribution
        return contextual_tasks(rng, num_tasks, lo, hi)
    action_name, goal_name = name.rsplit("_", 1)
    split = darkroom_split()
    return darkroom_tasks(
        rng,
        num_tasks,
        split[f"{goal_name}_goals"],
        darkroom_action_set(split, action_name),
        permute=action_name == "perm_train",
        cycle_goals=True,
    )


def eval_suites(env: str, seed: int, names=None, num_tasks: int = EVAL_TASKS, train_seed: int | None = None) -> dict[str, TaskSet]:
    names = env_spec(env).eval_suites if names is None else names
    return {n: eval_suite(env, n, seed, num_tasks, train_seed) for n in names}

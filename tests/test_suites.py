"""Task suites: the paper's distributions, splits, seeding and errors."""

from __future__ import annotations

import numpy as np
import pytest

from icrl.envs import EnvError, TaskSet, make_env
from icrl.envs.darkroom import GRID, NUM_COMPOUND_ACTIONS
from icrl.suites import (
    BANDIT_ARMS,
    CONTEXTUAL_ARMS,
    ENV_SPECS,
    EVAL_TASKS,
    darkroom_split,
    env_spec,
    eval_suite,
    eval_suites,
    train_tasks,
)

SEED = 0
MANY = 10_000


def odd_arms_higher(tasks: TaskSet) -> np.ndarray:
    """Per task: is the mean of its odd arms above the mean of its even arms?"""
    means, mask = tasks.params["means"], tasks.action_mask
    odd = (np.arange(means.shape[1]) % 2 == 1)[None, :]
    odd_mean = (means * (mask & odd)).sum(1) / (mask & odd).sum(1)
    even_mean = (means * (mask & ~odd)).sum(1) / (mask & ~odd).sum(1)
    return odd_mean > even_mean


def assert_same_tasks(a: TaskSet, b: TaskSet) -> None:
    """Equal tasks; padding beyond the widest action set doesn't count."""
    assert a.env == b.env and len(a) == len(b)
    a, b = a.subset(slice(None)), b.subset(slice(None))  # trimmed to the widest action set
    np.testing.assert_array_equal(a.num_actions, b.num_actions)
    np.testing.assert_array_equal(a.action_sets, b.action_sets)
    assert a.params.keys() == b.params.keys()
    for key in a.params:
        np.testing.assert_array_equal(a.params[key], b.params[key])


def differ(a: TaskSet, b: TaskSet) -> bool:
    if a.action_sets.shape != b.action_sets.shape or not np.array_equal(
        a.action_sets, b.action_sets
    ):
        return True
    return any(not np.array_equal(a.params[k], b.params[k]) for k in a.params)


# -- Bernoulli bandit ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bandit_train():
    return train_tasks("bandit", MANY, SEED)


def test_bandit_train_odd_skew(bandit_train):
    assert odd_arms_higher(bandit_train).mean() == pytest.approx(0.95, abs=0.01)


def test_bandit_inverse_even_skew():
    tasks = eval_suite("bandit", "inverse", SEED, num_tasks=MANY)
    assert odd_arms_higher(tasks).mean() == pytest.approx(0.05, abs=0.01)


def test_bandit_all_new_has_no_skew():
    tasks = eval_suite("bandit", "all_new", SEED, num_tasks=MANY)
    assert odd_arms_higher(tasks).mean() == pytest.approx(0.5, abs=0.03)
    means = tasks.params["means"][tasks.action_mask]
    assert means.min() >= 0 and means.max() <= 1
    assert np.histogram(means, bins=4, range=(0, 1))[0] / len(means) == pytest.approx(
        [0.25] * 4, abs=0.02
    )


def test_bandit_skewed_means_split_at_one_half(bandit_train):
    means, mask = bandit_train.params["means"], bandit_train.action_mask
    odd = (np.arange(means.shape[1]) % 2 == 1)[None, :]
    high = np.where(odd_arms_higher(bandit_train)[:, None], odd, ~odd)
    assert (means[mask & high] >= 0.5).all() and (means[mask & high] <= 1.0).all()
    assert (means[mask & ~high] >= 0.0).all() and (means[mask & ~high] <= 0.5).all()
    assert (means[~mask] == 0).all()  # padding


def test_bandit_train_arm_counts(bandit_train):
    n = bandit_train.num_actions
    assert n.min() == 4 and n.max() == 20
    assert set(np.unique(n)) == set(range(4, 21))  # every count in [4, 20] occurs
    counts = np.bincount(n, minlength=21)[4:]
    assert counts / len(n) == pytest.approx([1 / 17] * 17, abs=0.01)  # uniform
    sets = bandit_train.action_sets
    assert sets.shape == (MANY, 20)
    np.testing.assert_array_equal(sets, np.where(bandit_train.action_mask, np.arange(20), -1))


@pytest.mark.parametrize("name", ["inverse", "all_new"])
def test_bandit_eval_arm_counts(name):
    n = eval_suite("bandit", name, SEED).num_actions
    assert len(n) == EVAL_TASKS and n.min() >= 4 and n.max() <= 20


@pytest.mark.parametrize("env, arms", [("bandit", BANDIT_ARMS), ("contextual", CONTEXTUAL_ARMS)])
def test_num_k_suites_have_exactly_k_arms(env, arms):
    for k in arms:
        tasks = eval_suite(env, f"num_{k}", SEED)
        assert len(tasks) == EVAL_TASKS
        assert (tasks.num_actions == k).all(), k
        assert tasks.action_sets.shape == (EVAL_TASKS, k)
        np.testing.assert_array_equal(tasks.action_sets, np.tile(np.arange(k), (EVAL_TASKS, 1)))
    assert 100 in BANDIT_ARMS  # our addition to the paper's list


@pytest.mark.parametrize("env", ["bandit", "contextual"])
def test_eval_train_suite_is_the_start_of_the_training_set(env):
    train = train_tasks(env, 1000, SEED)
    assert_same_tasks(eval_suite(env, "train", SEED), train.subset(slice(0, EVAL_TASKS)))
    assert_same_tasks(eval_suite(env, "train", SEED, num_tasks=10), train.subset(slice(0, 10)))


@pytest.mark.parametrize("env", ["bandit", "contextual", "darkroom"])
def test_training_set_prefixes_do_not_depend_on_its_size(env):
    assert_same_tasks(train_tasks(env, 50, SEED), train_tasks(env, 500, SEED).subset(slice(0, 50)))


# -- contextual bandit --------------------------------------------------------------------------
def test_contextual_features_distribution_and_counts():
    tasks = train_tasks("contextual", 2000, SEED)
    n = tasks.num_actions
    assert n.min() == 4 and n.max() == 20
    features = tasks.params["arm_features"]
    assert features.shape == (2000, 20, 2)
    real = features[tasks.action_mask]
    assert real.mean(axis=0) == pytest.approx([0, 0], abs=0.02)
    assert real.var(axis=0) == pytest.approx([0.5, 0.5], abs=0.02)  # N(0, I) / sqrt(2)
    assert (features[~tasks.action_mask] == 0).all()
    eval_tasks = eval_suite("contextual", "eval", SEED)
    assert len(eval_tasks) == EVAL_TASKS and differ(
        eval_tasks, train_tasks("contextual", EVAL_TASKS, SEED)
    )


# -- darkroom -----------------------------------------------------------------------------------
def test_darkroom_split_sizes_and_disjointness():
    split = darkroom_split(SEED)
    train_g, test_g = split["train_goals"], split["test_goals"]
    train_a, test_a = split["train_actions"], split["test_actions"]
    assert (len(train_g), len(test_g), len(train_a), len(test_a)) == (68, 13, 50, 75)
    assert not set(train_g) & set(test_g)
    assert not set(train_a) & set(test_a)
    assert sorted(np.concatenate([train_g, test_g])) == list(range(GRID * GRID))
    assert sorted(np.concatenate([train_a, test_a])) == list(range(NUM_COMPOUND_ACTIONS))
    other = darkroom_split(SEED + 1)
    assert set(other["train_goals"]) != set(train_g)
    assert set(other["train_actions"]) != set(train_a)


def test_darkroom_train_tasks():
    split = darkroom_split(SEED)
    tasks = train_tasks("darkroom", 1000, SEED)
    assert (tasks.num_actions == 50).all()
    np.testing.assert_array_equal(tasks.action_sets, np.tile(split["train_actions"], (1000, 1)))
    goals = tasks.params["goals"]
    assert set(goals) == set(split["train_goals"])  # all 68 goals drawn among 1000 tasks


@pytest.mark.parametrize("env", ["darkroom", "keydoor", "frozenlake"])
def test_grid_training_tasks_take_random_subsets_of_their_action_pool(env):
    """data.min_actions/max_actions below a fixed training pool: every task takes a random subset
    of the pool's actions (sizes spread over the range, distinct actions, -1 padded); at the pool's
    size the tasks are the default ones exactly."""
    pool = train_tasks(env, 1, SEED).action_sets[0]
    lo, hi = 2, len(pool) - 2
    tasks = train_tasks(env, 400, SEED, min_actions=lo, max_actions=hi)
    assert tasks.num_actions.min() == lo and tasks.num_actions.max() == hi
    for row, n in zip(tasks.action_sets, tasks.num_actions, strict=True):
        held = row[:n]
        assert len(set(held)) == n and set(held) <= set(pool) and (row[n:] == -1).all()
    assert len({tuple(sorted(r[:n])) for r, n in zip(tasks.action_sets, tasks.num_actions, strict=True)}) > 200
    full = train_tasks(env, 50, SEED, min_actions=len(pool), max_actions=len(pool))
    default = train_tasks(env, 50, SEED)
    np.testing.assert_array_equal(full.action_sets, default.action_sets)
    assert all(np.array_equal(full.params[k], default.params[k]) for k in default.params)
    with pytest.raises(EnvError, match=f"allowed 1 <= min <= max <= {len(pool)}"):
        train_tasks(env, 5, SEED, min_actions=lo, max_actions=len(pool) + 1)


@pytest.mark.parametrize("goal_set", ["train", "test"])
def test_darkroom_eval_suites(goal_set):
    split = darkroom_split(SEED)
    pool = split[f"{goal_set}_goals"]
    suites = {
        a: eval_suite("darkroom", f"{a}_{goal_set}", SEED)
        for a in ("train", "perm_train", "cut_test", "test", "all")
    }
    expected = {
        "train": split["train_actions"],
        "cut_test": split["test_actions"][:50],
        "test": split["test_actions"],
        "all": np.arange(NUM_COMPOUND_ACTIONS),
    }
    for name, tasks in suites.items():
        assert len(tasks) == EVAL_TASKS
        goals = tasks.params["goals"]
        assert set(goals) <= set(pool)
        counts = np.bincount(goals, minlength=GRID * GRID)[pool]  # goals cycled evenly
        assert counts.max() - counts.min() <= 1, name
        assert (tasks.num_actions == tasks.action_sets.shape[1]).all()
        if name in expected:
            np.testing.assert_array_equal(
                tasks.action_sets, np.tile(expected[name], (EVAL_TASKS, 1))
            )
    assert suites["cut_test"].action_sets.shape[1] == 50
    perm = suites["perm_train"].action_sets
    assert perm.shape == (EVAL_TASKS, 50)
    sorted_train = np.sort(split["train_actions"])
    for row in perm:  # a permutation of the train actions in every task...
        np.testing.assert_array_equal(np.sort(row), sorted_train)
    assert (perm != split["train_actions"]).any(axis=1).all()  # ...that reorders them
    assert len({tuple(row) for row in perm}) == EVAL_TASKS  # ...each its own


# -- seeding ------------------------------------------------------------------------------------
ALL_SUITES = [(env, name) for env, spec in ENV_SPECS.items() for name in spec.eval_suites]


@pytest.mark.parametrize("env", ["bandit", "contextual", "darkroom"])
def test_train_tasks_deterministic(env):
    assert_same_tasks(train_tasks(env, 200, 3), train_tasks(env, 200, 3))
    assert differ(train_tasks(env, 200, 3), train_tasks(env, 200, 4))


@pytest.mark.parametrize("env, name", ALL_SUITES)
def test_eval_suites_deterministic_and_seeded(env, name):
    a = eval_suite(env, name, 3)
    assert_same_tasks(a, eval_suite(env, name, 3))
    assert differ(a, eval_suite(env, name, 4))
    make_env(a, seed=0).reset()  # every suite makes a working environment


def test_suites_are_independent_streams():
    # Same distribution, different names: the draws must differ.
    assert differ(eval_suite("bandit", "num_20", SEED), eval_suite("bandit", "all_new", SEED))
    assert differ(eval_suite("contextual", "eval", SEED), eval_suite("contextual", "train", SEED))
    a = eval_suite("darkroom", "all_train", SEED).params["goals"]
    b = eval_suite("darkroom", "train_train", SEED).params["goals"]
    assert not np.array_equal(a, b)


def test_eval_suites_returns_every_named_suite():
    suites = eval_suites("bandit", SEED, num_tasks=5)
    assert list(suites) == list(ENV_SPECS["bandit"].eval_suites)
    assert all(len(t) == 5 for t in suites.values())
    assert list(eval_suites("darkroom", SEED, names=["all_test"])) == ["all_test"]


# -- errors -------------------------------------------------------------------------------------
def test_unknown_environment_names_the_known_ones():
    for call in (
        lambda: env_spec("maze"),
        lambda: train_tasks("maze", 10, 0),
        lambda: eval_suite("maze", "train", 0),
    ):
        with pytest.raises(
            EnvError, match=r"unknown environment 'maze'.*bandit.*contextual.*darkroom"
        ):
            call()


@pytest.mark.parametrize("env", ["bandit", "contextual", "darkroom"])
def test_unknown_suite_names_the_known_ones(env):
    known = ENV_SPECS[env].eval_suites
    with pytest.raises(EnvError, match=f"unknown {env} suite 'nope'") as err:
        eval_suite(env, "nope", 0)
    assert all(name in str(err.value) for name in known)


def test_bad_task_counts():
    with pytest.raises(EnvError, match="num_tasks must be >= 1, got 0"):
        train_tasks("bandit", 0, 0)
    with pytest.raises(EnvError, match="num_tasks must be >= 1, got -5"):
        eval_suite("darkroom", "all_test", 0, num_tasks=-5)

"""Bernoulli bandit: the paper's training tasks (odd arms skewed high) and eval suites."""

from __future__ import annotations

import numpy as np

from ..envs.bandit import BernoulliBandit
from ..envs.base import TaskSet
from . import EnvSpec, Horizon, register

BANDIT_ARMS = (10, 20, 25, 30, 40, 50, 100)  # num_K suites: the paper's K, and 100
SKEW_PROBABILITY = 0.95  # share of tasks whose high-mean arms follow the suite's parity


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


def _eval_suite(name: str, rng, num_tasks: int) -> TaskSet:
    if name.startswith("num_"):  # K arms, uniform means
        k = int(name[4:])
        return bandit_tasks(rng, num_tasks, k, k, high_parity=None)
    parity = {"inverse": 0, "all_new": None}[name]  # inverse: even arms high; all_new: U[0, 1]
    return bandit_tasks(rng, num_tasks, SPEC.train_min_actions, SPEC.train_max_actions, high_parity=parity)


SPEC = register(EnvSpec(
    name="bandit",
    env_class=BernoulliBandit,
    eval_suites=("train", "inverse", "all_new") + tuple(f"num_{k}" for k in BANDIT_ARMS),
    teacher="thompson",
    baselines=("random", "ucb", "thompson"),
    paper_reference="thompson",
    reference="Thompson sampling",
    metric="regret",
    default_horizon=Horizon(steps=300),
    universe=max(BANDIT_ARMS),
    train_min_actions=4,
    train_max_actions=20,
    make_train_tasks=lambda rng, n, lo, hi: bandit_tasks(rng, n, lo, hi, high_parity=1),
    make_eval_suite=_eval_suite,
    train_suite_is_training_tasks=True,
))

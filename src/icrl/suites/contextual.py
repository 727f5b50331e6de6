"""Linear contextual bandit: the paper's training tasks and eval suites."""

from __future__ import annotations

import numpy as np

from ..envs.base import TaskSet
from ..envs.contextual import CONTEXT_DIM, ContextualBandit
from . import EnvSpec, Horizon, register

CONTEXTUAL_ARMS = (20, 25, 30, 40, 50, 100)  # num_K suites


def contextual_tasks(rng, num_tasks, min_arms, max_arms) -> TaskSet:
    """Arm counts uniform in [min_arms, max_arms]; arm features N(0, I) / sqrt(2) in 2 dimensions."""
    arms_rng, features_rng = rng.spawn(2)
    num_arms = arms_rng.integers(min_arms, max_arms + 1, size=num_tasks)
    width = int(max_arms)
    features = features_rng.standard_normal((num_tasks, width, CONTEXT_DIM)) / np.sqrt(2.0)
    mask = np.arange(width)[None, :] < num_arms[:, None]
    action_sets = np.where(mask, np.arange(width)[None, :], -1)
    return TaskSet("contextual", num_arms, action_sets, {"arm_features": features * mask[..., None]})


def _eval_suite(name: str, rng, num_tasks: int) -> TaskSet:
    if name.startswith("num_"):
        k = int(name[4:])
        return contextual_tasks(rng, num_tasks, k, k)
    # "eval": new tasks from the training distribution
    return contextual_tasks(rng, num_tasks, SPEC.train_min_actions, SPEC.train_max_actions)


SPEC = register(EnvSpec(
    name="contextual",
    env_class=ContextualBandit,
    eval_suites=("train", "eval") + tuple(f"num_{k}" for k in CONTEXTUAL_ARMS),
    teacher="linucb",
    baselines=("random", "linucb"),
    paper_reference="linucb",
    reference="LinUCB",
    paper_selection="argmax",
    metric="regret",
    default_horizon=Horizon(steps=300),
    universe=max(CONTEXTUAL_ARMS),
    train_min_actions=4,
    train_max_actions=20,
    make_train_tasks=contextual_tasks,
    make_eval_suite=_eval_suite,
    train_suite_is_training_tasks=True,
))

"""The policy protocol shared by teachers, baselines and trained models."""

from __future__ import annotations

import numpy as np

from ..envs.base import BatchedEnv


class Policy:
    """A batched policy over a ``BatchedEnv``.

    ``reset`` starts a fresh learner on the env's tasks; ``act`` picks one local action index per
    task; ``observe`` hands it the outcome of that step (teachers learn from it, an in-context model
    appends it to its history). The same ``rollout`` loop drives every policy.
    """

    name = "policy"

    def reset(self, env: BatchedEnv, rng: np.random.Generator) -> None:
        self.env = env
        self.rng = rng
        self.num_envs = env.num_envs
        self.num_actions = env.num_actions
        self.action_mask = env.action_mask

    def act(self, obs: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def observe(self, obs, actions, rewards, dones, next_obs, info) -> None:
        """Learn from one step. ``obs`` is what ``act`` saw; ``next_obs`` follows an auto-reset."""


def random_argmax(scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row-wise argmax with ties broken uniformly at random (unavailable entries hold -inf)."""
    # The row maxima are read at the argmax rather than computed with ``max(axis=1)``: the
    # same values (NaN included), but a row-wise max over a short last axis is ~2x slower.
    best = scores[np.arange(len(scores)), scores.argmax(axis=1)]
    noise = rng.random(scores.shape)
    noise *= scores >= best[:, None]
    return noise.argmax(axis=1)


def random_actions(num_actions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One uniform local action per task, each within its own action count."""
    return (rng.random(len(num_actions)) * num_actions).astype(np.int64)

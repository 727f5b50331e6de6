"""Bernoulli multi-armed bandit: arm ``a`` of a task pays 1 with probability ``means[a]``."""

from __future__ import annotations

import numpy as np

from .base import BatchedEnv


class BernoulliBandit(BatchedEnv):
    """Every pull is an episode of one step; there is no observation.

    ``info["regret"]`` is the expected regret ``max(mu) - mu[a]``, not a sampled one.
    """

    name = "bandit"
    obs_kind = "none"
    obs_dim = 0
    supports_select = True
    param_ranges = {"means": (0.0, 1.0)}

    def __init__(self, tasks, seed=None):
        super().__init__(tasks, seed)
        means = np.asarray(tasks.params["means"], dtype=np.float64)
        self.means = np.where(self.action_mask, means[:, : self.action_width], -np.inf)
        self.best = self.means.max(axis=1)

    def select(self, index):
        new = super().select(index)
        new.means = self.means[index]
        new.best = self.best[index]
        return new

    def optimal_actions(self):
        """The arms of the highest mean (ties: all of them)."""
        return self.means == self.best[:, None]

    def _reset_tasks(self, which):
        return np.zeros(int(which.sum()), dtype=np.int64)

    def _step(self, actions):
        rows = np.arange(self.num_envs)
        mu = self.means[rows, actions]
        reward = (self.rng.random(self.num_envs) < mu).astype(np.float32)
        done = np.ones(self.num_envs, dtype=bool)
        return reward, done, {"regret": self.best - mu}

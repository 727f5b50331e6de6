"""Linear contextual bandit: each step a context ``s`` is drawn; arm ``a`` pays ``N(<x_a, s>, 1)``."""

from __future__ import annotations

import numpy as np

from .base import BatchedEnv

CONTEXT_DIM = 2


class ContextualBandit(BatchedEnv):
    """The observation is the context on which the next arm is chosen; every pull is one episode.

    Contexts are ``N(0, I) / sqrt(2)`` in ``CONTEXT_DIM`` dimensions; arm features ``x_a`` are fixed
    per task (``params["arm_features"]``, shape ``(B, A, d)``). Regret is measured against the best
    arm for the current context, in expectation.
    """

    name = "contextual"
    obs_kind = "vector"
    obs_dim = CONTEXT_DIM
    supports_select = True

    def __init__(self, tasks, seed=None, noise_std: float = 1.0):
        super().__init__(tasks, seed)
        self.features = np.asarray(tasks.params["arm_features"], dtype=np.float64)[:, : self.action_width]
        self.noise_std = noise_std
        self._context = np.zeros((self.num_envs, CONTEXT_DIM))

    def select(self, index):
        new = super().select(index)
        new.features = self.features[index]
        new._context = self._context[index]
        return new

    def optimal_actions(self):
        """The arms of the highest expected reward ``<x_a, s>`` for the current context ``s``."""
        values = np.where(self.action_mask, np.einsum("bad,bd->ba", self.features, self._context), -np.inf)
        return values == values.max(axis=1, keepdims=True)

    def _reset_tasks(self, which):
        n = int(which.sum())
        self._context[which] = self.rng_for(which).standard_normal((n, CONTEXT_DIM)) / np.sqrt(2.0)
        return self._context[which].astype(np.float32)

    def _step(self, actions):
        rows = np.arange(self.num_envs)
        values = np.einsum("bad,bd->ba", self.features, self._context)
        values = np.where(self.action_mask, values, -np.inf)
        mean = values[rows, actions]
        reward = mean + self.noise_std * self.rng.standard_normal(self.num_envs)
        done = np.ones(self.num_envs, dtype=bool)
        return reward, done, {"regret": values.max(axis=1) - mean}

"""Batched tabular Q-learning with a linearly decaying epsilon, the darkroom teacher."""

from __future__ import annotations

import numpy as np

from .base import Policy, random_actions, random_argmax


class QLearning(Policy):
    """Q-learning over discrete observations, one table per task.

    Q starts at U[0, 1) for available actions. Epsilon falls linearly from 1 to 0 over the first
    ``decay_fraction`` of ``num_episodes`` (each task counts its own episodes). A terminal step
    (the goal) bootstraps from 0; a time-limit end bootstraps from where the step led.
    """

    name = "qlearning"

    def __init__(self, num_episodes: int = 200, lr: float = 0.9933, discount: float = 0.6238, decay_fraction: float = 0.9):
        if num_episodes < 1:
            raise ValueError(f"num_episodes must be >= 1, got {num_episodes}")
        if not (0 < lr <= 1 and 0 <= discount <= 1 and 0 < decay_fraction <= 1):
            raise ValueError(
                f"Q-learning needs lr in (0, 1], discount in [0, 1], decay_fraction in (0, 1]; "
                f"got lr={lr}, discount={discount}, decay_fraction={decay_fraction}"
            )
        self.num_episodes, self.lr, self.discount, self.decay_fraction = num_episodes, lr, discount, decay_fraction

    def reset(self, env, rng):
        super().reset(env, rng)
        if env.obs_kind != "discrete":
            raise ValueError(f"tabular Q-learning needs discrete observations; {env.name} has {env.obs_kind!r}")
        q = rng.random((env.num_envs, env.obs_dim, env.max_actions))
        self.q = np.where(self.action_mask[:, None, :], q, -np.inf)  # C-contiguous: see _q_rows
        self.episode = np.zeros(env.num_envs, dtype=np.int64)
        self._state_rows = np.arange(env.num_envs) * env.obs_dim  # row of (b, 0) in _q_rows()
        self._action_rows = np.arange(env.num_envs) * env.max_actions

    def _q_rows(self) -> np.ndarray:
        """``q`` as ``(B * S, A)``, a view: one flat index per (task, state) is faster to gather."""
        if not self.q.flags.c_contiguous:  # a reshaped copy would lose the updates written to it
            self.q = np.ascontiguousarray(self.q)
        return self.q.reshape(-1, self.q.shape[2])

    @property
    def epsilon(self) -> np.ndarray:
        return np.clip(1.0 - self.episode / (self.decay_fraction * self.num_episodes), 0.0, 1.0)

    def act(self, obs):
        greedy = random_argmax(self._q_rows()[self._state_rows + obs], self.rng)
        explore = self.rng.random(self.num_envs) < self.epsilon
        return np.where(explore, random_actions(self.num_actions, self.rng), greedy)

    def observe(self, obs, actions, rewards, dones, next_obs, info):
        q_rows = self._q_rows()
        landed = info.get("final_obs", next_obs)
        terminal = info.get("terminal", np.zeros(self.num_envs, dtype=bool))
        q_landed = q_rows[self._state_rows + landed]
        # max(axis=1), read at the argmax: the same values, faster over a short last axis
        best = q_landed.reshape(-1)[self._action_rows + q_landed.argmax(axis=1)]
        target = rewards + self.discount * np.where(terminal, 0.0, best)
        flat = (self._state_rows + obs) * q_rows.shape[1] + actions
        q = q_rows.reshape(-1)
        current = q[flat]
        q[flat] = current + self.lr * (target - current)
        self.episode += dones

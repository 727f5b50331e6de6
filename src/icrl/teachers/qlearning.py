"""Batched tabular Q-learning with a linearly decaying epsilon, the darkroom teacher."""

from __future__ import annotations

import numpy as np

from .base import Policy, random_actions


class QLearning(Policy):
    """Q-learning over discrete observations, one table per task.

    Q starts at U[0, 1) for available actions. Epsilon falls linearly from 1 to 0 over the first
    ``decay_fraction`` of ``num_episodes`` (each task counts its own episodes). A terminal step
    (the goal) bootstraps from 0; a time-limit end bootstraps from where the step led. Greedy
    actions break ties uniformly at random: they are real, since learned values converge to
    exactly 1, gamma, gamma**2, ...

    ``q`` is float32 (values lie in [0, 1]; halves the memory every step reads). ``v`` caches
    the maximum of every row ``q[b, s]``: the greedy value, read by both ``act`` and ``observe``.
    """

    name = "qlearning"
    supports_select = True

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
        q = rng.random((env.num_envs, env.obs_dim, env.max_actions), dtype=np.float32)
        if not self.action_mask.all():
            q[~np.broadcast_to(self.action_mask[:, None, :], q.shape)] = -np.inf
        self.q = q  # C-contiguous: see _q_rows
        self.v = q.max(axis=2).reshape(-1)  # v[b * S + s] = max_a q[b, s, a]
        self.episode = np.zeros(env.num_envs, dtype=np.int64)
        self._state_rows = np.arange(env.num_envs) * env.obs_dim  # row of (b, 0) in _q_rows() and v

    def select(self, index):
        self._select_common(index)
        num_states = self.q.shape[1]
        self.q = self.q[index]
        self.v = self.v.reshape(-1, num_states)[index].reshape(-1)
        self.episode = self.episode[index]
        self._state_rows = np.arange(self.num_envs) * num_states

    def _q_rows(self) -> np.ndarray:
        """``q`` as ``(B * S, A)``, a view: one flat index per (task, state) is faster to gather."""
        if not self.q.flags.c_contiguous:  # a reshaped copy would lose the updates written to it
            self.q = np.ascontiguousarray(self.q)
        return self.q.reshape(-1, self.q.shape[2])

    @property
    def epsilon(self) -> np.ndarray:
        return np.clip(1.0 - self.episode / (self.decay_fraction * self.num_episodes), 0.0, 1.0)

    def act(self, obs):
        # u < epsilon, with epsilon unclipped: the same test, since 0 <= u < 1.
        explore = self.rng.random(self.num_envs) < 1.0 - self.episode / (self.decay_fraction * self.num_episodes)
        actions = random_actions(self.num_actions, self.rng)
        exploit = np.flatnonzero(~explore)
        if len(exploit):  # only the exploiting tasks look at their Q rows
            actions[exploit] = self._greedy(self._state_rows[exploit] + obs[exploit])
        return actions

    def _greedy(self, rows: np.ndarray) -> np.ndarray:
        """One of the maxima of every row ``rows`` of ``_q_rows()``, uniformly at random."""
        q = self._q_rows()[rows]
        width = q.shape[1]
        maxima = np.flatnonzero(q == self.v[rows][:, None])  # flat positions; row i's lie in [i*A, (i+1)*A)
        bounds = np.searchsorted(maxima, np.arange(len(rows) + 1) * width)
        count = bounds[1:] - bounds[:-1]  # >= 1: v holds the row's maximum
        pick = maxima[bounds[:-1] + (self.rng.random(len(rows)) * count).astype(np.int64)]
        return pick % width

    def observe(self, obs, actions, rewards, dones, next_obs, info):
        landed = info.get("final_obs", next_obs)
        best = self.v[self._state_rows + landed]  # a copy, read before this step's update
        if "terminal" in info:
            best[info["terminal"]] = 0.0
        target = rewards + self.discount * best
        rows = self._state_rows + obs
        flat = rows * self.q.shape[2] + actions
        q = self.q.reshape(-1)
        old = q[flat]
        new = old + self.lr * (target - old)
        q[flat] = new
        # Keep v the row maxima: a raised entry may become the maximum; a lowered maximum
        # means reading its row again.
        v = self.v[rows]
        self.v[rows] = np.maximum(v, new)
        lowered = rows[(old == v) & (new < v)]
        if len(lowered):
            q_rows = self._q_rows()[lowered]
            self.v[lowered] = q_rows.reshape(-1)[np.arange(len(lowered)) * q_rows.shape[1] + q_rows.argmax(axis=1)]
        self.episode += dones

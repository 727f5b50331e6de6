"""Batched tabular Q-learning with a linearly decaying epsilon, the darkroom teacher."""

from __future__ import annotations

import numpy as np

from ..errors import TeacherError
from .base import Policy, argmax_probs, epsilon_mix, random_actions, random_argmax

DEFAULT_EPISODES = 200  # the paper's Q-learning budget on the darkroom


class QLearning(Policy):
    """Q-learning over discrete observations, one table per task.

    Q starts at U[0, 1) for available actions. Epsilon falls linearly from 1 to 0 over the first
    ``decay_fraction`` of ``num_episodes`` (each task counts its own episodes); by default
    ``num_episodes`` is the horizon it is run for (``rollout(..., episodes=E)``), else
    ``DEFAULT_EPISODES`` (the paper's 200). A terminal step
    (the goal) bootstraps from 0; a time-limit end bootstraps from where the step led. Greedy
    actions break ties uniformly at random: they are real, since learned values converge to
    exactly 1, gamma, gamma**2, ...

    ``q`` is float32 (values lie in [0, 1]; halves the memory every step reads). Every row
    ``q[b, s]`` is summarized by its maximum ``v``, one action reaching it (``greedy``) and whether
    other actions reach it too (``tied``), kept up to date as ``observe`` changes the row: acting
    greedily is then a look-up, and only tied rows are read to pick one of their maxima.
    All of them keep the tables of every task given to ``reset``, in that order; ``select`` only
    changes which of them the current tasks use (``_state_rows``), so it copies no table.
    """

    name = "qlearning"
    supports_select = True
    reports_probs = True
    obs_kinds = ("discrete",)

    def __init__(self, num_episodes: int | None = None, lr: float = 0.9933, discount: float = 0.6238,
                 decay_fraction: float = 0.9):
        if num_episodes is not None and num_episodes < 1:
            raise TeacherError(f"num_episodes must be >= 1, got {num_episodes}")
        if not (0 < lr <= 1 and 0 <= discount <= 1 and 0 < decay_fraction <= 1):
            raise TeacherError(
                f"Q-learning needs lr in (0, 1], discount in [0, 1], decay_fraction in (0, 1]; "
                f"got lr={lr}, discount={discount}, decay_fraction={decay_fraction}"
            )
        self.fixed_episodes, self.lr, self.discount, self.decay_fraction = num_episodes, lr, discount, decay_fraction
        self.num_episodes = num_episodes or DEFAULT_EPISODES  # the schedule's length (set by reset if not fixed)

    def reset(self, env, rng, horizon=None):
        super().reset(env, rng, horizon)
        if self.fixed_episodes is None:  # the epsilon schedule spans the episodes it is run for
            self.num_episodes = horizon.episodes if horizon is not None and horizon.episodes else DEFAULT_EPISODES
        if env.obs_kind != "discrete":
            raise TeacherError(f"tabular Q-learning needs discrete observations; {env.name} has {env.obs_kind!r}")
        q = rng.random((env.num_envs, env.obs_dim, env.action_width), dtype=np.float32)
        if not self.action_mask.all():
            q[~np.broadcast_to(self.action_mask[:, None, :], q.shape)] = -np.inf
        self.q = q  # C-contiguous: see _q_rows
        rows = env.num_envs * env.obs_dim
        self.v = np.empty(rows, dtype=np.float32)  # v[b * S + s] = max_a q[b, s, a]
        self.greedy = np.empty(rows, dtype=np.min_scalar_type(env.action_width))  # an a with q[b, s, a] == v[b * S + s]
        self.tied = np.empty(rows, dtype=bool)  # more than one such a
        self._summarize()
        self.episode = np.zeros(env.num_envs, dtype=np.int64)
        self._state_rows = np.arange(env.num_envs) * env.obs_dim  # per task: row of its state 0 in _q_rows()

    def select(self, index):
        self._select_common(index)
        self.episode = self.episode[index]
        self._state_rows = self._state_rows[index]

    def _q_rows(self) -> np.ndarray:
        """``q`` as ``(B * S, A)``, a view: one flat index per (task, state) is faster to gather."""
        if not self.q.flags.c_contiguous:  # a reshaped copy would lose the updates written to it
            self.q = np.ascontiguousarray(self.q)
        return self.q.reshape(-1, self.q.shape[2])

    def _summarize(self, rows=slice(None)) -> None:
        """Recompute ``v``, ``greedy`` and ``tied`` of rows ``rows`` of ``_q_rows()`` (default all)."""
        q = self._q_rows()[rows]
        greedy = q.argmax(axis=1)
        v = q.reshape(-1)[np.arange(len(q)) * q.shape[1] + greedy]  # the max, read at the argmax
        self.v[rows] = v
        self.greedy[rows] = greedy
        self.tied[rows] = (q == v[:, None]).sum(axis=1, dtype=np.uint16) > 1

    @property
    def epsilon(self) -> np.ndarray:
        return np.clip(1.0 - self.episode / (self.decay_fraction * self.num_episodes), 0.0, 1.0)

    def act(self, obs):
        # u < epsilon, with epsilon unclipped: the same test, since 0 <= u < 1.
        explore = self.rng.random(self.num_envs) < 1.0 - self.episode / (self.decay_fraction * self.num_episodes)
        rows = self._state_rows + obs
        actions = np.where(explore, random_actions(self.num_actions, self.rng), self.greedy[rows])
        tied = np.flatnonzero(self.tied[rows] & ~explore)
        if len(tied):  # greedy among several maxima: one of them at random (rare)
            actions[tied] = random_argmax(self._q_rows()[rows[tied]], self.rng)
        return actions

    def act_with_probs(self, obs):
        rows = self._state_rows + obs
        greedy = np.zeros(self.action_mask.shape)
        greedy[np.arange(self.num_envs), self.greedy[rows]] = 1.0
        tied = np.flatnonzero(self.tied[rows])
        if len(tied):
            greedy[tied] = argmax_probs(self._q_rows()[rows[tied]])
        return self.act(obs), epsilon_mix(greedy, self.epsilon, self.action_mask)

    def observe(self, obs, actions, rewards, dones, next_obs, info):
        landed = info.get("final_obs", next_obs)
        best = self.v[self._state_rows + landed]  # a copy, read before this step's update
        if "terminal" in info:
            best[info["terminal"]] = 0.0
        target = rewards + self.discount * best
        rows = self._state_rows + obs
        q_rows = self._q_rows()
        flat = rows * q_rows.shape[1] + actions
        q = q_rows.reshape(-1)  # a view, written through
        old = q[flat]
        new = old + self.lr * (target - old)
        q[flat] = new
        # A row's summary stands unless the entry changed and was, or now is, at least the maximum.
        changed = (np.maximum(old, new) >= self.v[rows]) & (old != new)
        if changed.any():
            self._summarize(rows[changed])
        self.episode += dones

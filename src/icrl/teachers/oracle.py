"""A noise-distilled oracle (AD-epsilon, Zisman et al., ICML 2024): learning histories without RL.

The oracle knows the optimal actions of every state (``BatchedEnv.optimal_actions``: the
darkroom's shortest paths, a ``GymFamily``'s ``oracle``); the teacher acts uniformly at random with
probability epsilon and optimally otherwise, epsilon falling linearly from 1 to 0 over the first
``decay_fraction`` of the episodes it plays. The history then improves the way a learner's does
(random at first, optimal at the end), which is what Algorithm Distillation needs to distill.
"""

from __future__ import annotations

import numpy as np

from ..errors import TeacherError
from .base import Policy, epsilon_mix


class NoisyOracle(Policy):
    """Epsilon-noisy optimal actions, epsilon ``1 -> 0`` linearly over ``decay_fraction`` of the horizon.

    The horizon is the one it is played for (episodes, or steps for environments without
    episodes); ``num_episodes`` fixes it instead. Ties among optimal actions are broken uniformly.
    Needs an environment that implements ``optimal_actions`` (``NotImplementedError`` otherwise).
    """

    name = "noisy_oracle"
    reports_probs = True
    # No select: the optimal actions come from the environment given to reset, whose tasks
    # would no longer line up with the policy's after rollout retired some of them.
    needs_oracle = True  # a GymFamily with this teacher must give GymFamily(oracle=...)

    def __init__(self, num_episodes: int | None = None, decay_fraction: float = 0.9):
        if num_episodes is not None and num_episodes < 1:
            raise TeacherError(f"num_episodes must be >= 1, got {num_episodes}")
        if not 0 < decay_fraction <= 1:
            raise TeacherError(f"decay_fraction must lie in (0, 1], got {decay_fraction}")
        self.fixed_episodes, self.decay_fraction = num_episodes, decay_fraction

    def reset(self, env, rng, horizon=None):
        super().reset(env, rng, horizon)
        length = horizon.length if horizon is not None else 100
        self.num_episodes = self.fixed_episodes or length
        self.episode = np.zeros(env.num_envs, dtype=np.int64)

    @property
    def epsilon(self) -> np.ndarray:
        return np.clip(1.0 - self.episode / (self.decay_fraction * self.num_episodes), 0.0, 1.0)

    def _probs(self) -> np.ndarray:
        best = self.env.optimal_actions() & self.action_mask
        return epsilon_mix(best / best.sum(axis=1, keepdims=True), self.epsilon, self.action_mask)

    def act_with_probs(self, obs):
        probs = self._probs()
        cumulative = np.cumsum(probs, axis=1)
        u = self.rng.random(self.num_envs)[:, None] * cumulative[:, -1:]
        actions = np.minimum((cumulative <= u).sum(axis=1), self.num_actions - 1)
        return actions.astype(np.int64), probs

    def act(self, obs):
        return self.act_with_probs(obs)[0]

    def observe(self, obs, actions, rewards, dones, next_obs, info):
        self.episode += dones if self.horizon is None or self.horizon.episodes else 1

"""Demonstrators: scripted learners whose histories are easier to distill than an RL algorithm's.

``ExploreReplay`` (darkroom-style tasks: discrete observations, a fixed start, deterministic
dynamics) explores uniformly at random until an episode succeeds, then replays that episode's
successful path, without its loops, in every later episode. Its learning history is the simplest
in-context learner that the darkroom admits: everything it does after the first success is
determined by its own context (the cells and actions of the successful episode), so a model can
learn it by matching the current cell to the last time the successful episode stood there and
copying the action taken then, whatever the actions mean. This makes it a "more learnable
history" in the sense of noise-distilled AD (Zisman et al., ICML 2024, AD-epsilon): the data shows
improvement (random success, then near-certain success) without any RL training, and unlike a
demonstrator that knows the goal, it never acts on information its context does not hold.
"""

from __future__ import annotations

import numpy as np

from .base import Policy, epsilon_mix, random_actions, uniform_probs


class ExploreReplay(Policy):
    """Uniform exploration until the first success, then replay of the loop-free successful path.

    ``noise``: probability of a uniform random action after the first success (0: a pure replay).
    The path is "the last action taken in each cell during the successful episode": from any cell
    of that episode, it leads to the goal without revisiting a cell (loops are cut), and the
    first replay is as long as the successful episode minus its loops.
    """

    name = "explore_replay"
    supports_select = True
    reports_probs = True
    obs_kinds = ("discrete",)

    def __init__(self, noise: float = 0.0):
        if not 0.0 <= noise <= 1.0:
            raise ValueError(f"noise must lie in [0, 1], got {noise}")
        self.noise = noise

    def reset(self, env, rng):
        super().reset(env, rng)
        if env.obs_kind != "discrete":
            raise ValueError(f"explore_replay needs discrete observations; {env.name} has {env.obs_kind!r}")
        self.found = np.zeros(env.num_envs, dtype=bool)  # a successful episode has been seen
        self.path = np.full((env.num_envs, env.obs_dim), -1, dtype=np.int64)  # cell -> action of that episode
        self.episode_last = np.full((env.num_envs, env.obs_dim), -1, dtype=np.int64)  # this episode's

    def select(self, index):
        self._select_common(index)
        self.found, self.path, self.episode_last = self.found[index], self.path[index], self.episode_last[index]

    def _replay(self, obs):
        replay = self.path[np.arange(self.num_envs), obs]
        return self.found & (replay >= 0), replay

    def act(self, obs):
        known, replay = self._replay(obs)
        explore = self.rng.random(self.num_envs) < self.noise
        rand = random_actions(self.num_actions, self.rng)
        return np.where(known & ~explore, replay, rand)

    def act_with_probs(self, obs):
        known, replay = self._replay(obs)
        greedy = np.zeros(self.action_mask.shape)
        greedy[np.arange(self.num_envs), np.maximum(replay, 0)] = 1.0
        probs = np.where(known[:, None], epsilon_mix(greedy, self.noise, self.action_mask), uniform_probs(self.action_mask))
        return self.act(obs), probs

    def observe(self, obs, actions, rewards, dones, next_obs, info):
        rows = np.arange(self.num_envs)
        self.episode_last[rows, obs] = actions
        success = np.asarray(info.get("success", (rewards > 0) & dones), dtype=bool)
        first = success & ~self.found
        if first.any():
            self.path[first] = self.episode_last[first]
            self.found |= first
        if dones.any():
            self.episode_last[dones] = -1

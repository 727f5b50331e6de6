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

Tasks with several rewards per episode (Dark Key-to-Door: the key, then the door) are handled by
keying the replay on the state ``(cell, phase)``, where the phase is the number of rewarding steps
collected so far in the episode, which the context also shows (see ``ExploreReplay``).
"""

from __future__ import annotations

import numpy as np

from ..errors import TeacherError
from .base import Policy, epsilon_mix, random_actions, uniform_probs


class ExploreReplay(Policy):
    """Uniform exploration until the first success, then replay of the loop-free successful path.

    ``noise``: probability of a uniform random action after the first success (0: a pure replay).
    The path is "the last action taken in each state during the successful episode": from any
    state of that episode, it leads to success without revisiting a state (loops are cut), and
    the first replay is as long as the successful episode minus its loops.

    A state is ``(cell, phase)``; the phase is the number of steps with a positive reward
    collected so far in the current episode, capped at ``env.reward_phases - 1`` (an environment
    without the attribute has one phase). In the darkroom the first reward ends the episode, so
    the phase is always 0 and a state is just a cell. In Dark Key-to-Door a cell may be crossed
    on the way to the key and again, key in hand, on the way to the door, and the two visits need
    different actions; the key's reward (phase 0 -> 1) tells them apart, although the observation
    (the cell) does not show the key. Dynamics must be deterministic given the state (they are:
    the phase follows the key being held), and episodes may start anywhere: a state the
    successful episode never reached is explored uniformly until a known one is reached.

    Per-task state: ``found`` ``(B,)`` bool, ``phase`` ``(B,)`` int, and the tables ``path`` and
    ``episode_last`` ``(B, phases * obs_dim)`` int (-1: no action), indexed by
    ``phase * obs_dim + cell``.
    """

    name = "explore_replay"
    supports_select = True
    reports_probs = True
    obs_kinds = ("discrete",)

    def __init__(self, noise: float = 0.0):
        if not 0.0 <= noise <= 1.0:
            raise TeacherError(f"noise must lie in [0, 1], got {noise}")
        self.noise = noise

    def reset(self, env, rng, horizon=None):
        super().reset(env, rng, horizon)
        if env.obs_kind != "discrete":
            raise TeacherError(f"explore_replay needs discrete observations; {env.name} has {env.obs_kind!r}")
        self.obs_dim = env.obs_dim
        self.phases = int(getattr(env, "reward_phases", 1))
        if self.phases < 1:
            raise TeacherError(f"explore_replay: {env.name}.reward_phases must be >= 1, got {self.phases}")
        states = self.phases * env.obs_dim
        self.found = np.zeros(env.num_envs, dtype=bool)  # a successful episode has been seen
        self.phase = np.zeros(env.num_envs, dtype=np.int64)  # rewarding steps so far this episode (capped)
        self.path = np.full((env.num_envs, states), -1, dtype=np.int64)  # state -> action of that episode
        self.episode_last = np.full((env.num_envs, states), -1, dtype=np.int64)  # this episode's

    def select(self, index):
        self._select_common(index)
        self.found, self.phase = self.found[index], self.phase[index]
        self.path, self.episode_last = self.path[index], self.episode_last[index]

    def _states(self, obs):
        return self.phase * self.obs_dim + np.asarray(obs)

    def _replay(self, obs):
        replay = self.path[np.arange(self.num_envs), self._states(obs)]
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
        self.episode_last[rows, self._states(obs)] = actions
        success = np.asarray(info.get("success", (rewards > 0) & dones), dtype=bool)
        first = success & ~self.found
        if first.any():
            self.path[first] = self.episode_last[first]
            self.found |= first
        if self.phases > 1:
            self.phase = np.minimum(self.phase + (np.asarray(rewards) > 0), self.phases - 1)
        if dones.any():
            self.episode_last[dones] = -1
            self.phase[dones] = 0

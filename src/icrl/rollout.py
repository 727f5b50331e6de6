"""The one loop: a policy acting in a batched environment.

Teachers making datasets, baselines being scored and trained models evaluated in context all run
through ``rollout``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .envs.base import BatchedEnv, EnvError
from .teachers.base import Policy


@dataclass
class Trajectories:
    """Everything that happened, shape ``(B, T, ...)``; ``valid`` marks the steps that count.

    With ``episodes=E`` every task runs until it has finished E episodes; tasks that finish
    earlier keep stepping (so the batch stays whole) but those steps are not valid.
    """

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    dones: np.ndarray
    valid: np.ndarray
    regrets: np.ndarray | None = None

    @property
    def num_envs(self) -> int:
        return self.actions.shape[0]

    @property
    def lengths(self) -> np.ndarray:
        return self.valid.sum(axis=1)

    def cumulative_regret(self) -> np.ndarray:
        """(B, T) cumulative expected regret (bandits)."""
        if self.regrets is None:
            raise ValueError("this environment reports no regret")
        return np.cumsum(np.where(self.valid, self.regrets, 0.0), axis=1)

    def episode_returns(self) -> np.ndarray:
        """(B, E) return of every finished, valid episode (tasks padded with NaN if fewer)."""
        ends = self.dones & self.valid
        counts = ends.sum(axis=1)
        out = np.full((self.num_envs, int(counts.max()) if counts.size else 0), np.nan)
        returns = np.cumsum(np.where(self.valid, self.rewards, 0.0), axis=1)
        for b in range(self.num_envs):  # once per task after the loop, not in the hot path
            at_end = returns[b, ends[b]]
            out[b, : counts[b]] = np.diff(at_end, prepend=0.0)
        return out


def rollout(
    policy: Policy,
    env: BatchedEnv,
    *,
    steps: int | None = None,
    episodes: int | None = None,
    seed: int | None = None,
    progress=None,
) -> Trajectories:
    """Run ``policy`` on every task of ``env`` for ``steps`` steps or ``episodes`` episodes each.

    ``seed`` seeds both the environment and the policy's random stream. ``progress`` is an
    optional tqdm bar, advanced once per step.
    """
    if (steps is None) == (episodes is None):
        raise EnvError("give exactly one of steps= or episodes=")
    if steps is not None and steps < 1:
        raise EnvError(f"steps must be >= 1, got {steps}")
    if episodes is not None and episodes < 1:
        raise EnvError(f"episodes must be >= 1, got {episodes}")
    if episodes is not None and env.max_episode_steps is None:
        steps, episodes = episodes, None  # one step per episode
    max_steps = steps if steps is not None else episodes * env.max_episode_steps

    env_seed, policy_seed = np.random.SeedSequence(seed).spawn(2)
    obs = env.reset(seed=env_seed)
    policy.reset(env, np.random.default_rng(policy_seed))
    B = env.num_envs
    record = {
        "observations": np.zeros((B, max_steps, *env.obs_shape), dtype=env.obs_dtype),
        "actions": np.zeros((B, max_steps), dtype=np.int64),
        "rewards": np.zeros((B, max_steps), dtype=np.float32),
        "dones": np.zeros((B, max_steps), dtype=bool),
        "valid": np.ones((B, max_steps), dtype=bool),
    }
    regrets = None
    finished = np.zeros(B, dtype=np.int64)
    t = 0
    while t < max_steps:
        actions = policy.act(obs)
        next_obs, rewards, dones, info = env.step(actions)
        policy.observe(obs, actions, rewards, dones, next_obs, info)
        record["observations"][:, t] = obs
        record["actions"][:, t] = actions
        record["rewards"][:, t] = rewards
        record["dones"][:, t] = dones
        if "regret" in info:
            if regrets is None:
                regrets = np.zeros((B, max_steps), dtype=np.float64)
            regrets[:, t] = info["regret"]
        obs = next_obs
        t += 1
        if progress is not None:
            progress.update(1)
        if episodes is not None:
            record["valid"][:, t - 1] = finished < episodes
            finished += dones
            if (finished >= episodes).all():
                break
    record = {k: v[:, :t] for k, v in record.items()}
    return Trajectories(**record, regrets=None if regrets is None else regrets[:, :t])

"""The one loop: a policy acting in a batched environment.

Teachers making datasets, baselines being scored and trained models evaluated in context all run
through ``rollout``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .envs.base import BatchedEnv, EnvError, TaskStreams, check_count, check_seed
from .teachers.base import Policy

MAX_HORIZON = 10**7  # steps or episodes of one rollout: far past any run; a typo fails at once


@dataclass
class Trajectories:
    """Everything that happened, shape ``(B, T, ...)``; ``valid`` marks the steps that count.

    With ``episodes=E`` every task runs until it has finished E episodes; the steps after that
    (up to ``T``, the longest task) are not valid: a task may have been stepped on for a while
    (recorded, not valid) or retired (zeros).
    """

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    dones: np.ndarray
    valid: np.ndarray
    regrets: np.ndarray | None = None
    probs: np.ndarray | None = None  # (B, T, A) float16: the policy's action distribution (record_probs)

    @property
    def num_envs(self) -> int:
        return self.actions.shape[0]

    def rows(self, index) -> Trajectories:
        """The trajectories of some tasks only (e.g. one suite of a merged batch)."""
        return Trajectories(self.observations[index], self.actions[index], self.rewards[index], self.dones[index],
                            self.valid[index], None if self.regrets is None else self.regrets[index],
                            None if self.probs is None else self.probs[index])

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


RETIRE_BELOW = 0.95


def rollout(
    policy: Policy,
    env: BatchedEnv,
    *,
    steps: int | None = None,
    episodes: int | None = None,
    seed: int | None = None,
    progress=None,
    retire_below: float = RETIRE_BELOW,
    record_probs: bool = False,
    record_optimal: bool = False,
    task_seeds=None,
) -> Trajectories:
    """Run ``policy`` on every task of ``env`` for ``steps`` steps or ``episodes`` episodes each.

    ``seed`` seeds both the environment and the policy's random stream. ``progress`` is an
    optional tqdm bar, advanced once per step.

    With ``episodes``, tasks finish at different times. When ``env`` and ``policy`` both support
    ``select``, finished tasks are retired: once the tasks still running are at most
    ``retire_below`` of those being stepped, only the running ones are kept (``env.select``, a new
    environment, and ``policy.select``) and the finished ones are stepped no more. ``0`` never
    retires. Either way every task has its ``episodes`` episodes, marked by ``valid``; what lies
    after them is not part of the result. ``env`` itself keeps all of its tasks.

    ``record_probs``: also record the policy's action distribution at every step
    (``Policy.act_with_probs``) as ``Trajectories.probs``, ``(B, T, A)`` float16.

    ``record_optimal``: record instead, as ``probs``, the uniform distribution over the actions
    that are optimal in each step's state (``BatchedEnv.optimal_actions``): DPT's labels.

    ``task_seeds`` (instead of ``seed``): one seed per task (e.g. ``[seed, suite key, task
    index]``); the environment and the policy then draw from per-task streams (``TaskStreams``),
    so each task's trajectory does not depend on the other tasks of the batch.

    The policy's ``reset`` gets the ``Horizon`` (steps or episodes) it will play.
    """
    if (steps is None) == (episodes is None):
        raise EnvError("give exactly one of steps= or episodes=")
    if steps is not None:
        steps = check_count(steps, "steps", MAX_HORIZON)
    if episodes is not None:
        episodes = check_count(episodes, "episodes", MAX_HORIZON)
    check_seed(seed, sequence=True)
    if not 0.0 <= retire_below <= 1.0:
        raise EnvError(f"retire_below must lie in [0, 1], got {retire_below}")
    if record_probs and record_optimal:
        raise EnvError("record_probs and record_optimal both fill probs; choose one")
    if record_probs and not getattr(policy, "reports_probs", False):
        raise EnvError(f"record_probs: the {policy.name} policy does not report its action distribution")
    if episodes is not None and env.max_episode_steps is None:
        steps, episodes = episodes, None  # one step per episode
    max_steps = steps if steps is not None else episodes * env.max_episode_steps
    from .suites import Horizon

    horizon = Horizon(steps, episodes)
    if task_seeds is not None:
        if seed is not None:
            raise EnvError("give seed= or task_seeds=, not both")
        if len(task_seeds) != env.num_envs:
            raise EnvError(f"task_seeds has {len(task_seeds)} seeds for {env.num_envs} tasks")
        pairs = [np.random.SeedSequence(s).spawn(2) for s in task_seeds]
        obs = env.reset(seed=TaskStreams.from_seeds(p[0] for p in pairs))
        policy.reset(env, TaskStreams.from_seeds(p[1] for p in pairs), horizon)
    else:
        env_seed, policy_seed = np.random.SeedSequence(seed).spawn(2)
        obs = env.reset(seed=env_seed)
        policy.reset(env, np.random.default_rng(policy_seed), horizon)
    B = env.num_envs
    record = {
        "observations": np.zeros((B, max_steps, *env.obs_shape), dtype=env.obs_dtype),
        "actions": np.zeros((B, max_steps), dtype=np.int64),
        "rewards": np.zeros((B, max_steps), dtype=np.float32),
        "dones": np.zeros((B, max_steps), dtype=bool),
        # steps mode: every step counts; episodes mode: set as the steps are made
        "valid": np.full((B, max_steps), steps is not None, dtype=bool),
    }
    if record_probs or record_optimal:
        record["probs"] = np.zeros((B, max_steps, env.action_width), dtype=np.float16)
    regrets = None
    retire = (
        episodes is not None and retire_below > 0
        and getattr(env, "supports_select", False) and getattr(policy, "supports_select", False)
    )
    rows = slice(None)  # the record rows of the tasks being stepped: all of them until one retires
    finished = np.zeros(B, dtype=np.int64)  # episodes finished by each task being stepped
    running = np.ones(B, dtype=bool)  # finished < episodes
    t = 0
    while t < max_steps:
        if record_probs:
            actions, probs = policy.act_with_probs(obs)
            record["probs"][rows, t] = probs
        else:
            if record_optimal:
                best = env.optimal_actions()
                record["probs"][rows, t] = best / best.sum(axis=1, keepdims=True)
            actions = policy.act(obs)
        next_obs, rewards, dones, info = env.step(actions)
        policy.observe(obs, actions, rewards, dones, next_obs, info)
        record["observations"][rows, t] = obs
        record["actions"][rows, t] = actions
        record["rewards"][rows, t] = rewards
        record["dones"][rows, t] = dones
        if "regret" in info:
            if regrets is None:
                regrets = np.zeros((B, max_steps), dtype=np.float64)
            regrets[rows, t] = info["regret"]
        obs = next_obs
        t += 1
        if progress is not None:
            progress.update(1)
        if episodes is not None:
            record["valid"][rows, t - 1] = running
            finished += dones
            running = finished < episodes
            num_running = np.count_nonzero(running)
            if num_running == 0:
                break
            if retire and num_running < len(running) and num_running <= retire_below * len(running):
                keep = np.flatnonzero(running)
                env = env.select(keep)
                policy.select(keep)
                rows = np.arange(B)[rows][keep]
                finished, running, obs = finished[keep], running[keep], obs[keep]
    record = {k: v[:, :t] for k, v in record.items()}
    return Trajectories(**record, regrets=None if regrets is None else regrets[:, :t])

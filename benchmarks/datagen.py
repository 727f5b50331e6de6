"""Batched data generation vs. the per-task way earlier implementations generate data.

The batched side is the library itself, end to end: ``icrl.data.generate.generate_dataset`` on a
preset (``bandit``, ``contextual``, ``darkroom``), including task generation and the HDF5 write
into a temporary directory.

The baseline is what earlier implementations do: one environment object per task, stepped one
step at a time, in one process, with plain Python/numpy per task. The single-task environments
and teachers below are written from the same specification (SPEC section 2) as the library's:
same dynamics, same algorithms, same hyperparameters. They keep each history in memory (lists
turned into arrays) but write no file, which flatters the baseline a little. The baseline may be
timed on the first ``--baseline-tasks`` tasks of the same training set and scaled linearly to the
full task count (``baseline_tasks_timed`` in the output says how many were really run).

A sanity check compares both sides on the same tasks (mean reward per step, and expected regret
per step for the bandits, episode counts for the darkroom) so the baseline is known to do the
same work. For Thompson sampling the benchmark also times just the Beta draws the batched run
needs (same shapes, the real posterior parameters replayed from the written dataset).

    python benchmarks/datagen.py                       # paper size, every teacher
    python benchmarks/datagen.py --quick               # smoke run
    python benchmarks/datagen.py --teachers ucb,linucb --tasks 2000 --baseline-tasks 200

One JSON line per teacher on stdout; progress notes on stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from icrl.config import load_config
from icrl.data.generate import generate_dataset
from icrl.data.history import load_histories
from icrl.suites import train_tasks

# teacher -> (preset, overrides)
TEACHERS = {
    "thompson": ("bandit", ["data.teacher=thompson"]),
    "ucb": ("bandit", ["data.teacher=ucb"]),
    "linucb": ("contextual", ["data.teacher=linucb"]),
    "qlearning": ("darkroom", ["data.teacher=qlearning"]),
}
TARGETS = {"thompson": 8.0, "ucb": 30.0, "linucb": 20.0, "qlearning": 20.0}
BASELINE_NOTES = {
    "thompson": "per task: Bernoulli bandit object + Thompson, one Generator.beta call over the arms per step",
    "ucb": "per task: Bernoulli bandit object + UCB (alpha 0.3), untried arms first, random tie-break",
    "linucb": "per task: contextual bandit object + disjoint LinUCB, np.linalg.inv of every arm's A each step",
    "qlearning": "per task: darkroom object + tabular Q-learning, 200 episodes, epsilon-greedy with random tie-break",
}

GRID = 9
START = (4, 4)
MAX_STEPS = 20
MOVES = ((0, 0), (-1, 0), (0, 1), (1, 0), (0, -1))  # noop, up, right, down, left as (drow, dcol)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# =============================================================================================
# Reference single-task implementations (the baseline)
# =============================================================================================
class SingleBernoulliBandit:
    """One K-armed Bernoulli bandit; arm ``a`` pays 1 with probability ``means[a]``."""

    def __init__(self, means, rng: np.random.Generator):
        self.means = np.asarray(means, dtype=np.float64)
        self.best = float(self.means.max())
        self.rng = rng

    def reset(self):
        return 0

    def step(self, a: int):
        mu = self.means[a]
        reward = 1.0 if self.rng.random() < mu else 0.0
        return 0, reward, True, False, self.best - mu  # obs, reward, done, terminal, expected regret


class SingleThompson:
    """Bernoulli Thompson sampling with a Beta(1, 1) prior: one Beta draw per arm per step."""

    def __init__(self, num_arms: int, rng: np.random.Generator):
        self.alpha = np.ones(num_arms)
        self.beta = np.ones(num_arms)
        self.rng = rng

    def act(self, obs) -> int:
        return int(np.argmax(self.rng.beta(self.alpha, self.beta)))

    def update(self, obs, a, reward, next_obs, done, terminal):
        self.alpha[a] += reward
        self.beta[a] += 1.0 - reward


class SingleUCB:
    """UCB1 with a scaled bonus ``mean + alpha * sqrt(2 ln t / n)``; untried arms first; random ties."""

    def __init__(self, num_arms: int, rng: np.random.Generator, alpha: float = 0.3):
        self.counts = np.zeros(num_arms)
        self.sums = np.zeros(num_arms)
        self.t = 0
        self.alpha = alpha
        self.rng = rng

    def act(self, obs) -> int:
        untried = np.flatnonzero(self.counts == 0)
        if untried.size:
            return int(untried[self.rng.integers(untried.size)])
        scores = self.sums / self.counts + self.alpha * np.sqrt(2.0 * math.log(max(self.t, 1)) / self.counts)
        best = np.flatnonzero(scores == scores.max())
        return int(best[self.rng.integers(best.size)]) if best.size > 1 else int(best[0])

    def update(self, obs, a, reward, next_obs, done, terminal):
        self.counts[a] += 1
        self.sums[a] += reward
        self.t += 1


class SingleContextualBandit:
    """One linear contextual bandit: context ``s ~ N(0, I)/sqrt(2)``; arm ``a`` pays ``N(x_a . s, 1)``."""

    def __init__(self, features, rng: np.random.Generator):
        self.features = np.asarray(features, dtype=np.float64)  # (K, d)
        self.rng = rng
        self.context = None

    def _new_context(self):
        self.context = self.rng.standard_normal(self.features.shape[1]) / np.sqrt(2.0)
        return self.context

    def reset(self):
        return self._new_context()

    def step(self, a: int):
        values = self.features @ self.context
        mean = values[a]
        reward = mean + self.rng.standard_normal()
        regret = values.max() - mean
        return self._new_context(), reward, True, False, regret


class SingleLinUCB:
    """Disjoint LinUCB (alpha 0.3, ridge 1): per arm ``A_a``, ``b_a``, inverted with np.linalg each step."""

    def __init__(self, num_arms: int, dim: int, rng: np.random.Generator, alpha: float = 0.3, ridge: float = 1.0):
        self.A = [ridge * np.eye(dim) for _ in range(num_arms)]
        self.b = [np.zeros(dim) for _ in range(num_arms)]
        self.alpha = alpha
        self.rng = rng

    def act(self, s) -> int:
        scores = np.empty(len(self.A))
        for a in range(len(self.A)):
            a_inv = np.linalg.inv(self.A[a])
            theta = a_inv @ self.b[a]
            scores[a] = theta @ s + self.alpha * np.sqrt(s @ a_inv @ s)
        best = np.flatnonzero(scores == scores.max())
        return int(best[self.rng.integers(best.size)]) if best.size > 1 else int(best[0])

    def update(self, s, a, reward, next_obs, done, terminal):
        self.A[a] += np.outer(s, s)
        self.b[a] += reward * s


class SingleDarkRoom:
    """One 9x9 darkroom with compound actions (3 atomic moves each, walls clip), invisible goal."""

    def __init__(self, goal: int, action_ids):
        self.goal = (goal // GRID, goal % GRID)
        self.action_moves = [
            (MOVES[(i // 25) % 5], MOVES[(i // 5) % 5], MOVES[i % 5]) for i in (int(x) for x in action_ids)
        ]
        self.pos = START
        self.t = 0

    def reset(self) -> int:
        self.pos = START
        self.t = 0
        return self.pos[0] * GRID + self.pos[1]

    def step(self, a: int):
        r, c = self.pos
        hit = False
        for dr, dc in self.action_moves[a]:
            r = min(max(r + dr, 0), GRID - 1)
            c = min(max(c + dc, 0), GRID - 1)
            if (r, c) == self.goal:
                hit = True
        self.pos = (r, c)
        self.t += 1
        done = hit or self.t >= MAX_STEPS
        return r * GRID + c, (1.0 if hit else 0.0), done, hit, None  # obs, reward, done, terminal, regret


class SingleQLearning:
    """Tabular Q-learning: Q ~ U[0, 1), epsilon 1 -> 0 linearly over 90% of the episodes."""

    def __init__(self, num_states: int, num_actions: int, rng: np.random.Generator, num_episodes: int = 200,
                 lr: float = 0.9933, discount: float = 0.6238, decay_fraction: float = 0.9):
        self.q = rng.random((num_states, num_actions))
        self.num_actions = num_actions
        self.rng = rng
        self.lr, self.discount = lr, discount
        self.decay_episodes = decay_fraction * num_episodes
        self.episode = 0

    def act(self, s: int) -> int:
        eps = min(max(1.0 - self.episode / self.decay_episodes, 0.0), 1.0)
        if self.rng.random() < eps:
            return int(self.rng.integers(self.num_actions))
        q = self.q[s]
        best = np.flatnonzero(q == q.max())
        return int(best[self.rng.integers(best.size)]) if best.size > 1 else int(best[0])

    def update(self, s, a, reward, next_s, done, terminal):
        target = reward if terminal else reward + self.discount * self.q[next_s].max()
        self.q[s, a] += self.lr * (target - self.q[s, a])
        if done:
            self.episode += 1


def run_single_task(env, agent, *, steps: int | None = None, episodes: int | None = None):
    """One learning history: (observations, actions, rewards, dones, regrets) as arrays."""
    obs_l, act_l, rew_l, done_l, reg_l = [], [], [], [], []
    obs = env.reset()
    finished, t = 0, 0
    while (steps is not None and t < steps) or (episodes is not None and finished < episodes):
        a = agent.act(obs)
        next_obs, reward, done, terminal, regret = env.step(a)
        agent.update(obs, a, reward, next_obs, done, terminal)
        obs_l.append(obs)
        act_l.append(a)
        rew_l.append(reward)
        done_l.append(done)
        if regret is not None:
            reg_l.append(regret)
        if done and episodes is not None:
            finished += 1
            if finished < episodes:
                next_obs = env.reset()
        obs = next_obs
        t += 1
    return (np.asarray(obs_l), np.asarray(act_l), np.asarray(rew_l, dtype=np.float32),
            np.asarray(done_l), np.asarray(reg_l) if reg_l else None)


def baseline_run(teacher: str, tasks, cfg, seed: int = 12345) -> tuple[float, dict]:
    """Run the per-task baseline on every task of ``tasks`` (a TaskSet), one after the other.

    Task parameters are turned into plain per-task arrays before the clock starts.
    """
    n = len(tasks)
    k = tasks.num_actions.tolist()
    if teacher in ("thompson", "ucb"):
        params = [tasks.params["means"][i, : k[i]].copy() for i in range(n)]
    elif teacher == "linucb":
        params = [tasks.params["arm_features"][i, : k[i]].copy() for i in range(n)]
    else:
        params = [(int(tasks.params["goals"][i]), tasks.action_sets[i, : k[i]].copy()) for i in range(n)]
    seeds = np.random.SeedSequence([seed, 0]).spawn(n)
    rewards_total, steps_total, regret_total, episodes_total, last_success = 0.0, 0, 0.0, 0, 0
    steps = cfg.data.steps
    episodes = cfg.data.episodes

    start = time.perf_counter()
    for i in range(n):
        rng = np.random.default_rng(seeds[i])
        if teacher == "thompson":
            env, agent = SingleBernoulliBandit(params[i], rng), SingleThompson(k[i], rng)
        elif teacher == "ucb":
            env, agent = SingleBernoulliBandit(params[i], rng), SingleUCB(k[i], rng)
        elif teacher == "linucb":
            env = SingleContextualBandit(params[i], rng)
            agent = SingleLinUCB(k[i], params[i].shape[1], rng)
        else:
            env = SingleDarkRoom(*params[i])
            agent = SingleQLearning(GRID * GRID, k[i], rng, num_episodes=episodes)
        obs, actions, rewards, dones, regrets = run_single_task(env, agent, steps=steps, episodes=episodes)
        rewards_total += float(rewards.sum())
        steps_total += len(actions)
        if regrets is not None:
            regret_total += float(regrets.sum())
        episodes_total += int(dones.sum())
        last_success += int(rewards[-1] > 0)
    seconds = time.perf_counter() - start

    stats = {"mean_reward_per_step": rewards_total / steps_total, "mean_steps_per_task": steps_total / n}
    if teacher in ("thompson", "ucb", "linucb"):
        stats["mean_regret_per_step"] = regret_total / steps_total
    if teacher == "qlearning":
        stats["mean_episodes_per_task"] = episodes_total / n
        stats["last_episode_success"] = last_success / n
    return seconds, stats


# =============================================================================================
# Batched side: the library
# =============================================================================================
def batched_run(cfg, workdir: Path, tag: str) -> tuple[float, Path]:
    out = workdir / f"{tag}.h5"
    start = time.perf_counter()
    generate_dataset(cfg, out, force=True, progress=False)
    return time.perf_counter() - start, out


def dataset_stats(teacher: str, path: Path, first: int) -> dict:
    """Statistics of a written dataset, over all histories and over the first ``first``."""
    ds = load_histories(path)
    offsets = ds.offsets
    out = {}
    for label, h in (("all", ds.num_histories), ("first", min(first, ds.num_histories))):
        end = int(offsets[h])
        rewards = ds.rewards[:end].astype(np.float64)
        stats = {"mean_reward_per_step": float(rewards.mean()), "mean_steps_per_task": end / h}
        if teacher in ("thompson", "ucb", "linucb"):
            stats["mean_regret_per_step"] = float(_regrets(teacher, ds, h).mean())
        if teacher == "qlearning":
            stats["mean_episodes_per_task"] = float(ds.dones[:end].sum()) / h
            last = offsets[1 : h + 1] - 1
            stats["last_episode_success"] = float((ds.rewards[last] > 0).mean())
        out[label] = stats
    return out


def _regrets(teacher: str, ds, h: int) -> np.ndarray:
    """Expected regret of every step of the first ``h`` histories (all of one length, bandits)."""
    steps = int(ds.offsets[1] - ds.offsets[0])
    actions = ds.actions[: h * steps].reshape(h, steps).astype(np.int64)
    mask = np.arange(ds.action_sets.shape[1])[None, :] < ds.num_actions[:h, None]
    if teacher in ("thompson", "ucb"):
        means = np.where(mask, ds.task_params["means"][:h], -np.inf)
        return means.max(axis=1, keepdims=True) - np.take_along_axis(means, actions, axis=1)
    contexts = ds.observations[: h * steps].reshape(h, steps, -1).astype(np.float64)
    values = np.einsum("had,htd->hta", ds.task_params["arm_features"][:h], contexts)
    values = np.where(mask[:, None, :], values, -np.inf)
    return values.max(axis=2) - np.take_along_axis(values, actions[..., None], axis=2)[..., 0]


def beta_draw_cost(cfg, path: Path, repeats: int) -> float:
    """Seconds to draw exactly the Beta variates of the batched Thompson run, nothing else.

    Replays the written histories to recover every step's posterior parameters, then, per chunk of
    ``batch_tasks`` and per step, times one ``Generator.beta`` call on the available arms' (masked)
    parameters, as the batched teacher does. Parameters are prepared outside the clock.
    """
    ds = load_histories(path)
    steps = cfg.data.steps
    H = ds.num_histories
    actions = ds.actions.reshape(H, steps).astype(np.int64)
    rewards = ds.rewards.reshape(H, steps).astype(np.float64)
    best = math.inf
    for _ in range(repeats):
        rng = np.random.default_rng(0)
        total = 0.0
        for start in range(0, H, cfg.data.batch_tasks):
            sl = slice(start, min(start + cfg.data.batch_tasks, H))
            num = ds.num_actions[sl].astype(np.int64)
            w = int(num.max())
            mask = np.arange(w)[None, :] < num[:, None]
            counts = np.zeros((len(num), w))
            sums = np.zeros((len(num), w))
            rows = np.arange(len(num))
            for t in range(steps):
                a = 1.0 + sums[mask]
                b = 1.0 + (counts - sums)[mask]
                t0 = time.perf_counter()
                rng.beta(a, b)
                total += time.perf_counter() - t0
                counts[rows, actions[sl, t]] += 1
                sums[rows, actions[sl, t]] += rewards[sl, t]
        best = min(best, total)
    return best


# =============================================================================================
def bench(teacher: str, num_tasks: int, baseline_tasks: int, repeats: int, tolerance: float, workdir: Path) -> dict:
    preset, overrides = TEACHERS[teacher]
    cfg = load_config(preset, [*overrides, f"data.num_tasks={num_tasks}"])
    baseline_tasks = min(baseline_tasks, num_tasks)

    batched = []
    path = None
    for r in range(repeats):
        seconds, path = batched_run(cfg, workdir, f"{teacher}-{r}")
        batched.append(seconds)
        log(f"[{teacher}] batched {num_tasks} tasks: {seconds:.2f} s")

    tasks = train_tasks(cfg.env, num_tasks, cfg.data.seed).subset(slice(0, baseline_tasks))
    measured = []
    base_stats = {}
    for _ in range(repeats):
        seconds, base_stats = baseline_run(teacher, tasks, cfg)
        measured.append(seconds)
        log(f"[{teacher}] baseline {baseline_tasks} tasks: {seconds:.2f} s")

    seconds = min(batched)
    baseline_measured = min(measured)
    baseline_seconds = baseline_measured * num_tasks / baseline_tasks
    stats = dataset_stats(teacher, path, baseline_tasks)
    same = stats["first"]

    # Pass/fail on reward per step (and history length: the darkroom's work depends on it);
    # expected regret per step is reported too, but it is a small, noisier number.
    diffs = {
        key: abs(base_stats[key] - same[key]) / max(abs(same[key]), 1e-12)
        for key in ("mean_reward_per_step", "mean_steps_per_task", "mean_regret_per_step", "last_episode_success")
        if key in base_stats
    }
    checks = {k: v for k, v in diffs.items() if k in ("mean_reward_per_step", "mean_steps_per_task")}
    sanity_ok = all(v <= tolerance for v in checks.values())

    row = {
        "benchmark": "datagen",
        "env": cfg.env,
        "teacher": teacher,
        "tasks": num_tasks,
        "seconds": round(seconds, 3),
        "baseline_seconds": round(baseline_seconds, 3),
        "speedup": round(baseline_seconds / seconds, 2),
        "target_speedup": TARGETS[teacher],
        "meets_target": baseline_seconds / seconds >= TARGETS[teacher],
        "baseline_tasks_timed": baseline_tasks,
        "baseline_seconds_measured": round(baseline_measured, 3),
        "baseline_scaled": baseline_tasks != num_tasks,
        "steps": cfg.data.steps,
        "episodes": cfg.data.episodes,
        "batch_tasks": cfg.data.batch_tasks,
        "repeats": repeats,
        "seconds_all": [round(s, 3) for s in batched],
        "baseline_seconds_measured_all": [round(s, 3) for s in measured],
        "batched_us_per_task_step": round(1e6 * seconds / (num_tasks * stats["all"]["mean_steps_per_task"]), 3),
        "baseline_us_per_task_step": round(1e6 * baseline_measured / (baseline_tasks * base_stats["mean_steps_per_task"]), 3),
        "batched_stats": {k: round(v, 5) for k, v in stats["all"].items()},
        "batched_stats_same_tasks": {k: round(v, 5) for k, v in same.items()},
        "baseline_stats": {k: round(v, 5) for k, v in base_stats.items()},
        "sanity_checked": sorted(checks),
        "sanity_rel_diff": {k: round(v, 4) for k, v in diffs.items()},
        "sanity_tolerance": tolerance,
        "sanity_ok": sanity_ok,
        "includes": "batched: task generation + rollout + HDF5 write (scale-offset integers, gzip floats) to a temp dir; baseline: rollouts kept in memory, no file",
        "baseline": BASELINE_NOTES[teacher],
    }
    if teacher == "thompson":
        beta = beta_draw_cost(cfg, path, repeats)
        row["beta_draws_seconds"] = round(beta, 3)
        row["fraction_of_time_in_beta_draws"] = round(beta / seconds, 3)
    if not sanity_ok:
        log(f"[{teacher}] SANITY CHECK FAILED: relative differences {checks} exceed {tolerance}")
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=None, help="tasks per dataset (default 10000; --quick 300)")
    parser.add_argument("--baseline-tasks", type=int, default=None,
                        help="tasks the per-task baseline really runs, scaled to --tasks (default 1000; --quick 50)")
    parser.add_argument("--teachers", default=",".join(TEACHERS), help="comma-separated subset of " + ",".join(TEACHERS))
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per side, the fastest is reported (default 2; --quick 1)")
    parser.add_argument("--tolerance", type=float, default=0.05, help="sanity check: largest relative difference allowed")
    parser.add_argument("--quick", action="store_true", help="small counts for a smoke run")
    args = parser.parse_args(argv)

    teachers = [t.strip() for t in args.teachers.split(",") if t.strip()]
    unknown = [t for t in teachers if t not in TEACHERS]
    if unknown:
        parser.error(f"unknown teacher(s) {', '.join(unknown)}; choose from {', '.join(TEACHERS)}")
    num_tasks = args.tasks or (300 if args.quick else 10_000)
    baseline_tasks = args.baseline_tasks or (50 if args.quick else 1_000)
    repeats = args.repeats or (1 if args.quick else 2)
    if num_tasks < 1 or baseline_tasks < 1 or repeats < 1:
        parser.error("--tasks, --baseline-tasks and --repeats must be >= 1")
    tolerance = args.tolerance if not args.quick or args.tolerance != 0.05 else 0.15  # tiny samples are noisy

    log(f"datagen benchmark: python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}")
    ok = True
    with tempfile.TemporaryDirectory(prefix="icrl-datagen-") as tmp:
        for teacher in teachers:
            row = bench(teacher, num_tasks, baseline_tasks, repeats, tolerance, Path(tmp))
            ok &= row["sanity_ok"]
            print(json.dumps(row), flush=True)
            for f in Path(tmp).glob("*.h5"):
                f.unlink()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

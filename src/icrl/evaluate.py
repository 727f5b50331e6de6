"""Score policies on eval suites: the baselines here, trained models through the same functions."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from tqdm.auto import tqdm

from .envs import make_env
from .envs.base import TaskSet
from .rollout import Trajectories, rollout
from .suites import env_spec, eval_suites
from .teachers import Policy, make_teacher

BASELINE_EPISODES = 200  # darkroom: Q-learning's budget in the paper
BANDIT_STEPS = 300


def actions_used(traj: Trajectories, max_actions: int) -> np.ndarray:
    """Per task, how many distinct actions it tried."""
    used = np.zeros((traj.num_envs, max_actions), dtype=bool)
    rows = np.broadcast_to(np.arange(traj.num_envs)[:, None], traj.actions.shape)
    used[rows[traj.valid], traj.actions[traj.valid]] = True
    return used.sum(axis=1)


def score(traj: Trajectories, metric: str, max_actions: int) -> dict:
    """``final``, ``curve`` and ``actions_used`` of one policy on one suite.

    Regret: the curve is the mean cumulative regret per step, ``final`` its last value.
    Success: the curve is the mean success per episode, ``final`` that of the last episode.
    """
    if metric == "regret":
        curve = traj.cumulative_regret().mean(axis=0)
    else:
        curve = np.nanmean(traj.episode_returns(), axis=0)
    return {
        "final": float(curve[-1]),
        "curve": [round(float(v), 5) for v in curve],
        "actions_used": float(actions_used(traj, max_actions).mean()),
    }


def horizon(env: str, steps: int | None = None, episodes: int | None = None) -> dict:
    """The rollout length for ``env``: bandits count steps, the darkroom counts episodes."""
    if env_spec(env).metric == "success":
        return {"episodes": episodes or BASELINE_EPISODES}
    return {"steps": steps or BANDIT_STEPS}


def evaluate_policies(
    env: str,
    policies: dict[str, Callable[[], Policy]],
    suites: dict[str, TaskSet],
    *,
    seed: int = 0,
    length: dict | None = None,
    progress: bool = True,
) -> dict:
    """Run every policy on every suite; returns the results JSON shape (without ``env``/``metric``)."""
    spec = env_spec(env)
    out: dict[str, dict] = {}
    jobs = [(s, p) for s in suites for p in policies]
    for suite_name, policy_name in tqdm(jobs, desc=f"evaluating on {env}", disable=not progress):
        tasks = suites[suite_name]
        traj = rollout(policies[policy_name](), make_env(tasks), seed=seed, **(length or horizon(env)))
        out.setdefault(suite_name, {})[policy_name] = score(traj, spec.metric, tasks.action_sets.shape[1])
    return out


def run_baselines(env: str, *, seed: int = 0, num_tasks: int = 100, suites=None, progress: bool = True) -> dict:
    """The baseline teachers of ``env`` on its eval suites, in the shared results shape."""
    spec = env_spec(env)
    tasks = eval_suites(env, seed, suites, num_tasks)
    policies = {name: (lambda name=name: make_teacher(name)) for name in spec.baselines}
    return {"env": env, "metric": spec.metric, "suites": evaluate_policies(env, policies, tasks, seed=seed, progress=progress)}


def results_table(results: dict, policies=None) -> str:
    """A Markdown table: one row per suite, one column per policy, the ``final`` values."""
    suites = results["suites"]
    policies = policies or list(dict.fromkeys(p for s in suites.values() for p in s))
    label = "final regret" if results["metric"] == "regret" else "success (last episode)"
    lines = [f"| suite ({label}) | " + " | ".join(policies) + " |", "|---" * (len(policies) + 1) + "|"]
    for name, row in suites.items():
        cells = []
        for p in policies:
            entry = row.get(p)
            if entry is None:
                cells.append("-")
            else:
                text = f"{entry['final']:.3g}" if results["metric"] == "success" else f"{entry['final']:.1f}"
                if "normalized" in entry and entry["normalized"] is not None:
                    text += f" ({entry['normalized']:.2f})"
                cells.append(text)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)

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


def run_baselines(env: str, *, seed: int = 0, num_tasks: int = 100, suites=None, progress: bool = True,
                  train_seed: int | None = None, steps: int | None = None) -> dict:
    """The baseline teachers of ``env`` on its eval suites, in the shared results shape.

    Bandits run ``steps`` steps (default 300); the darkroom baselines always get Q-learning's
    200 episodes, the paper's reference point.
    """
    spec = env_spec(env)
    tasks = eval_suites(env, seed, suites, num_tasks, train_seed)
    policies = {name: (lambda name=name: make_teacher(name)) for name in spec.baselines}
    results = evaluate_policies(env, policies, tasks, seed=seed, length=horizon(env, steps), progress=progress)
    return {"env": env, "metric": spec.metric, "suites": results}


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


# -- trained models -----------------------------------------------------------------------------
def model_length(cfg) -> dict:
    """The in-context evaluation length of a run's config (bandits: steps; darkroom: episodes)."""
    return horizon(cfg.env, cfg.eval.steps, cfg.eval.episodes)


def model_policy_factory(model, cfg, device=None):
    from .agent import InContextPolicy

    bf16 = device is not None and str(device).startswith("cuda") and cfg.train.amp in ("auto", "bf16")
    return lambda: InContextPolicy(model, selection=cfg.eval.action_selection, temperature=cfg.eval.temperature,
                                   device=device, amp=bf16)


def usable_suites(model, tasks: dict[str, TaskSet]) -> tuple[dict[str, TaskSet], dict[str, str]]:
    """Suites the model can act in, and why the others are skipped (AD's fixed head, embedding size)."""
    cfg = model.cfg
    usable, skipped = {}, {}
    for name, ts in tasks.items():
        widest = int(ts.num_actions.max())
        if cfg.kind == "ad" and widest > cfg.max_actions:
            skipped[name] = f"AD's head has {cfg.max_actions} actions; the suite has {widest} (the paper retrains AD per size)"
        elif cfg.kind == "headless_ad" and cfg.embeddings == "orthonormal" and widest > cfg.action_dim:
            skipped[name] = f"{widest} actions exceed action_dim={cfg.action_dim} for orthonormal embeddings"
        else:
            usable[name] = ts
    return usable, skipped


def evaluate_model(model, cfg, *, suites=None, num_tasks=None, device=None, progress=True,
                   one_batch: bool | None = None) -> tuple[dict, dict]:
    """The model's results on its eval suites: (results per suite, skipped suites with reasons).

    ``one_batch`` (default: on CUDA) runs every suite's tasks as one batch on the device, which
    keeps a GPU busy; otherwise suites run one after another (``eval.batch_size`` tasks at a time),
    split across the processes of a torchrun job.
    """
    from .train import process_group

    names = suites if suites is not None else (cfg.eval.suites or None)
    tasks = eval_suites(cfg.env, cfg.eval.seed, names, num_tasks or cfg.eval.num_tasks, train_seed=cfg.data.seed)
    usable, skipped = usable_suites(model, tasks)
    factory = model_policy_factory(model, cfg, device)
    spec = env_spec(cfg.env)
    rank, world = process_group()
    if one_batch is None:
        one_batch = device is not None and str(device).startswith("cuda")
    if one_batch and world == 1 and usable:
        merged = TaskSet.concatenate(list(usable.values()))
        traj = rollout(factory(), make_env(merged), seed=cfg.eval.seed, **model_length(cfg))
        bounds = np.cumsum([0] + [len(ts) for ts in usable.values()])
        results = {name: {cfg.model.kind: score(traj.rows(slice(bounds[i], bounds[i + 1])), spec.metric, ts.action_sets.shape[1])}
                   for i, (name, ts) in enumerate(usable.items())}
        return results, skipped
    results: dict[str, dict] = {}
    mine = list(usable)[rank::world]  # under torchrun each process takes every world-th suite
    for name in tqdm(mine, desc=f"in-context evaluation of {cfg.model.kind}", disable=not progress or rank > 0):
        ts = usable[name]
        size = cfg.eval.batch_size or len(ts)
        parts = [rollout(factory(), make_env(ts.subset(slice(i, i + size))), seed=[cfg.eval.seed, i], **model_length(cfg))
                 for i in range(0, len(ts), size)]
        traj = parts[0] if len(parts) == 1 else _concat(parts)
        results[name] = {cfg.model.kind: score(traj, spec.metric, ts.action_sets.shape[1])}
    if world > 1:
        import torch.distributed as dist

        gathered = [None] * world
        dist.all_gather_object(gathered, results)
        results = {name: part[name] for name in usable for part in gathered if name in part}
    return results, skipped


def _concat(parts: list[Trajectories]) -> Trajectories:
    T = max(p.actions.shape[1] for p in parts)

    def pad(a, value):
        return np.concatenate([np.pad(p_a, [(0, 0), (0, T - p_a.shape[1])] + [(0, 0)] * (p_a.ndim - 2), constant_values=value) for p_a in a])

    fields = {}
    for name, value in (("observations", 0), ("actions", 0), ("rewards", 0), ("dones", False), ("valid", False)):
        fields[name] = pad([getattr(p, name) for p in parts], value)
    regrets = None if parts[0].regrets is None else pad([p.regrets for p in parts], 0.0)
    return Trajectories(**fields, regrets=regrets)


def normalize(results: dict, env: str) -> None:
    """Add ``normalized`` to every policy entry: 0 = random, 1 = the teacher (in place)."""
    spec = env_spec(env)
    for row in results.values():
        if "random" not in row or spec.teacher not in row:
            continue
        rand, teacher = row["random"]["final"], row[spec.teacher]["final"]
        for entry in row.values():
            gap = (rand - teacher) if spec.metric == "regret" else (teacher - rand)
            gain = (rand - entry["final"]) if spec.metric == "regret" else (entry["final"] - rand)
            entry["normalized"] = float(gain / gap) if abs(gap) > 1e-12 else None


def evaluate_run(run_dir, *, device=None, progress=True, overrides=()) -> dict:
    """Evaluate a run's final model (and the baselines on the same suites) in the shared shape.

    ``overrides``: ``eval.field=value`` strings that change the protocol (selection, temperature,
    episodes...); the model's own fields are fixed by its checkpoint.
    """
    from .config import ConfigError, RunConfig, apply_overrides
    from .train import load_model

    model, cfg = load_model(run_dir, device=device or "cpu")
    if overrides:
        fixed = [item for item in overrides if not item.strip().startswith("eval.")]
        if fixed:
            raise ConfigError(f"icrl eval can only change eval.* fields (the rest is fixed by the trained model); got {fixed}")
        cfg = RunConfig.from_dict(apply_overrides(cfg.to_dict(), overrides)).validate()
    results, skipped = evaluate_model(model, cfg, device=device, progress=progress)
    baselines = run_baselines(cfg.env, seed=cfg.eval.seed, num_tasks=cfg.eval.num_tasks,
                              suites=cfg.eval.suites or None, progress=progress, train_seed=cfg.data.seed,
                              steps=cfg.eval.steps)["suites"]
    for name, row in baselines.items():
        results.setdefault(name, {}).update(row)
    normalize(results, cfg.env)
    out = {"env": cfg.env, "metric": env_spec(cfg.env).metric, "suites": results,
           "protocol": {"policy": cfg.model.kind, **model_length(cfg), "num_tasks": cfg.eval.num_tasks,
                        "seed": cfg.eval.seed, "action_selection": cfg.eval.action_selection,
                        "temperature": cfg.eval.temperature if cfg.eval.temperature is not None else
                        (cfg.model.tau if cfg.model.kind == "headless_ad" else 1.0)}}
    out["recipe"] = training_recipe(cfg)
    if skipped:
        out["skipped"] = {cfg.model.kind: skipped}
    return out


def training_recipe(cfg) -> dict:
    """How the model was trained, and where that departs from the paper's recipe (SPEC section 3).

    ``departures`` lists the named switches a run uses instead of the paper's: another teacher
    than the environment's (e.g. ``explore_replay``), ``data.targets=policy``, the compact token
    layout and ``model.action_stats``. Reports print it, so that no number is read as the paper's
    method when it is not.
    """
    spec = env_spec(cfg.env)
    m = cfg.model
    departures = []
    if cfg.data.teacher != spec.teacher:
        departures.append(f"data.teacher={cfg.data.teacher} (paper: {spec.teacher})")
    if cfg.data.targets != "action":
        departures.append(f"data.targets={cfg.data.targets} (paper: the sampled action)")
    if m.layout != "interleaved":
        departures.append(f"model.layout={m.layout} (paper: interleaved)")
    if m.action_stats:
        departures.append("model.action_stats=true")
    return {"teacher": cfg.data.teacher, "num_histories": cfg.data.num_tasks, "targets": cfg.data.targets,
            "model": f"{m.kind}, {m.layout} layout, {m.num_layers} layers x {m.d_model} wide, {m.num_heads} heads",
            "train_steps": cfg.train.num_steps, "batch_size": cfg.train.batch_size, "departures": departures}

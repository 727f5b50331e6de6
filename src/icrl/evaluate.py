"""Score policies on eval suites: the baselines here, trained models through the same functions."""

from __future__ import annotations

import zlib
from collections.abc import Callable

import numpy as np
from tqdm.auto import tqdm

from .envs import make_env
from .envs.base import TaskSet
from .rollout import Trajectories, rollout
from .suites import Horizon, env_spec, eval_suites
from .teachers import Policy, make_teacher


def actions_used(traj: Trajectories, max_actions: int) -> np.ndarray:
    """Per task, how many distinct actions it tried."""
    used = np.zeros((traj.num_envs, max_actions), dtype=bool)
    rows = np.broadcast_to(np.arange(traj.num_envs)[:, None], traj.actions.shape)
    used[rows[traj.valid], traj.actions[traj.valid]] = True
    return used.sum(axis=1)


def score(traj: Trajectories, metric: str, max_actions: int) -> dict:
    """``final``, ``curve`` and ``actions_used`` of one policy on one suite.

    Regret: the curve is the mean cumulative regret per step, ``final`` its last value.
    Success or return: the curve is the mean return per episode, ``final`` that of the last episode.
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


def metric_label(metric: str) -> str:
    """How a results table names the ``final`` values of ``metric``."""
    return {"regret": "final regret", "success": "success (last episode)", "return": "return (last episode)"}[metric]


def task_seeds(seed: int, env: str, suite: str, num_tasks: int) -> list[list[int]]:
    """Per-task seeds of an evaluation rollout: ``[seed, env key, suite key, task index]``.

    A task's randomness then depends only on (seed, suite, its index), not on the batch it runs
    in: a suite run alone, in chunks of ``eval.batch_size``, or merged with other suites into
    one batch gives the same numbers (up to float rounding in the model).
    """
    keys = [zlib.crc32(f"{env}/eval-rollout/{suite}".encode())]
    return [[int(seed), *keys, i] for i in range(num_tasks)]


def evaluate_policies(
    env: str,
    policies: dict[str, Callable[[], Policy]],
    suites: dict[str, TaskSet],
    *,
    horizon: Horizon,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Run every policy on every suite for ``horizon``; returns ``{suite: {policy: score}}``."""
    spec = env_spec(env)
    out: dict[str, dict] = {}
    jobs = [(s, p) for s in suites for p in policies]
    for suite_name, policy_name in tqdm(jobs, desc=f"evaluating on {env}", disable=not progress):
        tasks = suites[suite_name]
        traj = rollout(policies[policy_name](), make_env(tasks), seed=seed, **horizon.kwargs())
        out.setdefault(suite_name, {})[policy_name] = score(traj, spec.metric, tasks.action_sets.shape[1])
    return out


def baseline_results(env: str, tasks: dict[str, TaskSet], *, seed: int = 0, horizon: Horizon | None = None,
                     progress: bool = True) -> dict:
    """The baselines of ``env`` on ``tasks`` (``{suite: task set}``): ``{suite: {policy: score}}``.

    They play ``horizon`` (default: the env's), or the env's fixed reference budget where it has
    one (the darkroom's Q-learning gets its 200 episodes, the paper's reference point).
    """
    spec = env_spec(env)
    policies = {name: (lambda name=name: make_teacher(name)) for name in spec.baselines}
    return evaluate_policies(env, policies, tasks, seed=seed, horizon=spec.baseline_horizon(horizon or spec.default_horizon),
                             progress=progress)


def run_baselines(env: str, *, seed: int = 0, num_tasks: int = 100, suites=None, progress: bool = True,
                  train_seed: int | None = None, steps: int | None = None) -> dict:
    """The baseline teachers of ``env`` on its eval suites, in the shared results shape.

    Bandits run ``steps`` steps (default 300); the darkroom baselines always get Q-learning's
    200 episodes, the paper's reference point.
    """
    spec = env_spec(env)
    tasks = eval_suites(env, seed, suites, num_tasks, train_seed)
    results = baseline_results(env, tasks, seed=seed, horizon=spec.horizon(steps=steps), progress=progress)
    return {"env": env, "metric": spec.metric, "suites": results}


def results_table(results: dict, policies=None) -> str:
    """A Markdown table: one row per suite, one column per policy, the ``final`` values."""
    suites = results["suites"]
    policies = policies or list(dict.fromkeys(p for s in suites.values() for p in s))
    label = metric_label(results["metric"])
    lines = [f"| suite ({label}) | " + " | ".join(policies) + " |", "|---" * (len(policies) + 1) + "|"]
    for name, row in suites.items():
        cells = []
        for p in policies:
            entry = row.get(p)
            if entry is None:
                cells.append("-")
            else:
                text = f"{entry['final']:.1f}" if results["metric"] == "regret" else f"{entry['final']:.3g}"
                if "normalized" in entry and entry["normalized"] is not None:
                    text += f" ({entry['normalized']:.2f})"
                cells.append(text)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# -- trained models -----------------------------------------------------------------------------
def model_horizon(cfg) -> Horizon:
    """The in-context evaluation length of a run's config (bandits: steps; episodic envs: episodes)."""
    return env_spec(cfg.env).horizon(cfg.eval.steps, cfg.eval.episodes)


def model_policy_factory(model, cfg, device=None):
    """Makes the in-context policy of a model under the config's eval protocol (bf16 on CUDA
    as ``runtime.use_bf16`` decides; the policy keeps float32 on CPU)."""
    import torch

    from .agent import InContextPolicy
    from .runtime import use_bf16

    bf16 = device is not None and use_bf16(cfg, torch.device(device))
    return lambda: InContextPolicy(model, selection=cfg.eval.action_selection, temperature=cfg.eval.temperature,
                                   device=device, amp=bf16)


def usable_suites(model, tasks: dict[str, TaskSet]) -> tuple[dict[str, TaskSet], dict[str, str]]:
    """Suites the model can act in, and why the others are skipped (its kind's action limit:
    AD's fixed head, the size of orthonormal embeddings)."""
    from .models.kinds import model_kind

    limit, field = model_kind(model.cfg.kind).action_limit(model.cfg)
    usable, skipped = {}, {}
    for name, ts in tasks.items():
        widest = int(ts.num_actions.max())
        if limit is not None and widest > limit:
            skipped[name] = (f"{model.cfg.kind} takes at most {limit} actions ({field}); the suite has {widest}"
                             + (" (the paper retrains AD per size)" if not model_kind(model.cfg.kind).headless else ""))
        else:
            usable[name] = ts
    return usable, skipped


def evaluate_model(model, cfg, *, tasks: dict[str, TaskSet] | None = None, suites=None, num_tasks=None, device=None,
                   progress=True, one_batch: bool | None = None) -> tuple[dict, dict]:
    """The model's results on its eval suites: (results per suite, skipped suites with reasons).

    ``tasks`` (default: the config's eval suites, or ``suites``, made here). ``one_batch``
    (default: on CUDA) runs every suite's tasks as one batch on the device, which keeps a GPU
    busy; otherwise suites run one after another (``eval.batch_size`` tasks at a time), split
    across the processes of a torchrun job. Every task draws from its own random streams
    (``task_seeds``), so both ways give the same numbers.
    """
    from .runtime import process_group

    if tasks is None:
        names = suites if suites is not None else (cfg.eval.suites or None)
        tasks = eval_suites(cfg.env, cfg.eval.seed, names, num_tasks or cfg.eval.num_tasks, train_seed=cfg.data.seed)
    usable, skipped = usable_suites(model, tasks)
    factory = model_policy_factory(model, cfg, device)
    spec = env_spec(cfg.env)
    length = model_horizon(cfg).kwargs()
    seeds = {name: task_seeds(cfg.eval.seed, cfg.env, name, len(ts)) for name, ts in usable.items()}
    rank, world = process_group()
    if one_batch is None:
        one_batch = device is not None and str(device).startswith("cuda")
    if one_batch and world == 1 and usable:
        merged = TaskSet.concatenate(list(usable.values()))
        traj = rollout(factory(), make_env(merged), task_seeds=[s for name in usable for s in seeds[name]], **length)
        bounds = np.cumsum([0] + [len(ts) for ts in usable.values()])
        results = {name: {cfg.model.kind: score(traj.rows(slice(bounds[i], bounds[i + 1])), spec.metric, ts.action_sets.shape[1])}
                   for i, (name, ts) in enumerate(usable.items())}
        return results, skipped
    results: dict[str, dict] = {}
    mine = list(usable)[rank::world]  # under torchrun each process takes every world-th suite
    for name in tqdm(mine, desc=f"in-context evaluation of {cfg.model.kind}", disable=not progress or rank > 0):
        ts = usable[name]
        size = cfg.eval.batch_size or len(ts)
        parts = [rollout(factory(), make_env(ts.subset(slice(i, i + size))), task_seeds=seeds[name][i:i + size], **length)
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
    """Add ``normalized`` to every policy entry: 0 = random, 1 = the env's reference policy (in place)."""
    spec = env_spec(env)
    ref = spec.reference_policy
    for row in results.values():
        if "random" not in row or ref not in row:
            continue
        rand, teacher = row["random"]["final"], row[ref]["final"]
        for entry in row.values():
            gap = (rand - teacher) if spec.lower_is_better else (teacher - rand)
            gain = (rand - entry["final"]) if spec.lower_is_better else (entry["final"] - rand)
            entry["normalized"] = float(gain / gap) if abs(gap) > 1e-12 else None


def evaluate(model, cfg, *, device=None, progress=True) -> dict:
    """A model's in-context results with the baselines on the same suites, normalised, in the
    shared results shape (``eval.json``): ``env``, ``metric``, ``reference``, ``suites``,
    ``protocol``, ``recipe`` and, for suites the model cannot act in, ``skipped``."""
    from .models.kinds import model_kind

    spec = env_spec(cfg.env)
    tasks = eval_suites(cfg.env, cfg.eval.seed, cfg.eval.suites or None, cfg.eval.num_tasks, train_seed=cfg.data.seed)
    results, skipped = evaluate_model(model, cfg, tasks=tasks, device=device, progress=progress)
    horizon = model_horizon(cfg)
    baselines = baseline_results(cfg.env, tasks, seed=cfg.eval.seed, horizon=horizon, progress=progress)
    for name, row in baselines.items():
        results.setdefault(name, {}).update(row)
    normalize(results, cfg.env)
    kind = model_kind(cfg.model.kind)
    temperature = cfg.eval.temperature if cfg.eval.temperature is not None else kind.default_temperature(cfg.model)
    out = {"env": cfg.env, "metric": spec.metric, "reference": spec.reference, "suites": results,
           "protocol": {"policy": cfg.model.kind, **horizon.kwargs(), "num_tasks": cfg.eval.num_tasks,
                        "seed": cfg.eval.seed, "action_selection": cfg.eval.action_selection,
                        "temperature": temperature}}
    out["recipe"] = training_recipe(cfg)
    if skipped:
        out["skipped"] = {cfg.model.kind: skipped}
    return out


def evaluate_run(run_dir, *, device=None, progress=True, overrides=()) -> dict:
    """Evaluate a run's final model (and the baselines on the same suites): ``evaluate``.

    ``overrides``: ``eval.field=value`` strings that change the protocol (selection, temperature,
    episodes...); the model's own fields are fixed by its checkpoint.
    """
    from .config import ConfigError, RunConfig, apply_overrides
    from .models.files import load_model

    model, cfg = load_model(run_dir, device=device or "cpu")
    if overrides:
        fixed = [item for item in overrides if not item.strip().startswith("eval.")]
        if fixed:
            raise ConfigError(f"icrl eval can only change eval.* fields (the rest is fixed by the trained model); got {fixed}")
        cfg = RunConfig.from_dict(apply_overrides(cfg.to_dict(), overrides)).validate()
    return evaluate(model, cfg, device=device, progress=progress)


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
    departures += [f"model.{switch}=true" for switch in ("action_stats", "action_effects") if getattr(m, switch)]
    return {"teacher": cfg.data.teacher, "num_histories": cfg.data.num_tasks, "targets": cfg.data.targets,
            "model": f"{m.kind}, {m.layout} layout, {m.num_layers} layers x {m.d_model} wide, {m.num_heads} heads",
            "train_steps": cfg.train.num_steps, "batch_size": cfg.train.batch_size, "departures": departures}

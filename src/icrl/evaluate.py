"""Score policies on eval suites: the baselines here, trained models through the same functions.

Every normalised score is against the teacher that made the model's training data (``reference``),
and, where the paper normalises against something else (the darkroom: Q-learning after its 200
episodes), also against that (``normalized_paper``). The model's first row plays the paper's
protocol; tuned protocols come from validation suites (``icrl.tune``).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from .envs import make_env
from .envs.base import TaskSet
from .protocol import Protocol, model_rows, paper_protocol, training_temperature
from .rollout import Trajectories, rollout
from .suites import Horizon, env_spec, eval_suites, parse_baseline
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


def task_seeds(seed: int, env: str, suite: str, num_tasks: int, split: str = "eval") -> list[list[int]]:
    """Per-task seeds of an evaluation rollout: ``[seed, key of (env, split, suite), task index]``.

    A task's randomness then depends only on (seed, split, suite, its index), not on the batch it
    runs in: a suite run alone, in chunks of ``eval.batch_size``, or merged with other suites into
    one batch gives the same numbers (up to float rounding in the model). Validation rollouts
    (``split="validation"``) draw from other streams than eval rollouts.
    """
    keys = [zlib.crc32(f"{env}/{split}-rollout/{suite}".encode())]
    return [[int(seed), *keys, i] for i in range(num_tasks)]


@dataclass(frozen=True)
class Baseline:
    """A baseline row: teacher ``teacher`` with options ``kwargs``, playing ``horizon`` (None: the
    evaluation's horizon, which a learner with a schedule, such as Q-learning, fits itself to)."""

    name: str
    teacher: str
    kwargs: tuple = ()  # (option, value) pairs
    horizon: Horizon | None = None

    @classmethod
    def from_row(cls, row: str) -> Baseline:
        """A row name of ``EnvSpec.baselines`` (``qlearning``, ``qlearning@200ep``)."""
        teacher, horizon = parse_baseline(row)
        return cls(row, teacher, (), horizon)

    def describe(self, horizon: Horizon) -> dict:
        return {"teacher": self.teacher, "options": dict(self.kwargs), "horizon": str(self.horizon or horizon)}


def evaluate_policies(
    env: str,
    policies: dict[str, Callable[[], Policy]],
    suites: dict[str, TaskSet],
    *,
    horizon: Horizon,
    seed: int = 0,
    progress: bool = True,
    horizons: dict[str, Horizon] | None = None,
) -> dict:
    """Run every policy on every suite for ``horizon`` (or its own in ``horizons``); returns
    ``{suite: {policy: score}}``."""
    spec = env_spec(env)
    out: dict[str, dict] = {}
    jobs = [(s, p) for s in suites for p in policies]
    for suite_name, policy_name in tqdm(jobs, desc=f"evaluating on {env}", disable=not progress):
        tasks = suites[suite_name]
        length = (horizons or {}).get(policy_name, horizon)
        traj = rollout(policies[policy_name](), make_env(tasks), seed=seed, **length.kwargs())
        out.setdefault(suite_name, {})[policy_name] = score(traj, spec.metric, tasks.action_sets.shape[1])
    return out


def baseline_results(env: str, tasks: dict[str, TaskSet], *, seed: int = 0, horizon: Horizon | None = None,
                     baselines: list[Baseline] | None = None, progress: bool = True) -> dict:
    """Baselines (default: those of ``env``'s spec) on ``tasks`` (``{suite: task set}``):
    ``{suite: {row: score}}``. Each plays ``horizon`` (default: the env's) unless it has a fixed
    budget of its own (``qlearning@200ep``: the paper's reference point in the darkroom)."""
    spec = env_spec(env)
    horizon = horizon or spec.default_horizon
    baselines = baselines if baselines is not None else [Baseline.from_row(r) for r in spec.baselines]
    policies = {b.name: (lambda b=b: make_teacher(b.teacher, **dict(b.kwargs))) for b in baselines}
    return evaluate_policies(env, policies, tasks, seed=seed, horizon=horizon, progress=progress,
                             horizons={b.name: b.horizon for b in baselines if b.horizon is not None})


def run_baselines(env: str, *, seed: int = 0, num_tasks: int = 100, suites=None, progress: bool = True,
                  train_seed: int | None = None, steps: int | None = None) -> dict:
    """The baselines of ``env`` on its eval suites, in the shared results shape, normalised against
    the environment's teacher (``reference``) and, where it differs, the paper's reference.

    Bandits run ``steps`` steps (default 300), the episodic environments their default episodes;
    a baseline with a budget of its own (``qlearning@200ep``) plays that.
    """
    spec = env_spec(env)
    tasks = eval_suites(env, seed, suites, num_tasks, train_seed)
    horizon = spec.horizon(steps=steps)
    results = baseline_results(env, tasks, seed=seed, horizon=horizon, progress=progress)
    out = {"env": env, "metric": spec.metric, "reference": spec.teacher, "reference_description": spec.reference}
    if spec.paper_reference != spec.teacher:
        out["paper_reference"] = spec.paper_reference
    out.update(suites=results, baselines={b: Baseline.from_row(b).describe(horizon) for b in spec.baselines})
    add_normalized(out, env)
    return out


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


def model_policy_factory(model, cfg, device=None, protocol: Protocol | None = None, session=None):
    """Makes the in-context policy of a model playing ``protocol`` (default: the paper's, see
    ``icrl.protocol``); bf16 as the ``session`` decides (``runtime.Session``; without one, as
    ``runtime.use_bf16`` decides on ``device``: on CUDA, float32 on CPU)."""
    from .agent import InContextPolicy
    from .runtime import Session

    protocol = protocol or paper_protocol(cfg)
    bf16 = (session if session is not None else Session.local(cfg, device)).bf16
    return lambda: InContextPolicy(model, selection=protocol.action_selection, temperature=protocol.temperature,
                                   device=device, amp=bf16)


def usable_suites(model, tasks: dict[str, TaskSet]) -> tuple[dict[str, TaskSet], dict[str, str]]:
    """Suites the model can act in, and why the others are skipped (its kind's action limit:
    AD's fixed head, the size of orthonormal embeddings)."""
    from .models.kinds import model_kind

    limit, field = model_kind(model.cfg.kind).rules.limit(model.cfg)
    usable, skipped = {}, {}
    for name, ts in tasks.items():
        widest = int(ts.num_actions.max())
        if limit is not None and widest > limit:
            skipped[name] = (f"{model.cfg.kind} takes at most {limit} actions ({field}); the suite has {widest}"
                             + model_kind(model.cfg.kind).rules.limit_note)
        else:
            usable[name] = ts
    return usable, skipped


def evaluate_model(model, cfg, *, tasks: dict[str, TaskSet] | None = None, suites=None, num_tasks=None, device=None,
                   progress=True, one_batch: bool | None = None, rows: dict[str, Protocol] | None = None,
                   split: str = "eval", session=None) -> tuple[dict, dict]:
    """The model's results on its eval suites: (``{suite: {row: score}}``, skipped suites with reasons).

    ``rows``: ``{row name: protocol}`` (default: the kind's row at the paper's protocol); rows
    that play alike are rolled out once. ``tasks`` (default: the config's suites of ``split``, or
    ``suites``, made here). ``one_batch`` (default: on CUDA) runs every suite's tasks as one batch
    on the device, which keeps a GPU busy; otherwise suites run one after another
    (``eval.batch_size`` tasks at a time), split across the processes of a torchrun job. Every
    task draws from its own random streams (``task_seeds``), so both ways give the same numbers.
    ``session``: the command's ``runtime.Session`` (its device, bf16, process group and evaluation
    CPU threads); without one, ``device`` and the process group already joined, if any.
    """
    from .runtime import Session

    if session is None:
        session = Session.local(cfg, device)
    elif device is None:
        device = session.device
    with session.evaluating():  # the evaluation's CPU threads (runtime: 1 unless configured)
        return _evaluate_model(model, cfg, tasks=tasks, suites=suites, num_tasks=num_tasks, device=device,
                               progress=progress, one_batch=one_batch, rows=rows, split=split, session=session)


def _evaluate_model(model, cfg, *, tasks, suites, num_tasks, device, progress, one_batch, rows, split, session):
    if tasks is None:
        names = suites if suites is not None else (cfg.eval.suites or None)
        tasks = eval_suites(cfg.env, cfg.eval.seed, names, num_tasks or cfg.eval.num_tasks, train_seed=cfg.data.seed,
                            split=split)
    rows = rows or {cfg.model.kind: paper_protocol(cfg)}
    usable, skipped = usable_suites(model, tasks)
    spec = env_spec(cfg.env)
    length = model_horizon(cfg).kwargs()
    seeds = {name: task_seeds(cfg.eval.seed, cfg.env, name, len(ts), split) for name, ts in usable.items()}
    rank, world = session.rank, session.world
    if one_batch is None:
        one_batch = device is not None and str(device).startswith("cuda")
    results: dict[str, dict] = {name: {} for name in usable}
    played: dict[str, str] = {}  # row -> an earlier row that plays the same way
    for row, protocol in rows.items():
        same = next((r for r in played if rows[r].same_play(protocol)), None)
        if same is not None:
            for name in usable:
                if same in results[name]:  # under torchrun: the suites of this process
                    results[name][row] = results[name][same]
            continue
        played[row] = row
        factory = model_policy_factory(model, cfg, device, protocol, session=session)
        if one_batch and world == 1 and usable:
            merged = TaskSet.concatenate(list(usable.values()))
            traj = rollout(factory(), make_env(merged), task_seeds=[s for name in usable for s in seeds[name]], **length)
            bounds = np.cumsum([0] + [len(ts) for ts in usable.values()])
            for i, (name, ts) in enumerate(usable.items()):
                results[name][row] = score(traj.rows(slice(bounds[i], bounds[i + 1])), spec.metric, ts.action_sets.shape[1])
            continue
        mine = list(usable)[rank::world]  # under torchrun each process takes every world-th suite
        desc = f"in-context evaluation of {row}"
        workers = eval_workers(cfg, device, world)
        if workers > 1:
            played_here = _play_in_workers(workers, factory, cfg, {name: usable[name] for name in mine}, seeds, length,
                                           desc, progress)
        else:
            played_here = ((name, _play_suite(factory, cfg, usable[name], seeds[name], length))
                           for name in tqdm(mine, desc=desc, disable=not progress or rank > 0))
        for name, result in played_here:
            results[name][row] = result
    if world > 1 and not one_batch:
        import torch.distributed as dist

        gathered = [None] * world
        dist.all_gather_object(gathered, results)
        results = {name: {row: part[name][row] for part in gathered for row in part.get(name, {})} for name in usable}
    return results, skipped


def _play_suite(factory, cfg, ts: TaskSet, seeds, length: dict) -> dict:
    """The score of a fresh policy from ``factory`` on one suite, ``eval.batch_size`` tasks at a time."""
    size = cfg.eval.batch_size or len(ts)
    parts = [rollout(factory(), make_env(ts.subset(slice(i, i + size))), task_seeds=seeds[i:i + size], **length)
             for i in range(0, len(ts), size)]
    traj = parts[0] if len(parts) == 1 else _concat(parts)
    return score(traj, env_spec(cfg.env).metric, ts.action_sets.shape[1])


def eval_workers(cfg, device, world: int = 1) -> int:
    """The worker processes an evaluation plays its suites in (``eval.workers``): 1 on CUDA, under
    torchrun, or off Linux, where forking a process that has run torch is not safe (the workers
    are forked: they inherit the model and any registered task family from this process, which a
    fresh interpreter would not have)."""
    import sys

    on_cpu = device is None or str(device) == "cpu"
    if cfg.eval.workers <= 1 or not on_cpu or world > 1 or not sys.platform.startswith("linux"):
        return 1
    return cfg.eval.workers


_FORKED: dict = {}  # what forked workers inherit: set just before the pool starts


def _worker_threads() -> None:
    import torch

    torch.set_num_threads(1)


def _worker_play(name: str) -> tuple[str, dict]:
    job = _FORKED
    return name, _play_suite(job["factory"], job["cfg"], job["suites"][name], job["seeds"][name], job["length"])


def _play_in_workers(workers: int, factory, cfg, suites: dict[str, TaskSet], seeds, length, desc, progress):
    """Yields ``(suite, score)`` as ``workers`` forked processes (one intra-op thread each) finish
    them, the largest suites first; the same scores as one process (per-task random streams)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    order = sorted(suites, key=lambda n: -int(suites[n].action_sets.shape[1]) * len(suites[n]))
    _FORKED.update(factory=factory, cfg=cfg, suites=suites, seeds=seeds, length=length)
    try:
        with ProcessPoolExecutor(min(workers, len(order)) or 1, mp_context=multiprocessing.get_context("fork"),
                                 initializer=_worker_threads) as pool:
            futures = [pool.submit(_worker_play, name) for name in order]
            for future in tqdm(as_completed(futures), total=len(futures), desc=desc, disable=not progress):
                yield future.result()
    finally:
        _FORKED.clear()


def _concat(parts: list[Trajectories]) -> Trajectories:
    T = max(p.actions.shape[1] for p in parts)

    def pad(a, value):
        return np.concatenate([np.pad(p_a, [(0, 0), (0, T - p_a.shape[1])] + [(0, 0)] * (p_a.ndim - 2), constant_values=value) for p_a in a])

    fields = {}
    for name, value in (("observations", 0), ("actions", 0), ("rewards", 0), ("dones", False), ("valid", False)):
        fields[name] = pad([getattr(p, name) for p in parts], value)
    regrets = None if parts[0].regrets is None else pad([p.regrets for p in parts], 0.0)
    return Trajectories(**fields, regrets=regrets)


def normalize(results: dict, env: str, reference: str, key: str = "normalized") -> None:
    """Add ``key`` to every entry of ``results`` (``{suite: {row: score}}``), in place:
    0 = random, 1 = the ``reference`` row of the same suite (None where the two do not differ).
    Normalised score = (R_random - R) / (R_random - R_reference) for regret, and the same with
    the signs turned for success and return (SPEC section 4)."""
    spec = env_spec(env)
    for row in results.values():
        if "random" not in row or reference not in row:
            continue
        rand, ref = row["random"]["final"], row[reference]["final"]
        for entry in row.values():
            gap = (rand - ref) if spec.lower_is_better else (ref - rand)
            gain = (rand - entry["final"]) if spec.lower_is_better else (entry["final"] - rand)
            entry[key] = float(gain / gap) if abs(gap) > 1e-12 else None


def add_normalized(out: dict, env: str) -> None:
    """``normalized`` against ``out["reference"]`` and, where ``out`` names a ``paper_reference``,
    ``normalized_paper`` against it, in every entry of ``out["suites"]``."""
    normalize(out["suites"], env, out["reference"])
    if out.get("paper_reference"):
        normalize(out["suites"], env, out["paper_reference"], "normalized_paper")


def reference_policy(cfg) -> tuple[str, str]:
    """(row name, description) of the policy a model of ``cfg`` is normalised against: the teacher
    that made its training data. A model trained on optimal actions (``data.targets=optimal``)
    is normalised against the teacher that made its contexts when that teacher learns
    (``Policy.learns``: e.g. the AD-epsilon ``noisy_oracle``, whose histories end at the optimal
    policy); when the contexts come from a fixed behaviour policy (random, Dirichlet: the DPT
    kinds), which is no reference, against the environment's learning algorithm, as DPT's paper
    compares online DPT with Thompson sampling and LinUCB on its bandits."""
    from .teachers import TEACHERS

    spec = env_spec(cfg.env)
    if cfg.data.targets == "optimal" and not TEACHERS[cfg.data.teacher].learns:
        return spec.teacher, (f"{spec.teacher}, the environment's learning algorithm ({spec.reference}); the data's "
                              f"{cfg.data.teacher} policy only makes the contexts of optimal-action labels")
    if cfg.data.targets == "optimal":
        return cfg.data.teacher, (f"{cfg.data.teacher}, the teacher that made the training contexts (the labels "
                                  "are its optimal actions)")
    return cfg.data.teacher, f"{cfg.data.teacher}, the teacher that made the training data"


def sharpened_baseline(reference: str, factor: float) -> Baseline | None:
    """The reference teacher sharpened like a model sampled at a fraction 1/``factor`` of its
    training temperature, or None when the teacher has no such option (``Policy.sharpen_option``:
    Thompson sampling scales its posterior counts by ``factor``). Deterministic teachers (UCB,
    LinUCB) and Q-learning have none."""
    from .teachers import TEACHERS

    option = getattr(TEACHERS.get(reference), "sharpen_option", None)
    if option is None:
        return None
    factor = round(float(factor), 3)
    return Baseline(f"{reference}@x{factor:g}", reference, ((option, factor),))


def evaluate(model, cfg, *, tuned: Protocol | None = None, tuning: dict | None = None, device=None,
             progress=True, session=None) -> dict:
    """A model's in-context results with the baselines on the same suites, normalised, in the
    shared results shape (``eval.json``).

    Rows: the model kind's (the paper's protocol), a hand-set protocol's (``eval.action_selection``
    / ``eval.temperature``), ``<kind>@tuned`` (``tuned``, chosen on validation suites), the
    environment's baselines, the data's teacher (``reference``) and, for a model row sampled
    below its training temperature, the teacher sharpened the same way where it can be.
    Fields: ``env``, ``metric``, ``reference`` (a row name), ``reference_description``,
    ``paper_reference`` (where the paper normalises against another row; every entry then also
    has ``normalized_paper``), ``suites``, ``protocols`` (per model row), ``baselines`` (per
    baseline row: teacher, options, horizon), ``protocol`` (horizon, tasks, seed and the paper's
    protocol), ``recipe``, ``tuning`` (validation scores, when tuned) and ``skipped``.
    """
    spec = env_spec(cfg.env)
    tasks = eval_suites(cfg.env, cfg.eval.seed, cfg.eval.suites or None, cfg.eval.num_tasks, train_seed=cfg.data.seed)
    rows = model_rows(cfg, tuned)
    results, skipped = evaluate_model(model, cfg, tasks=tasks, device=device, progress=progress, rows=rows,
                                      session=session)
    horizon = model_horizon(cfg)
    reference, description = reference_policy(cfg)
    baselines = [Baseline.from_row(r) for r in spec.baselines]
    if reference not in spec.baselines:
        baselines.append(Baseline(reference, reference))
    protocols = {row: p.as_dict() for row, p in rows.items()}
    for row, p in rows.items():
        if p.action_selection == "sample" and p.temperature < training_temperature(cfg):
            sharp = sharpened_baseline(reference, training_temperature(cfg) / p.temperature)
            if sharp is not None:
                protocols[row]["sharpened_reference"] = sharp.name
                if all(b.name != sharp.name for b in baselines):
                    baselines.append(sharp)
    base = baseline_results(cfg.env, tasks, seed=cfg.eval.seed, horizon=horizon, baselines=baselines, progress=progress)
    for name, row in base.items():
        results.setdefault(name, {}).update(row)
    paper = protocols[cfg.model.kind]
    out = {"env": cfg.env, "metric": spec.metric, "reference": reference, "reference_description": description}
    if spec.paper_reference != reference:
        out["paper_reference"] = spec.paper_reference
    out["suites"] = results
    add_normalized(out, cfg.env)
    out.update({
        "protocols": protocols,
        "baselines": {b.name: b.describe(horizon) for b in baselines},
        "protocol": {"policy": cfg.model.kind, **horizon.kwargs(), "num_tasks": cfg.eval.num_tasks, "seed": cfg.eval.seed,
                     "action_selection": paper["action_selection"], "temperature": paper["temperature"]},
        "recipe": training_recipe(cfg),
    })
    if tuning is not None:
        out["tuning"] = tuning
    if skipped:
        out["skipped"] = {row: skipped for row in rows}
    return out


def load_run_model(run_dir, *, device=None, eval_section=None, overrides=(), command: str = "icrl eval"):
    """(model, config) of a run's final model, with the evaluation settings to use.

    ``eval_section``: an ``EvalConfig`` instead of the one saved with the model (``icrl run`` on
    a trained run passes its preset's); ``overrides``: ``eval.field=value`` strings on top. The
    model's own fields are fixed by its checkpoint: other overrides raise ``ConfigError``.
    """
    import dataclasses

    from .config import ConfigError, RunConfig, apply_overrides
    from .models.files import load_model

    model, cfg = load_model(run_dir, device=device or "cpu")
    if eval_section is not None:
        cfg = dataclasses.replace(cfg, eval=eval_section)
    if overrides:
        fixed = [item for item in overrides if not item.strip().startswith("eval.")]
        if fixed:
            raise ConfigError(f"{command} can only change eval.* fields (the rest is fixed by the trained model); got {fixed}")
        cfg = RunConfig.from_dict(apply_overrides(cfg.to_dict(), overrides)).validate()
    return model, cfg


def evaluate_run(run_dir, *, device=None, progress=True, overrides=(), eval_section=None, session=None) -> dict:
    """Evaluate a run's final model (and the baselines on the same suites): ``evaluate``, with
    the run's tuned protocol (``RUN_DIR/tune.json``, written by ``icrl tune``) as a second row.
    ``eval_section`` and ``overrides`` as in ``load_run_model``. ``session``: the command's
    (``icrl run`` hands its own); without it one is resolved from ``device`` (a name, default
    ``auto``) and the run's config, once."""
    from .tune import read_tuning

    model, cfg, session = load_run_session(run_dir, device, session, eval_section=eval_section, overrides=overrides)
    tuning = read_tuning(run_dir, cfg)
    tuned = Protocol.from_dict(tuning["protocol"]) if tuning else None
    return evaluate(model, cfg, tuned=tuned, tuning=tuning, device=session.device, progress=progress, session=session)


def load_run_session(run_dir, device=None, session=None, **options):
    """(model, config, session) of a run's final model: ``load_run_model`` (``options``), on the
    ``session``'s device, or on that of a session resolved here from ``device`` (default ``auto``)
    and the loaded config."""
    from .runtime import Session

    if session is not None:
        model, cfg = load_run_model(run_dir, device=session.device, **options)
        return model, cfg, session
    model, cfg = load_run_model(run_dir, device="cpu", **options)
    session = Session.resolve(cfg, device if device is not None else "auto")
    return model.to(session.device), cfg, session


def training_recipe(cfg) -> dict:
    """How the model was trained, and where that departs from the paper's recipe (SPEC section 3).

    ``departures`` lists the switches a run sets otherwise than the paper, as each config field
    declares it (``icrl.config.departures``): another teacher than the environment's (e.g.
    ``explore_replay``), ``data.targets=policy``, the compact token layout, ``model.action_stats``.
    Reports print it, so that no number is read as the paper's method when it is not.
    """
    from .config import departures

    m = cfg.model
    return {"teacher": cfg.data.teacher, "num_histories": cfg.data.num_tasks, "targets": cfg.data.targets,
            "model": f"{m.kind}, {m.layout} layout, {m.num_layers} layers x {m.d_model} wide, {m.num_heads} heads",
            "train_steps": cfg.train.num_steps, "batch_size": cfg.train.batch_size, "departures": departures(cfg)}

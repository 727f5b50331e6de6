"""Seeds and variants of a preset: ``icrl sweep``.

A sweep is a grid of (variant, seed) runs of one preset, each in its own run directory
``OUT/<variant>/seed<s>`` and each one ``icrl run`` process. Seed ``s`` sets the dataset, the
training and the evaluation seeds together (``data.seed = train.seed = eval.seed = s``), as in the
paper's protocol, where each training seed has its own data and evaluation tasks. Finished runs
(``eval.json`` present) are skipped, interrupted ones resumed from their newest checkpoint, so the
same command continues a sweep. Every run directory gets a ``sweep.json`` record (variant, seed,
overrides, command, hardware, wall time) that ``icrl compare`` groups runs by.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .config import MAX_SEED, SEED_FIELDS, ConfigError, load_config
from .io import ensure_folder, write_json
from .machine import cpu_info


@dataclass(frozen=True)
class Variant:
    """A named set of overrides applied on top of the preset (and the sweep's ``--set``)."""

    name: str
    overrides: tuple[str, ...] = ()


def parse_shard(text: str) -> tuple[int, int]:
    """``--shard I/N`` as (I, N): this process takes runs I, I+N, I+2N, ... of the sweep.
    ``ConfigError`` naming the text unless it is two integers with 0 <= I < N."""
    parts = str(text).split("/")
    try:
        index, count = (int(x) for x in parts)
    except ValueError:
        index = count = None
    if index is None or not 0 <= index < count:
        raise ConfigError(f"--shard {text!r} is invalid: allowed I/N, two integers with 0 <= I < N (e.g. 0/4)")
    return index, count


@dataclass
class SweepRun:
    variant: Variant
    seed: int
    run_dir: Path
    overrides: list[str] = field(default_factory=list)  # --set items of this run, seeds included
    is_base: bool = False  # the variant's config is the preset's own (with the sweep's --set)

    @property
    def finished(self) -> bool:
        from .runs import is_finished

        return is_finished(self.run_dir)  # eval.json without its report: the resume writes it


MAX_SEEDS = 1000  # training seeds per variant: each is a whole training run


def split_values(text: str) -> list[str]:
    """``"a,[b,c],d"`` -> ``["a", "[b,c]", "d"]``: commas split values outside brackets."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch in "[{"
        depth -= ch in "]}"
        if ch == "," and depth == 0:
            out.append(text[start:i].strip())
            start = i + 1
    out.append(text[start:].strip())
    return [v for v in out if v]


def vary_variants(items) -> list[Variant]:
    """``--vary FIELD=V1,V2`` items -> one variant per value, named ``FIELD=V`` (one factor at a time)."""
    variants = []
    for item in items or ():
        if "=" not in item:
            raise ConfigError(f"--vary {item!r} must look like section.field=value1,value2")
        key, values = item.split("=", 1)
        key = key.strip()
        if key in SEED_FIELDS:
            raise ConfigError(f"--vary {item}: the sweep sets {', '.join(SEED_FIELDS)} itself (use --seeds and --first-seed)")
        if not split_values(values):
            raise ConfigError(f"--vary {item!r} lists no values")
        variants += [Variant(f"{key}={v}", (f"{key}={v}",)) for v in split_values(values)]
    return variants


def keep_variants(variants: list[Variant], only: str) -> list[Variant]:
    """The variants named in ``only`` (``"no_prompt,mse"``), in their sweep order.

    Raises ``ConfigError`` naming any name that is not one of ``variants`` (and listing those).
    """
    names = split_values(only)
    known = [v.name for v in variants]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise ConfigError(f"--only {only!r}: {', '.join(unknown) or 'no variant named'} is not a variant of this "
                          f"sweep; allowed: {', '.join(known)}")
    return [v for v in variants if v.name in names]


def ablation_variants(preset: str, ad_arms=None) -> list[Variant]:
    """The paper's ablations of Headless-AD (Table 1) for ``preset``'s environment.

    ``full`` (the preset), ``no_prompt``, ``mse`` (MSE loss on the embedding, nearest-neighbour
    selection), ``gaussian`` (Gaussian instead of orthonormal embeddings), ``ad`` (AD with its fixed
    head, trained on the preset's tasks) and, for the bandits, ``ad_K``: AD retrained on K-arm
    tasks and evaluated on the ``num_K`` suite, for each K in ``ad_arms`` (default: every ``num_K``
    suite wider than the training tasks), as the paper retrains AD per arm count.

    Context-feature scores (``model.action_stats``, ``model.context_features``) add to InfoNCE
    logits and do not exist under the MSE loss, so the ``mse`` variant of a preset that uses them
    turns them off (a second difference, which ``icrl compare`` reports).
    """
    from .suites import env_spec

    cfg = load_config(preset)
    spec = env_spec(cfg.env)
    mse = ("model.loss=mse",) + (("model.action_stats=false",) if cfg.model.action_stats else ()) + (
        ("model.context_features=[]",) if cfg.model.context_features else ())
    variants = [Variant("full"), Variant("no_prompt", ("model.prompt=false",)), Variant("mse", mse),
                Variant("gaussian", ("model.embeddings=gaussian",)), Variant("ad", ("model.kind=ad",))]
    if spec.train_min_actions == spec.train_max_actions:  # fixed action sets: nothing to retrain per size
        if ad_arms:
            raise ConfigError(f"--ad-arms: {cfg.env} has no num_K suites to retrain AD for")
        return variants
    wider = [int(s[4:]) for s in spec.eval_suites if s.startswith("num_") and int(s[4:]) > spec.train_max_actions]
    arms = wider if ad_arms is None else list(ad_arms)
    for k in arms:
        if f"num_{k}" not in spec.eval_suites:
            raise ConfigError(f"--ad-arms {k} is invalid: allowed arm counts of {cfg.env}'s num_K suites "
                              f"({', '.join(s[4:] for s in spec.eval_suites if s.startswith('num_'))})")
        variants.append(Variant(f"ad_{k}", ("model.kind=ad", f"model.head_size={k}", f"data.min_actions={k}",
                                            f"data.max_actions={k}", f"eval.suites=[num_{k}]")))
    return variants


def plan(preset: str, *, seeds: int, first_seed: int = 0, sets=(), variants=None, out=None) -> list[SweepRun]:
    """Every (variant, seed) run of the sweep, validated before anything runs.

    Raises ``ConfigError`` naming the variant whose settings are invalid, or when two variants
    resolve to the same config (they would be the same run twice).
    """
    if not 1 <= seeds <= MAX_SEEDS:
        raise ConfigError(f"--seeds={seeds} is invalid: allowed 1 to {MAX_SEEDS}")
    if not 0 <= first_seed <= MAX_SEED - seeds + 1:
        raise ConfigError(f"--first-seed={first_seed} is invalid: allowed 0 to {MAX_SEED - seeds + 1} "
                          f"(seeds run to first + {seeds - 1}, at most {MAX_SEED})")
    for item in sets or ():
        if item.split("=", 1)[0].strip() in SEED_FIELDS:
            raise ConfigError(f"--set {item}: the sweep sets {', '.join(SEED_FIELDS)} itself (use --first-seed)")
    variants = variants or [Variant("base")]
    base = load_config(preset, list(sets or ()))
    out = Path(out) if out else Path("sweeps") / base.name
    seen: dict[str, str] = {}
    base_key = json.dumps(base.to_dict(), sort_keys=True)
    runs = []
    for variant in variants:
        try:
            cfg = load_config(preset, [*sets, *variant.overrides])
        except ConfigError as err:
            raise ConfigError(f"variant {variant.name}: {err}") from None
        key = json.dumps(cfg.to_dict(), sort_keys=True)
        if key in seen:
            raise ConfigError(f"variants {seen[key]} and {variant.name} are the same config; drop one")
        seen[key] = variant.name
        for seed in range(first_seed, first_seed + seeds):
            overrides = [*sets, *variant.overrides, *(f"{f}={seed}" for f in SEED_FIELDS)]
            runs.append(SweepRun(variant, seed, out / safe_name(variant.name) / f"seed{seed}", overrides, key == base_key))
    return runs


def safe_name(name: str) -> str:
    """A variant name as a folder name (``model.prompt=false`` stays readable)."""
    return "".join(c if c.isalnum() or c in "._=-" else "_" for c in name)


def hardware() -> dict:
    """The machine a run used: ``machine.cpu_info()`` (CPU name, AVX-512, AMX, cores) and the CUDA
    devices made visible, if any."""
    info = dict(cpu_info())
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible:
        info["cuda_visible_devices"] = visible
    return info


def run_command(preset: str, run: SweepRun) -> list[str]:
    """The ``icrl run`` command of one sweep run (``--resume`` when it has a checkpoint or model)."""
    from .models.files import latest_checkpoint

    cmd = [sys.executable, "-m", "icrl", "run", preset, "--run-dir", str(run.run_dir)]
    for item in run.overrides:
        cmd += ["--set", item]
    if (run.run_dir / "model.safetensors").exists() or latest_checkpoint(run.run_dir) is not None:
        cmd.append("--resume")
    return cmd


def summary(run_dir: Path) -> str:
    """One line of a finished run: the mean normalised score of its model over its suites."""
    from .reading import read_results

    try:
        results = read_results(run_dir / "eval.json")
    except OSError:
        return "no eval.json"
    except ValueError as err:  # damaged: said, not raised (the sweep goes on)
        return str(err)
    policy = results["protocol"]["policy"]

    def mean(row_name):
        scores = [row[row_name]["normalized"] for row in results["suites"].values()
                  if row_name in row and row[row_name].get("normalized") is not None]
        return (sum(scores) / len(scores), len(scores)) if scores else None

    paper, tuned = mean(policy), mean(f"{policy}@tuned")
    if paper is None:
        return "done"
    return (f"mean normalised {paper[0]:.3f} over {paper[1]} suites (paper's protocol)"
            + (f", {tuned[0]:.3f} tuned on validation" if tuned else ""))


def execute(preset: str, runs: list[SweepRun], *, command: str, gpus=None, say=print) -> list[SweepRun]:
    """Run the unfinished runs of ``runs`` (in turn, or one per GPU at a time); returns the failed ones.

    Each run's output goes to ``RUN_DIR/run.log``; a line per run reports its start, wall time
    and result, or the end of its log if it failed (the other runs still go on).
    """
    todo = [r for r in runs if not r.finished]
    for r in runs:
        if r.finished:
            say(f"[skip] {r.variant.name} seed {r.seed}: finished ({r.run_dir})")
    slots = list(gpus) if gpus else [None]
    running: dict = {}  # slot -> (run, process, start time, log file)
    failed, done = [], len(runs) - len(todo)
    queue = list(todo)
    while queue or running:
        for slot in slots:
            if slot in running or not queue:
                continue
            run = queue.pop(0)
            ensure_folder(run.run_dir, "a sweep run's folder")
            cmd = run_command(preset, run)
            record = {"preset": preset, "variant": run.variant.name, "variant_overrides": list(run.variant.overrides),
                      "is_base": run.is_base, "seed": run.seed, "overrides": run.overrides, "sweep_command": command,
                      "run_command": shlex.join(["icrl", *cmd[3:]]), "hardware": hardware()}
            env = dict(os.environ)
            if slot is not None:
                env["CUDA_VISIBLE_DEVICES"] = str(slot)
                record["hardware"]["cuda_visible_devices"] = str(slot)
            previous = _read(run.run_dir / "sweep.json")
            record["attempts"] = previous.get("attempts", 0) + 1
            record["wall_s_before"] = previous.get("wall_s", 0.0)
            write_json(run.run_dir / "sweep.json", record)
            log = open(run.run_dir / "run.log", "a")
            say(f"[{done + len(running) + 1}/{len(runs)}] {run.variant.name} seed {run.seed}: running "
                f"({run.run_dir}{', GPU ' + str(slot) if slot is not None else ''})")
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
            running[slot] = (run, proc, time.perf_counter(), log)
        time.sleep(0.2)
        for slot, (run, proc, start, log) in list(running.items()):
            if proc.poll() is None:
                continue
            log.close()
            del running[slot]
            wall = time.perf_counter() - start
            record = _read(run.run_dir / "sweep.json")
            record["wall_s"] = round(record.pop("wall_s_before", 0.0) + wall, 1)
            record["status"] = "finished" if proc.returncode == 0 else f"failed (exit {proc.returncode})"
            write_json(run.run_dir / "sweep.json", record)
            done += 1
            if proc.returncode == 0:
                say(f"[{done}/{len(runs)}] {run.variant.name} seed {run.seed}: done in {wall:.0f} s, {summary(run.run_dir)}")
            else:
                failed.append(run)
                tail = (run.run_dir / "run.log").read_text(errors="replace").strip().splitlines()[-5:]
                say(f"[{done}/{len(runs)}] {run.variant.name} seed {run.seed}: FAILED (exit {proc.returncode}), "
                    f"log {run.run_dir / 'run.log'}:\n    " + "\n    ".join(tail))
    return failed


def _read(path: Path) -> dict:
    """A run's own ``sweep.json`` record to update; {} if missing or damaged (it is rewritten whole)."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(record, dict):
        return {}
    for key in ("attempts", "wall_s", "wall_s_before"):  # the numbers it adds to
        if key in record and (isinstance(record[key], bool) or not isinstance(record[key], (int, float))):
            del record[key]
    return record

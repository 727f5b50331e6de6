"""The ``icrl`` command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from . import __version__
from .config import MAX_SEED, SIZE_LIMITS, ConfigError, list_presets, load_config
from .errors import IcrlError
from .suites import ENV_SPECS

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="In-context RL over variable action spaces: datasets, baselines, AD and Headless-AD.",
)

SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a config field, e.g. --set train.lr=1e-4 (repeatable)."),
]
Force = Annotated[bool, typer.Option("--force", help="Replace an existing output file.")]


def fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def guarded(fn):
    """Turn bad input into one clear line and exit status 2: the library's errors (``IcrlError``:
    configs, datasets, environments, ...) and missing, existing or unwritable files. Anything
    else is a bug and keeps its traceback."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (IcrlError, FileExistsError, FileNotFoundError) as err:
            fail(str(err))
        except (PermissionError, IsADirectoryError, NotADirectoryError) as err:  # where we may not write
            fail(f"{err.filename or ''}: {err.strerror or err}".lstrip(": "))

    return wrapper


MAX_REPS = 100_000  # bootstrap resamples of icrl compare: far past where the intervals stop moving


def json_out(out: Path | None, option: str = "--out") -> None:
    """``out`` is a results JSON file: a .json name (or none), never the name of what goes beside it."""
    if out is not None and out.suffix and out.suffix.lower() != ".json":
        raise ConfigError(f"{option} {out} is invalid: allowed a .json file (the report and curves go beside it)")


def _config(preset: str, overrides, extra: dict):
    items = list(overrides or [])
    items += [f"{k}={v}" for k, v in extra.items() if v is not None]
    return load_config(preset, items)


@app.command()
@guarded
def generate(
    preset: Annotated[str, typer.Argument(help="Preset name (see `icrl presets`) or a YAML file.")],
    out: Annotated[Path | None, typer.Option(help="Dataset file (default: data/<preset>-seed<seed>.h5).")] = None,
    num_tasks: Annotated[int | None, typer.Option("--num-tasks", help="Number of training tasks (histories).")] = None,
    seed: Annotated[int | None, typer.Option(help="Dataset seed (tasks and teacher).")] = None,
    force: Force = False,
    set_: SetOption = None,
):
    """Run the preset's teacher on its training tasks and write the learning histories (HDF5)."""
    from .data.generate import generate_dataset

    cfg = _config(preset, set_, {"data.num_tasks": num_tasks, "data.seed": seed})
    path = generate_dataset(cfg, out, force=force)
    typer.echo(f"wrote {path}")


@app.command()
@guarded
def baselines(
    env: Annotated[str, typer.Argument(help=f"One of {', '.join(ENV_SPECS)}.")],
    out: Annotated[Path | None, typer.Option(help="Results JSON (default: print the table only).")] = None,
    num_tasks: Annotated[int, typer.Option("--num-tasks", help="Tasks per eval suite.")] = 100,
    seed: Annotated[int, typer.Option(help="Seed of the suites and the rollouts.")] = 0,
    suites: Annotated[str | None, typer.Option(help="Comma-separated suites (default: all).")] = None,
    force: Force = False,
):
    """Score the classic algorithms on every eval suite of ENV; print a table, optionally write JSON."""
    from .evaluate import results_table, run_baselines
    from .io import refuse_overwrite, write_json
    from .suites import env_spec

    env_spec(env)
    most = SIZE_LIMITS["eval.num_tasks"]
    if not 1 <= num_tasks <= most:
        raise ConfigError(f"--num-tasks={num_tasks} is invalid: allowed 1 to {most}")
    if not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"--seed={seed} is invalid: allowed 0 to {MAX_SEED}")
    json_out(out)
    if out is not None:
        refuse_overwrite(out, force)
    names = [s.strip() for s in suites.split(",")] if suites else None
    results = run_baselines(env, seed=seed, num_tasks=num_tasks, suites=names)
    typer.echo(results_table(results))
    if out is not None:
        write_json(out, results)
        typer.echo(f"wrote {out}")


RunDir = Annotated[Path | None, typer.Option("--run-dir", help="Run directory (default: runs/<preset>).")]
Resume = Annotated[bool, typer.Option("--resume", help="Continue the run in --run-dir from its newest checkpoint.")]


@app.command()
@guarded
def train(
    preset: Annotated[str, typer.Argument(help="Preset name or YAML file.")],
    run_dir: RunDir = None,
    data: Annotated[Path | None, typer.Option(help="Dataset file (default: the preset's; generated if missing).")] = None,
    resume: Resume = False,
    set_: SetOption = None,
):
    """Train AD or Headless-AD on a learning-history dataset."""
    from .pipeline import say
    from .pipeline import train as train_run

    cfg = _config(preset, set_, {})
    run_dir = run_dir or Path("runs") / cfg.name
    train_run(cfg, run_dir, data=data, resume=resume)
    say(f"wrote {run_dir / 'model.safetensors'}")


@app.command(name="eval")
@guarded
def eval_(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (or a model .safetensors file's folder).")],
    out: Annotated[Path | None, typer.Option(help="Results JSON (default: RUN_DIR/eval.json).")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    force: Force = False,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", "-s", help="Change the protocol, e.g. --set eval.action_selection=argmax (eval.* fields only).")] = None,
):
    """Evaluate a trained model in context on every eval suite; write JSON, a table and plots."""
    from .evaluate import evaluate_run, results_table
    from .io import refuse_overwrite
    from .lock import file_lock, run_dir_lock
    from .models.files import evaluated_model
    from .pipeline import report, say
    from .runtime import check_device_name, is_main

    check_device_name(device)  # before any work (the session is resolved once, in evaluate_run)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: not a run directory (give the folder that holds model.safetensors)")
    json_out(out)
    with run_dir_lock(run_dir) if out is None else file_lock(out):
        found = evaluated_model(run_dir)
        if out is None and found != run_dir / "model.safetensors":
            # not eval.json: that would mark the run finished, and a resume or a sweep would stop
            out = run_dir / f"eval-{found.stem}.json"
        refuse_overwrite(out or run_dir / "eval.json", force)
        if found.parent.name == "checkpoints":
            say(f"{run_dir} has not finished training: evaluating its newest checkpoint {found}")
        results = evaluate_run(run_dir, device=device, overrides=set_ or ())  # the session is resolved there, once
        if found.parent.name == "checkpoints":  # the recipe's train_steps is the run's plan, not this model's
            results["recipe"]["evaluated_checkpoint"] = found.name
        if is_main():
            paths = report(results, run_dir, out)
            say(results_table(results))
            say(f"wrote {', '.join(map(str, paths))}")


@app.command()
@guarded
def tune(
    run_dir: Annotated[Path, typer.Argument(help="A run directory with a trained model.")],
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    force: Annotated[bool, typer.Option("--force", help="Replace an existing tune.json of the run.")] = False,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", "-s", help="Change the tuning, e.g. --set eval.tune_num_tasks=20 (eval.* fields only).")] = None,
):
    """Choose the test-time protocol (temperature, sample or argmax) on validation suites, never on
    eval suites; writes RUN_DIR/tune.json, which `icrl eval` reports as the row <kind>@tuned."""
    from .lock import run_dir_lock
    from .pipeline import say
    from .runtime import check_device_name
    from .tune import TUNE_FILE, tune_run, tuning_table

    check_device_name(device)  # before any work (the session is resolved once, in tune_run)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: not a run directory (give the folder that holds model.safetensors)")
    with run_dir_lock(run_dir):  # no other command writes the run meanwhile
        record = tune_run(run_dir, device=device, overrides=set_ or (), force=force)
    say(tuning_table(record))
    say(f"chose {record['protocol']} on {len(record['suites'])} validation suites; wrote {run_dir / TUNE_FILE}")


@app.command()
@guarded
def run(
    preset: Annotated[str, typer.Argument(help="Preset name (e.g. bandit-cpu) or YAML file.")],
    run_dir: RunDir = None,
    resume: Resume = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing eval.json of the run.")] = False,
    set_: SetOption = None,
):
    """Generate (or reuse) data, train, evaluate and report, in one command."""
    from .pipeline import run as run_pipeline

    return run_pipeline(preset, run_dir, overrides=set_ or (), resume=resume, force=force)


@app.command()
@guarded
def sweep(
    preset: Annotated[str, typer.Argument(help="Preset name (e.g. bandit-cpu) or YAML file.")],
    seeds: Annotated[int, typer.Option("--seeds", help="Number of training seeds per variant.")] = 3,
    first_seed: Annotated[int, typer.Option("--first-seed", help="The first seed (seeds run first..first+N-1).")] = 0,
    vary: Annotated[list[str] | None, typer.Option(
        "--vary", help="A variant per value, one field at a time: --vary model.prompt=true,false (repeatable).")] = None,
    ablations: Annotated[bool, typer.Option(
        "--ablations", help="The paper's ablations: full, no_prompt, mse, gaussian, ad, and AD retrained per arm count.")] = False,
    ad_arms: Annotated[str | None, typer.Option(
        "--ad-arms", help="With --ablations: arm counts to retrain AD for, e.g. 50,100 (default: every num_K beyond training).")] = None,
    only: Annotated[str | None, typer.Option(
        "--only", help="Run only these variants, e.g. no_prompt,mse (the others stay as they are).")] = None,
    out: Annotated[Path | None, typer.Option(help="Sweep folder (default: sweeps/<preset>).")] = None,
    gpus: Annotated[str | None, typer.Option(help="Run one run per listed GPU at a time, e.g. 0,1,2,3.")] = None,
    shard: Annotated[str | None, typer.Option(help="I/N: this process takes runs I, I+N, ... (several machines).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the runs and exit.")] = False,
    set_: SetOption = None,
):
    """Train and evaluate a preset over seeds (and variants); finished runs are skipped, others resumed."""
    import shlex
    import sys

    from .sweep import (
        Variant,
        ablation_variants,
        execute,
        keep_variants,
        parse_shard,
        plan,
        vary_variants,
    )

    variants = vary_variants(vary)
    if ablations:
        try:
            arms = [int(v) for v in ad_arms.split(",")] if ad_arms else None
        except ValueError:
            raise ConfigError(f"--ad-arms {ad_arms!r} is invalid: allowed arm counts like 50,100") from None
        variants = ablation_variants(preset, arms) + variants
    elif ad_arms:
        raise ConfigError("--ad-arms needs --ablations")
    variants = variants or [Variant("base")]
    if only is not None:
        variants = keep_variants(variants, only)
    runs = plan(preset, seeds=seeds, first_seed=first_seed, sets=set_ or (), variants=variants, out=out)
    if shard:
        index, count = parse_shard(shard)
        runs = runs[index::count]
    if dry_run:
        for r in runs:
            typer.echo(f"{r.variant.name:24s} seed {r.seed}  {r.run_dir}  {'finished' if r.finished else ''}")
        return
    slots = [g.strip() for g in gpus.split(",") if g.strip()] if gpus else None
    failed = execute(preset, runs, command=shlex.join(["icrl", *sys.argv[1:]]), gpus=slots, say=typer.echo)
    if failed:
        fail(f"{len(failed)} of {len(runs)} runs failed: " + ", ".join(str(r.run_dir) for r in failed))
    typer.echo(f"all {len(runs)} runs finished under {runs[0].run_dir.parent.parent}")


@app.command()
@guarded
def compare(
    runs: Annotated[list[Path], typer.Argument(help="Run directories or sweep folders (every run with eval.json under them).")],
    out: Annotated[Path, typer.Option(help="Markdown report; the numbers go to the same name with .json "
                                           "(--out NAME.json: the numbers there, the report in NAME.md).")] = Path("comparison.md"),
    paper: Annotated[bool, typer.Option("--paper", help="Put the paper's published numbers beside ours.")] = False,
    figures: Annotated[Path | None, typer.Option(help="Folder for the figures (default: <out stem>-figures).")] = None,
    title: Annotated[str | None, typer.Option(help="Title of the report.")] = None,
    reps: Annotated[int, typer.Option(help="Bootstrap resamples for the confidence intervals.")] = 2000,
    note: Annotated[list[str] | None, typer.Option(
        "--note", help="A line about how the runs were made, printed under 'What was run' (repeatable).")] = None,
    force: Force = False,
):
    """Aggregate runs over seeds (rliable: mean and IQM with 95% intervals), per suite and overall,
    with the ablation table and figures; --paper adds the published numbers."""
    import shlex
    import sys

    from .compare import compare as run_compare
    from .io import refuse_overwrite

    if not 100 <= reps <= MAX_REPS:
        raise ConfigError(f"--reps={reps} is invalid: allowed 100 to {MAX_REPS}")
    if out.suffix.lower() == ".json":  # the numbers go there; the report beside it, as .md
        out = out.with_suffix(".md")
    refuse_overwrite(out, force)
    refuse_overwrite(out.with_suffix(".json"), force)
    if figures is not None and figures.exists() and not figures.is_dir():
        raise NotADirectoryError(20, "is a file, not a folder for the figures (--figures)", str(figures))
    md, js = run_compare(runs, out, with_paper=paper, figures=figures, title=title, reps=reps, notes=note or (),
                         command=shlex.join(["icrl", *sys.argv[1:]]))
    typer.echo(md.read_text())
    typer.echo(f"wrote {md}, {js}")


@app.command()
@guarded
def archive(
    runs: Annotated[list[Path], typer.Argument(help="Run directories or sweep folders (every run with eval.json under them).")],
    out: Annotated[Path, typer.Option(help="Folder for the records (e.g. one kept in git).")],
    force: Annotated[bool, typer.Option("--force", help="Replace records in --out that differ.")] = False,
):
    """Keep the records of finished runs (eval.json, config.json, sweep.json, dataset.json,
    tune.json, metrics.jsonl, report.md; no checkpoints or data) under --out, laid out as the sweeps are, so that
    `icrl compare` on --out reports them after the run directories are gone."""
    from .compare import archive as run_archive

    if out.exists() and not out.is_dir():
        raise NotADirectoryError(20, "is a file, not a folder for the records (--out)", str(out))
    written = run_archive(runs, out, force=force)
    typer.echo(f"wrote {len(written)} files under {out}" if written else f"{out} already holds these records")


@app.command()
def presets():
    """List the presets."""
    for name in list_presets():
        cfg = load_config(name, validate=False)
        typer.echo(f"{name:16s} env={cfg.env:10s} model={cfg.model.kind} d_model={cfg.model.d_model} "
                   f"layers={cfg.model.num_layers} train_steps={cfg.train.num_steps}")


@app.command()
@guarded
def config(
    preset: Annotated[str, typer.Argument(help="Preset name or YAML file.")],
    set_: SetOption = None,
):
    """Print the resolved, validated config of a preset as JSON."""
    typer.echo(json.dumps(_config(preset, set_, {}).to_dict(), indent=1))


@app.command("export-minari")
@guarded
def export_minari(
    histories: Annotated[Path, typer.Argument(help="A learning-history file (HDF5).")],
    dataset_id: Annotated[str, typer.Argument(help="Minari dataset id, e.g. icrl/darkroom-qlearning-v0.")],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing Minari dataset.")] = False,
):
    """Write HISTORIES as a local Minari dataset: one Minari episode per in-context episode, the history
    index, episode index, task and action set in episode metadata."""
    from .data.minari_io import export_minari as run_export

    typer.echo(f"wrote Minari dataset {run_export(histories, dataset_id, force=force)}")


@app.command("import-minari")
@guarded
def import_minari(
    dataset_id: Annotated[str, typer.Argument(help="A local Minari dataset id.")],
    out: Annotated[Path, typer.Option("--out", help="The learning-history file to write (HDF5).")],
    history_key: Annotated[str | None, typer.Option("--history-key", help="Plain Minari datasets: the episode-metadata "
                                                    "key whose value groups episodes into histories.")] = None,
    env: Annotated[str | None, typer.Option(help="Plain Minari datasets: the environment name to record.")] = None,
    force: Force = False,
):
    """Read a Minari dataset back into learning histories: one written by export-minari as it was, or a
    plain one grouped into histories by --history-key."""
    from .data.minari_io import import_minari as run_import

    typer.echo(f"wrote {run_import(dataset_id, out, history_key=history_key, env=env, force=force)}")


def version_callback(value: bool):
    if value:
        typer.echo(f"icrl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", callback=version_callback, is_eager=True, help="Show the version.")] = False,
):
    import warnings

    # a warning is one line too ("warning: ..."), not Python's file:line and source dump
    warnings.formatwarning = lambda message, category, *args, **kwargs: f"warning: {message}\n"


def main():
    app()


if __name__ == "__main__":
    main()

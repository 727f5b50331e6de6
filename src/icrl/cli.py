"""The ``icrl`` command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import __version__
from .config import ConfigError, list_presets, load_config
from .data.history import DatasetError
from .envs.base import EnvError
from .suites import ENV_SPECS

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="In-context RL over variable action spaces: datasets, baselines, AD and Headless-AD.",
)

SetOption = Annotated[
    Optional[list[str]],
    typer.Option("--set", "-s", help="Override a config field, e.g. --set train.lr=1e-4 (repeatable)."),
]
Force = Annotated[bool, typer.Option("--force", help="Replace an existing output file.")]


def fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def guarded(fn):
    """Turn the library's expected errors into one clear line and exit status 2."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (ConfigError, DatasetError, EnvError, FileExistsError, FileNotFoundError) as err:
            fail(str(err))
        except ValueError as err:  # bad option values from the library, e.g. a teacher hyperparameter
            fail(str(err))

    return wrapper


def _config(preset: str, overrides, extra: dict):
    items = list(overrides or [])
    items += [f"{k}={v}" for k, v in extra.items() if v is not None]
    return load_config(preset, items)


@app.command()
@guarded
def generate(
    preset: Annotated[str, typer.Argument(help="Preset name (see `icrl presets`) or a YAML file.")],
    out: Annotated[Optional[Path], typer.Option(help="Dataset file (default: data/<preset>-seed<seed>.h5).")] = None,
    num_tasks: Annotated[Optional[int], typer.Option("--num-tasks", help="Number of training tasks (histories).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Dataset seed (tasks and teacher).")] = None,
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
    out: Annotated[Optional[Path], typer.Option(help="Results JSON (default: print the table only).")] = None,
    num_tasks: Annotated[int, typer.Option("--num-tasks", help="Tasks per eval suite.")] = 100,
    seed: Annotated[int, typer.Option(help="Seed of the suites and the rollouts.")] = 0,
    suites: Annotated[Optional[str], typer.Option(help="Comma-separated suites (default: all).")] = None,
    force: Force = False,
):
    """Score the classic algorithms on every eval suite of ENV; print a table, optionally write JSON."""
    from .evaluate import results_table, run_baselines
    from .io import refuse_overwrite, write_json
    from .suites import env_spec

    env_spec(env)
    if num_tasks < 1:
        raise ConfigError(f"--num-tasks={num_tasks} is invalid: allowed >= 1")
    if out is not None:
        refuse_overwrite(out, force)
    names = [s.strip() for s in suites.split(",")] if suites else None
    results = run_baselines(env, seed=seed, num_tasks=num_tasks, suites=names)
    typer.echo(results_table(results))
    if out is not None:
        write_json(out, results)
        typer.echo(f"wrote {out}")


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


def version_callback(value: bool):
    if value:
        typer.echo(f"icrl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", callback=version_callback, is_eager=True, help="Show the version.")] = False,
):
    pass


def main():
    app()


if __name__ == "__main__":
    main()

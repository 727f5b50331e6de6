"""The run pipeline: ensure the dataset, train, evaluate, report.

``run("bandit-cpu")`` does from Python what ``icrl run bandit-cpu`` does (the command line is a
thin layer over these functions). The device and process group are set up once; the dataset's
config is compared from its attributes, without reading its arrays; a freshly trained model is
evaluated as it is in memory, and the eval suites are made once for the model and the baselines.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from .config import (
    ConfigError,
    RunConfig,
    check_overrides,
    describe_changes,
    load_config,
    training_changes,
)
from .data.history import DatasetError
from .runtime import PHASES, Session, barrier, describe_wall, is_main, machine


def say(message: str) -> None:
    """Print once, from the main process of a torchrun job."""
    if is_main():
        print(message, flush=True)


@contextlib.contextmanager
def timed(wall: dict | None, phase: str):
    """Add the seconds the block takes to ``wall[phase]`` (nothing when ``wall`` is None)."""
    tic = time.perf_counter()
    try:
        yield
    finally:
        if wall is not None:
            wall[phase] = wall.get(phase, 0.0) + time.perf_counter() - tic


def ensure_dataset(cfg: RunConfig, data=None, *, progress: bool = True) -> Path:
    """The run's dataset (``data`` or ``cfg.dataset_path()``): generated if missing, reused when the
    fingerprint it records is the run's (``icrl.data.fingerprint``), refused (``DatasetError``
    naming the fields that differ) when it is not."""
    from .data import dataset_attrs
    from .data.fingerprint import DatasetFingerprint, dataset_fingerprint
    from .data.generate import generate_dataset
    from .lock import file_lock

    path = Path(data) if data else cfg.dataset_path()
    if not path.exists():
        made = True
        if is_main():
            with file_lock(path, wait=True, what="data.path"):  # runs sharing a dataset make it once
                made = not path.exists()  # else another process made it while this one waited
                if made:
                    say(f"generating {path}")
                    generate_dataset(cfg, path, progress=progress)
        barrier()  # the other processes of a torchrun job wait for it
        if made:
            return path
    wanted = dataset_fingerprint(cfg)
    have = DatasetFingerprint.of_record(dataset_attrs(path)["config"])
    if have != wanted:
        raise DatasetError(f"{path} was generated from another data config or code ({have.differences(wanted)}); "
                           "set data.path to a new file or remove it")
    say(f"reusing {path}")
    return path


def periodic_eval(cfg: RunConfig, session: Session):
    """In-training evaluation on ``train.eval_suites`` (at most 20 tasks each), or None."""
    if not cfg.train.eval_every or not cfg.train.eval_suites:
        return None
    from .evaluate import evaluate_model

    def run_eval(model):
        results, _ = evaluate_model(model, cfg, suites=cfg.train.eval_suites, num_tasks=min(cfg.eval.num_tasks, 20),
                                    session=session, progress=False)
        model.train()
        return {f"eval/{name}": row[cfg.model.kind]["final"] for name, row in results.items()}

    return run_eval


def train(cfg: RunConfig, run_dir, *, data=None, resume: bool = False, device=None, progress: bool = True,
          session: Session | None = None, wall: dict | None = None):
    """Ensure the dataset and train; returns the trained model (on its training device). Holds the
    run directory's lock (``icrl.lock``) meanwhile: a second process on it is refused. ``session``:
    the command's (``icrl run`` hands its own); without it one is resolved here, from ``device``
    (default ``train.device``). ``wall``: a dict that receives the seconds spent on the dataset
    (``"data"``: generating or checking it) and on training (``"train"``)."""
    from .lock import run_dir_lock

    with run_dir_lock(run_dir):
        return _train(cfg, run_dir, data=data, resume=resume, device=device, progress=progress, session=session,
                      wall=wall)


def _train(cfg: RunConfig, run_dir, *, data=None, resume: bool = False, device=None, progress: bool = True,
           session: Session | None = None, wall: dict | None = None):
    from .train import Trainer, check_resumable, check_trainable

    check_trainable(cfg)  # what can be refused is refused before a dataset is generated
    check_resumable(cfg, run_dir, resume)
    session = session if session is not None else Session.resolve(cfg, device)
    with timed(wall, "data"):
        dataset = ensure_dataset(cfg, data, progress=progress)
    with timed(wall, "train"):
        trainer = Trainer(cfg, run_dir, dataset, resume=resume, progress=progress,
                          eval_fn=periodic_eval(cfg, session), session=session)
        trainer.run()
    return trainer.model


def report(results: dict, run_dir, out=None, *, title: str | None = None) -> tuple[Path, Path, Path]:
    """Write results as JSON with its Markdown report and curves: ``RUN_DIR/eval.json``,
    ``report.md`` and ``curves.png``, or beside ``out``. Returns the three paths."""
    from .io import write_json
    from .report import write_report

    run_dir = Path(run_dir)
    md, png = (run_dir / "report.md", run_dir / "curves.png") if out is None else (
        Path(out).with_suffix(".md"), Path(out).with_name(Path(out).stem + "-curves.png"))
    out = Path(out) if out is not None else run_dir / "eval.json"
    write_json(out, results)
    md, png = write_report(results, md, png, title=title or run_dir.name)
    return out, md, png


def run(preset, run_dir=None, *, overrides=(), resume: bool = False, force: bool = False, progress: bool = True) -> dict:
    """Generate (or reuse) the dataset, train, evaluate and report: ``icrl run`` from Python.

    ``preset``: a preset name, a YAML path or a ``RunConfig`` (validated like a preset);
    ``overrides``: a list of ``section.field=value`` strings, applied to any of them. Writes
    ``RUN_DIR`` (default ``runs/<name>``; its lock is held meanwhile) and returns the results
    (``eval.json``). A finished run (``eval.json``, ``report.md`` and ``curves.png``; with
    ``eval.json`` alone the report is written) is refused (``FileExistsError``) unless ``force``;
    with ``resume`` or ``force`` a trained run is only evaluated again, with this command's
    ``eval`` section. With ``eval.tune`` the protocol is first tuned on validation suites
    (``icrl.tune``; kept in ``RUN_DIR/tune.json``, reused when it exists) and reported as the row
    ``<kind>@tuned``.
    """
    from .lock import run_dir_lock

    tic = time.perf_counter()
    overrides = check_overrides(overrides)
    cfg = load_config(preset, overrides)  # a RunConfig too: validated, with the overrides applied
    run_dir = Path(run_dir) if run_dir is not None else Path("runs") / cfg.name
    with run_dir_lock(run_dir):
        return _run(cfg, run_dir, tic, resume=resume, force=force, progress=progress)


def _run(cfg: RunConfig, run_dir: Path, tic: float, *, resume: bool, force: bool, progress: bool) -> dict:
    from .evaluate import evaluate, evaluate_run, results_table
    from .io import refuse_overwrite
    from .protocol import Protocol
    from .reading import read_results, read_run_config
    from .runs import is_finished, missing_results
    from .tune import TUNE_FILE, tune, tune_run, tuning_table, write_tuning

    if is_finished(run_dir) and not force:
        raise FileExistsError(f"{run_dir} is a finished run (eval.json exists, with its report.md and curves.png); "
                              "choose another --run-dir, or --force to evaluate it again")
    if (run_dir / "eval.json").exists() and not force:  # killed while writing the report: finish it
        results = read_results(run_dir / "eval.json")
        say(f"{run_dir}: evaluation done, writing the missing {' and '.join(missing_results(run_dir))}")
        if is_main():
            say(f"wrote {', '.join(map(str, report(results, run_dir)))}")
        return results
    refuse_overwrite(run_dir / "eval.json", True)
    session = Session.resolve(cfg)  # once: training, tuning and evaluation share it
    wall: dict = {}
    if (run_dir / "model.safetensors").exists() and (resume or force):  # only the evaluation is left to do (again)
        saved = run_dir / "config.json"
        changed = training_changes(read_run_config(saved), cfg) if saved.exists() else {}
        if changed:
            raise ConfigError(f"{run_dir} has finished training; these settings would not be applied: "
                              f"{describe_changes(changed)}. Train them in another --run-dir")
        # this command's eval section applies to this evaluation (the model file holds the training one)
        if cfg.eval.tune and not (run_dir / TUNE_FILE).exists():
            with timed(wall, "tune"):
                say(tuning_table(tune_run(run_dir, session=session, progress=progress, eval_section=cfg.eval)))
        with timed(wall, "eval"):
            results = evaluate_run(run_dir, session=session, progress=progress, eval_section=cfg.eval)
    else:
        model = train(cfg, run_dir, resume=resume, progress=progress, session=session, wall=wall)
        tuning = None
        if cfg.eval.tune:
            with timed(wall, "tune"):
                tuning = write_tuning(run_dir, tune(model, cfg, session=session, progress=progress))
            say(tuning_table(tuning))
        tuned = Protocol.from_dict(tuning["protocol"]) if tuning else None
        with timed(wall, "eval"):
            results = evaluate(model, cfg, tuned=tuned, tuning=tuning, session=session, progress=progress)
    # Every wall time names its machine: the seconds per phase of this command, and where it ran.
    results["wall_s"] = {**{k: round(wall[k], 1) for k in PHASES if k in wall},
                         "total": round(time.perf_counter() - tic, 1)}
    results["machine"] = machine(session.device)
    if is_main():
        paths = report(results, run_dir)
        say(results_table(results))
        say(f"wrote {', '.join(map(str, paths))}")
    say(f"done in {describe_wall(results['wall_s'], results['machine'])}")
    return results

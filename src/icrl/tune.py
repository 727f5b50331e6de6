"""Choosing the test-time protocol after training, on validation suites only: ``icrl tune``.

A trained model is played with each candidate protocol (``icrl.protocol.candidates``: the
paper's, sampling at a few fractions of the training temperature, the argmax) on the
*validation* suites of its environment: the eval suites' names and task distributions drawn from
other random streams (``icrl.suites``, ``split="validation"``), with rollout streams of their own.
The candidate with the best mean normalised score over those suites (against the data's teacher,
``icrl.evaluate.reference_policy``) is the tuned protocol; the paper's wins ties. No eval suite is
made or read here, so the eval suites' numbers never choose anything. ``RUN_DIR/tune.json`` keeps
the choice and every candidate's validation scores; ``icrl eval`` and ``icrl run`` then report the
tuned protocol as the second row ``<kind>@tuned`` beside the paper's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import IcrlError
from .protocol import Protocol, candidates

TUNE_FILE = "tune.json"


class TuningError(IcrlError, ValueError):
    """A ``tune.json`` that cannot be read, or that was made for another model."""


def tune(model, cfg, *, device=None, progress: bool = True, session=None) -> dict:
    """Choose ``cfg``'s protocol on validation suites; returns the ``tune.json`` record.

    Record: ``protocol`` (the choice, ``tuned_on="validation"``), ``candidates`` (each protocol
    with its per-suite and mean validation normalised score), ``reference``, ``split``,
    ``suites``, ``num_tasks``, ``seed`` and ``trained_config`` (to refuse the record for another
    model). The suites are ``eval.suites`` (default: all) of the validation split, with
    ``eval.tune_num_tasks`` tasks each, played for the evaluation's horizon. ``session``: the
    command's ``runtime.Session`` (as in ``evaluate_model``).
    """
    from .evaluate import (
        Baseline,
        add_normalized,
        baseline_results,
        evaluate_model,
        model_horizon,
        reference_policy,
    )
    from .suites import eval_suites

    tried = candidates(cfg)
    rows = {p.label: p for p in tried}
    tasks = eval_suites(cfg.env, cfg.eval.seed, cfg.eval.suites or None, cfg.eval.tune_num_tasks, split="validation")
    results, skipped = evaluate_model(model, cfg, tasks=tasks, rows=rows, split="validation", device=device,
                                      progress=progress, session=session)
    reference, _ = reference_policy(cfg)
    base = baseline_results(cfg.env, {n: tasks[n] for n in results}, seed=cfg.eval.seed, horizon=model_horizon(cfg),
                            baselines=[Baseline("random", "random"), Baseline(reference, reference)], progress=False)
    for name, row in base.items():
        results[name].update(row)
    add_normalized({"suites": results, "reference": reference}, cfg.env)
    scored = []
    for label, p in rows.items():
        per_suite = {s: results[s][label]["normalized"] for s in results}
        known = [v for v in per_suite.values() if v is not None]
        scored.append({**p.as_dict(), "validation": per_suite, "validation_mean": float(np.mean(known)) if known else None})
    best = max(range(len(scored)), key=lambda i: (scored[i]["validation_mean"] is not None,
                                                  scored[i]["validation_mean"] or 0.0, -i))
    chosen = Protocol(tried[best].action_selection, tried[best].temperature, "validation")
    return {"protocol": chosen.as_dict(), "candidates": scored, "reference": reference, "split": "validation",
            "suites": list(results), "skipped": skipped, "num_tasks": cfg.eval.tune_num_tasks, "seed": cfg.eval.seed,
            "horizon": str(model_horizon(cfg)), "trained_config": _trained(cfg)}


def _trained(cfg) -> dict:
    d = cfg.to_dict()
    return {k: d[k] for k in ("env", "data", "model", "train")}


def tune_run(run_dir, *, device=None, progress: bool = True, overrides=(), eval_section=None,
             force: bool = False, session=None) -> dict:
    """Tune a run's final model (``tune``) and write ``RUN_DIR/tune.json``; returns the record.

    ``eval_section`` / ``overrides`` (``eval.field=value``, e.g. ``eval.tune_num_tasks=20``) as in
    ``icrl.evaluate.load_run_model``. An existing ``tune.json`` is refused (``FileExistsError``)
    unless ``force``. ``session`` / ``device`` as in ``icrl.evaluate.evaluate_run``.
    """
    from .evaluate import load_run_session
    from .io import refuse_overwrite

    refuse_overwrite(Path(run_dir) / TUNE_FILE, force)
    model, cfg, session = load_run_session(run_dir, device, session, eval_section=eval_section, overrides=overrides,
                                           command="icrl tune")
    return write_tuning(run_dir, tune(model, cfg, device=session.device, progress=progress, session=session))


def write_tuning(run_dir, record: dict) -> dict:
    """Write ``record`` as ``RUN_DIR/tune.json`` (atomically; the main process of a torchrun job)."""
    from .io import write_json
    from .runtime import is_main

    if is_main():
        write_json(Path(run_dir) / TUNE_FILE, record)
    return record


def read_tuning(run_dir, cfg) -> dict | None:
    """The run's ``tune.json`` record, or None when it has none.

    Raises ``RunFileError`` (``icrl.reading``) naming the file when it is not a tuning record, and
    ``TuningError`` when it was made for a model trained with other settings than ``cfg`` (a model
    trained again since).
    """
    from .config import describe_changes, training_changes
    from .reading import read_tuning_record

    path = Path(run_dir) / TUNE_FILE
    if not path.exists():
        return None
    record = read_tuning_record(path)
    changed = training_changes(record["trained_config"], cfg)
    if changed:
        raise TuningError(f"{path} was tuned for a model trained with other settings ({describe_changes(changed)}); "
                          "run `icrl tune RUN_DIR --force` again")
    return record


def tuning_table(record: dict) -> str:
    """A Markdown table of a tuning record: one row per candidate, its mean and per-suite scores."""
    suites = record["suites"]
    lines = ["| protocol | validation mean | " + " | ".join(suites) + " |", "|---" * (len(suites) + 2) + "|"]
    chosen = Protocol.from_dict(record["protocol"])
    for c in record["candidates"]:
        p = Protocol.from_dict(c)
        mark = " (chosen)" if p.same_play(chosen) else ""
        cells = ["-" if c["validation"][s] is None else f"{c['validation'][s]:.2f}" for s in suites]
        mean = "-" if c["validation_mean"] is None else f"{c['validation_mean']:.3f}"
        lines.append(f"| {p.label}{mark} | {mean} | " + " | ".join(cells) + " |")
    return "\n".join(lines)

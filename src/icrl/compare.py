"""Aggregate runs over seeds: ``icrl compare``.

Runs are grouped by (preset, variant), from the ``sweep.json`` that ``icrl sweep`` writes in each
run directory (a run without one is its own variant, named after its folder's parent). Scores are
the normalised scores of ``eval.json`` (0 = random, 1 = the teacher that made the data) of the
model's row at the paper's protocol, then of its tuned row (``<kind>@tuned``, chosen on validation
suites) where the runs have one, and the final regret or success. Point estimates and 95%
confidence intervals come from rliable (Agarwal et al., "Deep RL at the Edge of the Statistical
Precipice", NeurIPS 2021): the mean and the interquartile mean (IQM), with stratified bootstrap
intervals over runs (seeds).

Each of the paper's findings is stated as a difference with its 95% interval and a verdict the
interval supports (``verdict``): **holds** (the interval lies on the stated side of zero),
**inconclusive** (it contains zero) or **does not hold** (it lies on the other side).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from . import paper
from .config import SEED_FIELDS
from .errors import IcrlError
from .io import atomic_path, ensure_folder, write_bytes, write_json, write_text
from .protocol import TUNED
from .reading import RunFileError, read_results, read_sweep_record
from .suites import env_spec

REPS = 2000  # bootstrap resamples
MAIN_VARIANTS = ("full", "base")  # the variant a preset's section reports first
ABLATIONS = ("no_prompt", "mse", "gaussian")  # the paper's Table 1 ablations, as `icrl sweep --ablations` names them


def hardware_text(hw: dict) -> str:
    """One line of a run's ``sweep.json`` hardware record, e.g. "AMD EPYC, 2 cores, AVX-512"."""
    if not hw:
        return "-"
    return (f"{hw.get('cpu', '?')}, {hw.get('cores', '?')} cores"
            + (", AVX-512" if hw.get("avx512") else (", no AVX-512" if hw.get("avx512") is False else ""))
            + (f", GPU {hw['cuda_visible_devices']}" if hw.get("cuda_visible_devices") else ""))


def by_value(runs, text) -> str:
    """``text(run)`` of the runs; where they differ, each value followed by the seeds it holds for."""
    values: dict[str, list[str]] = {}
    for r in runs:
        values.setdefault(text(r), []).append(str(r.seed))
    if len(values) == 1:
        return next(iter(values))
    return "; ".join(f"{value} (seed{'s' * (len(seeds) > 1)} {', '.join(seeds)})" for value, seeds in values.items())


class CompareError(IcrlError, ValueError):
    """No runs to compare, or a run directory that cannot be read."""


@dataclass
class Run:
    """One finished run: its ``eval.json`` and where it comes from."""

    path: Path
    preset: str
    variant: str
    seed: int
    results: dict
    record: dict  # sweep.json, or {} for a run made outside a sweep

    @property
    def env(self) -> str:
        return self.results["env"]

    @property
    def sweep_sets(self) -> list[str]:
        """The sweep's own ``--set`` items (every variant and seed of it has them): the run's
        overrides without its variant's and the seed fields."""
        own = set(self.record.get("variant_overrides") or ())
        return [o for o in self.record.get("overrides") or () if o not in own and o.split("=", 1)[0] not in SEED_FIELDS]

    @property
    def policy(self) -> str:
        return self.results["protocol"]["policy"]

    @property
    def reference(self) -> str:
        """The row the normalised scores are against: the data's teacher (older eval.json files
        name a description instead; then the environment's teacher)."""
        ref = self.results.get("reference")
        rows = next(iter(self.results["suites"].values()), {})
        return ref if ref in rows else env_spec(self.env).teacher

    @property
    def tuned(self) -> str:
        """The name of the model's tuned row."""
        return f"{self.policy}@{TUNED}"

    @property
    def sharpened(self) -> str | None:
        """The reference teacher's row sharpened like the tuned row, where the run has one."""
        return self.results.get("protocols", {}).get(self.tuned, {}).get("sharpened_reference")

    def entry(self, suite: str, policy: str | None = None) -> dict | None:
        return self.results["suites"].get(suite, {}).get(policy or self.policy)


def find_runs(paths) -> list[Run]:
    """Every finished run (a folder with ``eval.json``) at or under ``paths``, sorted."""
    found: list[Path] = []
    for p in map(Path, paths):
        if not p.exists():
            raise FileNotFoundError(f"{p}: no such run or sweep directory")
        found += [p] if (p / "eval.json").exists() else sorted(q.parent for q in p.rglob("eval.json"))
    if not found:
        raise CompareError(f"no finished run (eval.json) under {', '.join(map(str, paths))}")
    runs = []
    for path in dict.fromkeys(found):
        try:  # one line naming the file and what is wrong
            results = read_results(path / "eval.json")
            record = read_sweep_record(path / "sweep.json")
        except RunFileError as err:
            raise CompareError(str(err)) from None
        config = _read_json(path / "config.json")
        config = config if isinstance(config, dict) else {}
        train = config.get("train") if isinstance(config.get("train"), dict) else {}
        name = config.get("name") if isinstance(config.get("name"), str) else None
        preset = record.get("preset") or name or path.parent.name
        seed = record.get("seed", train.get("seed", 0) if isinstance(train.get("seed", 0), int) else 0)
        run = Run(path, Path(preset).stem, record.get("variant") or path.parent.name, int(seed), results, record)
        if run.sweep_sets:  # another recipe of the preset: its own section, named after its sweep folder
            run.preset = f"{run.preset}@{path.parent.parent.name}"
        runs.append(run)
    # A folder is one section: its plain runs (e.g. seed 1 by a sweep) join the runs that another
    # command made with --set and that were copied in beside them (seed 0).
    named = {run.path.parent.parent: run.preset for run in runs if run.sweep_sets}
    for run in runs:
        if not run.sweep_sets and named.get(run.path.parent.parent, "").split("@")[0] == run.preset:
            run.preset = named[run.path.parent.parent]
    # Sweeps of one preset in several folders (e.g. the preset's recipe then and now) are not
    # merged either: each section is named after its folder.
    folders: dict[str, set] = {}
    for run in runs:
        folders.setdefault(run.preset, set()).add(run.path.parent.parent)
    for run in runs:
        if len(folders[run.preset]) > 1:
            run.preset = f"{run.preset}@{run.path.parent.parent.name}"
    return runs


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def groups(runs: list[Run]) -> dict[str, dict[str, list[Run]]]:
    """preset -> variant -> runs sorted by seed (variants in the order first seen)."""
    out: dict[str, dict[str, list[Run]]] = defaultdict(dict)
    for r in runs:
        out[r.preset].setdefault(r.variant, []).append(r)
    for preset, variants in out.items():
        for name in variants:
            variants[name].sort(key=lambda r: r.seed)
        out[preset] = {v: variants[v] for v in sorted(variants, key=variant_order)}
    return dict(out)


def variant_order(name: str):
    """The main variant first, then the paper's ablations, AD, AD per K (by K), the rest by name."""
    known = [*MAIN_VARIANTS, *ABLATIONS, "ad"]
    if name in known:
        return (known.index(name), 0, "")
    k = name[3:]
    return (len(known), int(k), "") if name.startswith("ad_") and k.isdigit() else (len(known) + 1, 0, name)


# -- statistics (rliable) -----------------------------------------------------------------------
def _rliable():
    try:
        from rliable import library, metrics
    except ImportError as err:
        raise CompareError(f"icrl compare needs rliable: pip install 'icrl[stats]' ({err})") from None
    # arch 7 warns that rliable's RandomState argument will go; the results are the same
    warnings.filterwarnings("ignore", message="random_state is deprecated", category=FutureWarning)
    return library, metrics


@contextmanager
def _seeded_global_rng(seed: int):
    """numpy's global generator seeded with ``seed`` for the block, then put back as it was.

    rliable 1.x draws its bootstrap indices from ``np.random.choice`` (the global generator) and
    passes ``random_state`` only to arch, which does not draw them: without this, an interval
    depended on whatever had used the global generator before (the same report came out with
    other bounds in a second call)."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def interval_estimates(scores: dict[str, np.ndarray], stat: str = "mean", *, reps: int = REPS,
                       seed: int = 0) -> dict[str, tuple[float, float, float]]:
    """``{name: (point, low, high)}``: the aggregate ``stat`` ("mean" or "iqm") of each
    (runs x tasks) score matrix and its stratified-bootstrap 95% interval (rliable).

    NaN cells (a task a run has no score for) are not allowed: pass only complete matrices.
    """
    library, metrics = _rliable()
    func = {"mean": metrics.aggregate_mean, "iqm": metrics.aggregate_iqm}[stat]
    scores = {k: np.asarray(v, dtype=float) for k, v in scores.items()}
    for name, m in scores.items():
        if m.ndim != 2 or m.size == 0 or np.isnan(m).any():
            raise CompareError(f"{name}: need a complete (runs x tasks) score matrix, got shape {m.shape}")
    with _seeded_global_rng(seed):
        points, cis = library.get_interval_estimates(
            scores, lambda x: np.array([func(x)]), reps=reps, random_state=np.random.RandomState(seed))
    return {k: (float(points[k][0]), float(cis[k][0, 0]), float(cis[k][1, 0])) for k in scores}


def difference_interval(a: np.ndarray, b: np.ndarray, *, reps: int = REPS, seed: int = 0) -> tuple[float, float, float]:
    """Mean of ``a`` minus mean of ``b`` (two groups of runs, one score each) and its 95% interval:
    rliable's stratified bootstrap resamples each column of the (runs x 2) matrix on its own,
    which is the independent bootstrap of two groups. Groups of unequal size are cut to the smaller.
    With one run per group there is no interval: the bounds are NaN (``verdict``: inconclusive)."""
    n = min(len(a), len(b))
    if n < 2:
        return float(np.mean(a[:n]) - np.mean(b[:n])), float("nan"), float("nan")
    stacked = np.stack([np.asarray(a, float)[:n], np.asarray(b, float)[:n]], axis=1)
    library, _ = _rliable()
    with _seeded_global_rng(seed):
        points, cis = library.get_interval_estimates(
            {"d": stacked}, lambda x: np.array([x[:, 0].mean() - x[:, 1].mean()]), reps=reps,
            random_state=np.random.RandomState(seed))
    return float(points["d"][0]), float(cis["d"][0, 0]), float(cis["d"][1, 0])


def fmt(est, digits: int = 2) -> str:
    point, lo, hi = est
    if np.isnan(lo) or np.isnan(hi):
        return f"{point:.{digits}f} [one seed]"
    return f"{point:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def no_nan(obj):
    """``obj`` with every NaN float (a bound one seed cannot give) as None, for strict JSON."""
    if isinstance(obj, float):
        return None if np.isnan(obj) else obj
    if isinstance(obj, dict):
        return {k: no_nan(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [no_nan(v) for v in obj]
    return obj


VERDICTS = ("holds", "inconclusive", "does not hold")


def verdict(interval) -> str:
    """The verdict a 95% interval ``(point, low, high)`` of a difference supports on the claim
    "the difference is above zero": ``holds`` when the whole interval is above zero, ``does not
    hold`` when it is below, ``inconclusive`` when it contains zero or is missing (one seed)."""
    _, lo, hi = interval
    if np.isnan(lo) or np.isnan(hi):
        return VERDICTS[1]
    return VERDICTS[0] if lo > 0 else VERDICTS[2] if hi < 0 else VERDICTS[1]


# -- what a group scored ------------------------------------------------------------------------
def suites_of(runs: list[Run]) -> list[str]:
    """The suites every run of the group has a model result for, in eval order."""
    names = [s for s in runs[0].results["suites"] if runs[0].entry(s) is not None]
    return [s for s in names if all(r.entry(s) is not None for r in runs)]


def values(runs: list[Run], suites: list[str], key: str = "normalized", policy=None) -> np.ndarray:
    """(runs x suites) array of ``key`` (``normalized``, ``final`` or ``actions_used``) of row
    ``policy`` (default: each run's model row; a list: one row name per run)."""
    out = np.full((len(runs), len(suites)), np.nan)
    for i, r in enumerate(runs):
        for j, s in enumerate(suites):
            e = r.entry(s, policy[i] if isinstance(policy, list) else policy)
            if e is not None and e.get(key) is not None:
                out[i, j] = e[key]
    return out


def arm_count(suite: str) -> int | None:
    return int(suite[4:]) if suite.startswith("num_") and suite[4:].isdigit() else None


def merged_retrained(variants: dict[str, list[Run]], name: str = "ad") -> dict[str, list[Run]]:
    """Per suite, the runs of ``name`` or, for ``num_K``, of ``name_K`` (AD retrained per arm count)."""
    out: dict[str, list[Run]] = {}
    for s in suites_of(variants[name]) if name in variants else []:
        out[s] = variants[name]
    for v, runs in variants.items():
        if v.startswith(name + "_") and v[len(name) + 1:].isdigit():
            for s in suites_of(runs):
                out[s] = runs
    return out


# -- the report ---------------------------------------------------------------------------------
def main_variant(variants: dict[str, list[Run]]) -> str:
    """The variant a section reports first: the sweep's preset itself (``is_base``), else ``full``
    or ``base``, else the first."""
    based = [v for v, runs in variants.items() if runs[0].record.get("is_base")]
    return next(iter(based), next((v for v in MAIN_VARIANTS if v in variants), next(iter(variants))))


class Report:
    """Builds the Markdown text, the figures and the JSON numbers of one comparison."""

    def __init__(self, runs: list[Run], *, with_paper: bool, figures: Path, md_dir: Path, reps: int = REPS):
        self.runs, self.with_paper, self.figures, self.reps = runs, with_paper, figures, reps
        self.md_dir = md_dir
        self.numbers: dict = {}
        self.lines: list[str] = []

    def est(self, m: np.ndarray, stat: str = "mean") -> tuple[float, float, float]:
        """``(point, low, high)`` of ``stat`` over a (runs x tasks) matrix; one run: no interval (NaN bounds)."""
        point, lo, hi = interval_estimates({"x": m}, stat, reps=self.reps)["x"]
        return (point, lo, hi) if len(m) > 1 else (point, float("nan"), float("nan"))

    def build(self, title: str, command: str, notes=()) -> str:
        by_preset = groups(self.runs)
        when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        self.lines = [f"# {title}", "",
                      f"Generated by `{command}` on {when} from {len(self.runs)} runs; do not edit by hand "
                      "(run the command again).", "",
                      "Scores: normalised score, 0 = random play, 1 = the teacher that made the run's training data "
                      "(each preset's section names it), from each run's `eval.json`, of the model played with the paper's "
                      "protocol; the protocol tuned on validation suites (never on eval suites) is the second row where "
                      "runs have one. Brackets: 95% stratified-bootstrap confidence intervals over training seeds "
                      f"(rliable, {self.reps} resamples); IQM = interquartile mean. Findings: **holds** when the interval of "
                      "the difference lies on the stated side of zero, **inconclusive** when it contains zero, **does not "
                      "hold** when it lies on the other side.", ""]
        self.what_was_run(by_preset)
        self.lines += [f"- {note}" for note in notes] + ([""] if notes else [])
        for preset, variants in by_preset.items():
            self.section(preset, variants)
        return "\n".join(self.lines) + "\n"

    def what_was_run(self, by_preset) -> None:
        self.lines += ["## What was run", "",
                       "| preset | variant | seeds | wall time per run (mean) | total | hardware | command |",
                       "|---|---|---|---|---|---|---|"]
        for preset, variants in by_preset.items():
            for name, runs in variants.items():
                walls = [r.record["wall_s"] for r in runs if r.record.get("wall_s") is not None]
                wall = f"{np.mean(walls) / 60:.1f} min" if walls else "-"
                total = f"{np.sum(walls) / 60:.1f} min" if walls else "-"
                hardware = by_value(runs, lambda r: hardware_text(r.record.get("hardware") or {}))
                commands = by_value(runs, lambda r: f"`{r.record.get('sweep_command', '-')}`")
                self.lines.append(f"| {preset} | {name} | {', '.join(str(r.seed) for r in runs)} | {wall} | {total} | "
                                  f"{hardware} | {commands} |")
        self.lines.append("")

    # one preset
    def section(self, preset: str, variants: dict[str, list[Run]]) -> None:
        main = main_variant(variants)
        runs = variants[main]
        env, metric = runs[0].env, runs[0].results["metric"]
        self.numbers[preset] = {"env": env, "variants": {}}
        self.lines += [f"## {preset} ({env}), variant `{main}`, {len(runs)} seed{'s' * (len(runs) > 1)}", ""]
        recipe = runs[0].results.get("recipe", {})
        protocol = runs[0].results.get("protocol", {})
        if runs[0].sweep_sets:
            self.lines += [f"Settings beyond the preset (the sweep's): `{' '.join('--set ' + o for o in runs[0].sweep_sets)}`.", ""]
        if recipe:
            self.lines += [f"Training: {', '.join(f'{k} = {v}' for k, v in recipe.items() if k != 'departures')}. "
                           f"Evaluation: {', '.join(f'{k} = {v}' for k, v in protocol.items() if k != 'seed')}; "
                           "each seed s trains on data of seed s and is evaluated with seed s.", ""]
            departs = recipe.get("departures") or []  # as the runs recorded them, whatever the preset says now
            self.lines += [("Departs from the paper's recipe in: " + "; ".join(f"`{d}`" for d in departs) + ".")
                           if departs else "The paper's training recipe (at these sizes and steps).", ""]
        r0 = runs[0]
        described = r0.results.get("reference_description", r0.reference)
        paper_ref = r0.results.get("paper_reference")
        lines = [f"Reference (normalised score 1): `{r0.reference}` ({described})"
                 + (f"; beside it, against the paper's reference `{paper_ref}`" if paper_ref else "") + "."]
        protocols = r0.results.get("protocols", {})
        if protocols:
            lines.append("Model rows: " + "; ".join(
                f"`{row}` {p['action_selection']}" + (f" at temperature {p['temperature']:g}" if p.get("temperature") else "")
                + (f" (tuned on {p['tuned_on']} suites, per seed)" if p.get("tuned_on") else " (the paper's protocol)"
                   if row == r0.policy else " (set by hand)")
                for row, p in protocols.items()) + ".")
        tuned = [r.results.get("protocols", {}).get(r.tuned) for r in runs]
        if all(tuned):
            lines.append("Tuned protocol per seed: " + ", ".join(
                f"seed {r.seed}: {t['action_selection']}" + (f" {t['temperature']:g}" if t.get("temperature") else "")
                for r, t in zip(runs, tuned, strict=True)) + ".")
            if all(r.sharpened for r in runs):
                lines.append("`teacher sharpened alike`: each seed's reference teacher sharpened as its tuned row is "
                             "(Thompson sampling: posterior counts x tau / temperature).")
        self.lines += [" ".join(lines), ""]
        self.suite_table(preset, env, metric, runs)
        if len(variants) > 1:
            self.variant_table(preset, env, variants)
            if main in variants and any(a in variants for a in ABLATIONS + ("ad",)):
                self.findings(env, variants, main)
        if self.with_paper:
            self.differences(env, runs)
        self.plots(preset, env, metric, variants, main)

    def suite_table(self, preset, env, metric, runs) -> None:
        suites = suites_of(runs)
        teacher = runs[0].reference
        tuned = runs[0].tuned if all(r.entry(s, r.tuned) is not None for r in runs for s in suites) else None
        sharp = [r.sharpened for r in runs] if tuned and all(r.sharpened for r in runs) else None
        paper_ref = runs[0].results.get("paper_reference")
        norm, final = values(runs, suites), values(runs, suites, "final")
        rows, per_suite = [], {}
        paper_cols = self.with_paper
        head = ("| suite | normalised (mean [95% CI]) | final " + metric
                + (" | tuned protocol: normalised" if tuned else "")
                + (" | teacher sharpened alike" if sharp else "")
                + (f" | normalised vs `{paper_ref}`" if paper_ref else "")
                + f" | {teacher} | random | arms used |"
                + (" paper: Headless-AD | paper: normalised |" if paper_cols else ""))
        rows += [head, "|---" * (head.count("|") - 1) + "|"]
        for j, s in enumerate(suites):
            if np.isnan(norm[:, j]).any():
                continue
            e_norm, e_final = self.est(norm[:, j:j + 1]), self.est(final[:, j:j + 1])
            t = values(runs, [s], "final", teacher)
            rnd = values(runs, [s], "final", "random")
            arms = values(runs, [s], "actions_used")
            per_suite[s] = {"normalized": e_norm, "final": e_final, "teacher_final": float(np.nanmean(t)),
                            "random_final": float(np.nanmean(rnd)), "actions_used": float(arms.mean())}
            digits = 1 if metric == "regret" else 2
            row = f"| {s} | {fmt(e_norm)} | {fmt(e_final, digits)} |"
            if tuned:
                per_suite[s]["tuned_normalized"] = self.est(values(runs, [s], policy=tuned))
                row += f" {fmt(per_suite[s]['tuned_normalized'])} |"
            if sharp:
                per_suite[s]["sharpened_teacher_normalized"] = self.est(values(runs, [s], policy=sharp))
                row += f" {fmt(per_suite[s]['sharpened_teacher_normalized'])} |"
            if paper_ref:
                per_suite[s]["normalized_paper"] = self.est(values(runs, [s], "normalized_paper"))
                row += f" {fmt(per_suite[s]['normalized_paper'])} |"
            row += f" {np.nanmean(t):.{digits}f} | {np.nanmean(rnd):.{digits}f} | {arms.mean():.1f} |"
            if paper_cols:
                p = paper.FINAL.get(env, {}).get(s, {})
                pn = paper.normalized(env, s)
                ranged = paper.RANGES.get(env, {}).get("headless_ad")
                shown = f"{ranged['range'][0]}-{ranged['range'][1]} (all sets)" if ranged else p.get("headless_ad", "-")
                row += f" {shown} | {pn if pn is not None else '-'} |"
                per_suite[s]["paper_normalized"] = pn
            rows.append(row)
        complete = ~np.isnan(norm).any(axis=0)
        if complete.any():
            mean, iqm = self.est(norm[:, complete]), self.est(norm[:, complete], "iqm")
            overall = {"mean": mean, "iqm": iqm, "suites": int(complete.sum())}
            cells = [f"mean {fmt(mean)}, IQM {fmt(iqm)}", ""]
            others = {}
            if tuned:
                others["tuned"] = values(runs, suites, policy=tuned)
            if sharp:
                others["sharpened_teacher"] = values(runs, suites, policy=sharp)
            if paper_ref:
                others["paper_reference"] = values(runs, suites, "normalized_paper")
            for key, m in others.items():
                overall[key] = {"mean": self.est(m[:, complete]), "iqm": self.est(m[:, complete], "iqm")}
                cells.append(f"mean {fmt(overall[key]['mean'])}")
            rows.append(f"| **all {int(complete.sum())} suites** | " + " | ".join(cells) + " | | | |"
                        + (" | {} | {} |".format(*self.paper_overall(env)) if paper_cols else ""))
            self.numbers[preset]["overall"] = overall
        self.numbers[preset]["reference"] = teacher
        if paper_ref:
            self.numbers[preset]["paper_reference"] = paper_ref
        self.numbers[preset]["suites"] = per_suite
        self.lines += rows + [""]

    def paper_overall(self, env: str) -> tuple[str, str]:
        """The paper's overall Headless-AD figure as (raw score, normalised score) cells: the
        darkroom gives a success range (raw, not normalised), the bandits a normalised mean."""
        if env in paper.RANGES:
            d = paper.RANGES[env]["headless_ad"]
            return f"success {d['range'][0]}-{d['range'][1]}, mean {d['mean']}", "-"
        return "-", f"ablation table: {paper.ABLATIONS.get(env, {}).get('full', {}).get('mean', '-')}"

    def variant_table(self, preset, env, variants) -> None:
        """Table 1's layout: mean normalised score, arms used, one column per arm count."""
        rows_out = {}
        all_suites = list(dict.fromkeys(s for runs in variants.values() for s in suites_of(runs)))
        ks = sorted((s for s in all_suites if arm_count(s) is not None), key=arm_count)
        head = "| variant | differs from the main variant in | seeds | mean normalised [95% CI] | IQM | arms used | " \
               + " | ".join(ks) + " |" + (" paper (mean) |" if self.with_paper else "")
        main = main_variant(variants)
        lines = [head, "|---" * (head.count("|") - 1) + "|"]
        names = [v for v in variants if not (v.startswith("ad_") and v[3:].isdigit())]
        for name in names:
            per_suite = merged_retrained(variants, name) if name == "ad" else {s: variants[name] for s in suites_of(variants[name])}
            seeds = min(len(r) for r in per_suite.values())
            m = np.concatenate([values(per_suite[s][:seeds], [s]) for s in per_suite], axis=1)
            mean, iqm = self.est(m), self.est(m, "iqm")
            base_suites = [s for s in per_suite if arm_count(s) is None]
            arms = np.mean([values(per_suite[s], [s], "actions_used").mean() for s in base_suites]) if base_suites else float("nan")
            cells = []
            for k in ks:
                cells.append(f"{values(per_suite[k], [k]).mean():.2f}" if k in per_suite else "-")
            label = "ad (retrained per K)" if name == "ad" and len(per_suite) and any(v.startswith("ad_") for v in variants) else name
            p = paper.ABLATIONS.get(env, {}).get(name, {})
            paper_cell = (" " + (", ".join(f"{k} {v}" for k, v in p.items()) or "-") + " |") if self.with_paper else ""
            switches = switch_difference(variants[main][0], variants[name][0])
            lines.append(f"| {label} | {switches} | {seeds} | {fmt(mean)} | {fmt(iqm)} | {arms:.1f} | " + " | ".join(cells)
                         + " |" + paper_cell)
            rows_out[name] = {"mean": mean, "iqm": iqm, "actions_used": float(arms), "suites": list(per_suite), "differs_in": switches,
                              "num_k": {k: float(values(per_suite[k], [k]).mean()) for k in ks if k in per_suite}}
        self.numbers[preset]["variants"] = rows_out
        self.lines += ["### Variants (the paper's Table 1 layout)", "",
                       "Mean over the suites each variant was evaluated on; `differs from the main variant in`: the "
                       "training settings (model and data) in which its runs differ from the main variant's, read from "
                       "their `config.json`; `arms used` averages the suites that are "
                       "not `num_K`; `num_K` columns: mean normalised score at K arms. "
                       "AD (retrained per K) takes its `num_K` columns from AD trained on K-arm tasks.", ""] + lines + [""]

    def findings(self, env, variants, main) -> None:
        """The paper's qualitative findings, each a difference with its 95% interval and the
        verdict the interval supports (``verdict``: holds, inconclusive, does not hold)."""
        out = ["### The paper's findings at this scale", ""]
        full = variants[main]
        full_suites = suites_of(full)
        ks = [s for s in full_suites if arm_count(s) is not None]
        found = {}

        def mean_over(runs, suites):
            return np.nanmean(values(runs, suites), axis=1)  # one score per run

        def state(key, claim, d, detail):
            v = verdict(d)
            out.append(f"- {claim}: **{v}** ({detail}).")
            found[key] = {"verdict": v, "holds": v == "holds", "difference": d}
            return found[key]

        for name in ABLATIONS:
            if name not in variants:
                continue
            common = [s for s in full_suites if s in suites_of(variants[name])]
            d = difference_interval(mean_over(full, common), mean_over(variants[name], common), reps=self.reps)
            state(f"full>={name}", f"Full Headless-AD scores above `{name}` on average", d,
                  f"full minus {name}: {fmt(d)} over {len(common)} suites")
        for name in ("no_prompt", "gaussian"):
            if name not in variants or len(ks) < 2:
                continue
            gaps = {k: difference_interval(values(full, [k])[:, 0], values(variants[name], [k])[:, 0], reps=self.reps) for k in ks}
            lo, hi = ks[0], ks[-1]
            grow = difference_interval(values(full, [hi])[:, 0] - values(full, [lo])[:, 0],
                                       values(variants[name], [hi])[:, 0] - values(variants[name], [lo])[:, 0], reps=self.reps)
            entry = state(f"gap_to_{name}_grows", f"The gap to `{name}` grows with the number of arms", grow,
                          f"gap at {hi[4:]} arms minus gap at {lo[4:]} arms: {fmt(grow)}; gap per arm count: "
                          + ", ".join(f"{k[4:]} arms {fmt(g)}" for k, g in gaps.items()))
            entry["gaps"] = gaps
        if "mse" in variants:
            base = [s for s in full_suites if arm_count(s) is None and s in suites_of(variants["mse"])]
            if base:
                a = values(full, base, "actions_used").mean(axis=1)
                b = values(variants["mse"], base, "actions_used").mean(axis=1)
                d = difference_interval(0.5 * a, b, reps=self.reps)
                entry = state("mse_fewer_arms", "The MSE variant uses under half the arms of full Headless-AD", d,
                              f"half of full's arms minus mse's, on {', '.join(base)}: {fmt(d, 1)}; arms used: full "
                              f"{fmt(self.est(a[:, None]), 1)}, mse {fmt(self.est(b[:, None]), 1)}")
                entry.update(full=self.est(a[:, None]), mse=self.est(b[:, None]))
        if "ad" in variants:
            ad = merged_retrained(variants, "ad")
            shared = [k for k in ks if k in ad]
            if len(shared) >= 2:
                lo, hi = shared[0], shared[-1]
                n = min(len(full), len(ad[lo]), len(ad[hi]))
                grow = difference_interval(values(full[:n], [hi])[:, 0] - values(full[:n], [lo])[:, 0],
                                           values(ad[hi][:n], [hi])[:, 0] - values(ad[lo][:n], [lo])[:, 0], reps=self.reps)
                gaps = {k: difference_interval(values(full, [k])[:, 0], values(ad[k], [k])[:, 0], reps=self.reps) for k in shared}
                entry = state("ad_falls_behind", "AD retrained per K falls behind Headless-AD as K grows", grow,
                              f"(Headless-AD minus AD) at {hi[4:]} arms minus at {lo[4:]} arms: {fmt(grow)}; per arm count: "
                              + ", ".join(f"{k[4:]} arms {fmt(g)}" for k, g in gaps.items()))
                entry["gaps"] = gaps
        self.numbers.setdefault("findings", {})[env] = found
        self.lines += out + [""]

    def differences(self, env, runs) -> None:
        """Where our numbers and the paper's differ (paper value outside our interval), and the
        setup differences that can explain it (from each run's recorded recipe and protocol)."""
        suites = suites_of(runs)
        outside = []
        for s in suites:
            pn = paper.normalized(env, s)
            if pn is None:
                continue
            est = self.est(values(runs, [s]))
            if not np.isnan(est[1]) and not est[1] <= pn <= est[2]:
                outside.append(f"`{s}` (ours {fmt(est)}, paper {pn})")
        if env in paper.RANGES:
            lo, hi = paper.RANGES[env]["headless_ad"]["range"]
            succ = values(runs, suites, "final").mean(axis=0)
            off = [f"`{s}` {v:.2f}" for s, v in zip(suites, succ, strict=True) if not lo <= v <= hi]
            if off:
                outside.append(f"{env} success outside the paper's {lo}-{hi}: {', '.join(off)}")
        recipe, protocol = runs[0].results.get("recipe", {}), runs[0].results.get("protocol", {})
        why = list(recipe.get("departures", []))
        why.append(f"{recipe.get('num_histories', '?')} learning histories and {recipe.get('train_steps', '?')} training steps "
                   f"of a {recipe.get('model', '?')} model (paper: 10,000 histories, 30k-200k steps, 4-8 layers x 512-1024)")
        if protocol.get("temperature") is not None:
            why.append(f"sampling temperature {protocol['temperature']} at evaluation (the training tau)")
        if runs[0].reference != env_spec(env).teacher:
            why.append(f"normalised against the data's teacher {runs[0].reference} (the paper's: {env_spec(env).paper_reference})")
        if protocol.get("episodes"):
            why.append(f"{protocol['episodes']} in-context episodes (paper: 1000)")
        why.append(f"{len(runs)} seed{'s' if len(runs) != 1 else ''} (paper: 5)")
        if len(runs) < 2:
            verdict = "One seed: no interval, so no paper value can be placed inside or outside one."
        elif outside:
            verdict = "Paper values outside our 95% interval: " + "; ".join(outside) + "."
        else:
            verdict = "Every paper value we can place lies inside our 95% interval."
        self.lines += ["### Where we differ from the paper, and why", "", verdict, "",
                       "Setup differences that can explain a gap: " + "; ".join(why) + ".", ""]

    # figures
    def plots(self, preset, env, metric, variants, main) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        ensure_folder(self.figures, "--figures")
        made = []
        names = [v for v in variants if not (v.startswith("ad_") and v[3:].isdigit())]
        # per-suite bars with intervals (the paper's Figures 4, 6, 7)
        suites = suites_of(variants[main])
        fig, ax = plt.subplots(figsize=(min(14, max(6, len(suites) * len(names) * 0.3 + 2)), 3.6))
        width = 0.8 / len(names)
        for i, name in enumerate(names):
            per_suite = merged_retrained(variants, name) if name == "ad" else {s: variants[name] for s in suites_of(variants[name])}
            xs, ys, lo, hi = [], [], [], []
            for j, s in enumerate(suites):
                if s in per_suite:
                    e = self.est(values(per_suite[s], [s]))
                    xs.append(j + (i - (len(names) - 1) / 2) * width)
                    ys.append(e[0])
                    lo.append(e[0] - e[1])
                    hi.append(e[2] - e[0])
            ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2, label=name)
        if self.with_paper:
            pts = [(j, paper.normalized(env, s)) for j, s in enumerate(suites) if paper.normalized(env, s) is not None]
            if env in paper.RANGES:
                pts = []
                ax.axhspan(*paper.RANGES[env]["headless_ad"]["range"], color="k", alpha=0.08, label="paper Headless-AD (range)")
            if pts:
                ax.plot(*zip(*pts, strict=True), "k*", ms=9, label="paper Headless-AD")
        ax.axhline(1.0, color="grey", lw=0.8, ls="--")
        ax.set_xticks(range(len(suites)), suites, rotation=30, ha="right")
        ax.set_ylabel("normalised score")
        ax.set_title(f"{preset}: per suite, 95% CI over seeds")
        ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        made.append(self._save(fig, f"{preset}-suites.png"))
        # regret against the number of arms (Figure 5)
        ks = [s for s in suites if arm_count(s) is not None]
        if metric == "regret" and len(ks) > 1:
            fig, ax = plt.subplots(figsize=(5.5, 3.8))
            runs = variants[main]
            teacher = runs[0].reference
            for name in names:
                per_suite = merged_retrained(variants, name) if name == "ad" else {s: variants[name] for s in suites_of(variants[name])}
                have = [k for k in ks if k in per_suite]
                if not have:
                    continue
                est = [self.est(values(per_suite[k], [k], "final")) for k in have]
                ax.errorbar([arm_count(k) for k in have], [e[0] for e in est],
                            yerr=[[e[0] - e[1] for e in est], [e[2] - e[0] for e in est]], marker="o", capsize=2, label=name)
            for base in (teacher, "random"):
                ax.plot([arm_count(k) for k in ks], values(runs, ks, "final", base).mean(axis=0), ls=":", marker=".", label=base)
            if self.with_paper:
                for pol, style in (("headless_ad", "k--"), (teacher, "g--"), ("ad_retrained", "r--")):
                    pts = [(arm_count(k), paper.FINAL.get(env, {}).get(k, {}).get(pol)) for k in ks]
                    pts = [p for p in pts if p[1] is not None]
                    if pts:
                        ax.plot(*zip(*pts, strict=True), style, lw=1, label=f"paper {pol}")
            ax.set_xlabel("arms (K)")
            ax.set_ylabel("final regret")
            ax.set_title(f"{preset}: regret at step {len(runs[0].entry(ks[0])['curve'])} vs arms")
            ax.legend(fontsize=7)
            ax.grid(alpha=0.3)
            fig.tight_layout()
            made.append(self._save(fig, f"{preset}-arms.png"))
        # in-context curves with bands
        runs = variants[main]
        cols = min(5, len(suites))
        rows = math.ceil(len(suites) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
        for ax, s in zip(axes.flat, suites, strict=False):
            for pol in dict.fromkeys([runs[0].policy, *runs[0].results["suites"][s]]):
                curves = [r.entry(s, pol)["curve"] for r in runs if r.entry(s, pol) is not None]
                if not curves:
                    continue
                c = np.array(curves)
                mean = c.mean(axis=0)
                se = c.std(axis=0, ddof=1) / np.sqrt(len(c)) if len(c) > 1 else np.zeros_like(mean)
                x = np.arange(1, len(mean) + 1)
                ax.plot(x, mean, lw=1.3, label=pol)
                ax.fill_between(x, mean - se, mean + se, alpha=0.25)
            ax.set_title(s, fontsize=9)
            if metric != "regret":
                ax.set_xscale("log")
                ax.set_ylim(-0.02, 1.02)
            ax.grid(alpha=0.3)
        for ax in list(axes.flat)[len(suites):]:
            ax.axis("off")
        axes.flat[0].legend(fontsize=7)
        fig.suptitle(f"{preset} ({main}): in-context {'cumulative regret per step' if metric == 'regret' else metric + ' per episode'}; "
                     f"band: mean +- 1 s.e. over {len(runs)} seeds", fontsize=9)
        fig.tight_layout()
        made.append(self._save(fig, f"{preset}-curves.png"))
        # performance profile of the variants evaluated on every suite (rliable)
        full_variants = {n: values(variants[n], suites) for n in names if n in variants and set(suites) <= set(suites_of(variants[n]))}
        if len(suites) > 1:
            library, _ = _rliable()
            from rliable import plot_utils

            taus = np.linspace(min(0.0, min(np.nanmin(m) for m in full_variants.values())),
                               max(1.2, max(np.nanmax(m) for m in full_variants.values())), 61)
            profiles, cis = library.create_performance_profile(full_variants, taus, reps=min(self.reps, 500))
            fig, ax = plt.subplots(figsize=(5.5, 3.5))
            plot_utils.plot_performance_profiles(profiles, taus, performance_profile_cis=cis, ax=ax,
                                                 xlabel="normalised score (tau)", ylabel="fraction of (run, suite) > tau")
            ax.legend(ax.get_lines()[:len(profiles)], list(profiles), fontsize=7)
            ax.set_title(f"{preset}: performance profile")
            fig.tight_layout()
            made.append(self._save(fig, f"{preset}-profile.png"))
        plt.close("all")
        rel = [Path(os.path.relpath(p, self.md_dir)) for p in made]
        self.lines += ["### Figures", ""] + [f"![{p.stem}]({p.as_posix()})" for p in rel] + [""]

    def _save(self, fig, name: str) -> Path:
        path = self.figures / name
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=100, format="png")
        return path


def switch_difference(main: Run, other: Run) -> str:
    """The model and data settings in which ``other``'s run differs from ``main``'s, as text
    (``model.loss=mse, model.action_stats=false``), from their ``config.json``; the eval section
    and seeds are left out. ``-`` for none, ``?`` when a config is missing."""
    import dataclasses

    from .config import DataConfig, ModelConfig, flat_diff, renamed_config

    a, b = _read_json(main.path / "config.json"), _read_json(other.path / "config.json")
    if not a or not b:
        return "?"
    a, b = renamed_config(a), renamed_config(b)  # a run saved before a field's rename (model.max_actions)
    sections = {"data": DataConfig, "model": ModelConfig}

    def filled(cfg: dict) -> dict:  # a field added after the run was saved has its default, the old behaviour
        return {name: {**dataclasses.asdict(cls()), **cfg[name]} for name, cls in sections.items()
                if isinstance(cfg.get(name), dict)}

    diff = flat_diff(filled(a), filled(b))
    diff = {k: v for k, v in diff.items() if k not in ("data.seed", "data.path")}
    return ", ".join(f"{k}={_show(v[1])}" for k, v in diff.items()) or "-"


def _show(value) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


def compare(paths, out, *, with_paper: bool = False, figures=None, title: str | None = None, command: str = "icrl compare",
            reps: int = REPS, notes=()) -> tuple[Path, Path]:
    """Aggregate the runs under ``paths``; write ``out`` (Markdown), ``out`` with ``.json`` (numbers)
    and the figures (default folder: ``<out stem>-figures`` beside it). ``notes``: lines about how
    the runs were made (e.g. a busy machine), printed under "What was run". Returns (markdown, json)."""
    out = Path(out)
    figures = Path(figures) if figures else out.with_name(out.stem + "-figures")
    runs = find_runs(paths)
    report = Report(runs, with_paper=with_paper, figures=figures, md_dir=out.parent, reps=reps)
    text = report.build(title or "Comparison over seeds", command, notes)
    md = write_text(out, text)
    js = write_json(out.with_suffix(".json"), no_nan({"runs": [str(r.path) for r in runs], **report.numbers}))
    return md, js


# The files of a run that ``icrl compare`` reads (eval.json, config.json, sweep.json) and what a
# reader needs to check them (dataset.json: the data's teacher and size; tune.json: the tuned
# protocol's validation scores; metrics.jsonl: the training curve; report.md: the run's own report).
# Checkpoints, datasets and logs stay behind: they are large and remade by rerunning.
ARCHIVE_FILES = ("eval.json", "config.json", "sweep.json", "dataset.json", "tune.json", "metrics.jsonl", "report.md")


def archive(paths, out, *, force: bool = False) -> list[Path]:
    """Copy the records of every finished run under ``paths`` (run directories or sweep folders)
    into the folder ``out``, keeping each run's path below its argument's parent (``sweeps/X`` ->
    ``out/X/variant/seedS``), so that ``icrl compare out/X`` later gives the same report as
    ``icrl compare sweeps/X`` once the run directories are gone. A file already in ``out`` with
    other contents is refused (``FileExistsError`` naming it) unless ``force``; identical files are
    left as they are. Every run is read (``CompareError`` on a damaged ``eval.json`` or
    ``sweep.json``) and every clash found before anything is written; each copy is atomic.
    Returns the files written."""
    out = Path(out)
    plan: list[tuple[bytes, Path]] = []  # (contents, destination)
    for arg in map(Path, paths):
        if out.resolve().is_relative_to(arg.resolve()):
            raise CompareError(f"--out {out} is inside {arg}: the archive would be archived again; "
                               "choose a folder outside the runs")
        base = arg.resolve().parent
        for run in find_runs([arg]):
            rel = run.path.resolve().relative_to(base)
            plan += [((run.path / name).read_bytes(), out / rel / name) for name in ARCHIVE_FILES
                     if (run.path / name).exists()]
    plan = [(data, dst) for data, dst in plan if not (dst.exists() and dst.read_bytes() == data)]  # identical: kept
    clashes = [dst for _, dst in plan if dst.exists()]
    if clashes and not force:
        raise FileExistsError(f"{clashes[0]} already exists with other contents"
                              f"{f' (and {len(clashes) - 1} more files)' if len(clashes) > 1 else ''}; "
                              "pass --force to replace them")
    return [write_bytes(dst, data) for data, dst in plan]

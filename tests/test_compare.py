"""icrl sweep and icrl compare: aggregation with known answers, the ablation findings on synthetic
runs, and a real sweep + compare of a tiny preset."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from icrl.cli import app
from icrl.compare import (
    CompareError,
    compare,
    difference_interval,
    find_runs,
    interval_estimates,
    verdict,
)
from icrl.config import ConfigError, load_config
from icrl.suites import train_tasks
from icrl.sweep import Variant, ablation_variants, plan, split_values, vary_variants

runner = CliRunner()


# -- statistics -----------------------------------------------------------------------------------
def test_mean_and_iqm_of_a_known_array():
    scores = np.arange(1.0, 9.0).reshape(4, 2)  # 1..8: mean 4.5; IQM = mean of 3, 4, 5, 6 = 4.5
    skewed = np.array([[0.0, 1.0], [1.0, 1.0], [1.0, 1.0], [1.0, 100.0]])  # IQM drops the 0 and the 100
    est = interval_estimates({"a": scores}, "mean", reps=200)["a"]
    assert est[0] == pytest.approx(4.5) and est[1] <= 4.5 <= est[2]
    assert interval_estimates({"a": scores}, "iqm", reps=200)["a"][0] == pytest.approx(4.5)
    assert interval_estimates({"b": skewed}, "iqm", reps=200)["b"][0] == pytest.approx(1.0)
    assert interval_estimates({"b": skewed}, "mean", reps=200)["b"][0] == pytest.approx(106 / 8)


def test_interval_covers_the_true_mean_at_about_the_stated_rate():
    rng = np.random.default_rng(0)
    hits = 0
    trials = 150
    for i in range(trials):
        runs = rng.normal(0.7, 0.2, size=(12, 1))
        lo, hi = interval_estimates({"x": runs}, "mean", reps=400, seed=i)["x"][1:]
        hits += lo <= 0.7 <= hi
    # a percentile bootstrap of 12 runs covers a little under 95%; far from it means a bug
    assert 0.85 <= hits / trials <= 0.99


def test_intervals_do_not_depend_on_numpys_global_generator():
    """rliable draws from np.random's global generator: our seed must fix the interval whatever
    ran before, and the caller's global generator is left as it was."""
    m = {"a": np.array([[0.9], [0.91], [0.92]])}
    np.random.seed(1)
    first = interval_estimates(m, reps=200)
    after = np.random.random()
    np.random.seed(1)
    np.random.random()
    second = interval_estimates(m, reps=200)
    np.random.seed(123)
    assert interval_estimates(m, reps=200) == first == second
    np.random.seed(1)
    interval_estimates(m, reps=200)
    assert np.random.random() == after
    a, b = np.array([0.9, 0.8, 0.85]), np.array([0.7, 0.75, 0.72])
    np.random.seed(7)
    d = difference_interval(a, b, reps=200)
    np.random.seed(8)
    assert difference_interval(a, b, reps=200) == d


def test_difference_interval_of_separated_and_equal_groups():
    assert difference_interval(np.ones(3), np.zeros(3), reps=200) == pytest.approx((1.0, 1.0, 1.0))
    point, lo, hi = difference_interval(np.array([0.1, 0.5, 0.9]), np.array([0.2, 0.5, 0.8]), reps=500)
    assert point == pytest.approx(0.0) and lo < 0 < hi


def test_incomplete_score_matrices_are_refused():
    with pytest.raises(CompareError, match="complete"):
        interval_estimates({"x": np.array([[1.0, np.nan]])})


# -- synthetic runs: the findings come out as constructed -------------------------------------------
SUITES = ["train", "inverse", "all_new", "num_10", "num_20", "num_50", "num_100"]


def fake_run(root, variant, seed, scores: dict, arms=10.0, preset="bandit-cpu", policy="headless_ad", sets=(),
             departures=()):
    run = root / variant / f"seed{seed}"
    run.mkdir(parents=True)
    suites = {}
    for s, value in scores.items():
        suites[s] = {policy: {"final": 100 * (1 - value), "normalized": value, "curve": [1.0, 2.0], "actions_used": arms},
                     "random": {"final": 100.0, "normalized": 0.0, "curve": [1.0, 3.0], "actions_used": 20.0},
                     "thompson": {"final": 0.0, "normalized": 1.0, "curve": [0.5, 1.0], "actions_used": 12.0}}
    (run / "eval.json").write_text(json.dumps({
        "env": "bandit", "metric": "regret", "suites": suites,
        "protocol": {"policy": policy, "steps": 2, "num_tasks": 5, "seed": seed},
        "recipe": {"teacher": "thompson", "num_histories": 10, "train_steps": 5, "model": "tiny",
                   "departures": list(departures)}}))
    (run / "sweep.json").write_text(json.dumps({"preset": preset, "variant": variant, "seed": seed, "wall_s": 60.0,
                                                "overrides": [*sets, f"data.seed={seed}"], "variant_overrides": [],
                                                "sweep_command": "icrl sweep bandit-cpu --ablations",
                                                "hardware": {"cpu": "test cpu", "cores": 2, "avx512": True}}))


def test_ablation_findings_on_synthetic_runs(tmp_path):
    root = tmp_path / "sweeps"
    noise = [0.0, 0.01, -0.01]
    for seed, eps in enumerate(noise):
        fake_run(root, "full", seed, {s: 0.95 + eps for s in SUITES})
        # no_prompt: fine at few arms, worse the more arms
        fake_run(root, "no_prompt", seed, {s: 0.95 + eps - {"num_50": 0.3, "num_100": 0.5}.get(s, 0.02) for s in SUITES})
        # mse: uniformly worse and tries 2 arms
        fake_run(root, "mse", seed, {s: 0.5 + eps for s in SUITES}, arms=2.0)
        # gaussian: as good as full everywhere (its gap does not grow)
        fake_run(root, "gaussian", seed, {s: 0.96 + eps for s in SUITES})
        fake_run(root, "ad", seed, {s: 0.9 + eps for s in ["train", "inverse", "all_new", "num_10", "num_20"]}, policy="ad")
        fake_run(root, "ad_50", seed, {"num_50": 0.5 + eps}, policy="ad")
        fake_run(root, "ad_100", seed, {"num_100": 0.1 + eps}, policy="ad")
    md, js = compare([root], tmp_path / "out.md", with_paper=True, reps=300)
    numbers = json.loads(js.read_text())
    found = {k: v["verdict"] for k, v in numbers["findings"]["bandit"].items()}
    assert found == {"full>=no_prompt": "holds", "full>=mse": "holds",
                     # gaussian is 0.01 above full, within the seeds' spread of +-0.01: the interval holds 0
                     "full>=gaussian": "inconclusive",
                     "gap_to_no_prompt_grows": "holds",
                     "gap_to_gaussian_grows": "inconclusive",  # the gap is -0.01 at every arm count: zero growth
                     "mse_fewer_arms": "holds", "ad_falls_behind": "holds"}
    variants = numbers["bandit-cpu"]["variants"]
    assert list(variants) == ["full", "no_prompt", "mse", "gaussian", "ad"]  # the paper's order
    assert variants["ad"]["num_k"] == pytest.approx({"num_10": 0.9, "num_20": 0.9, "num_50": 0.5, "num_100": 0.1})
    assert variants["full"]["mean"][0] == pytest.approx(0.95)
    text = md.read_text()
    assert "ad (retrained per K)" in text and "paper: Headless-AD" in text and "| bandit-cpu | full | 0, 1, 2 | 1.0 min |" in text
    assert "**does not hold**" in text and "**inconclusive**" in text and "**holds**" in text
    for name in ("suites", "arms", "curves", "profile"):
        assert (tmp_path / "out-figures" / f"bandit-cpu-{name}.png").stat().st_size > 1000
        assert f"out-figures/bandit-cpu-{name}.png" in text


def test_verdicts_follow_the_interval():
    assert verdict((0.2, 0.05, 0.3)) == "holds"
    assert verdict((0.02, -0.01, 0.05)) == "inconclusive"
    assert verdict((0.0, 0.0, 0.0)) == "inconclusive"  # zero is inside [0, 0]
    assert verdict((-0.2, -0.3, -0.05)) == "does not hold"


@pytest.mark.parametrize("offsets, expected", [
    ([0.10, 0.12, 0.08, 0.11, 0.09], "holds"),  # full clearly above the ablation on every seed
    ([0.20, -0.20, 0.15, -0.15, 0.0], "inconclusive"),  # as often above as below: the interval holds 0
    ([-0.10, -0.12, -0.08, -0.11, -0.09], "does not hold"),  # full below the ablation
])
def test_each_verdict_on_synthetic_runs(tmp_path, offsets, expected):
    root = tmp_path / "sweeps"
    for seed, off in enumerate(offsets):
        noise = [0.0, 0.03, -0.02, 0.01, -0.01][seed]
        fake_run(root, "full", seed, {s: 0.8 + noise for s in SUITES})
        fake_run(root, "no_prompt", seed, {s: 0.8 - off + 0.5 * noise for s in SUITES})
    _, js = compare([root], tmp_path / "out.md", reps=500)
    finding = json.loads(js.read_text())["findings"]["bandit"]["full>=no_prompt"]
    assert finding["verdict"] == expected, finding


def test_one_seed_gives_no_interval_and_no_verdict(tmp_path):
    """A difference of one run per group has no interval: inconclusive, however large."""
    root = tmp_path / "sweeps"
    fake_run(root, "full", 0, {s: 0.9 for s in SUITES})
    fake_run(root, "no_prompt", 0, {s: 0.2 for s in SUITES})
    md, js = compare([root], tmp_path / "out.md", with_paper=True, reps=200)
    finding = json.loads(js.read_text())["findings"]["bandit"]["full>=no_prompt"]
    assert finding["verdict"] == "inconclusive" and finding["difference"][1:] == [None, None]
    assert finding["difference"][0] == pytest.approx(0.7)
    text = md.read_text()
    assert "0.70 [one seed]" in text and "0.90 [one seed]" in text and "1 seed\n" in text  # the suite table too
    assert "One seed: no interval, so no paper value can be placed" in text  # nor a claim that they lie inside
    assert "lies inside our 95% interval" not in text


def test_what_was_run_names_each_machine_and_command_with_its_seeds(tmp_path):
    """Seeds of one group made on two machines (or by two commands) list each, not the first only."""
    root = tmp_path / "sweeps"
    for seed in range(3):
        fake_run(root, "full", seed, {s: 0.9 for s in SUITES})
    record = json.loads((root / "full/seed2/sweep.json").read_text())
    record["hardware"] = {"cpu": "other cpu", "cores": 2, "avx512": False}
    (root / "full/seed2/sweep.json").write_text(json.dumps(record))
    md, _ = compare([root], tmp_path / "out.md", reps=200)
    row = next(line for line in md.read_text().splitlines() if line.startswith("| bandit-cpu | full |"))
    assert "test cpu, 2 cores, AVX-512 (seeds 0, 1)" in row and "other cpu, 2 cores, no AVX-512 (seed 2)" in row
    assert row.count("icrl sweep bandit-cpu --ablations") == 1  # one command for all seeds: said once


def test_two_recipes_of_one_preset_get_their_own_sections(tmp_path):
    """A sweep with its own --set items (another recipe of the preset) is not merged with the
    preset's sweep: its section is named after its folder and lists the settings."""
    for seed in (0, 1):
        fake_run(tmp_path / "laptop", "base", seed, {s: 0.95 for s in SUITES})
        fake_run(tmp_path / "plain", "full", seed, {s: 0.3 for s in SUITES}, sets=("model.layout=interleaved",))
    md, js = compare([tmp_path / "laptop", tmp_path / "plain"], tmp_path / "out.md", reps=200)
    numbers = json.loads(js.read_text())
    assert numbers["bandit-cpu"]["variants"] == {} or "bandit-cpu" in numbers
    assert "bandit-cpu@plain" in numbers and numbers["bandit-cpu@plain"]["env"] == "bandit"
    text = md.read_text()
    assert "## bandit-cpu (bandit), variant `base`, 2 seeds" in text
    assert "## bandit-cpu@plain (bandit), variant `full`, 2 seeds" in text and "`--set model.layout=interleaved`" in text


def test_sweeps_of_one_preset_in_two_folders_get_their_own_sections(tmp_path):
    """The same preset swept into two folders (its recipe then and now, no --set items) makes two
    sections named after the folders, not one section of both recipes' seeds."""
    for seed in (0, 1):
        fake_run(tmp_path / "then", "base", seed, {s: 0.9 for s in SUITES})
        fake_run(tmp_path / "now", "base", seed, {s: 0.98 for s in SUITES})
    md, js = compare([tmp_path / "now", tmp_path / "then"], tmp_path / "out.md", reps=200)
    numbers = json.loads(js.read_text())
    assert {"bandit-cpu@now", "bandit-cpu@then"} <= set(numbers) and "bandit-cpu" not in numbers
    text = md.read_text()
    assert "## bandit-cpu@now (bandit), variant `base`, 2 seeds" in text
    assert "## bandit-cpu@then (bandit), variant `base`, 2 seeds" in text


def test_a_run_copied_into_a_sweep_folder_joins_its_section(tmp_path):
    """Seed 0 made by another command with --set items (a lone run copied in) and seed 1 by a plain
    sweep of the same folder are one section of two seeds, named after the folder."""
    fake_run(tmp_path / "recipe", "base", 0, {s: 0.9 for s in SUITES}, sets=("model.transition_loss=1.0",))
    fake_run(tmp_path / "recipe", "base", 1, {s: 0.95 for s in SUITES})
    md, js = compare([tmp_path / "recipe"], tmp_path / "out.md", reps=200)
    numbers = json.loads(js.read_text())
    assert "bandit-cpu@recipe" in numbers and "bandit-cpu" not in numbers
    assert "## bandit-cpu@recipe (bandit), variant `base`, 2 seeds" in md.read_text()


def test_each_section_states_the_recipe_its_runs_recorded(tmp_path):
    """Runs made with an earlier recipe of a preset say so: the departures each run recorded in its
    eval.json, not what the preset holds today."""
    for seed in (0, 1):
        fake_run(tmp_path / "old", "base", seed, {s: 0.95 for s in SUITES}, departures=["model.action_stats=true"])
        fake_run(tmp_path / "paper", "base", seed, {s: 0.3 for s in SUITES}, preset="bandit")
    text = compare([tmp_path / "old", tmp_path / "paper"], tmp_path / "out.md", reps=200)[0].read_text()
    old, paper = text.split("## bandit-cpu (bandit)")[1], text.split("## bandit (bandit)")[1].split("## ")[0]
    assert "Departs from the paper's recipe in: `model.action_stats=true`." in old
    assert "The paper's training recipe (at these sizes and steps)." in paper


def test_switch_difference_reads_a_field_an_older_run_lacks_as_its_default(tmp_path):
    """A run saved before a field existed (no model.context_features) differs from a new run
    only in what was switched, not in the fields added since."""
    from icrl.compare import Run, switch_difference

    old, new = tmp_path / "old", tmp_path / "new"
    for path, model in ((old, {"kind": "headless_ad", "prompt": True}),
                        (new, {"kind": "headless_ad", "prompt": False, "context_features": []})):
        path.mkdir()
        (path / "config.json").write_text(json.dumps({"data": {"seed": 0}, "model": model, "eval": {"seed": 1}}))
    runs = [Run(p, "bandit-cpu", p.name, 0, {}, {}) for p in (old, new)]
    assert switch_difference(*runs) == "model.prompt=false"
    assert switch_difference(runs[0], runs[0]) == "-"


def test_archived_records_give_the_same_report_and_are_never_overwritten_silently(tmp_path):
    """icrl archive keeps what compare reads (not checkpoints), laid out as the sweep; compare on
    the archive gives the same numbers once the runs are gone; a differing record is refused."""
    root = tmp_path / "sweeps" / "bandit-cpu-general"
    for seed in (0, 1, 2):
        fake_run(root, "base", seed, {s: 0.9 + 0.01 * seed for s in SUITES})
        (root / "base" / f"seed{seed}" / "model.pt").write_bytes(b"weights")
    _, before = compare([root], tmp_path / "before.md", reps=200)
    result = runner.invoke(app, ["archive", str(root), "--out", str(tmp_path / "records")])
    assert result.exit_code == 0, result.output
    kept = tmp_path / "records" / "bandit-cpu-general" / "base" / "seed1"
    assert sorted(p.name for p in kept.iterdir()) == ["eval.json", "sweep.json"]  # what the run had, no weights
    import shutil
    shutil.rmtree(tmp_path / "sweeps")
    _, after = compare([tmp_path / "records" / "bandit-cpu-general"], tmp_path / "after.md", reps=200)
    numbers = lambda p: {k: v for k, v in json.loads(p.read_text()).items() if k != "runs"}  # noqa: E731
    assert numbers(after) == numbers(before)
    # again from a changed run: refused, naming the file, and the record is left as it was
    fake_run(root, "base", 1, {s: 0.5 for s in SUITES})
    result = runner.invoke(app, ["archive", str(root), "--out", str(tmp_path / "records")])
    assert result.exit_code == 2 and "seed1/eval.json already exists with other contents" in result.output
    assert json.loads((kept / "eval.json").read_text())["suites"]["train"]["headless_ad"]["normalized"] == pytest.approx(0.91)
    assert runner.invoke(app, ["archive", str(root), "--out", str(tmp_path / "records"), "--force"]).exit_code == 0
    assert json.loads((kept / "eval.json").read_text())["suites"]["train"]["headless_ad"]["normalized"] == 0.5
    result = runner.invoke(app, ["archive", str(tmp_path / "sweeps"), "--out", str(root / "records")])
    assert result.exit_code == 2 and "is inside" in result.output


def test_compare_refuses_what_it_cannot_read(tmp_path):
    with pytest.raises(CompareError, match="no finished run"):
        find_runs([tmp_path])
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "eval.json").write_text('{"something": "else"}')
    with pytest.raises(CompareError, match="bad/eval.json"):
        find_runs([tmp_path])
    result = runner.invoke(app, ["compare", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "no such run" in result.output


# -- planning a sweep ---------------------------------------------------------------------------------
def test_sweep_plan_seeds_variants_and_errors(tmp_path):
    runs = plan("bandit-cpu", seeds=2, first_seed=3, variants=vary_variants(["model.prompt=true,false"]), out=tmp_path)
    assert [(r.variant.name, r.seed) for r in runs] == [("model.prompt=true", 3), ("model.prompt=true", 4),
                                                         ("model.prompt=false", 3), ("model.prompt=false", 4)]
    assert runs[1].run_dir == tmp_path / "model.prompt=true" / "seed4"
    assert {"data.seed=4", "train.seed=4", "eval.seed=4"} <= set(runs[1].overrides)
    assert split_values("a,[b,c],d") == ["a", "[b,c]", "d"]
    with pytest.raises(ConfigError, match="same config"):
        plan("bandit-cpu", seeds=1, variants=[Variant("base"), Variant("again", ("model.prompt=true",))])
    with pytest.raises(ConfigError, match="sets data.seed"):
        plan("bandit-cpu", seeds=1, sets=["data.seed=3"])
    with pytest.raises(ConfigError, match="variant mse2: model.loss='l1'"):
        plan("bandit-cpu", seeds=1, variants=[Variant("mse2", ("model.loss=l1",))])
    with pytest.raises(ConfigError, match="--seeds=0"):
        plan("bandit-cpu", seeds=0)


def test_ablation_variants_retrain_ad_per_arm_count(tmp_path):
    names = [v.name for v in ablation_variants("bandit-cpu")]
    assert names == ["full", "no_prompt", "mse", "gaussian", "ad", "ad_25", "ad_30", "ad_40", "ad_50", "ad_100"]
    ad50 = {v.name: v for v in ablation_variants("bandit-cpu", [50])}["ad_50"]
    cfg = load_config("bandit-cpu", list(ad50.overrides))
    assert (cfg.model.kind, cfg.model.head_size, cfg.data.min_actions, cfg.eval.suites) == ("ad", 50, 50, ["num_50"])
    stats = tmp_path / "stats.yaml"  # the laptop recipe before the general one: per-action statistics
    stats.write_text("extends: bandit-cpu\nmodel: {action_stats: true, context_features: []}\n")
    for preset in ("bandit-cpu", str(stats)):  # context features, or action_stats: off under MSE
        mse = load_config(preset, list({v.name: v for v in ablation_variants(preset)}["mse"].overrides)).model
        assert mse.loss == "mse" and not mse.action_stats and mse.context_features == []  # their scores need logits
    assert [v.name for v in ablation_variants("darkroom-cpu")] == ["full", "no_prompt", "mse", "gaussian", "ad"]
    with pytest.raises(ConfigError, match="--ad-arms 7"):
        ablation_variants("bandit-cpu", [7])


def test_training_action_range():
    tasks = train_tasks("bandit", 30, seed=0, min_actions=50, max_actions=50)
    assert (tasks.num_actions == 50).all() and tasks.action_sets.shape[1] == 50
    assert (train_tasks("bandit", 30, seed=0).num_actions <= 20).all()
    with pytest.raises(ConfigError, match=r"data.min_actions=60 is invalid: allowed in \[2, 50\]"):
        load_config("darkroom-cpu", ["data.min_actions=60"])  # subsets of its 50 training actions only
    with pytest.raises(ConfigError, match="data.max_actions=10"):
        load_config("bandit-cpu", ["data.min_actions=30", "data.max_actions=10"])
    with pytest.raises(ConfigError, match="model.head_size"):  # AD's head must fit the wider tasks
        load_config("bandit-cpu", ["model.kind=ad", "data.min_actions=30", "data.max_actions=30"])
    # unset, the new fields leave the default dataset name unchanged
    assert load_config("bandit-cpu").dataset_path() == load_config("bandit-cpu", ["data.min_actions=null"]).dataset_path()


# -- a real sweep and comparison of a tiny preset -------------------------------------------------------
TINY = ["train.num_steps=3", "data.num_tasks=12", "data.steps=20", "model.seq_len=20", "eval.steps=20",
        "eval.num_tasks=4", "eval.suites=[train,num_25]", "train.checkpoint_every=2", "eval.tune_num_tasks=2",
        "train.compile=false", "model.d_model=32", "model.num_layers=1"]


def test_sweep_then_compare_end_to_end(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["sweep", "bandit-cpu", "--seeds", "2", "--vary", "model.prompt=true,false", "--out", "sw"]
    for item in TINY:
        args += ["--set", item]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.output.count("done in") == 4
    record = json.loads((tmp_path / "sw/model.prompt=false/seed1/sweep.json").read_text())
    assert record["status"] == "finished" and record["seed"] == 1 and record["wall_s"] > 0
    assert json.loads((tmp_path / "sw/model.prompt=false/seed1/config.json").read_text())["eval"]["seed"] == 1
    again = runner.invoke(app, args)  # finished runs are skipped
    assert again.exit_code == 0 and again.output.count("[skip]") == 4 and "done in" not in again.output
    result = runner.invoke(app, ["compare", "sw", "--paper", "--out", "rep.md", "--reps", "200"])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "rep.md").read_text()
    assert "variant `model.prompt=true`, 2 seeds" in text and "| num_25 |" in text
    assert "model.prompt=false" in text and (tmp_path / "rep-figures/bandit-cpu@sw-curves.png").exists()  # TINY's --set: its own recipe
    refused = runner.invoke(app, ["compare", "sw", "--out", "rep.md"])
    assert refused.exit_code == 2 and "already exists" in refused.output


def test_sweep_only_runs_the_named_variants(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    listed = runner.invoke(app, ["sweep", "bandit-cpu", "--seeds", "2", "--ablations", "--ad-arms", "50",
                                 "--only", "ad_50,no_prompt", "--out", "sw", "--dry-run"])
    assert listed.exit_code == 0, listed.output
    rows = [line.split() for line in listed.output.splitlines()]
    assert [(r[0], r[2]) for r in rows] == [("no_prompt", "0"), ("no_prompt", "1"), ("ad_50", "0"), ("ad_50", "1")]
    assert not (tmp_path / "sw").exists()


def test_sweep_hands_runs_to_gpus_and_shards(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = ["sweep", "bandit-cpu", "--seeds", "4", "--out", "sw"] + [x for item in TINY for x in ("--set", item)]
    listed = runner.invoke(app, [*base, "--shard", "1/2", "--dry-run"])
    assert listed.exit_code == 0 and [line.split()[2] for line in listed.output.splitlines()] == ["1", "3"]
    bad = runner.invoke(app, [*base, "--shard", "2/2"])
    assert bad.exit_code == 2 and "--shard '2/2' is invalid" in bad.output
    # one process per listed GPU at a time (here CPU runs that only see CUDA_VISIBLE_DEVICES)
    result = runner.invoke(app, ["sweep", "bandit-cpu", "--seeds", "2", "--out", "sw", "--gpus", "0,1",
                                 *[x for item in TINY for x in ("--set", item)]])
    assert result.exit_code == 0, result.output
    devices = {json.loads((tmp_path / f"sw/base/seed{s}/sweep.json").read_text())["hardware"]["cuda_visible_devices"]
               for s in (0, 1)}
    assert devices == {"0", "1"}

"""The user-facing surface: configs and presets, and the `icrl` command."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from icrl.cli import app
from icrl.config import ConfigError, RunConfig, list_presets, load_config
from icrl.data import load_histories
from icrl.suites import ENV_SPECS

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def error_lines(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("error:")]


# -- config -------------------------------------------------------------------------------------
def test_every_preset_loads_and_validates():
    presets = list_presets()
    assert {"bandit", "contextual", "darkroom"} <= set(presets)
    for name in presets:
        cfg = load_config(name)
        assert isinstance(cfg, RunConfig)
        assert cfg.env in ENV_SPECS
        assert cfg.name == name
        assert RunConfig.from_dict(cfg.to_dict()).validate() == cfg  # the saved config reloads
        if name.endswith("-cpu"):
            continue
        if cfg.model.kind in ("dpt", "headless_dpt"):  # DPT's recipe: behaviour-policy data, optimal targets
            assert cfg.data.targets == "optimal" and (cfg.model.layout, cfg.model.action_stats) == ("interleaved", False)
        else:  # the paper presets hold the paper's recipe, no laptop switch
            assert cfg.data.teacher == ENV_SPECS[cfg.env].teacher
            assert (cfg.data.targets, cfg.model.layout, cfg.model.action_stats) == ("action", "interleaved", False)


def test_paper_presets_hold_the_paper_settings():
    bandit, contextual, darkroom = (load_config(n) for n in ("bandit", "contextual", "darkroom"))
    assert (bandit.model.num_layers, bandit.model.num_heads, bandit.model.d_model) == (4, 64, 512)
    assert (contextual.model.num_layers, contextual.model.num_heads, contextual.model.d_model) == (8, 8, 1024)
    assert bandit.data.steps == contextual.data.steps == 300
    assert darkroom.data.episodes == 200 and darkroom.data.steps is None
    assert darkroom.model.seq_len == 100 and darkroom.train.batch_size == 64
    from icrl.protocol import paper_protocol

    assert paper_protocol(contextual).action_selection == "argmax" and paper_protocol(bandit).action_selection == "sample"
    assert paper_protocol(bandit).temperature == 1.34 and paper_protocol(darkroom).temperature == 7.8


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        (["train.lr=-1e-4"], "train.lr"),
        (["train.lr=0"], "train.lr"),
        (["model.num_heads=7"], "model.num_heads"),
        (["model.num_heads=3", "model.d_model=12"], None),  # valid: checked separately below
        (["model.dropout=1.5"], "model.dropout"),
        (["model.foo=1"], "foo"),
        (["bogus=1"], "bogus"),
        (["train.batch_size=abc"], "train.batch_size"),
        (["train.batch_size=0"], "train.batch_size"),
        (["data.num_tasks=1.5"], "data.num_tasks"),
        (["model.prompt=maybe"], "model.prompt"),
        (["env=pong"], "env"),
        (["data.teacher=sarsa"], "data.teacher"),
        (["eval.suites=[train,nope]"], "eval.suites"),
        (["data.episodes=10"], "data.steps"),  # steps and episodes both set
        (["model.kind=gpt"], "model.kind"),
        (["train.device=tpu"], "train.device"),
        (["model.action_effects=true"], "model.action_effects"),  # needs action_stats
        (["model.action_effects=true", "model.action_stats=true"], "model.action_effects"),  # bandit: no cells
    ],
)
def test_invalid_values_raise_config_error_naming_the_field(overrides, field):
    if field is None:
        assert load_config("bandit", overrides).model.num_heads == 3
        return
    with pytest.raises(ConfigError) as err:
        load_config("bandit", overrides)
    assert field in str(err.value), str(err.value)


def test_unknown_field_error_names_its_section():
    with pytest.raises(ConfigError, match="model") as err:
        load_config("bandit", ["model.foo=1"])
    assert "num_heads" in str(err.value)  # it lists what is allowed


def test_unknown_preset_lists_the_presets():
    with pytest.raises(ConfigError) as err:
        load_config("no-such-preset")
    message = str(err.value)
    assert "no-such-preset" in message
    for name in list_presets():
        assert name in message


def test_malformed_override_is_a_config_error():
    with pytest.raises(ConfigError):
        load_config("bandit", ["train.lr"])


def test_overrides_are_typed():
    cfg = load_config("darkroom", ["train.lr=0.001", "model.prompt=false", "eval.suites=train_test,all_test", "data.num_tasks=12"])
    assert cfg.train.lr == pytest.approx(1e-3) and isinstance(cfg.train.lr, float)
    assert cfg.model.prompt is False
    assert cfg.eval.suites == ["train_test", "all_test"]
    assert cfg.data.num_tasks == 12


def test_scientific_notation_overrides_are_floats():
    # PyYAML (YAML 1.1) reads "1e-4" without a dot as a string; the config must still take it.
    assert load_config("bandit", ["train.lr=1e-4"]).train.lr == pytest.approx(1e-4)


def test_extends_inherits_and_overrides(tmp_path):
    path = tmp_path / "tiny-bandit.yaml"
    path.write_text(
        "extends: bandit\n"
        "model: {num_layers: 2, d_model: 64, num_heads: 4}\n"
        "train: {lr: 1.0e-3}\n"
        "data: {num_tasks: 100}\n"
    )
    cfg = load_config(str(path))
    base = load_config("bandit")
    assert cfg.env == "bandit"
    assert cfg.name == "tiny-bandit"
    assert (cfg.model.num_layers, cfg.model.d_model, cfg.model.num_heads) == (2, 64, 4)
    assert cfg.model.tau == base.model.tau  # fields of an overridden section are inherited one by one
    assert cfg.train.lr == pytest.approx(1e-3)
    assert cfg.train.batch_size == base.train.batch_size
    assert cfg.data.num_tasks == 100 and cfg.data.teacher == base.data.teacher
    assert cfg.eval == base.eval
    # command-line overrides apply on top of the file
    assert load_config(str(path), ["model.num_layers=3"]).model.num_layers == 3

    child = tmp_path / "child.yaml"
    child.write_text(f"extends: {path}\ntrain: {{batch_size: 8}}\n")
    grand = load_config(str(child))
    assert grand.train.batch_size == 8 and grand.model.num_layers == 2 and grand.train.lr == pytest.approx(1e-3)


def test_extends_errors(tmp_path):
    bad_parent = tmp_path / "orphan.yaml"
    bad_parent.write_text("extends: no-such-preset\n")
    with pytest.raises(ConfigError, match="no-such-preset"):
        load_config(str(bad_parent))
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(f"extends: {b}\n")
    b.write_text(f"extends: {a}\n")
    with pytest.raises(ConfigError):
        load_config(str(a))
    invalid = tmp_path / "invalid.yaml"
    invalid.write_text("extends: bandit\nmodel: {num_heads: 5}\n")
    with pytest.raises(ConfigError, match="model.num_heads"):
        load_config(str(invalid))


# -- icrl generate ------------------------------------------------------------------------------
def test_generate_writes_refuses_and_forces(tmp_path):
    out = tmp_path / "bandit.h5"
    result = invoke("generate", "bandit", "--num-tasks", 20, "--out", out)
    assert result.exit_code == 0, result.output
    ds = load_histories(out)
    assert ds.num_histories == 20 and ds.env == "bandit"
    assert ds.lengths.tolist() == [300] * 20
    before = out.read_bytes()
    mtime = out.stat().st_mtime_ns

    again = invoke("generate", "bandit", "--num-tasks", 20, "--out", out)
    assert again.exit_code != 0
    assert "--force" in again.output
    assert error_lines(again)
    assert out.read_bytes() == before and out.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bandit.h5"]

    forced = invoke("generate", "bandit", "--num-tasks", 12, "--seed", 3, "--out", out, "--force")
    assert forced.exit_code == 0, forced.output
    ds = load_histories(out)
    assert ds.num_histories == 12 and ds.attrs["seed"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bandit.h5"]


def test_generate_darkroom_with_set_overrides(tmp_path):
    out = tmp_path / "d.h5"
    result = invoke("generate", "darkroom", "--num-tasks", 4, "--set", "data.episodes=3", "--out", out)
    assert result.exit_code == 0, result.output
    ds = load_histories(out)
    assert ds.attrs["config"]["episodes"] == 3
    assert [int(ds.history(h)["dones"].sum()) for h in range(4)] == [3, 3, 3, 3]


# -- icrl baselines -----------------------------------------------------------------------------
def read_results(path):
    results = json.loads(path.read_text())
    assert set(results) >= {"env", "metric", "suites"}
    return results


def test_baselines_bandit_json(tmp_path):
    out = tmp_path / "b.json"
    result = invoke("baselines", "bandit", "--num-tasks", 5, "--suites", "train,num_10", "--out", out)
    assert result.exit_code == 0, result.output
    results = read_results(out)
    assert results["env"] == "bandit" and results["metric"] == "regret"
    assert list(results["suites"]) == ["train", "num_10"]
    for suite, row in results["suites"].items():
        assert set(row) == {"random", "ucb", "thompson"}, suite
        for policy, entry in row.items():
            assert isinstance(entry["final"], float)
            curve = entry["curve"]
            assert isinstance(curve, list) and len(curve) == 300
            assert all(isinstance(v, (int, float)) for v in curve)
            assert all(b >= a - 1e-9 for a, b in zip(curve, curve[1:], strict=False)), (suite, policy)  # cumulative
            assert entry["final"] == pytest.approx(curve[-1], abs=1e-4)
        assert row["thompson"]["final"] < row["random"]["final"]
    # the table is printed too
    assert "thompson" in result.output and "num_10" in result.output


def test_baselines_darkroom_json(tmp_path):
    out = tmp_path / "d.json"
    result = invoke("baselines", "darkroom", "--num-tasks", 5, "--suites", "train_train", "--out", out)
    assert result.exit_code == 0, result.output
    results = read_results(out)
    assert results["env"] == "darkroom" and results["metric"] == "success"
    row = results["suites"]["train_train"]
    assert set(row) == {"random", "qlearning", "qlearning@20ep", "qlearning@200ep"}
    assert results["reference"] == "qlearning" and results["baselines"]["qlearning@20ep"]["horizon"] == "20 episodes"
    for name, entry in row.items():
        assert 0.0 <= entry["final"] <= 1.0
        assert len(entry["curve"]) == (20 if name == "qlearning@20ep" else 200)
        assert all(0.0 <= v <= 1.0 for v in entry["curve"])


def test_baselines_contextual_json(tmp_path):
    out = tmp_path / "c.json"
    result = invoke("baselines", "contextual", "--num-tasks", 3, "--suites", "eval", "--out", out)
    assert result.exit_code == 0, result.output
    results = read_results(out)
    assert results["metric"] == "regret" and set(results["suites"]["eval"]) == {"random", "linucb"}


def test_baselines_refuses_to_overwrite_results(tmp_path):
    out = tmp_path / "b.json"
    out.write_text("keep me")
    result = invoke("baselines", "bandit", "--num-tasks", 2, "--suites", "num_10", "--out", out)
    assert result.exit_code == 2
    assert "--force" in result.output and error_lines(result)
    assert out.read_text() == "keep me"
    result = invoke("baselines", "bandit", "--num-tasks", 2, "--suites", "num_10", "--out", out, "--force")
    assert result.exit_code == 0, result.output
    assert read_results(out)["env"] == "bandit"


# -- bad input ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["baselines", "pong"], ["pong"]),
        (["baselines", "bandit", "--num-tasks", "0"], ["--num-tasks"]),
        (["baselines", "bandit", "--num-tasks", "2", "--suites", "train,nope"], ["nope"]),
        (["generate", "pong", "--out", "{tmp}/x.h5"], ["pong"]),
        (["generate", "bandit", "--num-tasks", "0", "--out", "{tmp}/x.h5"], ["data.num_tasks"]),
        (["generate", "bandit", "--set", "train.batch_size=abc", "--out", "{tmp}/x.h5"], ["train.batch_size"]),
        (["generate", "bandit", "--set", "train.lr", "--out", "{tmp}/x.h5"], ["train.lr"]),
        (["generate", "bandit", "--set", "model.num_heads=7", "--out", "{tmp}/x.h5"], ["model.num_heads"]),
        (["config", "bandit", "--set", "model.bogus=1"], ["bogus"]),
    ],
)
def test_bad_input_exits_2_with_one_error_line(tmp_path, args, words):
    result = invoke(*(a.replace("{tmp}", str(tmp_path)) for a in args))
    assert result.exit_code == 2, result.output
    errors = error_lines(result)
    assert len(errors) == 1, result.output
    for word in words:
        assert word in errors[0], errors[0]
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_config_command_prints_the_resolved_config():
    result = invoke("config", "darkroom", "--set", "train.lr=0.0002")
    assert result.exit_code == 0, result.output
    cfg = json.loads(result.output)
    assert cfg["env"] == "darkroom" and cfg["train"]["lr"] == pytest.approx(2e-4)
    assert RunConfig.from_dict(cfg).validate().train.lr == pytest.approx(2e-4)


def test_presets_and_version_commands():
    result = invoke("presets")
    assert result.exit_code == 0
    for name in list_presets():
        assert name in result.output
    import icrl

    version = invoke("--version")
    assert version.exit_code == 0 and icrl.__version__ in version.output


def test_run_refuses_a_dataset_made_by_other_config_or_code(tmp_path, monkeypatch):
    from icrl import pipeline
    from icrl.data import DatasetError
    from icrl.data import generate as gen

    cfg = load_config("bandit-cpu", ["data.num_tasks=4", "data.steps=5", f"data.path={tmp_path / 'd.h5'}"])
    gen.generate_dataset(cfg, progress=False)
    assert pipeline.ensure_dataset(cfg, None) == tmp_path / "d.h5"  # same config and code: reused
    other = load_config("bandit-cpu", ["data.num_tasks=4", "data.steps=6", f"data.path={tmp_path / 'd.h5'}"])
    with pytest.raises(DatasetError, match="steps"):
        pipeline.ensure_dataset(other, None)
    policy = load_config("bandit-cpu", ["data.num_tasks=4", "data.steps=5", f"data.path={tmp_path / 'd.h5'}",
                                        "data.targets=policy"])
    with pytest.raises(DatasetError, match="targets"):
        pipeline.ensure_dataset(policy, None)
    from icrl.data import fingerprint

    monkeypatch.setattr(fingerprint, "GENERATOR_VERSION", fingerprint.GENERATOR_VERSION + 1)
    with pytest.raises(DatasetError, match="generator_version"):
        pipeline.ensure_dataset(cfg, None)


def test_run_reuses_a_dataset_made_before_a_data_field_existed(tmp_path):
    """A file whose recorded config lacks a field added later (data.targets) was made with that
    field's default, so it is reused for the default and refused for another value."""
    import h5py

    from icrl import pipeline
    from icrl.data import DatasetError
    from icrl.data import generate as gen

    overrides = ["data.num_tasks=4", "data.steps=5", f"data.path={tmp_path / 'd.h5'}"]
    gen.generate_dataset(load_config("bandit-cpu", overrides), progress=False)
    with h5py.File(tmp_path / "d.h5", "r+") as f:
        made = json.loads(f.attrs["config"])
        del made["targets"]
        f.attrs["config"] = json.dumps(made)
    assert pipeline.ensure_dataset(load_config("bandit-cpu", overrides), None) == tmp_path / "d.h5"
    with pytest.raises(DatasetError, match="targets"):
        pipeline.ensure_dataset(load_config("bandit-cpu", [*overrides, "data.targets=policy"]), None)


def test_run_then_eval_with_another_protocol(tmp_path, monkeypatch):
    """`icrl run` end to end on tiny settings, then `icrl eval --set` into a separate file."""
    monkeypatch.chdir(tmp_path)
    tiny = ["data.num_tasks=6", "data.steps=30", "model.seq_len=30", "model.d_model=16", "model.num_layers=1",
            "model.num_heads=2", "model.action_dim=32", "train.num_steps=3", "train.batch_size=2", "train.compile=false",
            "train.log_every=1", "train.checkpoint_every=3", "eval.num_tasks=2", "eval.steps=30",
            "eval.suites=[train,num_25]", "eval.tune_num_tasks=2"]
    sets = [x for item in tiny for x in ("--set", item)]
    result = invoke("run", "bandit-cpu", "--run-dir", "r", *sets)
    assert result.exit_code == 0, result.output
    run = tmp_path / "r"
    results = json.loads((run / "eval.json").read_text())
    assert set(results["suites"]) == {"train", "num_25"}
    for row in results["suites"].values():
        assert {"headless_ad", "random", "thompson"} <= set(row)
        assert {"final", "normalized", "actions_used", "curve"} <= set(row["headless_ad"])
        assert len(row["headless_ad"]["curve"]) == 30
    assert (run / "report.md").exists() and (run / "curves.png").exists()
    report = (run / "report.md").read_text()
    # the laptop preset's departures from the paper's recipe are stated in the results and report
    assert any("model.context_features" in d for d in results["recipe"]["departures"])
    assert "Departs from the paper's recipe in:" in report and "model.context_features=[state_action," in report

    again = invoke("run", "bandit-cpu", "--run-dir", "r", *sets)
    assert again.exit_code == 2 and "finished run" in again.output

    result = invoke("eval", "r", "--out", "argmax.json", "--set", "eval.action_selection=argmax")
    assert result.exit_code == 0, result.output
    other = json.loads((tmp_path / "argmax.json").read_text())
    assert other["protocol"]["action_selection"] == "sample"  # the headline row keeps the paper's protocol
    assert other["protocols"]["headless_ad@argmax"] == {"action_selection": "argmax", "temperature": None, "tuned_on": None}
    assert other["protocols"]["headless_ad@tuned"]["tuned_on"] == "validation"  # from the run's tune.json
    assert (tmp_path / "argmax.md").exists() and (tmp_path / "argmax-curves.png").exists()
    assert (run / "report.md").read_text() == report  # the run's own report is left alone

    refused = invoke("eval", "r", "--out", "tau.json", "--set", "model.tau=2")
    assert refused.exit_code == 2 and "eval.*" in refused.output
    assert not (tmp_path / "tau.json").exists()


def test_default_dataset_path_follows_the_data_config_only():
    """Another data config gets another default file (never a stale one); other sections share it."""
    base = load_config("bandit-cpu")
    assert base.dataset_path() == load_config("bandit-cpu", ["train.lr=0.1", "model.d_model=64"]).dataset_path()
    assert base.dataset_path() != load_config("bandit-cpu", ["data.targets=policy"]).dataset_path()
    assert base.dataset_path() != load_config("bandit-cpu", ["data.num_tasks=10"]).dataset_path()
    assert base.dataset_path().name.startswith("bandit-cpu-seed0-")
    assert load_config("bandit-cpu", ["data.path=x.h5"]).dataset_path().name == "x.h5"


def test_run_resume_of_a_finished_run_refuses_new_training_settings_and_keeps_its_results(tmp_path, monkeypatch):
    """`icrl run --resume` on a finished run trains nothing new and rewrites nothing without --force;
    --force re-evaluates under the eval.* settings given."""
    monkeypatch.chdir(tmp_path)
    tiny = ["data.num_tasks=6", "data.steps=30", "model.seq_len=30", "model.d_model=16", "model.num_layers=1",
            "model.num_heads=2", "model.action_dim=32", "train.num_steps=3", "train.batch_size=2", "train.compile=false",
            "train.checkpoint_every=3", "eval.num_tasks=2", "eval.steps=30", "eval.suites=[train]"]
    sets = [x for item in tiny for x in ("--set", item)]
    assert invoke("run", "bandit-cpu", "--run-dir", "r", *sets).exit_code == 0
    results = (tmp_path / "r" / "eval.json").read_bytes()

    more = invoke("run", "bandit-cpu", "--run-dir", "r", "--resume", *sets, "--set", "train.num_steps=100")
    assert more.exit_code == 2 and "eval.json exists" in more.output
    more = invoke("run", "bandit-cpu", "--run-dir", "r", "--resume", "--force", *sets, "--set", "train.num_steps=100")
    assert more.exit_code == 2 and "train.num_steps: 3 -> 100" in more.output and "Traceback" not in more.output
    assert (tmp_path / "r" / "eval.json").read_bytes() == results

    again = invoke("run", "bandit-cpu", "--run-dir", "r", "--force", *sets, "--set", "eval.steps=20")
    assert again.exit_code == 0, again.output
    curve = json.loads((tmp_path / "r" / "eval.json").read_text())["suites"]["train"]["headless_ad"]["curve"]
    assert len(curve) == 20


@pytest.mark.parametrize(("preset", "overrides", "named"), [
    ("bandit-cpu", ["eval.steps=null", "eval.episodes=7"], "eval.episodes=7"),
    ("contextual-cpu", ["data.steps=null", "data.episodes=5"], "data.episodes=5"),
    ("darkroom-cpu", ["eval.episodes=null", "eval.steps=50"], "eval.steps=50"),
    ("darkroom-cpu", ["data.episodes=null", "data.steps=500"], "data.steps=500"),
])
def test_horizon_fields_that_would_be_ignored_are_refused(preset, overrides, named):
    """Bandits count steps, the darkroom counts episodes: the other field is refused, not ignored."""
    with pytest.raises(ConfigError, match=re.escape(named)):
        load_config(preset, overrides)


# -- one line, exit status 2, nothing written: bad values caught before work starts ------------
@pytest.mark.parametrize(("args", "named"), [
    (["generate", "bandit-cpu", "--set", "data.teacher=linucb"], "data.teacher='linucb'"),
    (["generate", "darkroom-cpu", "--set", "data.teacher=thompson"], "data.teacher='thompson'"),
    (["generate", "contextual-cpu", "--set", "data.teacher=qlearning"], "data.teacher='qlearning'"),
    (["train", "bandit-cpu", "--set", "train.lr=.inf"], "train.lr=inf is invalid"),
    (["train", "bandit-cpu", "--set", "train.device=tpu"], "train.device='tpu'"),
])
def test_bad_values_fail_in_one_line_before_work(tmp_path, monkeypatch, args, named):
    monkeypatch.chdir(tmp_path)
    result = invoke(*args)
    assert result.exit_code == 2 and named in result.output and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []  # nothing generated, trained or written


def test_file_targets_are_checked_before_work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "adir").mkdir()
    result = invoke("generate", "bandit-cpu", "--out", "adir", "--force", "--num-tasks", "3")
    assert result.exit_code == 2 and "adir" in result.output and "directory" in result.output
    assert list((tmp_path / "adir").iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["adir"]

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.safetensors").write_bytes(b"x")
    result = invoke("eval", "run/model.safetensors")
    assert result.exit_code == 2 and "not a run directory" in result.output
    result = invoke("eval", "run", "--device", "tpu")
    assert result.exit_code == 2 and "'tpu'" in result.output and "Traceback" not in result.output

    from icrl import io

    monkeypatch.setattr(io.os, "access", lambda *a: False)  # as root every folder is writable: pretend
    result = invoke("baselines", "bandit", "--out", "ro/b.json", "--num-tasks", "2", "--suites", "train")
    assert result.exit_code == 2 and "permission" in result.output and not (tmp_path / "ro").exists()


@pytest.mark.parametrize(("overrides", "named"), [
    (["model.head_size=50"], "model.head_size applies to model.kind=ad or dpt only"),
    (["model.max_actions=50"], "model.max_actions=50 is not used: model.head_size applies to model.kind=ad or dpt only"),
    (["model.label_smoothing=0.2"], "model.label_smoothing applies to model.kind=ad or dpt only"),
    (["model.kind=ad", "model.tau=2"], "model.tau applies to model.kind=headless_ad or headless_dpt only"),
    (["model.kind=ad", "model.embeddings=gaussian"], "model.embeddings applies to model.kind=headless_ad or headless_dpt only"),
    (["data.teacher_kwargs={alpha: 1}"], "data.teacher_kwargs"),
    (["data.teacher_kwargs={prior_a: -1}"], "Beta prior"),
])
def test_settings_that_would_be_unused_or_fail_late_are_refused_at_start_up(overrides, named):
    with pytest.raises(ConfigError, match=re.escape(named)):
        load_config("bandit-cpu", overrides)
    load_config("bandit-cpu", ["model.kind=ad", "model.head_size=20"])  # the kind that reads it: fine

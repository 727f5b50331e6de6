"""The paper's protocol as the headline row, the data's teacher as the reference, validation suites,
and tuning that never touches an eval suite (issue "Results a sceptical reviewer accepts")."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import icrl
import icrl.suites
from icrl.cli import app
from icrl.config import load_config
from icrl.envs import make_env
from icrl.protocol import Protocol, candidates, configured_protocol, model_rows, paper_protocol
from icrl.rollout import rollout
from icrl.suites import env_spec, eval_suite, parse_baseline
from icrl.teachers import make_teacher
from icrl.tune import TuningError, read_tuning, tune

runner = CliRunner()
BANDIT_TINY = ["train.num_steps=3", "data.num_tasks=8", "data.steps=20", "model.seq_len=20", "eval.steps=20",
               "eval.num_tasks=3", "eval.suites=[train,num_25]", "model.d_model=32", "model.num_layers=1",
               "eval.tune_num_tasks=3", "train.compile=false"]
DARKROOM_TINY = ["train.num_steps=3", "data.num_tasks=8", "data.episodes=4", "model.seq_len=20", "eval.episodes=3",
                 "eval.num_tasks=3", "eval.suites=[train_train,test_test]", "model.d_model=32", "model.num_layers=1",
                 "eval.tune_num_tasks=3", "train.compile=false"]


@pytest.fixture(scope="module")
def bandit_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("bandit")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        results = icrl.run("bandit-cpu", root / "run", overrides=BANDIT_TINY, progress=False)
    return root / "run", results


# -- protocols ------------------------------------------------------------------------------------
@pytest.mark.parametrize("preset, expected", [
    ("bandit-cpu", Protocol("sample", 1.34)),  # sampled at the training tau
    ("contextual-cpu", Protocol("argmax")),  # the paper takes the argmax on the contextual bandit
    ("darkroom-cpu", Protocol("sample", 1.0)),
    ("darkroom", Protocol("sample", 7.8)),
    ("contextual-dpt-cpu", Protocol("sample", 3.0)),  # DPT samples online in every environment
    ("bandit-dpt-cpu", Protocol("sample", 1.34)),
])
def test_paper_protocol_per_environment_and_kind(preset, expected):
    cfg = load_config(preset)
    assert paper_protocol(cfg) == expected
    assert configured_protocol(cfg) is None  # no preset sets its own protocol: the paper's is the headline
    assert list(model_rows(cfg)) == [cfg.model.kind]


def test_protocol_rows_for_hand_set_and_tuned_protocols():
    cfg = load_config("bandit-cpu", ["eval.temperature=0.5"])
    tuned = Protocol("argmax", None, "validation")
    rows = model_rows(cfg, tuned)
    assert list(rows) == ["headless_ad", "headless_ad@T0.5", "headless_ad@tuned"]
    assert rows["headless_ad@T0.5"] == Protocol("sample", 0.5)
    assert model_rows(load_config("bandit-cpu", ["eval.action_selection=sample"])) == {"headless_ad": Protocol("sample", 1.34)}
    mse = ["model.loss=mse", "model.action_stats=false", "model.context_features=[]"]
    assert load_config("bandit-cpu", mse).model.loss == "mse"
    assert paper_protocol(load_config("bandit-cpu", mse)) == Protocol("argmax")
    tried = candidates(load_config("bandit-cpu"))
    assert tried[0] == Protocol("sample", 1.34) and tried[-1] == Protocol("argmax")
    assert [p.temperature for p in tried[1:-1]] == [1.005, 0.67, 0.335]


def test_baseline_budgets_parse():
    assert parse_baseline("qlearning") == ("qlearning", None)
    assert parse_baseline("qlearning@200ep")[1].episodes == 200
    assert parse_baseline("thompson@300steps")[1].steps == 300
    with pytest.raises(icrl.IcrlError, match="after @"):
        parse_baseline("qlearning@fast")


# -- validation suites ------------------------------------------------------------------------------
def test_validation_suites_share_distributions_not_tasks():
    # bandit: the eval train suite is training tasks; its validation twin holds new tasks of that distribution
    ev, val = eval_suite("bandit", "train", 0, 50), eval_suite("bandit", "train", 0, 50, split="validation")
    assert not np.array_equal(ev.params["means"], val.params["means"])
    assert val.num_actions.min() >= 4 and val.num_actions.max() <= 20
    high = np.where(np.arange(val.params["means"].shape[1]) % 2 == 1, val.params["means"], 0).sum(1)
    assert (high > 0).mean() > 0.8  # odd arms skewed high, as in training
    assert np.array_equal(eval_suite("bandit", "num_50", 0, 10, split="validation").num_actions, np.full(10, 50))
    # darkroom: the same action set and goal pool, another draw
    for name in ("test_test", "perm_train_train"):
        ev, val = eval_suite("darkroom", name, 0, 40), eval_suite("darkroom", name, 0, 40, split="validation")
        assert set(ev.action_sets[0]) == set(val.action_sets[0])
        assert set(val.params["goals"]) <= set(icrl.suites.darkroom_split()[name.rsplit("_", 1)[1] + "_goals"])
        assert not (np.array_equal(ev.params["goals"], val.params["goals"]) and np.array_equal(ev.action_sets, val.action_sets))
    with pytest.raises(icrl.IcrlError, match="unknown split"):
        eval_suite("bandit", "train", 0, split="test")


def test_tuning_never_reads_an_eval_suite(bandit_run, monkeypatch):
    """Every random stream tuning draws tasks or rollouts from is a validation one."""
    from icrl import evaluate as evaluate_module
    from icrl.models.files import load_model

    run_dir, _ = bandit_run
    model, cfg = load_model(run_dir)
    streams, seeds = [], []
    real_stream, real_seeds = icrl.suites.stream, evaluate_module.task_seeds

    def spy_stream(seed, *names):
        streams.append(names)
        return real_stream(seed, *names)

    def spy_seeds(seed, env, suite, n, split="eval"):
        seeds.append(split)
        return real_seeds(seed, env, suite, n, split)

    monkeypatch.setattr(icrl.suites, "stream", spy_stream)
    monkeypatch.setattr(evaluate_module, "task_seeds", spy_seeds)
    monkeypatch.setattr(icrl.suites, "train_tasks", lambda *a, **k: pytest.fail("tuning made training tasks"))
    record = tune(model, cfg, progress=False)
    assert streams and all(names[1] == "validation" for names in streams), streams
    assert seeds and set(seeds) == {"validation"}
    assert record["split"] == "validation" and record["protocol"]["tuned_on"] == "validation"
    means = [c["validation_mean"] for c in record["candidates"]]
    best = record["candidates"][int(np.argmax(means))]
    assert (best["action_selection"], best["temperature"]) == (record["protocol"]["action_selection"],
                                                               record["protocol"]["temperature"])


# -- eval.json -----------------------------------------------------------------------------------------
def test_bandit_eval_json_reference_protocols_and_tuned_row(bandit_run):
    run_dir, results = bandit_run
    assert results["reference"] == "thompson" and "paper_reference" not in results
    for row in results["suites"].values():
        assert {"headless_ad", "headless_ad@tuned", "random", "thompson"} <= set(row)
        assert row["thompson"]["normalized"] == pytest.approx(1.0) and row["random"]["normalized"] == 0.0
    assert results["protocols"]["headless_ad"] == {"action_selection": "sample", "temperature": 1.34, "tuned_on": None}
    tuned = results["protocols"]["headless_ad@tuned"]
    assert tuned["tuned_on"] == "validation"
    assert json.loads((run_dir / "tune.json").read_text())["protocol"] == {k: tuned[k] for k in
                                                                          ("action_selection", "temperature", "tuned_on")}
    if tuned["action_selection"] == "sample" and tuned["temperature"] < 1.34:  # the teacher sharpened alike
        assert tuned["sharpened_reference"] in results["suites"]["train"]
    assert results["tuning"]["candidates"] and results["protocol"]["temperature"] == 1.34


def test_darkroom_eval_json_against_its_own_teacher_and_the_papers(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    results = icrl.run("darkroom-cpu", tmp_path / "run", overrides=[*DARKROOM_TINY, "eval.tune=false"], progress=False)
    assert results["reference"] == "explore_replay" and results["paper_reference"] == "qlearning@200ep"
    assert list(results["protocols"]) == ["headless_ad"]
    for row in results["suites"].values():
        assert {"headless_ad", "random", "explore_replay", "qlearning", "qlearning@20ep", "qlearning@200ep"} <= set(row)
        assert all("normalized_paper" in entry for entry in row.values())
        if row["explore_replay"]["final"] != row["random"]["final"]:
            assert row["explore_replay"]["normalized"] == pytest.approx(1.0)
        assert len(row["qlearning"]["curve"]) == 3 and len(row["qlearning@20ep"]["curve"]) == 20
        assert len(row["qlearning@200ep"]["curve"]) == 200
    assert results["baselines"]["qlearning"]["horizon"] == "3 episodes"  # its epsilon schedule fits the curve shown


def test_sampling_below_tau_adds_the_sharpened_teacher(bandit_run):
    run_dir, _ = bandit_run
    results = icrl.evaluate.evaluate_run(run_dir, overrides=["eval.temperature=0.67"], progress=False)
    assert results["protocols"]["headless_ad@T0.67"]["sharpened_reference"] == "thompson@x2"
    assert results["baselines"]["thompson@x2"]["options"] == {"sharpen": 2.0}
    assert "thompson@x2" in results["suites"]["train"]


def test_dpt_is_normalised_against_the_environments_learner():
    from icrl.evaluate import reference_policy

    assert reference_policy(load_config("bandit-dpt-cpu"))[0] == "thompson"  # not its Dirichlet behaviour policy
    assert reference_policy(load_config("darkroom-dpt-cpu"))[0] == "qlearning"
    assert reference_policy(load_config("darkroom-cpu"))[0] == "explore_replay"
    # optimal-action labels on a learning teacher's contexts: that teacher stays the reference
    assert reference_policy(load_config("keydoor-cpu", ["data.targets=optimal"]))[0] == "noisy_oracle"


# -- Thompson sampling sharpened ---------------------------------------------------------------------
def test_sharpened_thompson_exploits_sooner():
    tasks = eval_suite("bandit", "num_10", 0, 200)
    plain = rollout(make_teacher("thompson"), make_env(tasks), steps=100, seed=0)
    same = rollout(make_teacher("thompson", sharpen=1.0), make_env(tasks), steps=100, seed=0)
    sharp = rollout(make_teacher("thompson", sharpen=4.0), make_env(tasks), steps=100, seed=0)
    assert np.array_equal(plain.actions, same.actions)
    distinct = lambda t: np.mean([len(set(a)) for a in t.actions])  # noqa: E731
    assert distinct(sharp) < distinct(plain)
    with pytest.raises(ValueError, match="sharpen"):
        make_teacher("thompson", sharpen=0)


# -- the command and the agent -----------------------------------------------------------------------
def test_tune_command_agent_and_stale_records(bandit_run, tmp_path):
    run_dir, _ = bandit_run
    refused = runner.invoke(app, ["tune", str(run_dir)])
    assert refused.exit_code == 2 and "already exists" in refused.output
    again = runner.invoke(app, ["tune", str(run_dir), "--force", "--device", "cpu"])
    assert again.exit_code == 0 and "(chosen)" in again.output and "validation suites" in again.output
    agent = icrl.Agent.load(run_dir, protocol="tuned")
    record = json.loads((run_dir / "tune.json").read_text())
    assert (agent.policy.selection, agent.policy.temperature) == (record["protocol"]["action_selection"],
                                                                  record["protocol"]["temperature"])
    paper = icrl.Agent.load(run_dir)
    assert (paper.policy.selection, paper.policy.temperature) == ("sample", 1.34)
    with pytest.raises(ValueError, match="protocol="):
        icrl.Agent.load(run_dir, protocol="best")
    other = load_config("bandit-cpu", [*BANDIT_TINY, "train.lr=0.5"])
    with pytest.raises(TuningError, match="other settings"):
        read_tuning(run_dir, other)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "tune.json").write_text("[1, 2]")
    with pytest.raises(icrl.IcrlError, match="not an icrl tuning record"):
        read_tuning(broken, other)
    (broken / "tune.json").write_text(json.dumps({**record, "protocol": {**record["protocol"], "tuned_on": "eval"}}))
    with pytest.raises(icrl.IcrlError, match="not an icrl tuning record"):
        read_tuning(broken, other)


def test_every_spec_names_a_paper_selection_and_reference():
    for name in ("bandit", "contextual", "darkroom", "keydoor"):
        spec = env_spec(name)
        assert spec.paper_selection in ("sample", "argmax") and spec.paper_reference in spec.baselines


def test_a_trained_run_is_evaluated_with_the_commands_eval_section(tmp_path, monkeypatch):
    """`icrl run --resume` on a trained run applies this command's eval section: here it tunes
    (the preset's eval.tune) although the run was trained and evaluated without tuning."""
    monkeypatch.chdir(tmp_path)
    first = icrl.run("bandit-cpu", tmp_path / "run", overrides=[*BANDIT_TINY, "eval.tune=false"], progress=False)
    assert list(first["protocols"]) == ["headless_ad"] and not (tmp_path / "run" / "tune.json").exists()
    again = icrl.run("bandit-cpu", tmp_path / "run", overrides=BANDIT_TINY, resume=True, force=True, progress=False)
    assert list(again["protocols"]) == ["headless_ad", "headless_ad@tuned"] and (tmp_path / "run" / "tune.json").exists()
    for suite, row in first["suites"].items():  # the headline row is the same evaluation
        assert row["headless_ad"]["final"] == again["suites"][suite]["headless_ad"]["final"]

"""Renamed config fields: model.max_actions (AD's head size) is model.head_size; the old name is read."""

from __future__ import annotations

import json
import warnings

import pytest

from icrl.config import ConfigError, RunConfig, load_config, renamed, training_changes


def test_the_old_override_is_read_as_the_new_with_a_warning():
    with pytest.warns(FutureWarning, match=r"model\.max_actions is deprecated, renamed model\.head_size"):
        cfg = load_config("bandit-cpu", ["model.kind=ad", "model.max_actions=30"])
    assert cfg.model.head_size == 30 and "max_actions" not in cfg.to_dict()["model"]
    with pytest.warns(FutureWarning, match="model.max_actions"):
        assert load_config("bandit-cpu", ["model.kind=ad", "model={max_actions: 25}"]).model.head_size == 25
    assert renamed("model.max_actions") == "model.head_size" and renamed("data.max_actions") == "data.max_actions"


def test_the_new_name_is_quiet_and_the_data_range_keeps_its_name():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cfg = load_config("bandit", ["model.kind=ad", "model.head_size=25", "data.min_actions=5", "data.max_actions=25"])
    assert (cfg.model.head_size, cfg.data.max_actions) == (25, 25)


def test_an_old_yaml_preset_is_read(tmp_path):
    old = tmp_path / "old.yaml"
    old.write_text("extends: bandit\nmodel: {kind: ad, max_actions: 24}\n")  # bandit.yaml itself says head_size
    with pytest.warns(FutureWarning, match=r"old\.yaml: model\.max_actions is deprecated"):
        assert load_config(old).model.head_size == 24
    both = tmp_path / "both.yaml"
    both.write_text("extends: bandit\nmodel: {kind: ad, max_actions: 24, head_size: 20}\n")
    with pytest.raises(ConfigError, match="model.max_actions and model.head_size are both given"):
        load_config(both)


def _old_saved(cfg: RunConfig) -> dict:
    saved = json.loads(json.dumps(cfg.to_dict()))
    saved["model"]["max_actions"] = saved["model"].pop("head_size")
    return saved


def test_an_old_config_json_compares_equal():
    cfg = load_config("bandit-cpu", ["model.kind=ad"])
    old = _old_saved(cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a saved file is read quietly: its user cannot change it
        assert RunConfig.from_dict(old).to_dict() == cfg.to_dict()
        assert training_changes(old, cfg) == {}
    assert training_changes(old, load_config("bandit-cpu", ["model.kind=ad", "model.head_size=30"])) == {
        "model.head_size": [20, 30]}


def test_an_old_run_resumes_and_its_model_file_loads(tmp_path, small_config, small_dataset_path):
    """A run trained before the rename (config.json and the model files' metadata say max_actions)."""
    from safetensors.torch import load_file, save_file

    from icrl.models.files import MODEL_FORMAT, load_model
    from icrl.train import Trainer

    cfg = small_config("bandit", "model.kind=ad", "model.d_model=32", "model.num_layers=1", "model.num_heads=4",
                       "model.seq_len=24", "model.layout=compact", "train.device=cpu", "train.batch_size=4",
                       "train.num_steps=4", "train.checkpoint_every=2", "train.log_every=2", "eval.steps=40")
    run = tmp_path / "run"
    data = small_dataset_path("bandit")
    Trainer(cfg, run, data, progress=False).run()
    old = _old_saved(cfg)
    (run / "config.json").write_text(json.dumps(old))
    for path in [run / "model.safetensors", *(run / "checkpoints").glob("*.safetensors")]:
        save_file(load_file(str(path)), str(path), metadata={"format": MODEL_FORMAT, "config": json.dumps(old)})
    (run / "model.safetensors").unlink()  # stopped after its last checkpoint: resume the old run
    (run / "checkpoints" / "step-0000004.pt").unlink()
    (run / "checkpoints" / "step-0000004.safetensors").unlink()
    trainer = Trainer(cfg, run, data, resume=True, progress=False)
    assert trainer.step == 2
    assert not (run / "config_changes.jsonl").exists()  # the rename is no change of settings
    trainer.run()
    save_file(load_file(str(run / "model.safetensors")), str(run / "model.safetensors"),
              metadata={"format": MODEL_FORMAT, "config": json.dumps(old)})
    model, loaded = load_model(run)
    assert loaded.model.head_size == cfg.model.head_size and loaded.to_dict() == cfg.to_dict()


def test_the_python_constructor_takes_the_old_keyword():
    from icrl.config import ModelConfig

    with pytest.warns(FutureWarning, match=r"ModelConfig\(max_actions=...\): model.max_actions is deprecated"):
        assert ModelConfig(kind="ad", max_actions=12).head_size == 12
    with pytest.raises(ConfigError, match="give only head_size"):
        ModelConfig(max_actions=12, head_size=12)

"""Reports derive the departures from the paper's recipe from the config fields' declarations."""

from __future__ import annotations

import dataclasses

import pytest

from icrl.config import PAPER, SECTIONS, departures, list_presets, load_config
from icrl.evaluate import training_recipe
from icrl.suites import env_spec


def _hand_written(cfg) -> list[str]:
    """The departures as evaluate.training_recipe listed them by hand before the fields declared them."""
    spec, m, out = env_spec(cfg.env), cfg.model, []
    if cfg.data.teacher != spec.teacher:
        out.append(f"data.teacher={cfg.data.teacher} (paper: {spec.teacher})")
    if cfg.data.targets != "action":
        out.append(f"data.targets={cfg.data.targets} (paper: the sampled action)")
    if m.layout != "interleaved":
        out.append(f"model.layout={m.layout} (paper: interleaved)")
    out += [f"model.{s}=true" for s in ("action_stats", "action_effects") if getattr(m, s)]
    out += [f"model.context_features=[{','.join(m.context_features)}]"] if m.context_features else []
    return out + ([f"model.transition_loss={m.transition_loss}"] if m.transition_loss else [])


@pytest.mark.parametrize("preset", list_presets())
def test_every_preset_reports_the_departures_it_did(preset):
    cfg = load_config(preset)
    assert training_recipe(cfg)["departures"] == _hand_written(cfg) == departures(cfg)


@pytest.mark.parametrize("overrides", [
    ["data.teacher=ucb"], ["data.targets=policy"], ["model.layout=compact", "model.action_stats=true"],
    ["model.layout=interleaved", "model.action_stats=false"],
])
def test_switched_presets_report_the_same_text(overrides):
    cfg = load_config("bandit-cpu", overrides)
    assert departures(cfg) == _hand_written(cfg)


def test_the_texts():
    cfg = load_config("bandit", ["data.teacher=ucb", "data.targets=policy", "model.layout=compact",
                                 "model.action_stats=true"])
    assert departures(cfg) == ["data.teacher=ucb (paper: thompson)", "data.targets=policy (paper: the sampled action)",
                               "model.layout=compact (paper: interleaved)", "model.action_stats=true"]
    assert departures(load_config("bandit")) == []


def test_the_report_line(tmp_path):
    from icrl.report import write_report

    recipe = training_recipe(load_config("bandit-cpu", ["model.layout=compact", "model.action_stats=true",
                                                        "model.context_features=[]", "model.transition_loss=0"]))
    results = {"env": "bandit", "metric": "regret", "reference": "thompson",
               "suites": {"s": {"thompson": {"final": 1.0, "curve": [1.0]}}}, "recipe": recipe}
    md, _ = write_report(results, tmp_path / "r.md", tmp_path / "r.png")
    assert ("Departs from the paper's recipe in: model.layout=compact (paper: interleaved); "
            "model.action_stats=true.") in md.read_text()


def test_only_declared_switches_depart():
    declared = [f"{s}.{f.name}" for s, cls in SECTIONS.items() for f in dataclasses.fields(cls) if PAPER in f.metadata]
    assert declared == ["data.teacher", "data.targets", "model.layout", "model.action_stats", "model.action_effects",
                        "model.context_features", "model.transition_loss"]

"""The general CPU recipe: the laptop presets of the four task families share one model.

Issue "One learner for every environment": ``bandit-cpu``, ``contextual-cpu``, ``darkroom-cpu`` and
``keydoor-cpu`` differ only in their data (teacher, number of histories, horizon), sizes, steps
and tau; every other model setting (kind, layout, embeddings, prompt, loss, every mechanism
switch) is the same, read here from the resolved configs.
"""

from __future__ import annotations

import dataclasses

from icrl.config import load_config

GENERAL = ("bandit-cpu", "contextual-cpu", "darkroom-cpu", "keydoor-cpu")
# What may differ: sizes (the action head's size follows the family's action space), tau and the
# context length.
MAY_DIFFER = {"d_model", "num_layers", "num_heads", "action_dim", "head_size", "tau", "seq_len"}


def test_the_cpu_presets_share_every_model_setting_but_sizes_tau_and_seq_len():
    models = {p: dataclasses.asdict(load_config(p).model) for p in GENERAL}
    shared = {p: {k: v for k, v in m.items() if k not in MAY_DIFFER} for p, m in models.items()}
    first = shared[GENERAL[0]]
    for preset, fields in shared.items():
        differ = {k: (first[k], v) for k, v in fields.items() if v != first[k]}
        assert not differ, f"{preset} departs from {GENERAL[0]} in {differ}"
    assert set(first) | MAY_DIFFER == set(models[GENERAL[0]])  # a new model field is shared unless named here



def test_training_on_action_subsets_is_a_declared_departure_only_where_the_paper_uses_a_fixed_set():
    from icrl.config import departures

    assert "data.min_actions=20 (paper: every task holds the whole training action set)" in departures(
        load_config("keydoor-cpu"))
    # AD retrained for K arms is the paper's own protocol on the bandits
    ad_50 = load_config("bandit-cpu", ["model.kind=ad", "data.min_actions=50", "data.max_actions=50", "model.head_size=50"])
    assert not any(d.startswith("data.m") for d in departures(ad_50))

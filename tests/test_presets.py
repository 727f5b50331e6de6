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


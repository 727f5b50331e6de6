"""Shared fixtures: small learning-history datasets, generated once per test session."""

from __future__ import annotations

import pytest
import torch

from icrl.config import load_config
from icrl.data.generate import generate_dataset

# Small but real generation configs: several chunks (batch_tasks < num_tasks), ragged darkroom
# histories, both bandit observation kinds.
SMALL_DATA = {
    "bandit": ["data.num_tasks=24", "data.batch_tasks=10", "data.steps=40"],
    "contextual": ["data.num_tasks=24", "data.batch_tasks=10", "data.steps=40"],
    "darkroom": ["data.num_tasks=24", "data.batch_tasks=10", "data.episodes=6"],
}


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """Tiny models: one intra-op thread is faster, and much faster on a shared, busy CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _small_config(env: str, *extra: str):
    return load_config(env, [*SMALL_DATA[env], *extra])


@pytest.fixture(scope="session")
def small_config():
    """``small_config(env, *overrides)``: the config of ``small_dataset_path(env)`` (plus overrides)."""
    return _small_config


@pytest.fixture(scope="session")
def small_dataset_path(tmp_path_factory):
    """``small_dataset_path(env)``: path of a small dataset of ``env`` (read-only: copy to edit)."""
    folder = tmp_path_factory.mktemp("datasets")
    cache = {}

    def make(env: str):
        if env not in cache:
            cache[env] = generate_dataset(_small_config(env), folder / f"{env}.h5", progress=False)
        return cache[env]

    return make

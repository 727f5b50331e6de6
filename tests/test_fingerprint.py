"""One dataset fingerprint: the default file name, the HDF5 record and the reuse checks agree."""

from __future__ import annotations

import pytest

from icrl.config import load_config
from icrl.data import dataset_attrs
from icrl.data.fingerprint import GENERATOR_VERSION, DatasetFingerprint, dataset_fingerprint


def test_todays_fingerprints_are_pinned():
    """Datasets on disk are found by these names: a change here orphans every existing file."""
    cfg = load_config("bandit-cpu")
    fp = dataset_fingerprint(cfg)
    assert fp.record() == {"teacher": "thompson", "teacher_kwargs": {}, "num_tasks": 2000, "steps": 300,
                           "episodes": None, "seed": 0, "batch_tasks": 2000, "targets": "action", "env": "bandit",
                           "generator_version": 2}
    assert fp.digest == "003a3331"
    assert str(cfg.dataset_path()) == "data/bandit-cpu-seed0-003a3331.h5"
    assert str(load_config("darkroom").dataset_path()) == "data/darkroom-seed0-dd30ad39.h5"
    assert str(load_config("bandit-dpt-cpu").dataset_path()) == "data/bandit-dpt-cpu-seed0-e1d73746.h5"
    # a late field (data.min_actions/max_actions) counts only when set
    ranged = load_config("bandit-cpu", ["data.min_actions=5", "data.max_actions=5"])
    assert str(ranged.dataset_path()) == "data/bandit-cpu-seed0-3b9744bf.h5"
    assert GENERATOR_VERSION == 2


def test_the_path_and_the_record_are_one_fingerprint():
    cfg = load_config("bandit-cpu", ["data.num_tasks=4"])
    fp = dataset_fingerprint(cfg)
    assert fp.digest in cfg.dataset_path().name
    assert DatasetFingerprint.of_record(fp.record()) == fp
    assert load_config("bandit-cpu", ["data.path=x.h5"]).dataset_path().name == "x.h5"
    assert dataset_fingerprint(load_config("bandit-cpu", ["data.path=x.h5"])) == dataset_fingerprint(load_config("bandit-cpu"))


def test_a_generated_file_records_its_fingerprint(tmp_path):
    from icrl.data.generate import generate_dataset

    cfg = load_config("bandit-cpu", ["data.num_tasks=3", "data.steps=5", f"data.path={tmp_path / 'd.h5'}"])
    generate_dataset(cfg, progress=False)
    assert DatasetFingerprint.of_record(dataset_attrs(tmp_path / "d.h5")["config"]) == dataset_fingerprint(cfg)


def test_older_records_are_recognised():
    """A record without a field added since (targets) or with a recorded path is the same dataset."""
    fp = dataset_fingerprint(load_config("bandit-cpu"))
    old = {k: v for k, v in fp.record().items() if k != "targets"}
    assert DatasetFingerprint.of_record({**old, "path": "somewhere.h5"}) == fp
    assert DatasetFingerprint.of_record({**fp.record(), "min_actions": None, "max_actions": None}) == fp
    other = DatasetFingerprint.of_record({**fp.record(), "generator_version": 1})
    assert other != fp and other.differences(fp) == "generator_version: 1 vs 2"
    assert DatasetFingerprint.of_record({**old, "targets": "policy"}).differences(fp) == "targets: 'policy' vs 'action'"


@pytest.mark.parametrize("changed,same", [({}, True), ({"steps": 7}, False)])
def test_resume_compares_fingerprints_when_the_recorded_file_is_gone(tmp_path, changed, same):
    from icrl.train import _same_dataset

    fp = dataset_fingerprint(load_config("bandit-cpu")).record()
    before = {"path": str(tmp_path / "gone.h5"), "env": "bandit", "teacher": "thompson", "seed": 0,
              "num_histories": 2000, "fingerprint": {**fp, **changed}}
    now = {"path": "d.h5", "env": "bandit", "teacher": "thompson", "seed": 0, "num_histories": 2000, "fingerprint": fp}
    assert _same_dataset(before, now, tmp_path / "d.h5", tmp_path) is same
    # a record from before fingerprints were recorded: env, teacher and seed
    legacy = {k: v for k, v in before.items() if k != "fingerprint"}
    assert _same_dataset(legacy, now, tmp_path / "d.h5", tmp_path) is True

"""Learning-history datasets: HDF5 schema round trip, generation, refusal of bad files, windows."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest

import icrl
from icrl.data import (
    FORMAT,
    SCHEMA_VERSION,
    DatasetError,
    HistoryDataset,
    HistoryWriter,
    WindowSampler,
    load_histories,
)
from icrl.data.fingerprint import dataset_fingerprint
from icrl.data.generate import generate_dataset
from icrl.envs import make_env
from icrl.envs.base import TaskSet
from icrl.rollout import rollout
from icrl.suites import eval_suite, train_tasks
from icrl.teachers import make_teacher

ENVS = ("bandit", "contextual", "darkroom")
ENV_TEACHER = {"bandit": "thompson", "contextual": "linucb", "darkroom": "qlearning"}
ARRAYS = ("observations", "actions", "rewards", "dones", "offsets", "num_actions", "action_sets")


def writer_kwargs(env: str, **over) -> dict:
    probe = make_env(train_tasks(env, 1, 0))
    kwargs = dict(env=env, teacher=ENV_TEACHER[env], suite="test", seed=7, config={"note": "unit", "n": [1, 2]},
                  obs_kind=probe.obs_kind, obs_dim=probe.obs_dim, max_actions=125 if env == "darkroom" else 100)
    kwargs.update(over)
    return kwargs


def assert_same_arrays(a: HistoryDataset, b: HistoryDataset) -> None:
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.task_params.keys() == b.task_params.keys()
    for key in a.task_params:
        np.testing.assert_array_equal(a.task_params[key], b.task_params[key], err_msg=key)


def files_in(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# -- round trip ---------------------------------------------------------------------------------
@pytest.mark.parametrize("env", ENVS)
def test_writer_reader_round_trip(tmp_path, env):
    """Two appended chunks of ragged histories come back step for step, with every attribute."""
    horizon = {"episodes": 3} if env == "darkroom" else {"steps": 25}
    suites = {"bandit": ("all_new", "num_50"), "contextual": ("eval", "num_30"), "darkroom": ("train_train", "all_test")}[env]
    chunks = []
    for i, suite in enumerate(suites):
        tasks = eval_suite(env, suite, seed=0, num_tasks=5)
        traj = rollout(make_teacher(ENV_TEACHER[env]), make_env(tasks), seed=i, **horizon)
        chunks.append((tasks, traj))
    path = tmp_path / "sub" / "h.h5"  # missing parent folders are created
    kwargs = writer_kwargs(env)
    with HistoryWriter(path, **kwargs) as writer:
        for tasks, traj in chunks:
            writer.append(tasks, traj.observations, traj.actions, traj.rewards, traj.dones, traj.valid)
    assert files_in(path.parent) == ["h.h5"]

    ds = load_histories(path)
    assert ds.num_histories == 10
    for key in ("env", "teacher", "suite", "seed", "config", "obs_kind", "obs_dim"):
        assert ds.attrs[key] == kwargs[key], key
    assert ds.attrs["format"] == FORMAT
    assert ds.attrs["schema_version"] == SCHEMA_VERSION
    assert ds.attrs["icrl_version"] == icrl.__version__
    assert ds.env == env

    h = 0
    for tasks, traj in chunks:
        for b in range(len(tasks)):
            keep = traj.valid[b]
            got = ds.history(h)
            np.testing.assert_array_equal(got["observations"], traj.observations[b][keep])
            np.testing.assert_array_equal(got["actions"], traj.actions[b][keep])
            np.testing.assert_array_equal(got["rewards"], traj.rewards[b][keep])
            np.testing.assert_array_equal(got["dones"], traj.dones[b][keep])
            n = tasks.num_actions[b]
            assert ds.num_actions[h] == n
            np.testing.assert_array_equal(ds.action_sets[h, :n], tasks.action_sets[b, :n])
            assert (ds.action_sets[h, n:] == -1).all()
            h += 1
    # The tasks come back too: an env built from the file is the env the teacher learned on.
    both = TaskSet.concatenate([tasks for tasks, _ in chunks])
    back = ds.tasks()
    np.testing.assert_array_equal(back.num_actions, both.num_actions)
    for key, value in both.params.items():
        width = value.shape[1] if value.ndim >= 2 else None
        stored = back.params[key][:, :width] if width else back.params[key]
        np.testing.assert_allclose(stored, value, err_msg=key)
    make_env(back)


@pytest.mark.parametrize("env", ENVS)
def test_generated_dataset_contents_and_attributes(small_dataset_path, small_config, env):
    cfg = small_config(env)
    ds = load_histories(small_dataset_path(env))
    n = cfg.data.num_tasks
    assert ds.num_histories == n
    assert ds.attrs["env"] == env
    assert ds.attrs["teacher"] == cfg.data.teacher
    assert ds.attrs["suite"] == "train"
    assert ds.attrs["seed"] == cfg.data.seed
    assert ds.attrs["config"] == json.loads(json.dumps(dataset_fingerprint(cfg).record()))
    assert ds.attrs["schema_version"] == SCHEMA_VERSION
    assert ds.attrs["icrl_version"] == icrl.__version__
    # the histories are of the training tasks of that seed, in order
    tasks = train_tasks(env, n, cfg.data.seed)
    np.testing.assert_array_equal(ds.num_actions, tasks.num_actions)
    for h in range(n):
        k = tasks.num_actions[h]
        np.testing.assert_array_equal(ds.action_sets[h, :k], tasks.action_sets[h, :k])
    if env == "darkroom":
        np.testing.assert_array_equal(ds.task_params["goals"], tasks.params["goals"])
        # every history is exactly `episodes` whole episodes
        for h in range(n):
            dones = ds.history(h)["dones"]
            assert dones.sum() == cfg.data.episodes and dones[-1]
        assert len(np.unique(ds.lengths)) > 1
        assert ((ds.observations >= 0) & (ds.observations < 81)).all()
    else:
        np.testing.assert_array_equal(ds.lengths, np.full(n, cfg.data.steps))
        assert ds.dones.all()
    if env == "bandit":
        np.testing.assert_allclose(ds.task_params["means"][:, : tasks.params["means"].shape[1]], tasks.params["means"])
        assert set(np.unique(ds.rewards)) <= {0.0, 1.0}
    if env == "contextual":
        assert ds.observations.shape == (ds.offsets[-1], 2) and ds.observations.std() > 0.1


@pytest.mark.parametrize("env", ENVS)
def test_generation_is_deterministic(tmp_path, small_dataset_path, small_config, env):
    first = load_histories(small_dataset_path(env))
    again = load_histories(generate_dataset(small_config(env), tmp_path / "again.h5", progress=False))
    assert_same_arrays(first, again)
    other = load_histories(generate_dataset(small_config(env, "data.seed=1"), tmp_path / "other.h5", progress=False))
    assert other.attrs["seed"] == 1
    assert (
        other.actions.shape != first.actions.shape
        or not np.array_equal(other.actions, first.actions)
    )
    assert not np.array_equal(other.action_sets, first.action_sets) or not all(
        np.array_equal(other.task_params[k], first.task_params[k]) for k in first.task_params
    )


# -- atomic writes and overwriting --------------------------------------------------------------
def one_chunk(env="bandit"):
    tasks = eval_suite(env, "num_10", 0, 3) if env == "bandit" else eval_suite(env, "train_train", 0, 3)
    traj = rollout(make_teacher("random"), make_env(tasks), steps=10, seed=0)
    return tasks, (traj.observations, traj.actions, traj.rewards, traj.dones, traj.valid)


def test_exception_in_writer_leaves_no_file_and_no_temp(tmp_path):
    tasks, arrays = one_chunk()
    path = tmp_path / "d.h5"
    with pytest.raises(RuntimeError, match="boom"), HistoryWriter(path, **writer_kwargs("bandit")) as writer:
        writer.append(tasks, *arrays)
        raise RuntimeError("boom")
    assert files_in(tmp_path) == []


def test_exception_in_writer_leaves_an_existing_file_untouched(tmp_path):
    tasks, arrays = one_chunk()
    path = tmp_path / "d.h5"
    with HistoryWriter(path, **writer_kwargs("bandit")) as writer:
        writer.append(tasks, *arrays)
    before = path.read_bytes()
    with pytest.raises(RuntimeError), HistoryWriter(path, **writer_kwargs("bandit", seed=99), overwrite=True) as writer:
        writer.append(tasks, *arrays)
        raise RuntimeError("boom")
    assert path.read_bytes() == before
    assert files_in(tmp_path) == ["d.h5"]
    assert load_histories(path).attrs["seed"] == 7


def test_generation_failure_leaves_no_partial_file(tmp_path, monkeypatch, small_config):
    import icrl.data.generate as generate

    calls = []
    real = generate.rollout

    def failing_rollout(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # fail on the second chunk, after the first was written
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(generate, "rollout", failing_rollout)
    with pytest.raises(KeyboardInterrupt):
        generate_dataset(small_config("bandit"), tmp_path / "d.h5", progress=False)
    assert files_in(tmp_path) == []


def test_refuses_to_overwrite_without_permission(tmp_path, small_config):
    tasks, arrays = one_chunk()
    path = tmp_path / "d.h5"
    path.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="force"):
        HistoryWriter(path, **writer_kwargs("bandit"))
    with pytest.raises(FileExistsError):
        generate_dataset(small_config("bandit"), path, progress=False)
    assert path.read_bytes() == b"precious"
    assert files_in(tmp_path) == ["d.h5"]
    with HistoryWriter(path, **writer_kwargs("bandit"), overwrite=True) as writer:
        writer.append(tasks, *arrays)
    assert load_histories(path).num_histories == 3
    generate_dataset(small_config("bandit"), path, force=True, progress=False)
    assert load_histories(path).num_histories == small_config("bandit").data.num_tasks


# -- the reader refuses bad files ---------------------------------------------------------------
@pytest.fixture
def editable(tmp_path, small_dataset_path):
    """A private copy of a valid darkroom dataset, to damage."""
    path = tmp_path / "copy.h5"
    shutil.copy(small_dataset_path("darkroom"), path)
    load_histories(path)  # valid before the damage
    return path


def refused(path, *words):
    with pytest.raises(DatasetError) as err:
        load_histories(path)
    message = str(err.value)
    assert str(path) in message, message
    for word in words:
        assert word in message, message
    return message


def test_refuses_a_missing_file(tmp_path):
    refused(tmp_path / "nope.h5")


def test_refuses_random_bytes(tmp_path):
    path = tmp_path / "noise.h5"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    refused(path)


def test_refuses_an_empty_file(tmp_path):
    path = tmp_path / "empty.h5"
    path.write_bytes(b"")
    refused(path)


@pytest.mark.parametrize("fraction", [0.95, 0.5, 0.1])
def test_refuses_a_truncated_file(editable, fraction):
    data = editable.read_bytes()
    editable.write_bytes(data[: int(len(data) * fraction)])
    refused(editable)


@pytest.mark.parametrize("fmt", [None, "something-else"])
def test_refuses_an_hdf5_file_of_another_format(tmp_path, fmt):
    path = tmp_path / "foreign.h5"
    with h5py.File(path, "w") as f:
        f["actions"] = np.zeros(3, dtype=np.int16)
        if fmt is not None:
            f.attrs["format"] = fmt
    refused(path, "format")


def test_refuses_a_file_with_the_format_but_other_attributes_removed(editable):
    with h5py.File(editable, "r+") as f:
        del f.attrs["config"]
    refused(editable, "config")


@pytest.mark.parametrize(("attr", "value"), [("config", "{not json"), ("schema_version", "one")])
def test_refuses_corrupt_metadata(editable, attr, value):
    with h5py.File(editable, "r+") as f:
        f.attrs[attr] = value
    refused(editable)


def test_refuses_a_task_entry_that_is_not_a_group(editable):
    with h5py.File(editable, "r+") as f:
        del f["task"]
        f["task"] = np.arange(3)
    refused(editable)


@pytest.mark.parametrize("version", [SCHEMA_VERSION + 1, 0])
def test_refuses_another_schema_version(editable, version):
    with h5py.File(editable, "r+") as f:
        f.attrs["schema_version"] = version
    refused(editable, str(version))


@pytest.mark.parametrize("name", ["offsets", "actions", "observations", "num_actions", "action_sets"])
def test_refuses_a_file_missing_a_dataset(editable, name):
    with h5py.File(editable, "r+") as f:
        del f[name]
    refused(editable, name)


def replace(path, name, fn):
    with h5py.File(path, "r+") as f:
        value = fn(f[name][()])
        del f[name]
        f[name] = value


@pytest.mark.parametrize(
    "damage",
    [
        lambda o: o[:-1],  # last steps belong to no history
        lambda o: np.concatenate([o[:-1], [o[-1] + 5]]),  # histories beyond the data
        lambda o: np.concatenate([[3], o[1:]]),  # does not start at 0
        lambda o: np.concatenate([o[:2], [o[1] - 1], o[3:]]),  # goes backwards
        lambda o: np.concatenate([o, [o[-1]]]),  # one history more than per-history arrays
    ],
)
def test_refuses_inconsistent_offsets(editable, damage):
    replace(editable, "offsets", damage)
    refused(editable)


def test_refuses_per_step_arrays_of_different_lengths(editable):
    replace(editable, "rewards", lambda r: r[:-1])
    refused(editable)


@pytest.mark.parametrize("bad", ["num_actions", -1])
def test_refuses_actions_outside_the_action_set(editable, bad):
    ds = load_histories(editable)
    step = int(ds.offsets[3]) + 2  # a step inside history 3

    def damage(actions):
        actions = actions.copy()
        actions[step] = ds.num_actions[3] if bad == "num_actions" else bad
        return actions

    replace(editable, "actions", damage)
    refused(editable, "action")


def test_refuses_per_history_arrays_of_the_wrong_length(editable):
    replace(editable, "num_actions", lambda n: n[:-1])
    refused(editable)


# -- window sampler -----------------------------------------------------------------------------
def tiny_dataset(tmp_path, lengths=(7, 3, 5, 9), num_actions=(4, 6, 5, 2)) -> HistoryDataset:
    """Histories whose rewards spell out (history, step): 1000 * h + t."""
    B, T = len(lengths), max(lengths)
    width = max(num_actions)
    tasks = TaskSet("bandit", num_actions, np.where(np.arange(width) < np.array(num_actions)[:, None], np.arange(width), -1),
                    {"means": np.full((B, width), 0.5)})
    t = np.arange(T)[None, :]
    h = np.arange(B)[:, None]
    valid = t < np.array(lengths)[:, None]
    rewards = (1000 * h + t).astype(np.float32)
    actions = (t + h) % np.array(num_actions)[:, None]
    with HistoryWriter(tmp_path / "tiny.h5", **writer_kwargs("bandit", max_actions=width)) as writer:
        writer.append(tasks, np.zeros((B, T), np.int64), actions, rewards, np.ones((B, T), bool), valid)
    return load_histories(tmp_path / "tiny.h5")


def check_windows(ds: HistoryDataset, batch: dict, seq_len: int) -> None:
    for i, (h, start) in enumerate(zip(batch["history"], batch["start"], strict=True)):
        assert 0 <= start and start + seq_len <= ds.lengths[h]  # never crosses into the next history
        ref = ds.history(int(h))
        for name in ("observations", "actions", "rewards", "dones"):
            np.testing.assert_array_equal(batch[name][i], ref[name][start:start + seq_len], err_msg=name)
        assert batch["num_actions"][i] == ds.num_actions[h]
        np.testing.assert_array_equal(batch["action_sets"][i], ds.action_sets[h])


def test_windows_are_consecutive_steps_of_one_history(tmp_path):
    ds = tiny_dataset(tmp_path)
    sampler = WindowSampler(ds, seq_len=4, seed=0)
    batch = sampler.sample(200)
    assert batch["actions"].shape == (200, 4) and batch["rewards"].shape == (200, 4)
    check_windows(ds, batch, 4)
    # the rewards encode (history, step): consecutive, and all of one history
    r = batch["rewards"].astype(np.int64)
    assert (np.diff(r, axis=1) == 1).all()
    assert (r // 1000 == batch["history"][:, None]).all()


def test_every_window_position_is_reachable_and_equally_likely(tmp_path):
    lengths, seq_len = (7, 3, 5, 9), 4
    ds = tiny_dataset(tmp_path, lengths)
    sampler = WindowSampler(ds, seq_len=seq_len, seed=1)
    expected = {(h, s) for h, n in enumerate(lengths) for s in range(n - seq_len + 1)}
    assert sampler.num_windows == len(expected) == 12
    # enumerating every window id hits every position exactly once
    every = sampler.windows(np.arange(sampler.num_windows))
    assert sorted(zip(every["history"].tolist(), every["start"].tolist(), strict=True)) == sorted(expected)
    # sampling reaches them all, uniformly; history 1 (3 steps) is never used
    batch = sampler.sample(12_000)
    check_windows(ds, {k: v[:50] for k, v in batch.items()}, seq_len)
    seen = list(zip(batch["history"].tolist(), batch["start"].tolist(), strict=True))
    assert set(seen) == expected
    counts = np.array([seen.count(pos) for pos in sorted(expected)])
    chi2 = ((counts - 1000) ** 2 / 1000).sum()
    assert chi2 < 31.3, counts  # p = 0.001 at 11 degrees of freedom


def test_windows_cross_episode_ends_but_not_histories(small_dataset_path):
    ds = load_histories(small_dataset_path("darkroom"))
    seq_len = 30
    sampler = WindowSampler(ds, seq_len=seq_len, seed=0)
    every = sampler.windows(np.arange(sampler.num_windows))
    assert sampler.num_windows == int(np.maximum(ds.lengths - seq_len + 1, 0).sum())
    check_windows(ds, {k: v[::7] for k, v in every.items()}, seq_len)
    inner_ends = every["dones"][:, :-1].sum(axis=1)
    assert (inner_ends >= 1).mean() > 0.5  # most windows span an episode boundary
    assert every["observations"].shape == (sampler.num_windows, seq_len)
    assert every["actions"].dtype == np.int64


def test_sampler_is_seeded(small_dataset_path):
    ds = load_histories(small_dataset_path("contextual"))
    a = WindowSampler(ds, 20, seed=3).sample(16)
    b = WindowSampler(ds, 20, seed=3).sample(16)
    c = WindowSampler(ds, 20, seed=4).sample(16)
    np.testing.assert_array_equal(a["observations"], b["observations"])
    assert a["observations"].shape == (16, 20, 2)
    assert not np.array_equal(a["start"], c["start"]) or not np.array_equal(a["history"], c["history"])


def test_bandit_windows_can_be_whole_histories(small_dataset_path, small_config):
    ds = load_histories(small_dataset_path("bandit"))
    steps = small_config("bandit").data.steps
    sampler = WindowSampler(ds, seq_len=steps, seed=0)
    assert sampler.num_windows == ds.num_histories
    batch = sampler.sample(10)
    assert (batch["start"] == 0).all()
    check_windows(ds, batch, steps)


def test_seq_len_longer_than_every_history_is_refused(tmp_path):
    ds = tiny_dataset(tmp_path)
    WindowSampler(ds, seq_len=9)  # exactly the longest history: one window
    assert WindowSampler(ds, seq_len=9).num_windows == 1
    with pytest.raises(DatasetError, match="seq_len"):
        WindowSampler(ds, seq_len=10)
    with pytest.raises(DatasetError):
        WindowSampler(ds, seq_len=0)


# -- damaged bytes and impossible values (checksums, range checks) ------------------------------
def _overwrite_bytes(path, dataset: str, count: int = 8) -> None:
    """Random bytes written over the start of ``dataset``'s first chunk, behind HDF5's back."""
    with h5py.File(path, "r") as f:
        d = f[dataset]
        offset = d.id.get_chunk_info(0).byte_offset if d.chunks else d.id.get_offset()
    raw = bytearray(path.read_bytes())
    raw[offset + 4: offset + 4 + count] = np.random.default_rng(0).integers(0, 256, count, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize(("env", "dataset"), [("bandit", "task/means"), ("bandit", "rewards"),
                                              ("darkroom", "task/goals"), ("contextual", "observations"),
                                              ("contextual", "task/arm_features")])
def test_damaged_bytes_are_refused_by_their_checksum(tmp_path, small_dataset_path, env, dataset):
    path = tmp_path / "damaged.h5"
    shutil.copy(small_dataset_path(env), path)
    _overwrite_bytes(path, dataset)
    refused(path, "corrupt", "damaged")


@pytest.mark.parametrize(("env", "dataset", "index", "value", "words"), [
    ("bandit", "task/means", (0, 0), 4e307, ("task/means", "[0.0, 1.0]")),
    ("bandit", "task/means", (1, 2), -0.5, ("task/means",)),
    ("darkroom", "task/goals", (0,), 81, ("task/goals",)),
    ("darkroom", "observations", (5,), 81, ("cells",)),
    ("bandit", "rewards", (3,), np.nan, ("non-finite",)),
    ("contextual", "task/arm_features", (0, 0, 0), np.inf, ("not finite",)),
])
def test_impossible_values_are_refused_with_the_file_named(tmp_path, small_dataset_path, env, dataset, index, value, words):
    path = tmp_path / "edited.h5"
    shutil.copy(small_dataset_path(env), path)
    with h5py.File(path, "r+") as f:  # written through HDF5: the checksums stay valid
        f[dataset][index] = value
    refused(path, *words)

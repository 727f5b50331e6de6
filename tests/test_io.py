"""Atomic writes: no litter from killed writers, and files that respect the umask."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from icrl.io import atomic_path, remove_stale_temps, temp_path, write_json


def dead_pid() -> int:
    """The PID of a process that has exited (reaped), so no process of it runs."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    return int(proc.stdout)


def test_stale_temp_files_of_killed_writers_are_removed_and_live_ones_kept(tmp_path):
    target = tmp_path / "eval.json"
    stale = tmp_path / f".eval.json.{dead_pid()}.deadbeef.tmp"
    live = tmp_path / f".eval.json.{os.getpid()}.cafecafe.tmp"  # this process: still writing
    other = tmp_path / f".other.json.{dead_pid()}.deadbeef.tmp"  # another target's: its writer is dead too
    for p in (stale, live, other):
        p.write_text("partial")
    write_json(target, {"ok": True})
    assert not stale.exists() and live.exists() and not other.exists()
    assert {p.name for p in tmp_path.iterdir()} == {live.name, "eval.json"}


def test_a_killed_generate_leaves_nothing_behind_after_the_next_one(tmp_path, small_config):
    """`icrl generate` killed mid-write left `.d.h5.PID.*.tmp`; the next write of d.h5 removes it."""
    from icrl.data.generate import generate_dataset

    stale = tmp_path / f".d.h5.{dead_pid()}.0badc0de.tmp"
    stale.write_bytes(b"half an HDF5 file")
    generate_dataset(small_config("bandit", "data.num_tasks=3"), tmp_path / "d.h5", progress=False)
    assert [p.name for p in tmp_path.iterdir()] == ["d.h5"]


def test_a_failed_write_leaves_no_temp_file_and_the_old_file_untouched(tmp_path):
    target = tmp_path / "model.safetensors"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_written_files_get_the_umask_mode(tmp_path, umask, small_config):
    from icrl.data.generate import generate_dataset

    old = os.umask(umask)
    try:
        write_json(tmp_path / "config.json", {"a": 1})
        data = generate_dataset(small_config("bandit", "data.num_tasks=3"), tmp_path / "d.h5", progress=False)
    finally:
        os.umask(old)
    for path in (tmp_path / "config.json", data):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path


def test_temp_names_carry_the_writer_pid(tmp_path):
    name = temp_path(tmp_path / "x.h5").name
    assert name.startswith(f".x.h5.{os.getpid()}.") and name.endswith(".tmp")
    assert remove_stale_temps(tmp_path / "x.h5") == []

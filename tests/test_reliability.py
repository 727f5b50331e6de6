"""Nothing corrupted, nothing lost: one writer per run directory and dataset (a lock held by a real
second process), runs that are finished only with their report, metrics that survive kills and
reruns, and disk full ending in one line with no temporary file left."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from icrl.cli import app

runner = CliRunner()
SRC = str(Path(__file__).resolve().parents[1] / "src")
TINY = ["data.num_tasks=20", "data.batch_tasks=20", "data.steps=40", "model.d_model=16", "model.num_layers=1",
        "model.num_heads=2", "model.seq_len=24", "train.num_steps=20", "train.batch_size=4",
        "train.checkpoint_every=10", "train.log_every=5", "train.device=cpu", "eval.num_tasks=3", "eval.steps=30",
        "eval.suites=train", "train.compile=false"]


def sets(*extra):
    return [arg for item in [*TINY, *extra] for arg in ("--set", item)]


def icrl(*args):
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def snapshot(folder) -> dict:
    return {p: p.read_bytes() for p in Path(folder).rglob("*") if p.is_file()}


def rows(run_dir) -> list[int]:
    return [json.loads(line)["step"] for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]


# -- the lock -------------------------------------------------------------------------------------
HOLD = """
import sys, time
from icrl.lock import {fn}
with {fn}(sys.argv[1]):
    print("held", flush=True)
    time.sleep(120)
"""


def hold(fn: str, path) -> subprocess.Popen:
    """Another real process that takes ``fn``'s lock on ``path`` and keeps it."""
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-c", HOLD.format(fn=fn), str(path)], stdout=subprocess.PIPE, text=True,
                            env=env)
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.mark.parametrize("command", ["run", "train", "eval"])
def test_a_second_process_on_a_run_dir_stops_in_one_line_naming_the_holder(tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / "r"
    holder = hold("run_dir_lock", run_dir)
    try:
        before = snapshot(tmp_path)
        args = ["eval", str(run_dir)] if command == "eval" else [command, "bandit-cpu", "--run-dir", str(run_dir), *sets()]
        code, out = icrl(*args)
        errors = [line for line in out.splitlines() if line.startswith("error:")]
        assert code == 2 and len(errors) == 1 and f"PID {holder.pid}" in errors[0], out
        assert snapshot(tmp_path) == before and not (tmp_path / "data").exists()  # stopped before any work
    finally:
        holder.kill()
        holder.wait()


def test_a_killed_holders_lock_is_taken_over_and_said(tmp_path):
    from icrl.lock import RUN_LOCK, run_dir_lock

    holder = hold("run_dir_lock", tmp_path / "r")
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert (tmp_path / "r" / RUN_LOCK).read_text().split()[0] == str(holder.pid)  # left behind by the kill
    with pytest.warns(UserWarning, match=f"took over the lock of process {holder.pid}"):
        with run_dir_lock(tmp_path / "r"):
            pass
    assert not (tmp_path / "r" / RUN_LOCK).exists()  # released
    with run_dir_lock(tmp_path / "new"):
        assert (tmp_path / "new" / RUN_LOCK).exists()
    assert not (tmp_path / "new").exists()  # the folder made only for the lock is gone with it


def test_two_generates_of_one_file_one_stops_naming_the_holder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    holder = hold("file_lock", tmp_path / "d.h5")
    try:
        code, out = icrl("generate", "bandit-cpu", "--out", "d.h5", "--force", *sets())
        assert code == 2 and f"PID {holder.pid}" in out and "d.h5" in out, out
        assert not (tmp_path / "d.h5").exists()
    finally:
        holder.kill()
        holder.wait()


def test_a_run_waits_for_another_process_generating_its_dataset(tmp_path):
    """Runs that share a dataset (a sweep's seeds) do not refuse each other: one waits, then reuses."""
    from icrl.config import load_config
    from icrl.lock import file_lock
    from icrl.pipeline import ensure_dataset

    cfg = load_config("bandit-cpu", [*TINY, f"data.path={tmp_path / 'd.h5'}"])
    with file_lock(tmp_path / "d.h5"):
        pass  # re-entrant and released: a waiting caller gets it at once
    assert ensure_dataset(cfg, progress=False).exists()


# -- finished only with the report --------------------------------------------------------------
def test_a_kill_between_eval_json_and_the_report_is_finished_by_resume(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert icrl("run", "bandit-cpu", "--run-dir", "r", *sets())[0] == 0
    expected = (tmp_path / "r" / "eval.json").read_bytes()
    for missing in (["report.md", "curves.png"], ["curves.png"]):
        for name in missing:
            (tmp_path / "r" / name).unlink()
        (tmp_path / "r" / f".{missing[0]}.999999.0badf00d.tmp").write_text("a killed writer's temp")
        code, out = icrl("run", "bandit-cpu", "--run-dir", "r", "--resume", *sets())
        assert code == 0 and "writing the missing" in out, out
        assert all((tmp_path / "r" / name).exists() for name in missing)
        assert (tmp_path / "r" / "eval.json").read_bytes() == expected
        assert not list((tmp_path / "r").glob("*.tmp"))
    code, out = icrl("run", "bandit-cpu", "--run-dir", "r", "--resume", *sets())
    assert code == 2 and "finished run" in out


def test_eval_of_an_unfinished_run_names_its_checkpoint_and_leaves_it_unfinished(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert icrl("run", "bandit-cpu", "--run-dir", "r", *sets())[0] == 0
    for name in ("model.safetensors", "eval.json", "report.md", "curves.png", "checkpoints/step-0000020.safetensors"):
        (tmp_path / "r" / name).unlink()
    code, out = icrl("eval", "r")
    assert code == 0 and "step-0000010.safetensors" in out and "not finished training" in out, out
    assert not (tmp_path / "r" / "eval.json").exists()
    assert json.loads((tmp_path / "r" / "eval-step-0000010.json").read_text())["recipe"]["evaluated_checkpoint"] == "step-0000010.safetensors"
    code, out = icrl("run", "bandit-cpu", "--run-dir", "r", "--resume", *sets())
    assert code == 0 and (tmp_path / "r" / "report.md").exists(), out


# -- metrics ---------------------------------------------------------------------------------------
def test_a_rerun_after_a_kill_before_the_first_checkpoint_logs_each_step_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    (run_dir / "metrics.jsonl").write_text('{"step": 5, "loss": 9.0}\n{"step": 10, "lo')  # killed at step 12
    code, out = icrl("run", "bandit-cpu", "--run-dir", "r", "--resume", *sets())
    assert code == 2 and "nothing to resume" in out
    code, out = icrl("run", "bandit-cpu", "--run-dir", "r", *sets())
    assert code == 0 and "abandoned-1" in out, out
    assert rows(run_dir) == [5, 10, 15, 20]
    assert (run_dir / "abandoned-1" / "metrics.jsonl").read_text().startswith('{"step": 5, "loss": 9.0}')


def test_resume_repairs_a_cut_last_line_and_no_row_averages_across_a_checkpoint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # log_every 15 > checkpoint_every 10: rows at 10, 15 and 20 (a row at every checkpoint)
    assert icrl("run", "bandit-cpu", "--run-dir", "whole", *sets("train.log_every=15"))[0] == 0
    assert rows("whole") == [10, 15, 20]
    assert icrl("run", "bandit-cpu", "--run-dir", "r", *sets("train.log_every=15"))[0] == 0
    for name in ("model.safetensors", "eval.json", "report.md", "curves.png", "checkpoints/step-0000020.safetensors"):
        (tmp_path / "r" / name).unlink()
    lines = (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()
    (tmp_path / "r" / "metrics.jsonl").write_text("\n".join(lines[:2]) + "\n" + lines[2][:17])  # cut by a kill
    code, out = icrl("run", "bandit-cpu", "--run-dir", "r", "--resume", *sets("train.log_every=15"))
    assert code == 0 and "dropped its last line" in out, out
    whole = [json.loads(line) for line in (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()]
    got = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in got] == [10, 15, 20]
    for a, b in zip(whole, got, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)


# -- disk full ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EFBIG])
def test_disk_full_during_a_checkpoint_ends_in_one_line_with_nothing_half_written(tmp_path, monkeypatch, code):
    from icrl import io

    monkeypatch.chdir(tmp_path)
    real = io._write_bytes

    def full(path, data):
        if ".step-0000010.pt" in str(path):
            raise OSError(code, os.strerror(code), str(path))
        return real(path, data)

    monkeypatch.setattr(io, "_write_bytes", full)
    out = icrl("run", "bandit-cpu", "--run-dir", "r", *sets())[1]
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "step-0000010.pt" in errors[0] and "Traceback" not in out, out
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".tmp")]
    assert not (tmp_path / "r" / "checkpoints" / "step-0000010.safetensors").exists()  # no half checkpoint


def test_a_killed_writers_temps_of_any_file_in_a_folder_are_removed(tmp_path):
    from icrl.io import write_text

    dead = tmp_path / ".big.h5.999999.0badf00d.tmp"
    dead.write_text("left by a killed generate")
    live = tmp_path / f".other.h5.{os.getpid()}.0badf00d.tmp"
    live.write_text("being written")
    write_text(tmp_path / "small.json", "{}")
    assert not dead.exists() and live.exists()


def test_time_is_not_wasted(tmp_path):
    """The lock costs nothing measurable: taking and releasing it 50 times is fast."""
    from icrl.lock import run_dir_lock

    tic = time.perf_counter()
    for _ in range(50):
        with run_dir_lock(tmp_path / "r"):
            pass
    assert time.perf_counter() - tic < 2


def test_disk_full_while_writing_a_dataset_ends_in_one_line_with_no_temp(tmp_path, monkeypatch):
    from icrl.data.history import HistoryWriter

    monkeypatch.chdir(tmp_path)

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(HistoryWriter, "append", full)
    code, out = icrl("generate", "bandit-cpu", "--out", "d.h5", *sets())
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and "d.h5: could not be written" in errors[0], out
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_dataset_that_would_not_fit_on_the_disk_is_refused_before_hdf5_writes_it(tmp_path, monkeypatch):
    """HDF5 cannot recover from a write that failed for want of room (the process crashes on exit):
    the room is checked before each batch of histories is handed to it."""
    import shutil

    monkeypatch.chdir(tmp_path)
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=1000))
    code, out = icrl("generate", "bandit-cpu", "--out", "d.h5", *sets())
    assert code == 2 and "d.h5: could not be written (No space left on device)" in out, out
    assert list(tmp_path.iterdir()) == []


def test_a_killed_commands_lock_file_is_removed_by_the_next_write_in_its_folder(tmp_path):
    from icrl.io import write_text

    holder = hold("file_lock", tmp_path / "big.h5")
    held = tmp_path / ".other.h5.lock"
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    live = hold("file_lock", tmp_path / "other.h5")
    try:
        write_text(tmp_path / "small.json", "{}")
        assert not (tmp_path / ".big.h5.lock").exists() and held.exists()  # the dead one's only
    finally:
        live.kill()
        live.wait()


def test_lock_files_of_other_programs_are_left_alone(tmp_path):
    from icrl.io import write_text

    foreign = tmp_path / ".someone-else.lock"
    foreign.write_text("not ours")
    write_text(tmp_path / "small.json", "{}")
    assert foreign.read_text() == "not ours"

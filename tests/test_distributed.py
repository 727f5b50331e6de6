"""Multi-process training (DistributedDataParallel) on CPU with the gloo backend, 2 processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file

from icrl.config import load_config
from icrl.data.generate import generate_dataset
from icrl.train import Trainer

OVERRIDES = [
    "data.num_tasks=24", "data.steps=30", "model.seq_len=30", "eval.steps=30",
    "model.d_model=32", "model.num_layers=1", "model.num_heads=4",
    "model.dropout=0.0", "model.attn_dropout=0.0",
    "train.batch_size=4", "train.num_steps=4", "train.log_every=2", "train.checkpoint_every=2", "train.device=cpu",
    "train.compile=false",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, run_dir: str, data: str, out: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    cfg = load_config("bandit-cpu", OVERRIDES)
    trainer = Trainer(cfg, run_dir, data, progress=False)
    trainer.run()
    torch.save({k: v.detach().clone() for k, v in trainer.model.state_dict().items()}, f"{out}/rank{rank}.pt")
    torch.distributed.destroy_process_group()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    cfg = load_config("bandit-cpu", OVERRIDES)
    return generate_dataset(cfg, tmp_path_factory.mktemp("data") / "d.h5", progress=False)


def test_two_processes_match_one_with_the_same_global_batch(dataset, tmp_path):
    mp.spawn(_worker, args=(2, free_port(), str(tmp_path / "ddp"), str(dataset), str(tmp_path)), nprocs=2, join=True)
    rank0, rank1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    for name in rank0:  # gradients are all-reduced: every process holds the same parameters
        assert torch.equal(rank0[name], rank1[name]), name

    single = Trainer(load_config("bandit-cpu", OVERRIDES), tmp_path / "single", dataset, progress=False)
    single.run()
    for name, value in single.model.state_dict().items():
        torch.testing.assert_close(rank0[name], value, rtol=1e-5, atol=1e-6, msg=name)

    # Only rank 0 wrote the run directory; the files are those of a normal run.
    saved = load_file(str(tmp_path / "ddp" / "model.safetensors"))
    for name, value in saved.items():
        assert torch.equal(value, rank0[name]), name
    assert sorted(p.name for p in (tmp_path / "ddp" / "checkpoints").iterdir()) == [
        "step-0000002.pt", "step-0000002.safetensors", "step-0000004.pt", "step-0000004.safetensors"]
    assert len((tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()) == 2


def test_resume_under_two_processes(dataset, tmp_path):
    """A distributed run stopped at a checkpoint and resumed ends where an unbroken one does."""
    run_dir = tmp_path / "run"
    mp.spawn(_worker, args=(2, free_port(), str(run_dir), str(dataset), str(tmp_path)), nprocs=2, join=True)
    full = torch.load(tmp_path / "rank0.pt")
    # Keep only the step-2 checkpoint, as if the run had been killed after it.
    for p in (run_dir / "checkpoints").glob("step-0000004.*"):
        p.unlink()
    (run_dir / "model.safetensors").unlink()
    mp.spawn(_resume_worker, args=(2, free_port(), str(run_dir), str(dataset), str(tmp_path)), nprocs=2, join=True)
    resumed = torch.load(tmp_path / "resumed0.pt")
    for name in full:
        assert torch.equal(full[name], resumed[name]), name


def _resume_worker(rank, world, port, run_dir, data, out):
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    trainer = Trainer(load_config("bandit-cpu", OVERRIDES), run_dir, data, resume=True, progress=False)
    assert trainer.step == 2
    trainer.run()
    torch.save(trainer.model.state_dict(), f"{out}/resumed{rank}.pt")
    torch.distributed.destroy_process_group()


def test_batch_must_split_evenly(dataset, tmp_path):
    code = (
        "import os; os.environ.update(RANK='0', WORLD_SIZE='3', LOCAL_RANK='0', MASTER_ADDR='127.0.0.1', "
        f"MASTER_PORT='{free_port()}')\n"
        "from icrl.runtime import resolve_device\n"
        "from icrl.config import load_config, ConfigError\n"
        "import icrl.runtime as r\n"
        "import icrl.train as t\n"
        "r.init_distributed = lambda device: (0, 3)  # the session's process group, without joining one\n"
        f"cfg = load_config('bandit-cpu', {OVERRIDES!r})\n"
        "try:\n"
        f"    t.Trainer(cfg, {str(tmp_path / 'r')!r}, {str(dataset)!r}, progress=False)\n"
        "except ConfigError as e:\n"
        "    print('ERR', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "ERR train.batch_size=4 is invalid" in out.stdout, out.stdout + out.stderr

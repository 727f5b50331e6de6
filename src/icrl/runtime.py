"""Devices, process groups and mixed precision: decided here once for training and evaluation.

A plain process is rank 0 of a world of 1; under ``torchrun`` the environment variables name the
process's rank. ``resolve_device`` turns a config's device name into a ``torch.device``;
``use_bf16`` and ``autocast`` decide bf16 autocast from ``train.amp``.
"""

from __future__ import annotations

import contextlib
import os

import torch

from .config import ConfigError, RunConfig


def distributed_env() -> tuple[int, int, int]:
    """(rank, world size, local rank) as set by torchrun; (0, 1, 0) for a plain process."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def init_distributed(device: torch.device) -> tuple[int, int]:
    """Join the torchrun process group (NCCL on GPUs, gloo on CPU); returns (rank, world size)."""
    import torch.distributed as dist

    rank, world, _ = distributed_env()
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return rank, world


def process_group() -> tuple[int, int]:
    """(rank, world size) of the joined process group; (0, 1) when there is none."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def barrier() -> None:
    """Wait for every process of a torchrun job (no-op in a plain process)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def resolve_device(name: str) -> torch.device:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` as a device; ``ConfigError`` naming anything else."""
    if not (name in ("auto", "cpu", "cuda") or (name.startswith("cuda:") and name[5:].isdigit())):
        raise ConfigError(f"device {name!r} is invalid: allowed auto, cpu, cuda or cuda:N")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and distributed_env()[1] > 1:
        name = f"cuda:{distributed_env()[2]}"  # one GPU per torchrun process
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device={name!r} is invalid: no CUDA device is available here (use cpu or auto)")
    return device


def use_bf16(cfg: RunConfig, device: torch.device) -> bool:
    """bf16 autocast: ``train.amp=auto`` on CUDA, ``bf16`` on any device (on CPU it pays only
    where the CPU has bf16 matrix units, e.g. AMX: measured 1.1x at the CPU presets' sizes)."""
    return cfg.train.amp == "bf16" or (cfg.train.amp == "auto" and device.type == "cuda")


def is_main() -> bool:
    """Whether this is the process that writes files and prints (rank 0; a plain process is)."""
    return distributed_env()[0] == 0


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast on ``device`` when ``enabled``, else a no-op context."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)

"""Devices, process groups, mixed precision and CPU threads: resolved once per command, in a ``Session``.

A plain process is rank 0 of a world of 1; under ``torchrun`` the environment variables name the
process's rank. ``Session.resolve(cfg, device)`` turns a config's device name into a
``torch.device`` (``resolve_device``), joins the torchrun process group (``init_distributed``),
decides bf16 autocast from ``train.amp`` (``use_bf16``) and the evaluation's CPU threads
(``eval_threads``). ``icrl run`` (``icrl.pipeline.run``) resolves one session and hands it to
training, tuning and evaluation; ``icrl train``, ``icrl eval`` and ``icrl tune`` each resolve their
own, once.

CPU threads. Evaluation steps a batch of small environments and runs a model on a few tokens per
step: little work per operation, so intra-op threads mostly wait on each other, and on a shared
machine a second thread is worse than none. Measured (``benchmarks/inference.py --only bandit
--bandit-steps 100``, 2 cores): 498 env-steps/s with 2 threads alone but 120 beside one busy
process; with 1 thread 397 alone and 347 beside it. So evaluation on CPU uses **1 intra-op
thread** unless configured: ``eval.threads`` (0: torch's default, all cores), else the
``OMP_NUM_THREADS`` environment variable when set, else 1. Training keeps torch's default (its
batches are large enough to use the cores); the evaluation's setting is applied only while it runs
(``Session.evaluating``) and restored afterwards.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch

from .config import ConfigError, RunConfig
from .machine import cpu_info, describe_machine


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


def check_device_name(name) -> None:
    """``ConfigError`` unless ``name`` is ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (a check before
    any work: it resolves nothing)."""
    if not (isinstance(name, str) and (name in ("auto", "cpu", "cuda") or (name.startswith("cuda:") and name[5:].isdigit()))):
        raise ConfigError(f"device {name!r} is invalid: allowed auto, cpu, cuda or cuda:N")


def resolve_device(name) -> torch.device:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (or a ``torch.device``) as a device; ``ConfigError``
    naming anything else."""
    if isinstance(name, torch.device):
        name = str(name)
    check_device_name(name)
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


def eval_threads(cfg: RunConfig) -> int:
    """Intra-op CPU threads of an evaluation (the rule in this module's docstring): ``eval.threads``
    when set (0: torch's default), else ``OMP_NUM_THREADS`` when set to a number >= 1, else 1."""
    if cfg.eval.threads is not None:
        return int(cfg.eval.threads)
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) >= 1:
        return int(env)
    return 1


def machine(device: torch.device | None = None) -> dict:
    """The machine a wall time was measured on, for the run's records: ``machine.cpu_info()``
    (``cpu`` as ``lscpu`` names it, ``avx512``, ``amx``, ``cores``), ``cpu_capability`` (the vector
    instructions torch's CPU kernels use here, ``torch.backends.cpu.get_cpu_capability()``:
    ``AVX512``, ``AVX2``, ...), ``threads`` (torch's intra-op threads now) and ``device`` (where
    the model ran, with the GPU's name on CUDA)."""
    out = {**cpu_info(), "cpu_capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads()}
    if device is not None:
        out["device"] = str(device)
        if device.type == "cuda":
            out["gpu"] = torch.cuda.get_device_name(device)
    return out


def compile_unavailable(device: torch.device) -> str | None:
    """Why ``torch.compile`` cannot work on ``device`` here, or None when it can (as far as can be
    told before compiling). On the CPU, inductor compiles C++ and needs a working C++ compiler (``CXX``
    or one on ``PATH``); without one the first training step would fail after data generation."""
    if device.type != "cpu":
        return None
    try:
        from torch._inductor.cpp_builder import get_cpp_compiler
    except ImportError:  # another torch layout: leave it to torch.compile to say
        return None
    try:
        get_cpp_compiler()
    except Exception as err:  # noqa: BLE001 - inductor raises its own InvalidCxxCompiler, or OSError
        return f"no working C++ compiler for torch.compile on the CPU ({err})"
    return None


# The phases of ``icrl run`` whose seconds ``eval.json`` keeps under ``wall_s``, in order, with their words.
PHASES = {"data": "data", "train": "training", "tune": "tuning", "eval": "evaluation"}


def describe_wall(wall: dict, info: dict) -> str:
    """``728 s (data 31 s, training 402 s, evaluation 290 s) on Intel(R) Xeon(R) Processor (AVX-512,
    AMX), 2 cores``: ``eval.json``'s ``wall_s`` (seconds per phase and ``total``) and ``machine``."""
    phases = ", ".join(f"{PHASES[k]} {wall[k]:.0f} s" for k in PHASES if k in wall)
    return f"{wall['total']:.0f} s ({phases}) on {describe_machine(info)}"


@dataclass(frozen=True)
class Session:
    """Where and how a command computes, decided once.

    ``device``: the torch device; ``rank``/``world``: this process in the torchrun job (0 of 1 in a
    plain process); ``bf16``: whether the model runs under bf16 autocast; ``eval_threads``:
    intra-op CPU threads while evaluating on the CPU (0: torch's default).
    """

    device: torch.device
    rank: int = 0
    world: int = 1
    bf16: bool = False
    eval_threads: int = 1

    @classmethod
    def resolve(cls, cfg: RunConfig, device=None) -> Session:
        """The session of a command on ``cfg``: ``device`` (a name or ``torch.device``; default
        ``train.device``) resolved, made the current CUDA device, the torchrun process group
        joined. ``ConfigError`` for a device name that is invalid or absent here."""
        device = resolve_device(device if device is not None else cfg.train.device)
        if device.type == "cuda":
            torch.cuda.set_device(device)
        rank, world = init_distributed(device)
        return cls(device, rank, world, use_bf16(cfg, device), eval_threads(cfg))

    @classmethod
    def local(cls, cfg: RunConfig, device=None) -> Session:
        """A session for a library call given only a device (``evaluate_model(model, cfg,
        device=...)``): nothing is resolved or joined; rank and world are those of a process group
        already joined; bf16 only on a given device."""
        rank, world = process_group()
        if device is None:
            return cls(torch.device("cpu"), rank, world, False, eval_threads(cfg))
        device = torch.device(device)
        return cls(device, rank, world, use_bf16(cfg, device), eval_threads(cfg))

    @property
    def is_main(self) -> bool:
        """Whether this process writes files and prints (rank 0)."""
        return self.rank == 0

    def autocast(self):
        """bf16 autocast on the session's device when ``bf16``, else a no-op context."""
        return autocast(self.device, self.bf16)

    @contextlib.contextmanager
    def evaluating(self):
        """While evaluating on the CPU: ``eval_threads`` intra-op threads (0: left as they are),
        the previous number restored afterwards. On CUDA nothing changes."""
        if self.device.type != "cpu" or not self.eval_threads:
            yield
            return
        before = torch.get_num_threads()
        torch.set_num_threads(self.eval_threads)
        try:
            yield
        finally:
            torch.set_num_threads(before)

"""The processor a wall time was measured on (torch-free): every wall time names its machine.

``cpu_info()`` reads the CPU's name and flags once per process with py-cpuinfo (about a second);
``describe_machine`` turns a record into one line for logs and reports. ``runtime.machine()`` adds
torch's view (its CPU kernels' capability, threads, the device); ``icrl sweep`` records it in each
run's ``sweep.json``.
"""

from __future__ import annotations

import functools
import os


@functools.cache
def cpu_info() -> dict:
    """``cpu``: the processor's name (as ``lscpu`` gives it); ``avx512`` / ``amx``: whether it has
    AVX-512 and AMX (bf16 matrix tiles); ``cores``: the logical CPUs this process may run on."""
    import cpuinfo  # py-cpuinfo: the same fields on every platform

    info = cpuinfo.get_cpu_info()
    flags = set(info.get("flags", ()))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": info.get("brand_raw") or info.get("arch_string_raw") or "unknown",
            "avx512": "avx512f" in flags, "amx": "amx_tile" in flags, "cores": cores}


def describe_machine(info: dict) -> str:
    """One line for a log: ``Intel(R) Xeon(R) Processor (AVX-512, AMX), 2 cores`` (``cpu_info()``'s
    fields, and ``gpu`` where a run used one)."""
    extras = [name for name, on in (("AVX-512", info.get("avx512")), ("AMX", info.get("amx"))) if on]
    text = info.get("cpu", "unknown CPU") + (f" ({', '.join(extras)})" if extras else "")
    return text + f", {info.get('cores')} cores" + (f", {info['gpu']}" if info.get("gpu") else "")

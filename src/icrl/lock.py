"""One writer at a time per run directory and per dataset file: an advisory lock of the OS
(``flock``), held for the life of the command that writes there.

The lock is a small file (``RUN_DIR/.icrl.lock``, or ``.NAME.lock`` beside a dataset file) that
holds the PID of the process that took it. The kernel releases the lock when that process ends
in any way, so a lock file left by a killed process is taken over (and the take-over is said); a
second live process on the same path stops in one line naming the holder's PID, before any work.
The file is removed on release, and a run directory made only to hold the lock is removed too.
Locks are re-entrant within a process (``icrl run`` holds its run directory while training does),
and only the main process of a ``torchrun`` job takes them. Where the OS has no ``flock``
(Windows), locking is skipped.
"""

from __future__ import annotations

import os
import re
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

from .errors import IcrlError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

RUN_LOCK = ".icrl.lock"
OWNER = re.compile(r"^(\d+) \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")  # what a lock file holds
_held: dict[str, int] = {}  # lock files this process holds -> nesting depth


class LockedError(IcrlError, RuntimeError):
    """Another running process writes to the same run directory or dataset file."""


def lock_file_of(path, *, folder: bool) -> Path:
    """The lock file of a run directory (``folder``) or of a file to write."""
    path = Path(path)
    return path / RUN_LOCK if folder else path.with_name(f".{path.name}.lock")


@contextmanager
def run_dir_lock(run_dir, *, what: str = "--run-dir"):
    """Hold ``run_dir``'s lock for the block; ``LockedError`` naming the holder if another process
    has it. The folder is made if missing (and removed again if the block leaves it empty)."""
    from .io import ensure_folder

    run_dir = Path(run_dir)
    created = ensure_folder(run_dir, what)
    try:
        with _hold(lock_file_of(run_dir, folder=True), run_dir, what, wait=False):
            yield run_dir
    finally:
        _remove_empty(created)


@contextmanager
def file_lock(path, *, wait: bool = False, what: str = "--out"):
    """Hold the lock of the file ``path`` (a dataset being written) for the block. ``wait``: wait
    for another holder to finish (saying so) instead of refusing."""
    from .io import ensure_folder

    path = Path(path)
    created = ensure_folder(path.parent, f"the folder of {path}")
    try:
        with _hold(lock_file_of(path, folder=False), path, what, wait=wait):
            yield path
    finally:
        _remove_empty(created)


def _remove_empty(folders: list[Path]) -> None:
    """Remove the folders a lock made, innermost first, where the block left them empty."""
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:
            return


def remove_stale_locks(folder) -> list[Path]:
    """Delete the lock files in ``folder`` left by killed processes (no live holder; the next
    command on their path would take them over anyway). Returns what was removed."""
    from .io import pid_alive

    removed = []
    if fcntl is None:
        return removed
    try:
        names = [n for n in os.listdir(folder) if n.startswith(".") and n.endswith(".lock")]
    except OSError:
        return removed
    for name in names:
        lock = Path(folder) / name
        if str(lock.resolve()) in _held:
            continue
        try:
            fd = os.open(lock, os.O_RDWR)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            owner = OWNER.match(_holder(fd))  # ours only: "PID date time", of a process that has ended
            if owner and not pid_alive(int(owner.group(1))) and os.stat(lock).st_ino == os.fstat(fd).st_ino:
                lock.unlink()
                removed.append(lock)
        except OSError:  # held by a live process, or gone meanwhile
            pass
        finally:
            os.close(fd)
    return removed


def _holder(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 200).decode(errors="replace").strip()


@contextmanager
def _hold(lock: Path, target: Path, what: str, *, wait: bool):
    key = str(lock.resolve())
    main = int(os.environ.get("RANK", 0)) == 0  # runtime.is_main(), without importing torch
    if fcntl is None or not main or key in _held:
        _held[key] = _held.get(key, 0) + 1
        try:
            yield
        finally:
            _held[key] -= 1
            if not _held[key]:
                del _held[key]
        return
    fd = _acquire(lock, target, what, wait)
    previous = _holder(fd)
    if previous and previous.split()[0] != str(os.getpid()):
        warnings.warn(f"{target}: took over the lock of process {previous.split()[0]}, which ended without "
                      "releasing it (killed?)", stacklevel=2)
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, f"{os.getpid()} {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
    _held[key] = 1
    try:
        yield
    finally:
        del _held[key]
        try:  # removed while held, so that no one locks the old file after we let it go
            lock.unlink()
        except OSError:
            pass
        os.close(fd)


def _acquire(lock: Path, target: Path, what: str, wait: bool) -> int:
    """An open descriptor of ``lock`` that this process has locked (and that is still the file at
    that path: a holder unlinks it on release, and a waiter may have opened the old one)."""
    from .io import pid_alive

    said, tries = False, 0
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:  # a folder we may not write in (or /proc, a read-only mount, ...)
            raise PermissionError(err.errno, f"cannot write {target} here ({err.strerror})", str(lock.parent)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd) or "?"
            os.close(fd)
            pid, _, since = holder.partition(" ")
            tries += 1
            if (not pid.isdigit() or not pid_alive(int(pid))) and tries < 50:
                time.sleep(0.02)  # being created, or a stale file being cleaned up: a moment
                continue
            busy = f"{target} is in use by another icrl process (PID {pid}{', since ' + since if since else ''})"
            if not wait:
                raise LockedError(f"{busy}; wait for it to finish, or choose another {what}") from None
            if not said:
                print(f"{busy}; waiting for it", flush=True)
                said = True
            time.sleep(0.2)
            continue
        try:
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)

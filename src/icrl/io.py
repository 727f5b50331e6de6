"""Atomic file writes: write to a temporary file in the same folder, then rename over the target."""

from __future__ import annotations

import glob
import json
import os
import secrets
from contextlib import contextmanager
from pathlib import Path


def temp_path(path) -> Path:
    """A fresh temporary name next to ``path``: ``.NAME.PID.RANDOM.tmp`` (the PID lets a later run
    tell a dead writer's leftovers from a live writer's file)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def remove_stale_temps(path) -> list[Path]:
    """Delete the temporary files of ``path`` left by writers that no longer run (killed mid-write);
    those of a running process are kept. Returns what was removed."""
    path = Path(path)
    removed = []
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = tmp.name[len(path.name) + 2:].split(".")[0]
        if pid.isdigit() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def file_mode() -> int:
    """The mode a new file gets from the process's umask (``0o666 & ~umask``)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_path(path):
    """Yields a temporary path next to ``path``; on success it replaces ``path`` in one rename.

    The file gets the umask's mode (as an ordinary ``open`` would), stale temporary files of
    ``path`` from killed writers are removed first, and on failure the temporary file is too.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    tmp = temp_path(path)
    try:
        yield tmp
        if tmp.exists():
            os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json(path, data) -> Path:
    return write_text(path, json.dumps(data, indent=1) + "\n")


def refuse_overwrite(path, force: bool) -> None:
    """Before any work: ``path`` may be written (a file, new or replaced with ``force``, in a folder
    we can write to). Raises ``FileExistsError``, ``IsADirectoryError`` or ``PermissionError``."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(21, "is a directory, not a file to write", str(path))
    if path.exists() and not force:
        raise FileExistsError(f"{path} already exists; pass --force to replace it")
    folder = next((p for p in [path.parent, *path.parent.parents] if p.exists()), Path("."))
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(13, "cannot write here (no write permission)", str(folder))

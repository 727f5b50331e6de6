"""Atomic file writes: write to a temporary file in the same folder, then rename over the target.

Every temporary file is named ``.NAME.PID.RANDOM.tmp``, so that the next write in that folder
removes those of writers that no longer run (killed mid-write), whatever file they were writing.
A full disk or a file-size limit ends in ``WriteFailed``, one line naming the file, with the
temporary file removed and the target as it was.
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
from contextlib import contextmanager
from pathlib import Path

from .errors import IcrlError

_TEMP = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$")
_NO_ROOM = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


class WriteFailed(IcrlError, OSError):
    """A file could not be written: no room (disk full, quota, file-size limit) or a folder that
    takes no files (``/proc``, a read-only mount)."""


def temp_path(path) -> Path:
    """A fresh temporary name next to ``path``: ``.NAME.PID.RANDOM.tmp`` (the PID lets a later run
    tell a dead writer's leftovers from a live writer's file)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def remove_stale_temps(path) -> list[Path]:
    """Delete the temporary files in ``path``'s folder (of any target) left by writers that no
    longer run (killed mid-write), and their lock files; those of a running process are kept.
    Returns what was removed."""
    from .lock import remove_stale_locks

    removed = remove_stale_locks(Path(path).parent)
    try:
        names = os.listdir(Path(path).parent)
    except OSError:
        return removed
    for name in names:
        match = _TEMP.match(name)
        if match and not pid_alive(int(match.group(1))):
            tmp = Path(path).parent / name
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (on this machine), ours or someone else's."""
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
    ensure_folder(path.parent, f"the folder of {path}")
    remove_stale_temps(path)
    tmp = temp_path(path)
    try:
        yield tmp
        if tmp.exists():
            os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        full = no_room(path, err)
        if full is not None:
            raise full from None
        if err.filename in (str(tmp), tmp):  # the temporary name means nothing to the user
            raise WriteFailed(f"{path}: could not be written ({err.strerror or err})") from None
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def no_room(path, err: OSError) -> WriteFailed | None:
    """The one-line ``WriteFailed`` for ``path`` if ``err`` says the disk (or quota, or file-size
    limit) is full, else None."""
    if err.errno not in _NO_ROOM:
        return None
    return WriteFailed(f"{path}: could not be written ({os.strerror(err.errno)}); nothing of it was kept. "
                       "Free some space (or raise the file-size limit) and run again")


ROOM_MARGIN = 8 << 20  # what a writer may hold in caches beyond the bytes it is asked to write


def check_room(path, tmp, nbytes: int) -> None:
    """Before writing about ``nbytes`` more (uncompressed: an upper bound) to ``tmp``, the temporary
    file of ``path``: ``WriteFailed`` naming ``path`` if the disk's free space or the file-size
    limit (``ulimit -f``) leaves no room for them."""
    import shutil

    try:
        import resource
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        unlimited = (-1, resource.RLIM_INFINITY)
    except (ImportError, AttributeError):  # Windows
        limit, unlimited = -1, (-1,)
    tmp = Path(tmp)
    size = tmp.stat().st_size if tmp.exists() else 0
    if limit not in unlimited and size + nbytes > limit:
        raise no_room(path, OSError(errno.EFBIG, os.strerror(errno.EFBIG)))
    if shutil.disk_usage(tmp.parent).free < nbytes + ROOM_MARGIN:
        raise no_room(path, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))


def _write_bytes(path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


def write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (``atomic_path``)."""
    with atomic_path(path) as tmp:
        _write_bytes(tmp, data)
    return Path(path)


def write_text(path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_bytes(path, text.encode())


def write_json(path, data) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    return write_text(path, json.dumps(data, indent=1) + "\n")


def ensure_folder(path, what: str = "folder") -> list[Path]:
    """Make the folder ``path`` (and its parents) if missing; returns the folders made, outermost
    first. A regular file or a symlink loop in the way is reported in one line naming it
    (``NotADirectoryError``, ``FileExistsError``), not as the OS's errno text."""
    path = Path(path)
    missing = []
    for folder in [path, *path.parents]:
        if folder.is_dir():
            break
        if folder.is_symlink() and not folder.exists():
            raise FileExistsError(f"{folder}: a symlink that leads nowhere (or loops), not a folder ({what})")
        if folder.exists():
            raise NotADirectoryError(20, f"is a file, not a folder ({what} {path} must be a folder)", str(folder))
        missing.append(folder)
    for folder in reversed(missing):
        try:
            folder.mkdir(exist_ok=True)
        except OSError as err:  # /proc, a read-only mount, no permission
            raise WriteFailed(f"{folder}: cannot make this folder ({err.strerror or err}; {what})") from None
    return missing[::-1]


def refuse_overwrite(path, force: bool) -> None:
    """Before any work: ``path`` may be written (a file, new or replaced with ``force``, in a folder
    we can write to). Raises ``FileExistsError``, ``IsADirectoryError`` or ``PermissionError``."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(21, "is a directory, not a file to write", str(path))
    if path.exists() and not force:
        raise FileExistsError(f"{path} already exists; pass --force to replace it")
    folder = next((p for p in [path.parent, *path.parent.parents] if p.exists()), Path("."))
    if not folder.is_dir():
        raise NotADirectoryError(20, f"is a file, not a folder (needed for {path})", str(folder))
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(13, "cannot write here (no write permission)", str(folder))

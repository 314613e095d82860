"""Writing results safely: atomic files, output folders that stay inside ``--out``.

Every result file the study writes (a fitted artifact, a persona, a prompt, a map of
output folders) goes through :func:`atomic_write_text` / :func:`atomic_write_json` /
:func:`atomic_write_bytes`: the content is written to a temporary file in the same
folder, flushed to disk, then renamed over the target. A crash, a kill or a full disk
therefore leaves either the old file or the new one, never a truncated one. An OS
error (disk full, no permission, a file where a folder should be) becomes an
:class:`~persona_judge.errors.OutputError` naming the path and what to do.

Output folders are data, not trust: :func:`user_folder_name` turns any user id into a
folder name that is readable (the id itself when it is a plain name), unique (ids
that would clean up to the same name, or differ only in case, get a short hash of
the exact id) and safe (no separators, no ``..``, never empty), so a result can only
land inside the chosen output folder. :func:`replace_folder` swaps a finished
staging folder in as a whole, so a folder always holds the files of one fit.

Those hidden working folders carry the id of the process that made them
(``.staging-<folder>-<pid>``, ``.old-<folder>-<pid>``); a crash can leave one behind.
:func:`clean_stale_folders` removes them on the next run once their process is gone
(a live process's, this one's included, are never touched), and puts an ``.old-``
folder back in place when the crash came after the old result was moved aside and
before the new one was moved in.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from persona_judge.errors import OutputError

__all__ = [
    "assign_user_folders",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "check_output_root",
    "clean_stale_folders",
    "replace_folder",
    "user_folder_name",
]

_HINTS = {
    errno.ENOSPC: "the disk is full: free some space or choose another output folder",
    errno.EDQUOT: "the disk quota is exceeded: free some space or choose another folder",
    errno.EACCES: "permission denied: choose a folder you can write to",
    errno.EPERM: "permission denied: choose a folder you can write to",
    errno.EROFS: "the file system is read-only: choose another output folder",
    errno.ENOTDIR: "a part of the path is a file, not a folder: choose another path",
    errno.EISDIR: "a folder is in the way: remove it or choose another path",
    errno.ENAMETOOLONG: "the path is too long: choose a shorter output folder",
}


def describe_os_error(err: OSError) -> str:
    """The OS's reason plus what to do, e.g. ``No space left on device (the disk is full: ...)``."""
    reason = err.strerror or type(err).__name__
    hint = _HINTS.get(err.errno or -1)
    return f"{reason} ({hint})" if hint else reason


def _fsync_folder(folder: Path) -> None:
    # Makes the rename itself durable; not every platform can open a folder.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file + rename); return the path."""
    path = Path(path)
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates 0600; results should be readable like any other file.
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        os.replace(tmp, path)
        tmp = None
        _fsync_folder(path.parent)
    except OSError as err:
        raise OutputError(f"could not write {path}: {describe_os_error(err)}") from err
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return path


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically; return the path."""
    return atomic_write_bytes(path, text.encode(encoding))


def atomic_write_json(path: str | Path, data: Any, *, indent: int | None = 2) -> Path:
    """Write ``data`` as JSON (UTF-8, trailing newline) atomically; return the path.

    The JSON is built before anything touches the disk, so data that cannot be
    serialized (a bug) raises without leaving a file behind.
    """
    text = json.dumps(data, indent=indent, ensure_ascii=False) + "\n"
    return atomic_write_text(path, text)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# Names Windows refuses for files and folders, whatever the extension.
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
             *(f"LPT{i}" for i in range(1, 10))}
MAX_NAME = 60


def user_folder_name(user_id: str) -> str:
    """A stable, readable, unique and safe folder name for ``user_id``.

    A plain lower-case id (letters, digits, ``. _ -``, not starting with a dot, at
    most 60 characters) is its own folder name: ``alice`` -> ``alice``. Any other
    id keeps a cleaned, readable part and gains ``-`` plus 10 hex digits of the
    sha256 of the exact id: ``a/b`` -> ``a_b-<hash>``, ``a?b`` -> ``a_b-<other hash>``,
    ``..`` -> ``user-<hash>``, ``Alice`` -> ``Alice-<hash>`` (so ids differing only in
    case stay apart on case-insensitive disks). Two different ids never share a
    folder, and a name never contains a path separator or is ``.``/``..``.
    """
    if not isinstance(user_id, str):
        raise TypeError(f"user_id must be a string, got {type(user_id).__name__}")
    readable = _UNSAFE.sub("_", user_id).strip("._-")[:MAX_NAME].rstrip("._-")
    plain = (bool(readable) and readable == user_id and user_id == user_id.lower()
             and user_id.split(".")[0].upper() not in _RESERVED)
    if plain:
        return readable
    digest = hashlib.sha256(user_id.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{readable or 'user'}-{digest}"


def assign_user_folders(user_ids: list[str], taken: dict[str, str] | None = None
                        ) -> dict[str, str]:
    """Folder names for ``user_ids`` that collide neither with each other nor with
    ``taken`` (folder -> the id it already belongs to, e.g. from an earlier run).

    Normally :func:`user_folder_name`; in the (contrived) case that a plain id
    equals another id's hashed name, the later one gets a longer hash.
    """
    owners = dict(taken or {})
    out: dict[str, str] = {}
    for user_id in user_ids:
        name = user_folder_name(user_id)
        digest = hashlib.sha256(user_id.encode("utf-8", "surrogatepass")).hexdigest()
        width = 20
        while owners.get(name, user_id) != user_id or name.lower() in {
                n.lower() for n, o in owners.items() if o != user_id}:
            if width > len(digest):
                raise OutputError(f"no free folder name for user id {user_id!r}")
            name = f"{user_folder_name(user_id).rsplit('-', 1)[0]}-{digest[:width]}"
            width += 8
        owners[name] = user_id
        out[user_id] = name
    return out


def check_output_root(path: str | Path, what: str = "output folder") -> Path:
    """Create ``path`` if needed and prove it is a writable folder; return it resolved.

    Raises :class:`OutputError` naming the path when it is a file, cannot be
    created, or cannot be written, before any expensive work starts.
    """
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise OutputError(f"the {what} {path} is a file, not a folder; choose another path "
                          "(e.g. --out persona_out)")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-check-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise OutputError(f"cannot write to the {what} {path}: {describe_os_error(err)}"
                          ) from err
    return path.resolve()


def replace_folder(staging: Path, target: Path) -> Path:
    """Move the finished folder ``staging`` to ``target``, replacing an older ``target``.

    The old folder is first renamed aside, then the new one renamed in, then the
    old one removed, so at every moment ``target`` is either the complete old
    result or the complete new one (a crash in between leaves the old one under a
    ``.old-`` name next to it).
    """
    old: Path | None = None
    try:
        if target.exists():
            old = target.with_name(f".old-{target.name}-{os.getpid()}")
            if old.exists():
                shutil.rmtree(old)
            os.replace(target, old)
        os.replace(staging, target)
        _fsync_folder(target.parent)
    except OSError as err:
        if old is not None and old.exists() and not target.exists():
            os.replace(old, target)  # put the previous result back
        raise OutputError(f"could not move the results into {target}: "
                          f"{describe_os_error(err)}") from err
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return target


_WORKING = re.compile(r"^\.(?P<kind>staging|old)-(?P<name>.+)-(?P<pid>\d+)$")


def process_alive(pid: int) -> bool:
    """True when a process ``pid`` exists on this machine (ours, or anyone's)."""
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    except OSError:
        return True  # cannot tell: keep the folder
    return True


def clean_stale_folders(root: Path) -> list[str]:
    """Remove the working folders a crashed run left in ``root``; return what was done.

    A ``.staging-<folder>-<pid>`` folder whose process is gone is a half-written
    result: removed. A ``.old-<folder>-<pid>`` folder of a dead process is the previous
    result moved aside by :func:`replace_folder`: removed when ``<folder>`` is in place,
    moved back to ``<folder>`` when it is not. Folders of a live process are left alone.
    """
    done: list[str] = []
    try:
        entries = sorted(Path(root).iterdir())
    except OSError:
        return done
    for entry in entries:
        match = _WORKING.match(entry.name)
        if match is None or not entry.is_dir() or entry.is_symlink():
            continue
        pid = int(match["pid"])
        if process_alive(pid):
            continue
        target = entry.with_name(match["name"])
        try:
            if match["kind"] == "old" and not target.exists():
                os.replace(entry, target)
                done.append(f"put back {target.name}/ from {entry.name}/, left aside by a run "
                            f"that stopped while replacing it (process {pid})")
                continue
            shutil.rmtree(entry)
        except OSError as err:
            raise OutputError(f"could not clean up {entry}, left by a run that stopped "
                              f"(process {pid}): {describe_os_error(err)}; remove it by hand"
                              ) from err
        what = "half-written result" if match["kind"] == "staging" else "previous result"
        done.append(f"removed {entry.name}/, a {what} left by a run that stopped "
                    f"(process {pid})")
    return done

"""Atomic, deterministic artifact output and checked input, shared by every stage.

Writers: :func:`atomic_directory` builds an artifact in a temporary sibling and renames it into
place, so a failed or killed stage never leaves a half-written artifact (and the next write
removes the siblings a killed process left); :func:`check_target` tells before any work whether
a target can be written.  Readers: :func:`read_json`, :func:`need` and :func:`read_arrays` raise
the reader's own error type naming the file, the field and the fix, never a bare ``KeyError`` or
``BadZipFile``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from codesign.errors import CodesignError

__all__ = [
    "ArtifactError",
    "atomic_directory",
    "check_target",
    "write_json",
    "save_arrays",
    "load_arrays",
    "sha256_file",
    "read_json",
    "need",
    "read_arrays",
    "relative_to",
]

_EPOCH = (1980, 1, 1, 0, 0, 0)


class ArtifactError(CodesignError, OSError):
    """An artifact that cannot be written where asked; names the path and the fix."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_siblings(target: Path) -> None:
    """Remove ``.<name>.tmp-<pid>-*`` / ``.<name>.old-<pid>-*`` siblings of dead processes."""
    for kind in ("tmp", "old"):
        for p in target.parent.glob(f".{target.name}.{kind}-*"):
            pid = p.name[len(f".{target.name}.{kind}-") :].partition("-")[0]
            if not pid.isdigit() or not _alive(int(pid)):
                shutil.rmtree(p, ignore_errors=True)


def check_target(target: str | os.PathLike, error: type = ArtifactError) -> Path:
    """``target`` (resolved) if an artifact directory can be written there, else ``error``
    naming the path and the fix: not an existing file, and a writable parent directory."""
    t = Path(target).resolve()
    if t.exists() and not t.is_dir():
        raise error(f"{t}: exists and is not a directory; choose another output path")
    parent = next((p for p in (t.parent, *t.parent.parents) if p.exists()), None)
    if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise error(f"{t}: cannot be written ({parent} is not a writable directory)")
    return t


@contextmanager
def atomic_directory(target: str | os.PathLike):
    """Yield a fresh temporary directory beside ``target``; on success it replaces ``target``.

    On any exception the temporary directory is removed and ``target`` is left as it was, so
    a failed or interrupted stage never leaves a half-written artifact.
    """
    target = Path(target).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_siblings(target)
    tag = f"{os.getpid()}-"
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-{tag}", dir=target.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o755)
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-{tag}", dir=target.parent))
            try:
                os.rename(target, old / "x")
            except BaseException:
                shutil.rmtree(old, ignore_errors=True)
                raise
            os.rename(tmp, target)
            shutil.rmtree(old)
        else:
            os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_json(path: str | os.PathLike, obj) -> None:
    """Sorted keys, two-space indent, trailing newline: byte-stable for equal content."""
    Path(path).write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def save_arrays(path: str | os.PathLike, arrays: dict) -> None:
    """An ``.npz`` (readable by ``numpy.load``) whose bytes depend only on the arrays."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        for name in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            z.writestr(info, buf.getvalue())


def load_arrays(path: str | os.PathLike) -> dict:
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def relative_to(path: str | os.PathLike, base: str | os.PathLike) -> str:
    """``path`` as recorded in an artifact at ``base``: relative to it (POSIX separators), so
    the artifact and what it names can move together."""
    return Path(os.path.relpath(Path(path).resolve(), Path(base).resolve())).as_posix()


def read_json(path: str | os.PathLike, error: type, fix: str) -> dict:
    """The JSON object in ``path``; a missing file, bad JSON or a non-object raises ``error``
    naming the file and ``fix``."""
    p = Path(path)
    if not p.is_file():
        raise error(f"{p}: missing; {fix}")
    try:
        d = json.loads(p.read_bytes())
    except (ValueError, UnicodeDecodeError) as e:
        raise error(f"{p}: not valid JSON ({e}); {fix}") from None
    if not isinstance(d, dict):
        raise error(f"{p}: expected a JSON object; {fix}")
    return d


def need(d, key: str, typ, path, error: type, where: str = "", fix: str = ""):
    """``d[key]`` checked to be of ``typ`` (a type or tuple; bool is not an int), else ``error``
    naming the file and the field ``where + key``."""
    if not isinstance(d, dict) or key not in d:
        raise error(f"{path}: field '{where}{key}' is missing{'; ' + fix if fix else ''}")
    v = d[key]
    types = typ if isinstance(typ, tuple) else (typ,)
    if not isinstance(v, types) or (isinstance(v, bool) and bool not in types):
        names = "/".join(t.__name__ for t in types)
        raise error(f"{path}: field '{where}{key}' must be {names}, got {v!r}")
    return v


def read_arrays(path: str | os.PathLike, keys, error: type, fix: str) -> dict:
    """The arrays of an ``.npz`` written by :func:`save_arrays`, each of ``keys`` present; an
    unreadable or truncated file raises ``error`` naming it and ``fix``."""
    p = Path(path)
    if not p.is_file():
        raise error(f"{p}: missing; {fix}")
    try:
        arrays = load_arrays(p)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise error(f"{p}: unreadable ({type(e).__name__}: {e}); {fix}") from None
    missing = sorted(set(keys) - set(arrays))
    if missing:
        raise error(f"{p}: arrays {missing} are missing; {fix}")
    return arrays

"""The one-command flow: an ordered list of steps over saved artifacts, each skipped when its
inputs and its outputs are what they were when it last ran.

A step declares its inputs (settings, and the hashes of the upstream artifacts it reads) and the
artifacts it writes.  After it runs, a stamp ``<state>/<step>.json`` records the hash of the
inputs, the hash of every output and a one-line summary.  The next run skips the step when the
stamp's input hash is unchanged and every output still has its recorded hash, so an edited or
corrupted artifact, a changed setting or a re-run upstream stage makes the step run again;
``force`` runs every step.  A step that fails writes no stamp, and the atomic writers of the
stages leave the artifacts of earlier steps as they were.  A step marked ``alongside`` runs in a
worker thread while the step after it runs (the two must read only earlier artifacts, e.g.
synthesis beside co-simulation on two cores); the flow goes on when both have finished.

The TOML configuration (``codesign flow --config FILE``) has one table per stage, keys named as
the command-line flags (``[prune] density = 0.25``, ``[map] board = "nexys4ddr"``, ``set =
["conv2.pes=2"]``); a flag given on the command line wins over the file.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from codesign.errors import CodesignError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from codesign.artifacts import write_json

__all__ = ["Step", "FlowError", "tree_hash", "run_steps", "load_config"]


class FlowError(CodesignError, ValueError):
    """A flow configuration or state that cannot be used; names the file, key and fix."""


@dataclass
class Step:
    """One stage of the flow: ``run()`` writes ``outputs`` and returns a one-line summary.
    ``alongside``: run beside the next step (it reads none of this step's outputs)."""

    name: str
    inputs: Callable[[], dict]
    outputs: list[Path]
    run: Callable[[], str]
    alongside: bool = False


def tree_hash(path: Path) -> str | None:
    """sha256 over the relative names and bytes of every file under ``path`` (or of the file);
    None when it does not exist."""
    path = Path(path)
    if not path.exists():
        return None
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        h.update(str(f.relative_to(path) if f != path else f.name).encode() + b"\0")
        h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


def _digest(inputs: dict) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()


def run_steps(
    steps: list[Step],
    state: Path,
    force: bool = False,
    on_start: Callable[[int, Step, bool], None] | None = None,
) -> list[dict]:
    """Run (or skip) ``steps`` in order; returns one row per step, in step order: name, status,
    seconds, summary.  Exceptions of a step propagate after the rows so far are kept in the
    exception's ``flow_rows`` attribute (a step running alongside is waited for first)."""
    state = Path(state)
    state.mkdir(parents=True, exist_ok=True)
    rows: list[dict | None] = []
    background: tuple[threading.Thread, dict] | None = None

    def finish_background():
        nonlocal background
        if background is None:
            return None
        thread, box = background
        background = None
        thread.join()
        rows[box["index"]] = box["row"]
        return box.get("error")

    try:
        for i, step in enumerate(steps):
            stamp_path = state / f"{step.name}.json"
            inputs = _digest(step.inputs())
            stamp = _read_stamp(stamp_path) or {}
            recorded = stamp.get("outputs", {})
            fresh = (
                not force
                and stamp.get("inputs") == inputs
                and all(
                    recorded.get(str(p)) is not None and recorded[str(p)] == tree_hash(p)
                    for p in step.outputs
                )
            )
            if on_start is not None:
                on_start(i, step, fresh)
            if fresh:
                rows.append(
                    {
                        "step": step.name,
                        "status": "up to date",
                        "seconds": 0.0,
                        "summary": stamp.get("summary", ""),
                    }
                )
                box = {}
            else:
                stamp_path.unlink(missing_ok=True)
                if step.alongside and i + 1 < len(steps):
                    box = {"index": len(rows)}
                    rows.append(None)
                    thread = threading.Thread(
                        target=_run_into, args=(step, inputs, stamp_path, box), daemon=True
                    )
                    thread.start()
                    background = (thread, box)
                    continue
                box = {}
                _run_into(step, inputs, stamp_path, box)
                rows.append(box["row"])
            error = finish_background()  # a step runs alongside the next one only
            if "error" in box:
                raise box["error"]
            if error is not None:
                raise error
    except BaseException as e:
        finish_background()
        e.flow_rows = [r for r in rows if r is not None]
        raise
    finish_background()
    return rows


def _run_into(step: Step, inputs: str, stamp_path: Path, box: dict) -> None:
    """Run one step; its row goes to ``box["row"]``, an exception to ``box["error"]``."""
    t0 = time.perf_counter()
    try:
        summary = step.run()
    except BaseException as e:
        box["row"] = {
            "step": step.name,
            "status": "FAILED",
            "seconds": time.perf_counter() - t0,
            "summary": str(e).splitlines()[0] if str(e) else type(e).__name__,
        }
        box["error"] = e
        return
    secs = time.perf_counter() - t0
    write_json(
        stamp_path,
        {
            "step": step.name,
            "inputs": inputs,
            "summary": summary,
            "outputs": {str(p): tree_hash(p) for p in step.outputs},
        },
    )
    box["row"] = {"step": step.name, "status": "ran", "seconds": secs, "summary": summary}


def _read_stamp(path: Path) -> dict | None:
    try:
        d = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return d if isinstance(d, dict) else None


def load_config(path: str | Path, keys: dict[str, set]) -> dict:
    """A flow's TOML file as ``{table: {key: value}}``, every table and key checked against
    ``keys`` (``{table: {key, ...}}``, the system's own settings)."""
    p = Path(path)
    try:
        d = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise FlowError(f"{p}: flow configuration not found") from None
    except tomllib.TOMLDecodeError as e:
        raise FlowError(f"{p}: not valid TOML ({e})") from None
    for table, values in d.items():
        if table not in keys:
            raise FlowError(
                f"{p}: unknown table [{table}]; tables: {', '.join(f'[{t}]' for t in keys)}"
            )
        if not isinstance(values, dict):
            raise FlowError(f"{p}: [{table}] must be a table")
        unknown = set(values) - keys[table]
        if unknown:
            raise FlowError(
                f"{p}: [{table}] has unknown keys {sorted(unknown)}; allowed: {sorted(keys[table])}"
            )
    return d

"""Design-space sweeps: many design points through a system's stages at once, on Dask distributed.

A sweep file (TOML, docs/sweep.md) names a system, the settings every point shares
(``[base]``), and the points: the Cartesian product of ``[grid]`` and/or a list of
``[[points]]``.  The system plans each point as a chain of :class:`Task` s (e.g. prune → map →
generate → cosim → synth); a task's key is a digest of everything it depends on, so points that
share upstream settings share one upstream task and its artifact (one prune feeds every board).
Each task runs as one flow step (:func:`codesign.flow.run_steps`) in its own directory under
``OUT/tasks/``: a task whose inputs and outputs are unchanged since it last ran is skipped, and
an artifact is only ever renamed into place whole, so a task killed half-way leaves nothing a
later run would trust.

:func:`run_sweep` submits the task graph to a Dask cluster — by default a local cluster of one
single-threaded worker process per core, or an existing scheduler — and reports each task as it
finishes.  A task that raises fails its point (and the points downstream of it) with the error;
the others go on.  A worker that dies mid-task is replaced and its task runs again elsewhere
(Dask's scheduler does this; ``distributed.scheduler.allowed-failures`` bounds it).  The results —
one row per point, settings and figures — go to ``OUT/results.csv`` and ``OUT/results.json``,
and :func:`write_sweep_report` draws the Pareto fronts per board.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import itertools
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from codesign.artifacts import atomic_directory, write_json
from codesign.errors import CodesignError
from codesign.flow import Step, run_steps

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "SweepError",
    "Task",
    "Point",
    "SweepFile",
    "read_sweep",
    "task_key",
    "TaskGraph",
    "stage_figures",
    "flow_task",
    "run_sweep",
    "write_results",
    "pareto",
    "write_sweep_report",
]

SWEEP_TABLES = {"sweep", "base", "grid", "points"}
SWEEP_KEYS = {"system", "out", "workers"}


class SweepError(CodesignError, ValueError):
    """A sweep that cannot be planned or run; names the file, key or address and the fix."""


@dataclass(frozen=True)
class Task:
    """One stage of one or more points: ``fn(*upstream results) -> figures`` (a small dict)."""

    key: str
    label: str
    deps: tuple[str, ...]
    fn: Callable


@dataclass
class Point:
    """One design point: its settings, its tasks (upstream first) and how its row is made."""

    index: int
    settings: dict
    tasks: list[str]
    row: Callable[[dict], dict]


@dataclass
class SweepFile:
    path: Path
    system: str
    out: Path
    workers: int | None
    base: dict
    points: list[dict] = field(default_factory=list)


def read_sweep(path: str | Path) -> SweepFile:
    """The sweep file's system, output directory, base settings and expanded points."""
    p = Path(path)
    try:
        d = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise SweepError(f"{p}: sweep file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise SweepError(f"{p}: not valid TOML ({e})") from None
    unknown = set(d) - SWEEP_TABLES
    if unknown:
        raise SweepError(f"{p}: unknown tables {sorted(unknown)}; use {sorted(SWEEP_TABLES)}")
    sw = d.get("sweep", {})
    bad = set(sw) - SWEEP_KEYS
    if bad:
        raise SweepError(
            f"{p}: [sweep] has unknown keys {sorted(bad)}; allowed {sorted(SWEEP_KEYS)}"
        )
    system = sw.get("system")
    if not isinstance(system, str):
        raise SweepError(f'{p}: [sweep] system is missing (e.g. system = "spectral")')
    workers = sw.get("workers")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise SweepError(f"{p}: [sweep] workers must be a positive integer, got {workers!r}")
    grid = d.get("grid", {})
    for k, v in grid.items():
        if not isinstance(v, list) or not v:
            raise SweepError(f"{p}: [grid] {k} must be a non-empty list of values, got {v!r}")
    listed = d.get("points", [])
    if not isinstance(listed, list) or not all(isinstance(x, dict) for x in listed):
        raise SweepError(f"{p}: [[points]] must be tables, one per design point")
    points = []
    if grid:
        keys = sorted(grid)
        points += [dict(zip(keys, vals)) for vals in itertools.product(*(grid[k] for k in keys))]
    points += [dict(x) for x in listed]
    if not points:
        raise SweepError(f"{p}: no design points; give a [grid] and/or [[points]]")
    return SweepFile(
        p, system, Path(sw.get("out", "build/sweep")), workers, dict(d.get("base", {})), points
    )


def task_key(stage: str, *parts) -> str:
    """``stage-<12 hex>``: a digest of everything the task depends on."""
    h = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
    return f"{stage}-{h[:12]}"


class TaskGraph:
    """The tasks of a sweep under ``root`` (``OUT/tasks``): :meth:`add` names a task by its
    stage and a digest of what it depends on, and keeps the first of equal ones (so points
    sharing upstream settings share the task); each task's function gets its directory first."""

    def __init__(self, out: str | Path):
        self.root = Path(out).resolve() / "tasks"
        self.tasks: dict[str, Task] = {}

    def add(self, stage: str, parts, label: str, deps: tuple, fn: Callable) -> str:
        key = task_key(stage, *parts)
        if key not in self.tasks:
            self.tasks[key] = Task(key, label, deps, partial(fn, str(self.root / key)))
        return key


def stage_figures(keys: dict, results: dict, drop=()) -> dict:
    """A point's row from its tasks' figures (``keys``: stage → task key), each task's
    ``seconds`` as ``<stage>_seconds``, the ``drop`` keys (artifact paths, status) left out."""
    row = {}
    for stage, key in keys.items():
        r = results[key]
        row.update({k: v for k, v in r.items() if k not in (*drop, "status", "seconds")})
        row[f"{stage}_seconds"] = r.get("seconds")
    return row


def flow_task(directory: Path, name: str, inputs: dict, outputs: list[Path], run: Callable):
    """Run ``run()`` as one flow step with its stamp in ``directory/.flow`` (skipped when its
    inputs and outputs are unchanged), its printed output in ``directory/task.log``; returns
    ``"ran"`` or ``"up to date"``."""
    directory.mkdir(parents=True, exist_ok=True)
    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            rows = run_steps([Step(name, lambda: inputs, outputs, run)], directory / ".flow")
    finally:
        tmp = directory / f".task.log.{os.getpid()}"
        tmp.write_text(log.getvalue())
        tmp.replace(directory / "task.log")
    return rows[0]["status"]


def _timed(fn, *upstream):
    t0 = time.perf_counter()
    out = fn(*upstream)
    return {**out, "seconds": round(time.perf_counter() - t0, 3)}


def _client(scheduler: str | None, workers: int | None):
    """A client of ``scheduler``, or of a new local cluster (one single-threaded worker process
    per core unless ``workers``)."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout="5s"), None
        except (OSError, TimeoutError) as e:
            raise SweepError(
                f"scheduler {scheduler} does not answer ({type(e).__name__}: {e}); start one "
                "with `dask scheduler` (docs/sweep.md) or leave out --scheduler for a local "
                "cluster"
            ) from None
    n = workers or os.cpu_count() or 1
    cluster = LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.CRITICAL,  # a task's error is reported by run_sweep, once
    )
    return Client(cluster), cluster


def run_sweep(
    tasks: dict[str, Task],
    points: list[Point],
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    on_done: Callable[[Task, str, dict | str], None] | None = None,
    client=None,
) -> list[dict]:
    """Run every task on the cluster; one row per point (``status`` ``ok`` or ``failed`` with
    ``error``), in point order.  ``on_done(task, "ok"|"failed", figures|message)`` is told of
    each task as it finishes."""
    from distributed import as_completed

    own = client is None
    cluster = None
    if own:
        client, cluster = _client(scheduler, workers)
    run = uuid.uuid4().hex[:8]  # Dask keys are per cluster: a rerun must not meet old ones
    futures, by_future = {}, {}
    try:
        order = _topological(tasks)
        for key in order:
            t = tasks[key]
            fut = client.submit(
                _timed, t.fn, *[futures[d] for d in t.deps], key=f"{key}-{run}", pure=False
            )
            futures[key] = fut
            by_future[fut.key] = t
        results, errors = {}, {}
        for fut in as_completed(list(futures.values())):
            t = by_future[fut.key]
            if fut.status == "finished":
                results[t.key] = fut.result()
                if on_done:
                    on_done(t, "ok", results[t.key])
            else:
                errors[t.key] = _message(fut)
                if on_done:
                    on_done(t, "failed", errors[t.key])
    finally:
        if own:
            client.close()
            if cluster is not None:
                cluster.close()
    rows = []
    for pt in points:
        failed = [k for k in pt.tasks if k in errors]
        if failed:
            first = next(k for k in pt.tasks if k in errors)
            rows.append(
                {
                    "point": pt.index,
                    **pt.settings,
                    "status": "failed",
                    "error": f"{tasks[first].label}: {errors[first]}",
                }
            )
        else:
            rows.append(
                {
                    "point": pt.index,
                    **pt.settings,
                    **pt.row({k: results[k] for k in pt.tasks}),
                    "status": "ok",
                    "error": "",
                }
            )
    return rows


def _message(fut) -> str:
    try:
        e = fut.exception()
    except Exception as x:  # a cancelled future has no exception to fetch
        e = x
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def _topological(tasks: dict[str, Task]) -> list[str]:
    done, order = set(), []

    def visit(k, path=()):
        if k in done:
            return
        if k in path:
            raise SweepError(f"task {k} depends on itself")
        if k not in tasks:
            raise SweepError(f"task {path[-1]} needs unknown task {k}")
        for d in tasks[k].deps:
            visit(d, path + (k,))
        done.add(k)
        order.append(k)

    for k in sorted(tasks):
        visit(k)
    return order


def _cell(v):
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(v, sort_keys=True)
    return "" if v is None else v


def write_results(out: Path, rows: list[dict]) -> tuple[Path, Path]:
    """``results.csv`` (one row per point, every column any row has) and ``results.json``,
    each written whole (temporary file, then rename)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    columns = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: _cell(r.get(k)) for k in columns})
    paths = []
    for name, text in (("results.csv", buf.getvalue()), ("results.json", None)):
        tmp = out / f".{name}.{os.getpid()}"
        if text is None:
            write_json(tmp, rows)
        else:
            tmp.write_text(text)
        tmp.replace(out / name)
        paths.append(out / name)
    return paths[0], paths[1]


def pareto(rows: list[dict], x: str, y: str, *, x_max: bool = True, y_max: bool = True):
    """The rows no other row beats in both ``x`` and ``y`` (larger is better unless ``*_max``
    is False), sorted by ``x``."""
    sx, sy = (1 if x_max else -1), (1 if y_max else -1)
    pts = [r for r in rows if r.get(x) is not None and r.get(y) is not None]
    front = [
        r
        for r in pts
        if not any(
            sx * o[x] >= sx * r[x]
            and sy * o[y] >= sy * r[y]
            and (sx * o[x] > sx * r[x] or sy * o[y] > sy * r[y])
            for o in pts
        )
    ]
    return sorted(front, key=lambda r: r[x])


def write_sweep_report(out: Path, rows: list[dict], title: str, plots: list[dict]) -> Path:
    """``out/report.md`` and one PNG per plot and board: every point and its Pareto front.
    ``plots``: ``{"name", "x", "y", "x_label", "y_label", "x_max", "y_max"}``; rows need a
    ``board`` column."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if r.get("status") == "ok"]
    boards = sorted({r["board"] for r in ok})
    lines = [f"# {title}", "", f"{len(rows)} design points, {len(ok)} finished.", ""]
    with atomic_directory(out) as tmp:
        for b in boards:
            lines += [f"## {b}", ""]
            mine = [r for r in ok if r["board"] == b]
            for spec in plots:
                front = pareto(mine, spec["x"], spec["y"], x_max=spec["x_max"], y_max=spec["y_max"])
                fig, ax = plt.subplots(figsize=(5, 3.5))
                xs = [r[spec["x"]] for r in mine if r.get(spec["y"]) is not None]
                ys = [r[spec["y"]] for r in mine if r.get(spec["y"]) is not None]
                ax.scatter(xs, ys, label="design points", color="0.6")
                ax.plot(
                    [r[spec["x"]] for r in front],
                    [r[spec["y"]] for r in front],
                    "o-",
                    color="C0",
                    label="Pareto front",
                )
                for r in mine:
                    if r.get(spec["y"]) is not None:
                        ax.annotate(str(r["point"]), (r[spec["x"]], r[spec["y"]]), fontsize=7)
                ax.set_xlabel(spec["x_label"])
                ax.set_ylabel(spec["y_label"])
                ax.set_title(b, fontsize=9)
                ax.legend(fontsize=7)
                fig.tight_layout()
                png = f"{spec['name']}_{b}.png"
                fig.savefig(tmp / png, dpi=110, metadata={"Software": None})
                plt.close(fig)
                lines += [
                    f"![{spec['y_label']} vs {spec['x_label']}]({png})",
                    "",
                    f"Pareto front ({spec['y_label']} vs {spec['x_label']}): points "
                    + ", ".join(str(r["point"]) for r in front),
                    "",
                ]
        failed = [r for r in rows if r.get("status") != "ok"]
        if failed:
            lines += ["## Failed points", ""]
            lines += [f"- point {r['point']}: {r.get('error', '')}" for r in failed]
            lines.append("")
        (tmp / "report.md").write_text("\n".join(lines))
    return Path(out) / "report.md"


def summary_columns(rows: list[dict], settings: list[str], figures: list[str]) -> list[str]:
    """The columns of a summary table: ``point``, the swept settings, the figures rows have,
    ``status`` (each once)."""
    have = {k for r in rows for k in r}
    cols = ["point", *settings, *figures, "status"]
    return [k for k in dict.fromkeys(cols) if k in have]

"""A small harness for simulating, converting and linting MyHDL blocks, shared by every test bench.

A bench builds its block and its stimulus generators inside :func:`in_thread`, gets the device
under test from :func:`device` — the MyHDL block itself (engine ``"myhdl"``) or the block converted
to Verilog, compiled by Icarus and run through ``myhdl.Cosimulation`` (engine ``"icarus"``) — and
runs it with a :func:`clock` through :func:`run`; the same stimulus thus checks both the MyHDL
description and the Verilog made from it.  :func:`convert` refuses any conversion warning;
:func:`lint` runs Verilator's ``--lint-only -Wall`` with the one waiver list :data:`LINT_WAIVERS`.
Every external tool is found and run through :mod:`codesign.eda.tools`.
"""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import myhdl._simulator as myhdl_simulator  # private: the process-wide list of signals
from myhdl import (
    Cosimulation,
    ResetSignal,
    Signal,
    SignalType,
    Simulation,
    always,
    delay,
)

from codesign.eda.tools import ToolError, myhdl_cosim_command, run_tool
from codesign.hdl import convert as _convert

__all__ = [
    "ENGINES",
    "LINT_WAIVERS",
    "ConversionWarnings",
    "LintWarnings",
    "in_thread",
    "convert",
    "device",
    "clock",
    "run",
    "tool_in_background",
    "lint",
]

T = TypeVar("T")
PathLike = str | os.PathLike[str]

ENGINES = ("myhdl", "icarus")
# WIDTH: MyHDL leaves sign extension and truncation to Verilog's context widths; the MyHDL
# simulation range-checks every narrowing assignment and co-simulation proves the Verilog equal.
LINT_WAIVERS = ("-Wno-WIDTH",)


class ConversionWarnings(RuntimeError):
    """MyHDL warned while converting a block; ``warnings`` holds the messages."""

    def __init__(self, name: str, messages: list[str]) -> None:
        super().__init__(f"converting {name!r} gave warnings:\n" + "\n".join(messages))
        self.warnings = messages


class LintWarnings(ToolError):
    """Verilator's lint reported warnings; ``warnings`` holds their first lines."""

    def __init__(self, message: str, found: list[str], stdout: str, stderr: str) -> None:
        super().__init__(message, stdout=stdout, stderr=stderr)
        self.warnings = found


def in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` in a fresh thread, ``fn`` doing all its MyHDL work itself (elaborate,
    simulate, convert) and returning plain results.  MyHDL calls ``inspect.stack()`` for every
    block and generator it elaborates, which costs time in proportion to the caller's stack (deep
    under pytest); a new thread starts with an empty one.  MyHDL also keeps every signal it ever
    made in a process-wide list that each simulation walks (twice): the signals ``fn`` made are
    dropped from it when ``fn`` returns, so that the simulations after a large design (an
    accelerator has some 40,000 signals) are not slowed down by it."""
    made = myhdl_simulator._signals
    before = len(made)
    try:
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(fn, *args, **kwargs).result()
    finally:
        del made[before:]


def convert(block_instance: Any, path: PathLike, name: str, **kw: Any) -> Path:
    """Convert ``block_instance`` to ``path/name.v`` by :func:`codesign.hdl.convert.convert` (with
    ``tb_name.v`` unless ``testbench=False``, and its ROMs' ``$readmemh`` files); any MyHDL
    warning raises :class:`ConversionWarnings`.  Returns the Verilog file."""
    Path(path).mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _convert.convert(block_instance, path, name, **kw)
    if caught:
        raise ConversionWarnings(name, [str(w.message) for w in caught])
    return Path(path) / f"{name}.v"


def _fresh(value: Any) -> Any:
    """A new signal (or list of signals) of the same type and initial value."""
    if isinstance(value, list):
        return [_fresh(v) for v in value]
    if isinstance(value, ResetSignal):
        return ResetSignal(value._init, active=value.active, isasync=value.isasync)
    if isinstance(value, SignalType):
        return Signal(copy.deepcopy(value._init))
    return value


def device(
    engine: str,
    make_block: Callable[..., Any],
    signals: dict[str, Any],
    path: PathLike,
    name: str,
    *,
    timeout: float = 120,
) -> Any:
    """The device under test on ``signals``: ``make_block(**signals)`` for ``"myhdl"``; for
    ``"icarus"``, the block converted (on fresh signals of the same types) to ``path/name.v``,
    compiled with ``iverilog -g2005`` against MyHDL's test bench ``tb_name.v`` and run by
    ``myhdl.Cosimulation`` (``vvp -m myhdl.vpi`` in ``path``) on ``signals``."""
    if engine == "myhdl":
        return make_block(**signals)
    if engine != "icarus":
        raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
    convert(make_block(**{k: _fresh(v) for k, v in signals.items()}), path, name)
    sources = [f"{name}.v", f"tb_{name}.v"]
    run_tool(
        "iverilog",
        ["-g2005", "-s", f"tb_{name}", "-o", f"{name}.vvp", *sources],
        cwd=path,
        timeout=timeout,
    )
    return Cosimulation(myhdl_cosim_command(Path(path) / f"{name}.vvp", path), **signals)


def clock(clk: Any, half_period: int = 5) -> Any:
    """A generator toggling ``clk`` every ``half_period`` time steps (first edge: rising)."""

    @always(delay(half_period))
    def toggle():
        clk.next = not clk

    return toggle


def run(*instances: Any) -> None:
    """Simulate ``instances`` (blocks, generators, a ``Cosimulation``) until ``StopSimulation``."""
    Simulation(*instances).run(quiet=1)


@contextmanager
def tool_in_background(
    name: str, args: Sequence[PathLike], *, cwd: PathLike, timeout: float
) -> Iterator[Future]:
    """``run_tool(name, args)`` in a background thread, e.g. a slow synthesis overlapping the
    simulations: yields its future, waits for it on exit.  The tool gets a copy of the
    environment: ``myhdl.Cosimulation`` sets environment variables in the meantime, and a program
    started from the process environment while that changes may fail to start ("Bad address")."""
    with ThreadPoolExecutor(1) as pool:
        yield pool.submit(run_tool, name, args, cwd=cwd, timeout=timeout, env={})


def lint(
    verilog_files: Sequence[PathLike],
    top: str | None,
    cwd: PathLike,
    *,
    also_waive: Sequence[str] = (),
    check: bool = True,
    timeout: float = 120,
) -> list[str]:
    """``verilator --lint-only -Wall`` with :data:`LINT_WAIVERS` on ``verilog_files`` (top module
    ``top``, or Verilator's choice if ``None``), run in ``cwd``; ``also_waive`` names further
    warnings this design may give (``"UNUSEDSIGNAL"``).  Returns the warnings (their
    ``%Warning-…`` lines); with ``check``, any warning raises :class:`LintWarnings` showing the
    whole report.  An error that is not a warning raises :class:`~codesign.eda.tools.ToolError`."""
    args = ["--lint-only", "-Wall", "-Wno-fatal", *LINT_WAIVERS, *(f"-Wno-{w}" for w in also_waive)]
    if top is not None:
        args += ["--top-module", top]
    proc = run_tool("verilator", [*args, *verilog_files], cwd=cwd, timeout=timeout)
    output = proc.stderr + proc.stdout
    found = [line for line in output.splitlines() if line.startswith("%Warning")]
    if found and check:
        raise LintWarnings(
            f"verilator lint of {top or verilog_files} gave {len(found)} warnings:\n{output}",
            found,
            proc.stdout,
            proc.stderr,
        )
    return found

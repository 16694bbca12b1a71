"""The ``codesign`` command: the platform's own commands, and each system's mounted beside them.

This module is the one composition root: it alone may import every system (the layering test
allows it).  Commands import their stage modules only when they run.
"""

from __future__ import annotations

from pathlib import Path

import click

from codesign.command import board_option, friendly, rtl_option
from codesign.mlp.commands import COMMANDS as MLP_COMMANDS
from codesign.progress import console
from codesign.specbp.commands import COMMANDS as SPECBP_COMMANDS
from codesign.spectral.commands import COMMANDS as SPECTRAL_COMMANDS

__all__ = ["main"]


@click.group()
@click.version_option(package_name="codesign")
def main():
    """Hardware/software co-design of sparse neural-network accelerators for FPGAs."""


@main.command("synth")
@rtl_option
@board_option
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="report directory (default: a 'synth' directory beside --rtl)",
)
@friendly
def synth_cmd(rtl_dir, board_name, out):
    """yosys synth_xilinx (out of context): resources against the board and the map estimate."""
    from codesign.eda.synth import synthesise_and_print

    synthesise_and_print(rtl_dir, board_name, out)


@main.command("export")
@rtl_option
@board_option
@click.option("--vivado", is_flag=True, help="non-project Vivado TCL, XDC and build.sh")
@click.option("--fusesoc", is_flag=True, help="FuseSoC CAPI2 core")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="output directory (default: an 'export' directory beside --rtl)",
)
@friendly
def export_cmd(rtl_dir, board_name, vivado, fusesoc, out):
    """Export the generated accelerator to Vivado and/or FuseSoC (both when neither is given)."""
    from codesign.eda.export import export

    if not vivado and not fusesoc:
        vivado = fusesoc = True
    r = export(rtl_dir, board_name, out, vivado=vivado, fusesoc=fusesoc)
    if r.get("vivado"):
        v = r["vivado"]
        console.print(
            f"Vivado: {v['dir']}/build.sh (non-project flow, part {v['part']}, clock "
            f"{v['clock_period_ns']} ns)"
        )
    if r.get("fusesoc"):
        f = r["fusesoc"]
        console.print(f"FuseSoC: {f['core']} ({f['vlnv']}); simulate with: {f['sim_command']}")
    console.print(f"export: {r['dir']}")


@main.command("boards")
@friendly
def boards_cmd():
    """List the bundled boards: part, capacity and target clock."""
    from codesign.eda.boards import boards_dir, list_boards, load_board

    for name in list_boards():
        b = load_board(name)
        cap = ", ".join(f"{k.upper()} {v:g}" for k, v in b.capacity().items())
        console.print(f"{name:14s} {b.part:22s} {b.target_clock_mhz:g} MHz; {cap}")
    console.print(f"boards: {boards_dir()} (or pass a path to your own .toml)")


def _sweep_systems() -> dict:
    """Each system's sweep planner (``plan``, ``TITLE``, ``PLOTS``, ``FIGURES``), by the name a
    sweep file's ``[sweep] system`` gives."""
    from codesign.mlp import sweep as mlp_sweep
    from codesign.spectral import sweep as spectral_sweep

    return {"spectral": spectral_sweep, "mlp": mlp_sweep}


@main.command("sweep")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--scheduler",
    default=None,
    metavar="tcp://HOST:PORT",
    help="a running Dask scheduler (default: a local cluster of worker processes)",
)
@click.option(
    "--workers",
    type=click.IntRange(1),
    default=None,
    help="local cluster: worker processes (default: [sweep] workers, else one per core)",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="output directory (default: the file's [sweep] out, else build/sweep)",
)
@friendly
def sweep_cmd(config, scheduler, workers, out):
    """Run many design points through a system's stages on Dask (docs/sweep.md): one results
    table and a report with the Pareto fronts per board."""
    from rich.table import Table

    from codesign.sweep import (
        SweepError,
        read_sweep,
        run_sweep,
        summary_columns,
        write_results,
        write_sweep_report,
    )

    sf = read_sweep(config)
    systems = _sweep_systems()
    if sf.system not in systems:
        raise SweepError(
            f"{config}: [sweep] system = {sf.system!r}; use one of {', '.join(sorted(systems))}"
        )
    mod = systems[sf.system]
    out = out or sf.out
    tasks, points = mod.plan(sf.points, sf.base, out, where=str(config))
    console.print(f"sweep: {len(points)} design points, {len(tasks)} tasks ({sf.system}) -> {out}")

    def done(task, status, what):
        if status == "ok":
            console.print(f"  done   {task.label} ({what['status']}, {what['seconds']:.1f} s)")
        else:
            console.print(f"  FAILED {task.label}: {what}")

    rows = run_sweep(
        tasks, points, scheduler=scheduler, workers=workers or sf.workers, on_done=done
    )
    csv_path, _ = write_results(out, rows)
    report = write_sweep_report(Path(out) / "report", rows, mod.TITLE, mod.PLOTS)
    swept = list(dict.fromkeys(k for p in sf.points for k in p))
    cols = summary_columns(rows, swept, mod.FIGURES)
    t = Table(title=f"{mod.TITLE}: {len(rows)} points")
    for c in cols:
        t.add_column(c, justify="right")
    for r in rows:
        t.add_row(*[_cell(r.get(c)) for c in cols])
    console.print(t)
    console.print(f"results: {csv_path}; report: {report}")
    failed = [r for r in rows if r["status"] != "ok"]
    for r in failed:
        console.print(f"point {r['point']} failed: {r['error']}")
    if failed:
        raise SweepError(f"{len(failed)} of {len(rows)} design points failed (see {csv_path})")


def _cell(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1000 else f"{v:,.0f}"
    return "" if v is None else str(v)


for _command in SPECTRAL_COMMANDS + MLP_COMMANDS + SPECBP_COMMANDS:
    main.add_command(_command)

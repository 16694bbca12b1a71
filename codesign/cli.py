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


for _command in SPECTRAL_COMMANDS + MLP_COMMANDS:
    main.add_command(_command)

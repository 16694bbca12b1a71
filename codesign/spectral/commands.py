"""The spectral system's commands: prune, inspect, map, generate, cosim, flow, report.

Each command parses its flags and calls a stage function (:mod:`codesign.spectral.steps`); the
stage modules are imported only when a command runs, so ``codesign --help`` and the platform's
commands stay fast and never import cvxpy or matplotlib.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from codesign.command import DEFAULT_BUILD, board_option, friendly, rtl_option
from codesign.progress import console
from codesign.spectral.steps import STAGES, flow_options, prune_settings, settings_from

__all__ = ["COMMANDS"]

_PATH_DIR = click.Path(file_okay=False, path_type=Path)


def _model_option(fn):
    return click.option(
        "--model",
        "model_dir",
        type=_PATH_DIR,
        default=None,
        help="the model artifact, when not where the schedule or manifest records it "
        "(its model.json must still have the recorded sha256)",
    )(fn)


@click.command("prune")
@flow_options("prune")
@click.option("--quiet", is_flag=True, help="no progress bars")
@click.option("--out", type=_PATH_DIR, default=DEFAULT_BUILD / "model", show_default=True)
@friendly
def prune_cmd(out, quiet, **kw):
    """Train the spectral LeNet, prune it with ADMM, retrain, quantise; write a model artifact."""
    from codesign.spectral.steps import run_prune

    s = settings_from(kw)
    run_prune(out, prune_settings(s), s.data_dir, quiet)


@click.command("inspect")
@click.argument("model_dir", type=click.Path(path_type=Path))
@friendly
def inspect_cmd(model_dir):
    """Validate a model artifact and print its summary."""
    from codesign.spectral.model import load_model
    from codesign.spectral.network import weight_key

    model = load_model(model_dir)
    for layer in model.layers:
        m = model.masks.get(weight_key(layer))
        dens = f"{m.mean():.2%}" if m is not None else "100% (dense)"
        console.print(f"{layer['name']:6s} {layer['type']:14s} density {dens}")
    console.print(f"accuracy: {model.metrics['accuracy']}")


@click.command("flow")
@flow_options()
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="TOML file with [prune] [map] [generate] [cosim] [synth] [flow] settings",
)
@click.option("--force", is_flag=True, help="run every stage, even those that are up to date")
@click.option(
    "--until",
    type=click.Choice(STAGES),
    default="report",
    show_default=True,
    help="stop after this stage",
)
@friendly
def flow_cmd(config_file, force, until, **kw):
    """Run everything on the default: prune → map → generate → cosim → synth → report.

    Stages whose inputs and outputs have not changed since they last ran are skipped."""
    from codesign.spectral.steps import run_flow

    run_flow(settings_from(kw, config_file), force=force, until=until)


@click.command("map")
@click.option(
    "--model",
    "model_arg",
    default=str(DEFAULT_BUILD / "model"),
    show_default=True,
    help="model artifact directory from `codesign prune`, or 'vgg16' (synthetic masks)",
)
@board_option
@click.option("--out", type=_PATH_DIR, default=None, help="write the schedule artifact here")
@click.option(
    "--density",
    type=click.FloatRange(0, 1, min_open=True),
    default=0.25,
    show_default=True,
    help="VGG16 only: density of the synthetic masks",
)
@click.option("--seed", type=int, default=0, show_default=True, help="VGG16 only: mask seed")
@click.option(
    "--arch",
    "arch_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="TOML file forcing architecture fields ([all], [layers.NAME])",
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="LAYER.FIELD=VALUE",
    help="force one architecture field, e.g. conv2.pes=4 (LAYER may be 'all')",
)
@click.option(
    "--max-dsp",
    type=click.IntRange(1),
    default=None,
    help="budget: the design may use at most this many DSP48E1 (compare designs at equal cost)",
)
@click.option(
    "--max-bram36",
    type=click.IntRange(1),
    default=None,
    help="budget: at most this many block RAMs (RAMB36 equivalents)",
)
@click.option("--quiet", is_flag=True)
@friendly
def map_cmd(model_arg, board_name, out, density, seed, arch_file, sets, max_dsp, max_bram36, quiet):
    """Schedule the sparse kernels onto PEs and banks; model cycles and resources on a board."""
    from codesign.spectral.steps import run_map

    budget = {k: v for k, v in (("dsp", max_dsp), ("bram36", max_bram36)) if v is not None}
    run_map(model_arg, board_name, out, density, seed, arch_file, sets, quiet, budget)


@click.command("generate")
@click.option(
    "--schedule",
    "schedule_dir",
    type=_PATH_DIR,
    default=DEFAULT_BUILD / "schedule",
    show_default=True,
    help="schedule artifact from `codesign map`",
)
@click.option(
    "--layer",
    default=None,
    help="build only this spectral conv layer's engine (default: the whole network)",
)
@click.option(
    "--out",
    type=_PATH_DIR,
    default=None,
    help="output directory (default rtl_out/accel, or rtl_out/LAYER)",
)
@click.option(
    "--top",
    default="codesign_accel",
    show_default=True,
    help="Verilog module name of the whole accelerator",
)
@click.option(
    "--pixels-per-beat",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="pixels per s_axis beat (s_axis_tdata is 8 × this wide)",
)
@_model_option
@friendly
def generate_cmd(schedule_dir, layer, out, top, pixels_per_beat, model_dir):
    """Build the accelerator (or one layer engine) in MyHDL and convert it to Verilog."""
    from codesign.spectral.generate import generate_layer
    from codesign.spectral.steps import run_generate

    if layer is None:
        run_generate(
            schedule_dir, out or Path("rtl_out") / "accel", top, pixels_per_beat, model_dir
        )
        return
    t0 = time.perf_counter()
    out = out or Path("rtl_out") / layer
    man = generate_layer(schedule_dir, layer, out, model_dir)
    e = man["expected_cycles"]
    console.print(
        f"{layer}: {man['top']}.v, {len(man['memory_images'])} kernel memory images, "
        f"manifest.json -> {out} ({time.perf_counter() - t0:.1f} s)"
    )
    console.print(
        f"expected (timing model): latency {e['latency']} clocks, one image every "
        f"{e['interval']} clocks"
    )


@click.command("cosim")
@rtl_option
@click.option(
    "--images",
    type=click.IntRange(1),
    default=None,
    help="how many images: default 10 of the bundled test set, or every image of --inputs",
)
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="MNIST IDX directory instead of the bundled set",
)
@click.option(
    "--inputs",
    "inputs",
    type=click.Path(dir_okay=False),
    default=None,
    help="your own images: .npy (uint8 N×28×28) or .npz with 'images' [+ 'labels']",
)
@click.option(
    "--simulator",
    type=click.Choice(["verilator", "icarus"]),
    default="verilator",
    show_default=True,
    help="accelerator: simulator running the Verilog test bench",
)
@click.option(
    "--gap-in",
    type=click.IntRange(0, 90),
    default=0,
    show_default=True,
    help="percent of clocks with s_axis_tvalid low (random, seeded)",
)
@click.option(
    "--gap-out",
    type=click.IntRange(0, 90),
    default=0,
    show_default=True,
    help="percent of clocks with m_axis_tready low (random, seeded)",
)
@click.option("--seed", type=int, default=1, show_default=True, help="seed of the gaps")
@click.option(
    "--reset-at",
    type=click.IntRange(2),
    default=None,
    help="pulse aresetn low at this clock edge, then stream every image again",
)
@click.option(
    "--jobs", type=click.IntRange(1), default=None, help="parallel simulations (default: CPU count)"
)
@click.option(
    "--report",
    "report_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="also write the report as JSON",
)
@click.option(
    "--schedule",
    "schedule_dir",
    type=_PATH_DIR,
    default=DEFAULT_BUILD / "schedule",
    show_default=True,
    help="single-layer engines only: their schedule artifact",
)
@click.option(
    "--engine",
    type=click.Choice(["fast", "icarus", "myhdl"]),
    default="fast",
    show_default=True,
    help="single-layer engines only: fast: plain Icarus from "
    "files; icarus: MyHDL Cosimulation of the Verilog; myhdl: the MyHDL model",
)
@click.option(
    "--vcd", type=click.Path(dir_okay=False), default=None, help="write a waveform of the whole run"
)
@click.option("--quiet", is_flag=True)
@_model_option
@friendly
def cosim_cmd(rtl_dir, images, data_dir, inputs, report_file, schedule_dir, engine, **options):
    """Run images through the generated Verilog and compare with the fixed-point model."""
    from codesign.eda.manifest import ACCELERATOR, read_manifest
    from codesign.spectral.cosim import CosimError, verdict

    man = read_manifest(rtl_dir, error=CosimError)
    if man.kind == ACCELERATOR:
        from codesign.spectral.steps import run_cosim

        r = run_cosim(rtl_dir, images, data_dir, inputs, **options)
        if report_file:
            from codesign.artifacts import write_json

            write_json(report_file, r)
    else:
        if inputs is not None:
            raise CosimError(
                "--inputs needs a whole accelerator (`codesign generate` without --layer)"
            )
        images = images or 10
        r = _cosim_layer(rtl_dir, schedule_dir, images, data_dir, engine, options["vcd"])
    failed = verdict(r)
    if failed:
        raise CosimError(f"{rtl_dir}: {failed}")


def _cosim_layer(rtl_dir, schedule_dir, images, data_dir, engine, vcd) -> dict:
    from codesign.data import load
    from codesign.spectral.cosim import cosim_layer

    data = load(data_dir, seed=0)
    t0 = time.perf_counter()
    r = cosim_layer(rtl_dir, schedule_dir, data.test_x[:images], engine=engine, vcd=vcd)
    secs = time.perf_counter() - t0
    console.print(
        f"{r['layer']} on {r['images']} images ({engine}): {r['outputs']}/"
        f"{r['expected']} outputs, bit-exact: {'yes' if r['bit_exact'] else 'NO'}; "
        f"{r['cycles']} clocks in {secs:.1f} s ({r['cycles'] / secs:,.0f} clocks/s)"
    )
    m, t = r["marks"], r["timing"]
    console.print(
        f"first output at clock {m['out_first'][0]} (model {t['model']['out_first'][0]}), "
        f"last at {m['out_last'][-1]} (model {t['model']['out_last'][-1]}): "
        f"{'equal to' if t['exact'] else 'DIFFERENT FROM'} the timing model"
    )
    return r


@click.command("report")
@click.option(
    "--build",
    "build_dir",
    type=_PATH_DIR,
    default=DEFAULT_BUILD,
    show_default=True,
    help="the flow's artifact directory (model, schedule, cosim.json, synth)",
)
@click.option("--out", type=_PATH_DIR, default=None, help="report directory (default BUILD/report)")
@friendly
def report_cmd(build_dir, out):
    """Markdown report with plots: what pruning bought, from the stage artifacts."""
    from codesign.spectral.steps import run_report

    run_report(
        out or build_dir / "report",
        build_dir / "model",
        build_dir / "schedule",
        build_dir / "cosim.json",
        build_dir / "synth",
    )


COMMANDS = (prune_cmd, inspect_cmd, map_cmd, generate_cmd, cosim_cmd, flow_cmd, report_cmd)

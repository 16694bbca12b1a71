"""``codesign mlp``: train, explore, map and inspect pre-defined sparse MLP trainers.

Each command parses its flags and calls a stage (:mod:`codesign.mlp.steps`), imported only when
the command runs.
"""

from __future__ import annotations

from pathlib import Path

import click

from codesign.command import DEFAULT_BUILD, board_option, friendly
from codesign.progress import console

__all__ = ["COMMANDS"]

_DIR = click.Path(file_okay=False, path_type=Path)


def _int_list(ctx, param, value):
    if value is None:
        return None
    if param.name == "z" and value == "auto":
        return "auto"
    try:
        return [int(x) for x in value.split(",")]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}") from None


def _settings_options(fn):
    for opt in reversed(
        [
            click.option(
                "--config",
                "config_file",
                type=click.Path(dir_okay=False, path_type=Path),
                default=None,
                help="TOML file with [network] [train] [map] settings",
            ),
            click.option("--layers", callback=_int_list, help="neurons per layer, e.g. 1024,64,32"),
            click.option("--fo", callback=_int_list, help="fan-out per junction, e.g. 4,16"),
            click.option(
                "--z", callback=_int_list, help="edges per clock per junction, or 'auto' (board)"
            ),
            click.option("--board", "board_name", default=None, help="board for z = auto"),
            click.option("--seed", type=int, default=None, help="initial-weight seed"),
        ]
    ):
        fn = opt(fn)
    return fn


def _read(config_file, layers, fo, z, board_name, seed):
    from codesign.mlp.settings import read_settings

    return read_settings(
        config_file,
        **{
            "network.layers": layers,
            "network.fo": fo,
            "network.z": z,
            "map.board": board_name,
            "train.seed": seed,
        },
    )


def _epoch_table(meta: dict):
    from rich.table import Table

    t = Table(title="online training (accuracy on the test images after each epoch)")
    for col in ("epoch", "η", "float train", "float test", "fixed train", "fixed test"):
        t.add_column(col, justify="right")
    for f, x in zip(meta["float"]["epochs"], meta["fixed"]["epochs"]):
        t.add_row(
            str(f["epoch"]),
            f"2^-{f['eta_exponent']}",
            f"{f['train_accuracy']:.2%}",
            f"{f['test_accuracy']:.2%}",
            f"{x['train_accuracy']:.2%}",
            f"{x['test_accuracy']:.2%}",
        )
    return t


def _junction_lines(meta: dict):
    for i, j in enumerate(meta["junctions"]):
        il = j["interleaver"]
        console.print(
            f"junction {i + 1}: {j['n_left']}→{j['n_right']}  fo {j['fo']}  fi {j['fi']}  "
            f"z {j['z']}  {j['edges']} edges ({j['density']:.2%} dense), {j['clocks']} clocks; "
            f"interleaver {il['kind']} (seed {il['seed']}"
            f"{', dither' if il['dither'] else ''}) clash-free; "
            f"{j['dead_right_neurons']} right neurons fed only by zero padding"
        )


@click.group("mlp")
def mlp_group():
    """Pre-defined sparse MLPs with clash-free connectivity, trained online in the fixed point
    of an on-chip trainer."""


@mlp_group.command("train")
@_settings_options
@click.option("--out", type=_DIR, default=DEFAULT_BUILD / "mlp", show_default=True)
@click.option("--quiet", is_flag=True, help="no progress bar")
@friendly
def train_cmd(config_file, layers, fo, z, board_name, seed, out, quiet):
    """Train the network online in float and in fixed point; write a network artifact."""
    from codesign.mlp.steps import run_train

    meta = run_train(_read(config_file, layers, fo, z, board_name, seed), out, quiet)
    _junction_lines(meta)
    console.print(_epoch_table(meta))
    sat = meta["fixed"]["saturations"]
    console.print(
        "fixed-point saturations: "
        + (", ".join(f"{k} {v:,}" for k, v in sat.items() if v) or "none")
    )
    d = meta["design"]
    console.print(
        f"design: z {d['z']}, {d['clocks_per_input']} clocks per input; "
        f"float {meta['float']['test_accuracy']:.2%}, fixed {meta['fixed']['test_accuracy']:.2%} "
        f"on {meta['data']['test_images']} test images "
        f"({meta['seconds']['float']:.1f} s float, {meta['seconds']['fixed']:.1f} s fixed)"
    )
    console.print(f"network: {out}")


@mlp_group.command("explore")
@_settings_options
@click.option("--margin", type=float, default=None, help="fraction of each resource usable")
@click.option("--max-dsp", type=int, default=None, help="DSP48 budget")
@click.option("--up-in-dsp", is_flag=True, default=None, help="update multipliers in DSP48")
@friendly
def explore_cmd(config_file, layers, fo, z, board_name, seed, margin, max_dsp, up_in_dsp):
    """Every z per junction: clocks per input against resources; the fastest that fits."""
    from rich.table import Table

    from codesign.eda.boards import load_board
    from codesign.mlp.cost import Budget, explore
    from codesign.mlp.settings import read_settings

    s = read_settings(
        config_file,
        **{
            "network.layers": layers,
            "network.fo": fo,
            "map.board": board_name,
            "map.margin": margin,
            "map.max_dsp": max_dsp,
            "map.up_in_dsp": up_in_dsp,
        },
    )
    r = explore(
        s.network.layers,
        s.network.fo,
        load_board(s.map.board),
        Budget(s.map.margin, s.map.max_dsp),
        s.map.up_in_dsp,
    )
    t = Table(
        title=f"clocks per input vs resources on {r['board']} (front of {r['points']} designs)"
    )
    for col in ("z", "clocks/input", "DSP", "RAMB18", "LUT", "FF", "fits"):
        t.add_column(col, justify="right")
    for p in r["front"]:
        mark = "chosen" if p["z"] == r["chosen"]["z"] else ("yes" if p["fits"] else "no")
        t.add_row(
            ",".join(map(str, p["z"])),
            str(p["clocks_per_input"]),
            str(p["dsp"]),
            str(p["bram18"]),
            f"{p['lut']:,}",
            f"{p['ff']:,}",
            mark,
        )
    console.print(t)
    lim = r["limits"]
    console.print(
        f"limits ({r['margin']:.0%} of the board): DSP {lim['dsp']}, LUT {lim['lut']:,}, "
        f"RAMB18 {lim['bram18']}, FF {lim['ff']:,}"
    )


@mlp_group.command("map")
@click.argument("network_dir", type=_DIR)
@board_option
@click.option("--margin", type=float, default=0.8, show_default=True)
@click.option("--max-dsp", type=int, default=None)
@click.option("--up-in-dsp", is_flag=True)
@click.option("--out", type=_DIR, default=DEFAULT_BUILD / "mlp-map", show_default=True)
@friendly
def map_cmd(network_dir, board_name, margin, max_dsp, up_in_dsp, out):
    """Cycle model and resources of a trained network's trainer on a board (map.json)."""
    from codesign.mlp.cost import Budget
    from codesign.mlp.settings import SettingsError
    from codesign.mlp.steps import run_map

    if not 0 < margin <= 1:
        raise SettingsError(f"--margin must be in (0, 1], got {margin}")
    doc = run_map(network_dir, board_name, out, Budget(margin, max_dsp), up_in_dsp)
    r, c = doc["resources"], doc["cycles"]
    console.print(
        f"{doc['board']['name']}: {c['clocks_per_input']} clocks per input "
        f"({c['inputs_per_second']:,.0f} inputs/s at {doc['board']['target_clock_mhz']:g} MHz); "
        f"DSP {r['dsp']}, RAMB18 {r['bram18']}, LUT {r['lut']:,}, FF {r['ff']:,}; "
        f"{'fits' if doc['fits'] else 'does NOT fit'} within {margin:.0%}"
    )
    console.print(f"map: {out}/map.json")


@mlp_group.command("inspect")
@click.argument("network_dir", type=click.Path(path_type=Path))
@friendly
def inspect_cmd(network_dir):
    """Validate a network artifact (edge orders proved clash-free again) and summarise it."""
    from codesign.mlp.artifact import load_network

    art = load_network(network_dir)
    m = art.meta
    console.print(f"layers {m['layers']}, {m['activation']}, schedule {m['schedule']}")
    _junction_lines(m)
    console.print(_epoch_table(m))
    sat = m["fixed"]["saturations"]
    console.print(
        "fixed-point saturations: "
        + (", ".join(f"{k} {v:,}" for k, v in sat.items() if v) or "none")
    )
    console.print(f"clocks per input: {m['design']['clocks_per_input']}")


@mlp_group.command("generate")
@click.argument("network_dir", type=_DIR)
@click.option("--out", type=_DIR, default=Path("rtl_out") / "mlp", show_default=True)
@click.option("--top", default="codesign_mlp_trainer", show_default=True)
@click.option("--pixels-per-beat", type=click.IntRange(1), default=32, show_default=True)
@click.option(
    "--speculative",
    is_flag=True,
    help="the speculating trainer (sequential and speculative schedules)",
)
@friendly
def generate_cmd(network_dir, out, top, pixels_per_beat, speculative):
    """Generate the on-chip trainer of a network artifact: Verilog, bench, manifest."""
    import time

    from codesign.mlp.generate import generate_trainer

    t0 = time.perf_counter()
    man = generate_trainer(network_dir, out, top, pixels_per_beat, speculative)
    c = man["cycle_model"]
    console.print(
        f"generate: {top}.v, {man['testbench']['file']}, manifest.json -> {out} "
        f"({time.perf_counter() - t0:.1f} s); {c['clocks_per_input']} clocks per input, "
        f"{man['stream']['beats_per_input']} beats of {pixels_per_beat} pixels per input; "
        f"the {man['trainer']} trainer runs {' and '.join(man['schedules'])}"
    )


@mlp_group.command("cosim")
@click.option("--rtl", "rtl_dir", type=_DIR, default=Path("rtl_out") / "mlp", show_default=True)
@click.option("--network", "network_dir", type=_DIR, default=None, help="default: the manifest's")
@click.option("--epochs", type=click.IntRange(1), default=1, show_default=True)
@click.option("--inputs", type=click.IntRange(1), default=None, help="default: all training images")
@click.option("--test-images", type=click.IntRange(0), default=0, show_default=True)
@click.option("--gap-in", type=click.IntRange(0, 99), default=0)
@click.option("--gap-out", type=click.IntRange(0, 99), default=0)
@click.option("--seed", type=int, default=1)
@click.option("--simulator", type=click.Choice(["verilator", "icarus"]), default="verilator")
@click.option(
    "--schedule",
    type=click.Choice(["pipelined", "sequential", "speculative"]),
    default=None,
    help="default: the trainer's first (pipelined, or sequential on the speculating trainer)",
)
@click.option(
    "--threshold", type=click.FloatRange(0, 1), default=0.25, show_default=True,
    help="speculative: the mean output distance that still hits",
)  # fmt: skip
@click.option("--report", "report_file", type=click.Path(dir_okay=False, path_type=Path))
@friendly
def cosim_cmd(
    rtl_dir, network_dir, epochs, inputs, test_images, gap_in, gap_out, seed, simulator,
    schedule, threshold, report_file,
):  # fmt: skip
    """Train in the RTL epoch by epoch; every prediction and weight against the model."""
    from codesign.artifacts import write_json
    from codesign.mlp.cosim import cosim_trainer
    from codesign.mlp.generate import read_manifest

    if schedule is None:
        schedule = read_manifest(rtl_dir).get("schedules", ["pipelined"])[0]
    r = cosim_trainer(
        rtl_dir,
        network_dir=network_dir,
        schedule=schedule,
        threshold=threshold,
        epochs=epochs,
        inputs=inputs,
        test_images=test_images,
        gap_in=gap_in,
        gap_out=gap_out,
        seed=seed,
        simulator=simulator,
    )
    for e in r["epochs"]:
        console.print(
            f"epoch {e['epoch']} (η 2^-{e['eta_exponent']}): {r['inputs']} inputs, "
            f"{e['words_bit_exact']} weights and biases bit-exact, predictions equal "
            f"(online accuracy {e['online_accuracy_rtl']:.2%}), {r['schedule']} schedule; "
            + (
                f"{e['mean_clocks_per_input_rtl']:.1f} clocks per input on average"
                + (", every input's equal to the cycle model" if r["clocks_checked"] else "")
                if e["mean_clocks_per_input_rtl"] is not None
                else "one input"
            )
            + (
                f"; {e['hit_rate_model']:.2%} hits at threshold {r['threshold']}"
                if e["hit_rate_model"] is not None
                else ""
            )
        )
    if "test_accuracy_rtl" in r:
        console.print(
            f"test images: RTL accuracy {r['test_accuracy_rtl']:.2%} = model "
            f"{r['test_accuracy_model']:.2%}"
        )
    console.print(
        f"{r['clocks']:,} clocks in {r['wall_seconds']:.1f} s ({r['clocks_per_second']:,.0f} "
        f"clocks/s, {r['inputs_per_second_simulated']:,.0f} inputs/s simulated)"
    )
    if report_file:
        write_json(report_file, r)


@mlp_group.command("flow")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="TOML with [network] [train] [map] [generate] [cosim] [synth] [flow]",
)
@click.option("--out", default=None, help="directory of every artifact (default [flow] out)")
@click.option("--force", is_flag=True, help="run every stage, even those up to date")
@click.option(
    "--until",
    type=click.Choice(["train", "map", "generate", "cosim", "synth", "report"]),
    default="report",
    show_default=True,
)
@click.option("--quiet", is_flag=True)
@friendly
def flow_cmd(config_file, out, force, until, quiet):
    """train → map → generate → cosim (RTL training) → synth → report, resumable."""
    from rich.table import Table

    from codesign.mlp.settings import read_settings
    from codesign.mlp.steps import run_flow

    s = read_settings(config_file, **{"flow.out": out})
    rows = run_flow(s, force=force, until=until, quiet=quiet)
    t = Table(title=f"mlp flow -> {s.flow.out}")
    for col in ("stage", "status", "time", "result"):
        t.add_column(col)
    for r in rows:
        t.add_row(r["step"], r["status"], f"{r['seconds']:.0f} s", r["summary"])
    console.print(t)


COMMANDS = (mlp_group,)

"""The ``codesign`` command: one sub-command per stage, plus ``flow`` that chains them."""

from __future__ import annotations

import functools
import time
from dataclasses import replace
from pathlib import Path

import click
from rich.table import Table

from codesign.data import DataError, load
from codesign.eda.boards import BoardError, load_board
from codesign.eda.tools import ToolError
from codesign.progress import console
from codesign.spectral.arch import ArchError, load_overrides, parse_overrides
from codesign.spectral.dse import FitError, explore_sequential
from codesign.spectral.generate import GenerateError
from codesign.spectral.model import ModelError, load_model, save_model
from codesign.spectral.prune import PruneSettings, prune

__all__ = ["main"]

DEFAULT_BUILD = Path("build")


def _friendly(fn):
    """Turn the toolkit's own errors into a one-paragraph message and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*a, **kw):
        try:
            return fn(*a, **kw)
        except (
            DataError,
            ModelError,
            ToolError,
            BoardError,
            ArchError,
            FitError,
            GenerateError,
            ValueError,
            OSError,
        ) as e:
            raise click.ClickException(str(e)) from None

    return wrapper


def _prune_table(model) -> Table:
    acc = model.metrics["accuracy"]
    t = Table(title="prune: spectral LeNet-5", title_justify="left")
    t.add_column("layer")
    t.add_column("weights", justify="right")
    t.add_column("non-zero", justify="right")
    t.add_column("density", justify="right")
    for layer in model.layers:
        m = model.metrics["layers"][layer["name"]]
        t.add_row(layer["name"], str(m["weights"]), str(m["nonzero"]), f"{m['density']:.2%}")
    a = Table(title="accuracy on the test images", title_justify="left")
    a.add_column("model")
    a.add_column("accuracy", justify="right")
    for k in ("dense", "admm_before_retrain", "pruned", "fixed_point"):
        a.add_row(k.replace("_", " "), f"{acc[k]:.2%}")
    outer = Table.grid(padding=(0, 4))
    outer.add_row(t, a)
    return outer


def run_prune(out: Path, settings: PruneSettings, data_dir, quiet: bool):
    data = load(data_dir, seed=settings.seed)
    model = prune(data, settings, quiet=quiet)
    save_model(model, out)
    console.print(_prune_table(model))
    secs = model.metrics["seconds"]
    console.print(
        f"data: {data.name} ({data.n_train} train / {data.n_test} test); "
        f"time: dense {secs['train_dense']:.0f} s, ADMM {secs['admm']:.1f} s, "
        f"retrain {secs['retrain']:.0f} s; saturations: "
        f"{sum(model.metrics['saturations'].values())}"
    )
    console.print(f"model artifact: {out}")
    return model


@click.group()
@click.version_option(package_name="codesign")
def main():
    """Hardware/software co-design of sparse spectral CNN accelerators for FPGAs."""


def _prune_options(f):
    opts = [
        click.option(
            "--density",
            type=click.FloatRange(0, 1, min_open=True),
            default=0.25,
            show_default=True,
            help="fraction of spectral weights kept per conv layer",
        ),
        click.option(
            "--dense-density",
            type=click.FloatRange(0, 1, min_open=True),
            default=1.0,
            show_default=True,
            help="fraction of dense-layer weights kept",
        ),
        click.option(
            "--layer-density",
            multiple=True,
            metavar="NAME=D",
            help="per-layer density overriding the model-wide ones, e.g. fc1=0.5",
        ),
        click.option(
            "--balanced/--unbalanced",
            default=True,
            show_default=True,
            help="same number of non-zeros in every kernel (helps the scheduler)",
        ),
        click.option("--epochs", type=click.IntRange(1), default=12, show_default=True),
        click.option("--retrain-epochs", type=click.IntRange(0), default=4, show_default=True),
        click.option("--admm-iterations", type=click.IntRange(1), default=24, show_default=True),
        click.option(
            "--data",
            "data_dir",
            type=click.Path(file_okay=False),
            default=None,
            help="directory with the four MNIST IDX files (default: bundled 5k subset)",
        ),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--quiet", is_flag=True, help="no progress bars"),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def _layer_densities(items) -> dict:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            d = float(value)
        except ValueError:
            d = -1.0
        if not sep or not name or not 0.0 < d <= 1.0:
            raise click.BadParameter(
                f"'{item}': expected NAME=D with D in (0, 1], e.g. fc1=0.5",
                param_hint="--layer-density",
            )
        out[name] = d
    return out


def _settings(
    density, dense_density, layer_density, balanced, epochs, retrain_epochs, admm_iterations, seed
):
    s = PruneSettings(
        density=density,
        dense_density=dense_density,
        layer_density=_layer_densities(layer_density),
        balanced=balanced,
        epochs=epochs,
        retrain_epochs=retrain_epochs,
        seed=seed,
    )
    return replace(s, admm=replace(s.admm, iterations=admm_iterations))


@main.command("prune")
@_prune_options
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_BUILD / "model",
    show_default=True,
)
@_friendly
def prune_cmd(
    density,
    dense_density,
    layer_density,
    balanced,
    epochs,
    retrain_epochs,
    admm_iterations,
    data_dir,
    seed,
    quiet,
    out,
):
    """Train the spectral LeNet, prune it with ADMM, retrain, quantise; write a model artifact."""
    run_prune(
        out,
        _settings(
            density,
            dense_density,
            layer_density,
            balanced,
            epochs,
            retrain_epochs,
            admm_iterations,
            seed,
        ),
        data_dir,
        quiet,
    )


@main.command("inspect")
@click.argument("model_dir", type=click.Path(path_type=Path))
@_friendly
def inspect_cmd(model_dir):
    """Validate a model artifact and print its summary."""
    model = load_model(model_dir)
    for layer in model.layers:
        key = f"{layer['name']}." + ("kernel" if layer["type"] == "spectral_conv" else "weight")
        m = model.masks.get(key)
        dens = f"{m.mean():.2%}" if m is not None else "100% (dense)"
        console.print(f"{layer['name']:6s} {layer['type']:14s} density {dens}")
    console.print(f"accuracy: {model.metrics['accuracy']}")


_FLOW_PARAMS = {  # flow option → (config table, key)
    "density": ("prune", "density"),
    "dense_density": ("prune", "dense_density"),
    "layer_density": ("prune", "layer_density"),
    "balanced": ("prune", "balanced"),
    "epochs": ("prune", "epochs"),
    "retrain_epochs": ("prune", "retrain_epochs"),
    "admm_iterations": ("prune", "admm_iterations"),
    "data_dir": ("prune", "data"),
    "seed": ("prune", "seed"),
    "board_name": ("map", "board"),
    "sets": ("map", "set"),
    "arch_file": ("map", "arch"),
    "rtl_dir": ("generate", "rtl"),
    "top": ("generate", "top"),
    "pixels_per_beat": ("generate", "pixels_per_beat"),
    "cosim_images": ("cosim", "images"),
    "simulator": ("cosim", "simulator"),
    "synth": ("synth", "enabled"),
    "out": ("flow", "out"),
    "quiet": ("flow", "quiet"),
}


@main.command("flow")
@_prune_options
@click.option("--board", "board_name", default="nexys4ddr", show_default=True)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="LAYER.FIELD=VALUE",
    help="map stage: force an architecture field, e.g. conv2.pes=2",
)
@click.option(
    "--arch",
    "arch_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="map stage: architecture TOML file",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_BUILD,
    show_default=True,
    help="directory for the artifacts (model, schedule, reports)",
)
@click.option(
    "--rtl",
    "rtl_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("rtl_out") / "accel",
    show_default=True,
    help="directory for the generated accelerator",
)
@click.option("--top", default="codesign_accel", show_default=True)
@click.option("--pixels-per-beat", type=click.IntRange(1), default=1, show_default=True)
@click.option(
    "--cosim-images",
    type=click.IntRange(0),
    default=1000,
    show_default=True,
    help="test images run through the RTL (0: skip co-simulation)",
)
@click.option(
    "--simulator",
    type=click.Choice(["verilator", "icarus"]),
    default="verilator",
    show_default=True,
)
@click.option(
    "--synth/--no-synth", default=True, show_default=True, help="run yosys on the generated design"
)
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
    type=click.Choice(["prune", "map", "generate", "cosim", "synth", "report"]),
    default="report",
    show_default=True,
    help="stop after this stage",
)
@_friendly
def flow_cmd(**kw):
    """Run everything on the default: prune → map → generate → cosim → synth → report.

    Stages whose inputs and outputs have not changed since they last ran are skipped."""
    from click.core import ParameterSource

    from codesign.flow import load_config

    ctx = click.get_current_context()
    if kw["config_file"]:
        cfg = load_config(kw["config_file"])
        for name, (table, key) in _FLOW_PARAMS.items():
            if (
                key in cfg.get(table, {})
                and ctx.get_parameter_source(name) == ParameterSource.DEFAULT
            ):
                v = cfg[table][key]
                if name == "layer_density" and isinstance(v, dict):
                    v = tuple(f"{k}={d}" for k, d in v.items())
                elif name in ("sets",):
                    v = tuple(v) if isinstance(v, list) else (v,)
                elif name in ("out", "rtl_dir"):
                    v = Path(v)
                kw[name] = v
    run_flow(**{k: v for k, v in kw.items() if k != "config_file"})


def run_flow(
    *,
    density,
    dense_density,
    layer_density,
    balanced,
    epochs,
    retrain_epochs,
    admm_iterations,
    data_dir,
    seed,
    quiet,
    board_name,
    sets,
    arch_file,
    out,
    rtl_dir,
    top,
    pixels_per_beat,
    cosim_images,
    simulator,
    synth,
    force,
    until="report",
) -> list[dict]:
    from codesign import __version__
    from codesign.artifacts import write_json
    from codesign.flow import Step, run_steps, tree_hash

    settings = _settings(
        density,
        dense_density,
        layer_density,
        balanced,
        epochs,
        retrain_epochs,
        admm_iterations,
        seed,
    )
    out, rtl_dir = Path(out), Path(rtl_dir)
    model_dir, sched_dir = out / "model", out / "schedule"
    cosim_json, synth_dir, report_dir = out / "cosim.json", out / "synth", out / "report"
    load_board(board_name)  # an unknown board fails before any stage runs
    base = {"codesign": __version__}

    def prune_step():
        m = run_prune(model_dir, settings, data_dir, quiet)
        a = m.metrics["accuracy"]
        return (
            f"accuracy dense {a['dense']:.2%}, pruned {a['pruned']:.2%}, fixed point "
            f"{a['fixed_point']:.2%}"
        )

    def map_step():
        m = run_map(str(model_dir), board_name, sched_dir, 0.25, seed, arch_file, sets, quiet)
        n, r = m.design.network, m.design.network["resources"]
        return (
            f"II {n['ii_cycles']:,} cycles, {n['images_per_second']:,.0f} images/s "
            f"modeled; DSP {r['dsp']}, BRAM36 {r['bram36']} (estimate)"
        )

    def generate_step():
        man = run_generate(sched_dir, rtl_dir, top, pixels_per_beat)
        c = man["cycle_model"]
        return (
            f"{man['top']}.v: latency {c['latency_cycles']:,}, interval "
            f"{c['interval_cycles']:,} clocks"
        )

    def cosim_step():
        r = run_cosim(
            rtl_dir, cosim_images, data_dir, None, simulator, 0, 0, 1, None, None, None, quiet
        )
        if not (r["bit_exact"] and r["timing"]["exact"] and not r["frame_error"]):
            raise click.ClickException(
                f"{rtl_dir}: the RTL disagrees with the model: "
                f"{r['first_mismatch'] or r['timing']['first_difference']}"
            )
        tmp = cosim_json.with_suffix(".json.tmp")
        write_json(tmp, r)
        tmp.replace(cosim_json)
        return (
            f"{r['images']} images: {r['scores']} scores bit-exact, accuracy "
            f"{r['accuracy_rtl']:.2%} = model, every clock edge = cycle model"
        )

    def synth_step():
        rep = run_synth(rtl_dir, board_name, synth_dir)
        res = rep["resources"]
        return ", ".join(
            f"{k.upper()} {res[k]['yosys']}/{res[k]['capacity']}"
            for k in ("lut", "ff", "dsp", "bram36")
            if k in res
        )

    def report_step():
        path = run_report(
            out / "report",
            model_dir,
            sched_dir,
            cosim_json if cosim_images else None,
            synth_dir if synth else None,
        )
        return str(path)

    steps = [
        Step(
            "prune",
            lambda: {
                **base,
                "settings": repr(settings),
                "data": str(data_dir) if data_dir is None else tree_hash(Path(data_dir)),
            },
            [model_dir],
            prune_step,
        ),
        Step(
            "map",
            lambda: {
                **base,
                "model": tree_hash(model_dir),
                "board": board_name,
                "set": sorted(sets),
                "arch": tree_hash(Path(arch_file)) if arch_file else None,
            },
            [sched_dir],
            map_step,
        ),
        Step(
            "generate",
            lambda: {
                **base,
                "schedule": tree_hash(sched_dir),
                "model": tree_hash(model_dir),
                "top": top,
                "per_beat": pixels_per_beat,
            },
            [rtl_dir],
            generate_step,
        ),
    ]
    if cosim_images:
        steps.append(
            Step(
                "cosim",
                lambda: {
                    **base,
                    "rtl": tree_hash(rtl_dir),
                    "images": cosim_images,
                    "simulator": simulator,
                    "data": str(data_dir),
                },
                [cosim_json],
                cosim_step,
            )
        )
    if synth:
        steps.append(
            Step(
                "synth",
                lambda: {**base, "rtl": tree_hash(rtl_dir), "board": board_name},
                [synth_dir],
                synth_step,
            )
        )
    steps.append(
        Step(
            "report",
            lambda: {
                **base,
                **{p.name: tree_hash(p) for p in (model_dir, sched_dir, cosim_json, synth_dir)},
            },
            [report_dir],
            report_step,
        )
    )

    names = [st.name for st in steps]
    if until not in names:
        raise click.ClickException(
            f"--until {until}: that stage is switched off (stages: {', '.join(names)})"
        )
    steps = steps[: names.index(until) + 1]

    def announce(i, step, fresh):
        console.rule(
            f"[bold]{i + 1}/{len(steps)} {step.name}" + (" — up to date, skipped" if fresh else "")
        )

    t0 = time.perf_counter()
    try:
        rows = run_steps(steps, out / ".flow", force=force, on_start=announce)
    except BaseException as e:
        if getattr(e, "flow_rows", None):
            console.print(_flow_table(e.flow_rows, time.perf_counter() - t0))
        raise
    console.print(_flow_table(rows, time.perf_counter() - t0))
    return rows


def _flow_table(rows: list[dict], seconds: float) -> Table:
    t = Table(title=f"flow: {seconds:.0f} s", title_justify="left")
    for col in ("stage", "status", "time", "result"):
        t.add_column(col, justify="right" if col == "time" else "left")
    for r in rows:
        style = {"ran": "green", "up to date": "dim", "FAILED": "red"}[r["status"]]
        t.add_row(r["step"], f"[{style}]{r['status']}[/]", f"{r['seconds']:.0f} s", r["summary"])
    return t


def _map_tables(m, title: str):
    from codesign.spectral.mapping import describe

    d = describe(m)
    t = Table(title=title, title_justify="left")
    for col in (
        "layer",
        "parallelism",
        "non-zero",
        "cycles/tile",
        "bound",
        "PE util",
        "dense÷sparse",
        "tiles",
        "II",
        "bottleneck",
        "DSP",
        "RAMB18",
    ):
        t.add_column(
            col, justify="left" if col in ("layer", "parallelism", "bottleneck") else "right"
        )
    for e in d["layers"]:
        a, c = e["arch"], e["cost"]
        if e["type"] == "spectral_conv":
            s = e["schedule"]
            t.add_row(
                e["name"],
                f"P={a['pes']} B={a['banks']} fft={a['fft_units']} ifft={a['ifft_units']}",
                str(s["nonzero"]),
                str(s["cycles_per_tile"]),
                str(s["lower_bound"]),
                f"{s['pe_utilisation']:.1%}",
                f"{s['dense_over_sparse']:.2f}",
                str(c["cycles"]["tiles"]),
                str(c["cycles"]["ii"]),
                c["cycles"]["bottleneck"],
                str(c["dsp"]),
                str(c["bram18"]),
            )
        else:
            t.add_row(
                e["name"],
                f"macs={a['macs']}",
                str(e["nonzero_per_output"] * e["out_features"]),
                "",
                "",
                "",
                "",
                "",
                str(c["cycles"]["ii"]),
                "",
                str(c["dsp"]),
                str(c["bram18"]),
            )
    console.print(t)
    n = d["network"]
    r, cap = n["resources"], n["capacity"]
    console.print(
        f"network (modeled): II {n['ii_cycles']} cycles, latency {n['latency_cycles']} "
        f"cycles ({n['latency_us']:.1f} us) at {n['clock_mhz']:.0f} MHz -> "
        f"{n['images_per_second']:,.0f} images/s"
    )
    if "accelerator" in n:
        a = n["accelerator"]
        console.print(
            f"generated accelerator (exact cycle model): one image every "
            f"{a['interval_cycles']:,} clocks, latency {a['latency_cycles']:,} clocks "
            f"-> {a['images_per_second']:,.0f} images/s"
        )
    console.print(
        "resources (modeled): "
        + ", ".join(
            f"{k.upper()} {r[k]}/{cap[k]} ({r[k] / cap[k]:.0%})"
            for k in ("dsp", "bram36", "lut", "ff")
        )
        + f" -> {'fits' if n['fits'] else 'DOES NOT FIT'} {m.board.name} ({m.board.part})"
    )
    if d["runners_up"]:
        ru = Table(title="runners-up", title_justify="left")
        for col in ("II", "images/s", "DSP", "BRAM36", "LUT", "fits", "parallelism"):
            ru.add_column(col)
        for row in d["runners_up"]:
            ru.add_row(
                str(row["ii_cycles"]),
                f"{row['images_per_second']:,.0f}",
                str(row["dsp"]),
                str(row["bram36"]),
                str(row["lut"]),
                "yes" if row["fits"] else "no",
                "; ".join(f"{k}: {v}" for k, v in row["parallelism"].items()),
            )
        console.print(ru)
    return d


def run_map(
    model_arg: str,
    board_name: str,
    out: Path | None,
    density: float,
    seed: int,
    arch_file,
    sets,
    quiet: bool,
):
    from codesign.spectral.mapping import (
        map_tasks,
        model_source,
        save_mapping,
        tasks_from_model,
        vgg16_tasks,
    )

    board = load_board(board_name)
    overrides = load_overrides(arch_file) if arch_file else {}
    for layer, kv in parse_overrides(sets).items():
        overrides.setdefault(layer, {}).update(kv)
    if model_arg == "vgg16":
        t0 = time.perf_counter()
        sparse = map_tasks(
            "vgg16",
            vgg16_tasks(density, seed),
            board,
            overrides,
            source={"name": "vgg16", "density": density, "seed": seed, "synthetic": True},
            style="sequential",
        )
        _map_tables(sparse, f"map: VGG16 at density {density:.0%} on {board.name} (modeled)")
        t_sparse = time.perf_counter() - t0
        dense = explore_sequential(vgg16_tasks(1.0, seed), board, overrides)["chosen"]
        ds, dd = sparse.design.network, dense.network
        console.print(
            f"same board, same DSP budget ({board.dsp} DSP): dense spectral "
            f"{dd['images_per_second']:,.1f} images/s (II {dd['ii_cycles']}), sparse "
            f"{ds['images_per_second']:,.1f} images/s (II {ds['ii_cycles']}) -> "
            f"{dd['ii_cycles'] / ds['ii_cycles']:.2f}x (modeled)"
        )
        console.print(f"mapping time: sparse {t_sparse:.1f} s")
        m = sparse
    else:
        model_dir = Path(model_arg)
        model = load_model(model_dir)
        q = model.quantized()
        weights = {}
        for layer in model.layers:
            if layer["type"] == "spectral_conv":
                n, O, C = layer["name"], layer["out_channels"], layer["in_channels"]
                weights[n] = (
                    q[f"{n}.kernel_re"].reshape(O, C, -1),
                    q[f"{n}.kernel_im"].reshape(O, C, -1),
                )
        m = map_tasks(
            model_dir.name,
            tasks_from_model(model),
            board,
            overrides,
            weights,
            model_source(model_dir),
        )
        _map_tables(m, f"map: {model_dir} on {board.name}")
    if out is not None:
        save_mapping(m, out)
        console.print(f"schedule artifact: {out}")
    return m


@main.command("map")
@click.option(
    "--model",
    "model_arg",
    default=str(DEFAULT_BUILD / "model"),
    show_default=True,
    help="model artifact directory from `codesign prune`, or 'vgg16' (synthetic masks)",
)
@click.option(
    "--board",
    "board_name",
    default="nexys4ddr",
    show_default=True,
    help="board name in boards/ or a path to a board .toml",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="write the schedule artifact here",
)
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
@click.option("--quiet", is_flag=True)
@_friendly
def map_cmd(model_arg, board_name, out, density, seed, arch_file, sets, quiet):
    """Schedule the sparse kernels onto PEs and banks; model cycles and resources on a board."""
    run_map(model_arg, board_name, out, density, seed, arch_file, sets, quiet)


@main.command("generate")
@click.option(
    "--schedule",
    "schedule_dir",
    type=click.Path(file_okay=False, path_type=Path),
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
    type=click.Path(file_okay=False, path_type=Path),
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
@_friendly
def generate_cmd(schedule_dir, layer, out, top, pixels_per_beat):
    """Build the accelerator (or one layer engine) in MyHDL and convert it to Verilog."""
    t0 = time.perf_counter()
    if layer is None:
        run_generate(schedule_dir, out or Path("rtl_out") / "accel", top, pixels_per_beat)
        return
    from codesign.spectral.generate import generate_layer

    out = out or Path("rtl_out") / layer
    man = generate_layer(schedule_dir, layer, out)
    e = man["expected_cycles"]
    console.print(
        f"{layer}: {man['top']}.v, {len(man['memory_images'])} kernel memory images, "
        f"manifest.json -> {out} ({time.perf_counter() - t0:.1f} s)"
    )
    console.print(
        f"expected (timing model): latency {e['latency']} clocks, one image every "
        f"{e['interval']} clocks"
    )


def run_generate(schedule_dir: Path, out: Path, top: str, pixels_per_beat: int = 1) -> dict:
    from codesign.spectral.accelerator import generate_accelerator

    t0 = time.perf_counter()
    man = generate_accelerator(schedule_dir, out, top, pixels_per_beat)
    c, clock = man["cycle_model"], (man.get("board") or {}).get("target_clock_mhz", 100.0)
    console.print(
        f"generate: {man['top']}.v ({', '.join(x['name'] for x in man['layers'])}), "
        f"{man['testbench']['file']}, manifest.json -> {out} "
        f"({time.perf_counter() - t0:.1f} s)"
    )
    console.print(
        f"cycle model: latency {c['latency_cycles']} clocks, one image every "
        f"{c['interval_cycles']} clocks -> {clock * 1e6 / c['interval_cycles']:,.0f} "
        f"images/s at {clock:.0f} MHz"
    )
    return man


@main.command("cosim")
@click.option(
    "--rtl",
    "rtl_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("rtl_out") / "accel",
    show_default=True,
    help="directory from `codesign generate`",
)
@click.option(
    "--images",
    type=click.IntRange(1),
    default=10,
    show_default=True,
    help="how many bundled test images (or images of --inputs)",
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
    type=click.Path(file_okay=False, path_type=Path),
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
@_friendly
def cosim_cmd(
    rtl_dir,
    images,
    data_dir,
    inputs,
    simulator,
    gap_in,
    gap_out,
    seed,
    reset_at,
    jobs,
    report_file,
    schedule_dir,
    engine,
    vcd,
    quiet,
):
    """Run images through the generated Verilog and compare with the fixed-point model."""
    import json as _json

    mp = Path(rtl_dir) / "manifest.json"
    man = _json.loads(mp.read_text()) if mp.is_file() else None
    if man is not None and man.get("kind") == "accelerator":
        r = run_cosim(
            rtl_dir,
            images,
            data_dir,
            inputs,
            simulator,
            gap_in,
            gap_out,
            seed,
            reset_at,
            jobs,
            vcd,
            quiet,
        )
        if report_file:
            from codesign.artifacts import write_json

            write_json(report_file, r)
        if not r["bit_exact"] or r["frame_error"]:
            raise click.ClickException(
                f"{rtl_dir}: RTL disagrees with the fixed-point model: {r['first_mismatch']}"
            )
        if r["timing"]["checked"] and not r["timing"]["exact"]:
            raise click.ClickException(
                f"{rtl_dir}: RTL clocks differ from the cycle model: "
                f"{r['timing']['first_difference']}"
            )
        return
    if inputs is not None:
        raise click.ClickException(
            "--inputs needs a whole accelerator (`codesign generate` without --layer)"
        )
    _cosim_layer(rtl_dir, schedule_dir, images, data_dir, engine, vcd, man)


def run_cosim(
    rtl_dir, images, data_dir, inputs, simulator, gap_in, gap_out, seed, reset_at, jobs, vcd, quiet
) -> dict:
    from codesign.spectral.cosim import cosim_accelerator, read_inputs

    if inputs is not None:
        x, labels = read_inputs(inputs)
        x, labels = x[:images], None if labels is None else labels[:images]
        source = str(inputs)
    else:
        data = load(data_dir, seed=0)
        x, labels, source = data.test_x[:images], data.test_y[:images], data.name
    r = cosim_accelerator(
        rtl_dir,
        x,
        labels,
        simulator=simulator,
        gap_in=gap_in,
        gap_out=gap_out,
        seed=seed,
        reset_at=reset_at,
        vcd=vcd,
        jobs=jobs,
        quiet=quiet,
    )
    console.print(_cosim_table(r, source, rtl_dir))
    return r


def _cosim_table(r: dict, source: str, rtl_dir) -> Table:
    t = Table(
        title=f"cosim: {rtl_dir} on {r['images']} images of {source} ({r['simulator']})",
        title_justify="left",
    )
    t.add_column("check")
    t.add_column("RTL", justify="right")
    t.add_column("model", justify="right")
    t.add_column("", justify="left")
    ok = "[green]equal[/]"
    bad = "[red]DIFFERENT[/]"
    t.add_row(
        "scores bit-exact",
        f"{r['scores'] - r['score_mismatches']}/{r['scores']}",
        str(r["scores"]),
        ok if r["bit_exact"] else bad,
    )
    t.add_row("predicted class (tuser)", "", "", ok if r["classes_equal_model"] else bad)
    if "accuracy_rtl" in r:
        t.add_row(
            "accuracy",
            f"{r['accuracy_rtl']:.2%}",
            f"{r['accuracy_model']:.2%}",
            ok if r["accuracy_rtl"] == r["accuracy_model"] else bad,
        )
    tm = r["timing"]
    if tm["checked"]:
        for k in ("latency_cycles", "interval_cycles"):
            rv, mv = tm[k]["rtl"], tm[k]["model"]
            if mv is not None:
                t.add_row(k.replace("_", " "), str(rv), str(mv), ok if rv == mv else bad)
        t.add_row("every image's clock edges", "", "", ok if tm["exact"] else bad)
    else:
        t.add_row("clock edges", "", "", "not compared (gaps or reset)")
    t.add_row(
        "frame_error",
        "set" if r["frame_error"] else "clear",
        "clear",
        bad if r["frame_error"] else ok,
    )
    t.add_row(
        "speed",
        f"{r['images_per_minute']:,.0f} images/min",
        f"{r['clocks_per_second']:,.0f} clocks/s",
        f"{r['clocks']:,} clocks, {r['chunks']} run(s), {r['wall_seconds']:.1f} s "
        f"(+{r['build_seconds']:.1f} s build)",
    )
    return t


def _cosim_layer(rtl_dir, schedule_dir, images, data_dir, engine, vcd, man):
    from codesign.spectral.generate import cosim_layer

    data = load(data_dir, seed=0)
    t0 = time.perf_counter()
    r = cosim_layer(rtl_dir, schedule_dir, data.test_x[:images], engine=engine, vcd=vcd)
    secs = time.perf_counter() - t0
    exp = man["expected_cycles"] if man else None
    console.print(
        f"{r['layer']} on {r['images']} images ({engine}): {r['outputs']}/"
        f"{r['expected']} outputs, bit-exact: {'yes' if r['bit_exact'] else 'NO'}; "
        f"{r['cycles']} clocks in {secs:.1f} s ({r['cycles'] / secs:,.0f} clocks/s)"
    )
    if exp:
        m = r["marks"]
        same = (
            m["out_first"] == exp["out_first"][: len(m["out_first"])]
            and m["out_last"] == exp["out_last"][: len(m["out_last"])]
        )
        console.print(
            f"first output at clock {m['out_first'][0]} (model {exp['out_first'][0]}), "
            f"last at {m['out_last'][-1]} (model {exp['out_last'][len(m['out_last']) - 1]}"
            f"): {'equal to' if same else 'DIFFERENT FROM'} the timing model"
        )
    if not r["bit_exact"]:
        raise click.ClickException(f"mismatch: {r['first_mismatch']}")


def run_synth(rtl_dir: Path, board_name: str, out: Path | None) -> dict:
    from codesign.eda.synth import SynthError, report_table, synthesise

    try:
        rep = synthesise(rtl_dir, board_name, out)
    except SynthError:
        rep_file = Path(out or Path(rtl_dir).parent / "synth") / "report.json"
        if rep_file.is_file():
            import json as _json

            console.print(report_table(_json.loads(rep_file.read_text())))
        raise
    console.print(report_table(rep))
    return rep


@main.command("synth")
@click.option(
    "--rtl",
    "rtl_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("rtl_out") / "accel",
    show_default=True,
    help="directory from `codesign generate`",
)
@click.option(
    "--board",
    "board_name",
    default="nexys4ddr",
    show_default=True,
    help="board name in boards/ or a path to a board .toml",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="report directory (default: a 'synth' directory beside --rtl)",
)
@_friendly
def synth_cmd(rtl_dir, board_name, out):
    """yosys synth_xilinx (out of context): resources against the board and the map estimate."""
    run_synth(rtl_dir, board_name, out)


@main.command("export")
@click.option(
    "--rtl",
    "rtl_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("rtl_out") / "accel",
    show_default=True,
    help="directory from `codesign generate`",
)
@click.option("--board", "board_name", default="nexys4ddr", show_default=True)
@click.option("--vivado", is_flag=True, help="non-project Vivado TCL, XDC and build.sh")
@click.option("--fusesoc", is_flag=True, help="FuseSoC CAPI2 core")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="output directory (default: an 'export' directory beside --rtl)",
)
@_friendly
def export_cmd(rtl_dir, board_name, vivado, fusesoc, out):
    """Export the generated accelerator to Vivado and/or FuseSoC (both when neither is given)."""
    from codesign.eda.export import export

    if not vivado and not fusesoc:
        vivado = fusesoc = True
    r = export(rtl_dir, board_name, out, vivado=vivado, fusesoc=fusesoc)
    if r.get("vivado"):
        console.print(
            f"Vivado: {r['vivado']['dir']}/build.sh (non-project flow, part "
            f"{r['vivado']['part']}, clock {r['vivado']['clock_period_ns']} ns)"
        )
    if r.get("fusesoc"):
        console.print(
            f"FuseSoC: {r['fusesoc']['core']} ({r['fusesoc']['vlnv']}); simulate "
            f"with: {r['fusesoc']['sim_command']}"
        )
    console.print(f"export: {r['dir']}")


def run_report(
    out: Path, model_dir: Path, sched_dir: Path, cosim_json: Path | None, synth_dir: Path | None
) -> Path:
    import json as _json

    from codesign.spectral.report import write_report

    cosim = _json.loads(cosim_json.read_text()) if cosim_json and cosim_json.is_file() else None
    sf = synth_dir / "report.json" if synth_dir else None
    synth = _json.loads(sf.read_text()) if sf and sf.is_file() else None
    path = write_report(
        out, model_dir=model_dir, schedule_dir=sched_dir, cosim_report=cosim, synth_report=synth
    )
    console.print(f"report: {path}")
    return path


@main.command("report")
@click.option(
    "--build",
    "build_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_BUILD,
    show_default=True,
    help="the flow's artifact directory (model, schedule, cosim.json, synth)",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="report directory (default BUILD/report)",
)
@_friendly
def report_cmd(build_dir, out):
    """Markdown report with plots: what pruning bought, from the stage artifacts."""
    run_report(
        out or build_dir / "report",
        build_dir / "model",
        build_dir / "schedule",
        build_dir / "cosim.json",
        build_dir / "synth",
    )

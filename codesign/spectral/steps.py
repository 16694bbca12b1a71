"""The spectral system's stages as the commands and the flow run them, and the flow's settings.

:class:`FlowSettings` is the one statement of every ``codesign flow`` setting: its default, its
flag and its TOML table and key.  The flags of ``codesign flow`` and ``codesign prune``, the keys
the TOML file may hold and the checks a TOML value gets (the flag's own type) all come from it.
Each ``run_*`` function runs one stage on artifact paths, prints its table and returns its
result; :func:`run_flow` chains them as resumable steps (:mod:`codesign.flow`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import click

from codesign import __version__
from codesign.flow import FlowError, Step, run_steps, tree_hash
from codesign.progress import console
from codesign.spectral.settings import PruneSettings

__all__ = [
    "FlowSettings",
    "flow_options",
    "config_keys",
    "settings_from",
    "prune_settings",
    "run_prune",
    "run_map",
    "run_generate",
    "run_cosim",
    "run_synth",
    "run_report",
    "run_flow",
    "synth_beside_cosim",
    "STAGES",
]

STAGES = ("prune", "map", "generate", "cosim", "synth", "report")
_PRUNE = PruneSettings()
_DENSITY = click.FloatRange(0, 1, min_open=True)


def _setting(table: str, flag: str, default, key: str | None = None, **option):
    """A flow setting: TOML ``[table] key`` (the field name unless ``key``), flag ``flag``."""
    return field(default=default, metadata={"table": table, "key": key, "flag": flag, **option})


@dataclass(frozen=True)
class FlowSettings:
    """Every setting of ``codesign flow``; prune defaults are :class:`PruneSettings`'."""

    density: float = _setting(
        "prune",
        "--density",
        _PRUNE.density,
        type=_DENSITY,
        help="fraction of spectral weights kept per conv layer",
    )
    dense_density: float = _setting(
        "prune",
        "--dense-density",
        _PRUNE.dense_density,
        type=_DENSITY,
        help="fraction of dense-layer weights kept",
    )
    dense_method: str = _setting(
        "prune",
        "--dense-method",
        _PRUNE.dense_method,
        type=click.Choice(["magnitude", "admm"]),
        help="how dense layers are pruned: largest weights then masked retraining, or ADMM",
    )
    layer_density: tuple = _setting(
        "prune",
        "--layer-density",
        (),
        multiple=True,
        metavar="NAME=D",
        help="per-layer density overriding the model-wide ones, e.g. fc1=0.5",
    )
    balanced: bool = _setting(
        "prune",
        "--balanced/--unbalanced",
        _PRUNE.balanced,
        help="same number of non-zeros in every kernel (helps the scheduler)",
    )
    epochs: int = _setting("prune", "--epochs", _PRUNE.epochs, type=click.IntRange(1))
    retrain_epochs: int = _setting(
        "prune", "--retrain-epochs", _PRUNE.retrain_epochs, type=click.IntRange(0)
    )
    admm_iterations: int = _setting(
        "prune", "--admm-iterations", _PRUNE.admm.iterations, type=click.IntRange(1)
    )
    data_dir: str | None = _setting(
        "prune",
        "--data",
        None,
        key="data",
        type=click.Path(file_okay=False),
        help="directory with the four MNIST IDX files (default: bundled 5k subset)",
    )
    seed: int = _setting("prune", "--seed", _PRUNE.seed, type=int)
    board_name: str = _setting("map", "--board", "nexys4ddr", key="board")
    sets: tuple = _setting(
        "map",
        "--set",
        (),
        key="set",
        multiple=True,
        metavar="LAYER.FIELD=VALUE",
        help="map stage: force an architecture field, e.g. conv2.pes=2",
    )
    arch_file: str | None = _setting(
        "map",
        "--arch",
        None,
        key="arch",
        type=click.Path(dir_okay=False),
        help="map stage: architecture TOML file",
    )
    rtl_dir: Path = _setting(
        "generate",
        "--rtl",
        Path("rtl_out") / "accel",
        key="rtl",
        type=click.Path(file_okay=False, path_type=Path),
        help="directory for the generated accelerator",
    )
    top: str = _setting("generate", "--top", "codesign_accel")
    pixels_per_beat: int = _setting("generate", "--pixels-per-beat", 1, type=click.IntRange(1))
    cosim_images: int = _setting(
        "cosim",
        "--cosim-images",
        1000,
        key="images",
        type=click.IntRange(0),
        help="test images run through the RTL (0: skip co-simulation)",
    )
    simulator: str = _setting(
        "cosim", "--simulator", "verilator", type=click.Choice(["verilator", "icarus"])
    )
    synth: bool = _setting(
        "synth", "--synth/--no-synth", True, key="enabled", help="run yosys on the generated design"
    )
    out: Path = _setting(
        "flow",
        "--out",
        Path("build"),
        type=click.Path(file_okay=False, path_type=Path),
        help="directory for the artifacts (model, schedule, reports)",
    )
    quiet: bool = _setting("flow", "--quiet", False, is_flag=True, help="no progress bars")


def _key(f) -> tuple[str, str]:
    return f.metadata["table"], f.metadata["key"] or f.name


def _option(f):
    meta = {k: v for k, v in f.metadata.items() if k not in ("table", "key", "flag")}
    return click.option(f.metadata["flag"], f.name, default=f.default, show_default=True, **meta)


def flow_options(*tables: str):
    """Decorator adding the flags of the settings in ``tables`` (all when none is given)."""

    def add(fn):
        for f in reversed(fields(FlowSettings)):
            if not tables or f.metadata["table"] in tables:
                fn = _option(f)(fn)
        return fn

    return add


def config_keys() -> dict[str, set]:
    """The TOML tables and keys ``codesign flow --config`` accepts."""
    keys: dict[str, set] = {}
    for f in fields(FlowSettings):
        table, key = _key(f)
        keys.setdefault(table, set()).add(key)
    return keys


def _from_toml(f, v):
    if f.name == "layer_density" and isinstance(v, dict):
        return tuple(f"{k}={d}" for k, d in v.items())
    if f.metadata.get("multiple"):
        return tuple(v) if isinstance(v, list) else (v,)
    return v


def _allowed(param) -> str:
    """What a flag accepts, for an error message: a range (click's notation), the choices, or
    the type."""
    t = param.type
    if isinstance(t, click.FloatRange | click.IntRange):
        lo = "" if t.min is None else f"{t.min}{'<' if t.min_open else '<='}"
        hi = "" if t.max is None else f"{'<' if t.max_open else '<='}{t.max}"
        return f" (allowed: {lo}x{hi})"
    if isinstance(t, click.Choice):
        return f" (allowed: {', '.join(map(str, t.choices))})"
    return f" (expected {t.name})"


def settings_from(values: dict, config: str | None = None) -> FlowSettings:
    """Flow settings from the flags' ``values``; with ``config``, a TOML file's values replace
    the flags left at their defaults, each checked by its flag's own type."""
    ctx = click.get_current_context(silent=True)
    if config:
        from click.core import ParameterSource

        from codesign.flow import load_config

        cfg = load_config(config, config_keys())
        params = {p.name: p for p in ctx.command.params} if ctx else {}
        for f in fields(FlowSettings):
            table, key = _key(f)
            if key not in cfg.get(table, {}):
                continue
            if ctx and ctx.get_parameter_source(f.name) != ParameterSource.DEFAULT:
                continue
            raw = cfg[table][key]
            try:
                v = _from_toml(f, raw)
                values[f.name] = params[f.name].type_cast_value(ctx, v) if f.name in params else v
            except click.BadParameter as e:
                raise FlowError(
                    f"{config}: [{table}] {key} = {raw!r}: {e.message}{_allowed(params[f.name])}"
                ) from None
    return FlowSettings(
        **{f.name: values[f.name] for f in fields(FlowSettings) if f.name in values}
    )


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


def prune_settings(s: FlowSettings) -> PruneSettings:
    """The prune stage's settings from the flow's."""
    p = PruneSettings(
        density=s.density,
        dense_density=s.dense_density,
        dense_method=s.dense_method,
        layer_density=_layer_densities(s.layer_density),
        balanced=s.balanced,
        epochs=s.epochs,
        retrain_epochs=s.retrain_epochs,
        seed=s.seed,
    )
    return replace(p, admm=replace(p.admm, iterations=s.admm_iterations))


def run_prune(out: Path, settings: PruneSettings, data_dir, quiet: bool):
    """Train, prune, retrain and quantise; write the model artifact ``out``."""
    from codesign.artifacts import check_target
    from codesign.data import load
    from codesign.spectral.model import save_model
    from codesign.spectral.prune import prune
    from codesign.spectral.tables import prune_table

    check_target(out)  # before minutes of training, not after
    data = load(data_dir, seed=settings.seed)
    model = prune(data, settings, quiet=quiet)
    save_model(model, out)
    console.print(prune_table(model))
    secs = model.metrics["seconds"]
    console.print(
        f"data: {data.name} ({data.n_train} train / {data.n_test} test); "
        f"time: dense {secs['train_dense']:.0f} s, ADMM {secs['admm']:.1f} s, "
        f"retrain {secs['retrain']:.0f} s; saturations: "
        f"{sum(model.metrics['saturations'].values())}"
    )
    console.print(f"model artifact: {out}")
    return model


def run_map(
    model_arg: str,
    board_name: str,
    out: Path | None,
    density: float,
    seed: int,
    arch_file,
    sets,
    quiet: bool,
    budget: dict | None = None,
):
    """Map a model artifact (or the modeled VGG16) onto a board; write the schedule ``out``.
    ``budget``: resource caps below the board's (``{"dsp": 120}``)."""
    from codesign.artifacts import check_target
    from codesign.eda.boards import load_board
    from codesign.spectral.arch import load_overrides, parse_overrides
    from codesign.spectral.mapping import map_model_dir, map_vgg16, save_mapping
    from codesign.spectral.tables import print_map

    if out is not None:
        check_target(out)
    board = load_board(board_name)
    if budget:
        board = board.limited(**budget)
    overrides = load_overrides(arch_file) if arch_file else {}
    for layer, kv in parse_overrides(sets).items():
        overrides.setdefault(layer, {}).update(kv)
    if model_arg == "vgg16":
        t0 = time.perf_counter()
        m, dense = map_vgg16(density, seed, board, overrides)
        print_map(m, f"map: VGG16 at density {density:.0%} on {board.name} (modeled)")
        ds, dd = m.design.network, dense.network
        console.print(
            f"same board, same DSP budget ({board.dsp} DSP): dense spectral "
            f"{dd['images_per_second']:,.1f} images/s (II {dd['ii_cycles']}), sparse "
            f"{ds['images_per_second']:,.1f} images/s (II {ds['ii_cycles']}) -> "
            f"{dd['ii_cycles'] / ds['ii_cycles']:.2f}x (modeled)"
        )
        console.print(f"mapping time: {time.perf_counter() - t0:.1f} s")
    else:
        m = map_model_dir(Path(model_arg), board, overrides)
        print_map(m, f"map: {model_arg} on {board.name}")
    if out is not None:
        save_mapping(m, out)
        console.print(f"schedule artifact: {out}")
    return m


def run_generate(
    schedule_dir: Path, out: Path, top: str, pixels_per_beat: int = 1, model_dir=None
) -> dict:
    """Generate the whole accelerator from a schedule artifact into ``out``."""
    from codesign.spectral.generate import generate_accelerator

    t0 = time.perf_counter()
    man = generate_accelerator(schedule_dir, out, top, pixels_per_beat, model_dir)
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


def run_cosim(
    rtl_dir, images: int | None, data_dir=None, inputs=None, *, quiet: bool = True, **options
) -> dict:
    """Co-simulate ``images`` test images (default 10), or of ``inputs`` (default all of them);
    ``options`` as :func:`codesign.spectral.cosim.cosim_accelerator`'s.  Prints the table,
    returns the report (pass or fail: :func:`codesign.spectral.cosim.verdict`)."""
    from codesign.data import load
    from codesign.spectral.cosim import cosim_accelerator, read_inputs
    from codesign.spectral.tables import cosim_table

    if inputs is not None:
        x, labels = read_inputs(inputs)
        x, labels = x[:images], None if labels is None else labels[:images]
        source = str(inputs)
    else:
        data = load(data_dir, seed=0)
        n = images or 10
        x, labels, source = data.test_x[:n], data.test_y[:n], data.name
    r = cosim_accelerator(
        rtl_dir, x, labels, quiet=quiet, source=str(inputs) if inputs else None, **options
    )
    console.print(cosim_table(r, source, rtl_dir))
    return r


def run_synth(rtl_dir: Path, board_name: str, out: Path | None) -> dict:
    """yosys on the generated RTL; the table is printed also when the design does not fit."""
    from codesign.eda.synth import synthesise_and_print

    return synthesise_and_print(rtl_dir, board_name, out)


def run_report(
    out: Path, model_dir: Path, sched_dir: Path, cosim_json: Path | None, synth_dir: Path | None
) -> Path:
    """The Markdown report with plots, from the stage artifacts that exist."""
    import json

    from codesign.spectral.report import write_report

    cosim = json.loads(cosim_json.read_text()) if cosim_json and cosim_json.is_file() else None
    sf = synth_dir / "report.json" if synth_dir else None
    synth = json.loads(sf.read_text()) if sf and sf.is_file() else None
    path = write_report(
        out, model_dir=model_dir, schedule_dir=sched_dir, cosim_report=cosim, synth_report=synth
    )
    console.print(f"report: {path}")
    return path


def _cosim_step(s: FlowSettings, cosim_json: Path):
    def step():
        from codesign.artifacts import write_json
        from codesign.spectral.cosim import CosimError, verdict

        r = run_cosim(s.rtl_dir, s.cosim_images, s.data_dir, simulator=s.simulator, quiet=s.quiet)
        failed = verdict(r)
        if failed:
            raise CosimError(f"{s.rtl_dir}: {failed}")
        tmp = cosim_json.with_suffix(".json.tmp")
        write_json(tmp, r)
        tmp.replace(cosim_json)
        return (
            f"{r['images']} images: {r['scores']} scores bit-exact, accuracy "
            f"{r['accuracy_rtl']:.2%} = model, every clock edge = cycle model"
        )

    return step


def _steps(s: FlowSettings) -> list[Step]:
    out = Path(s.out)
    model_dir, sched_dir = out / "model", out / "schedule"
    cosim_json, synth_dir, report_dir = out / "cosim.json", out / "synth", out / "report"
    settings = prune_settings(s)
    base = {"codesign": __version__}

    def prune_step():
        a = run_prune(model_dir, settings, s.data_dir, s.quiet).metrics["accuracy"]
        return (
            f"accuracy dense {a['dense']:.2%}, pruned {a['pruned']:.2%}, fixed point "
            f"{a['fixed_point']:.2%}"
        )

    def map_step():
        m = run_map(
            str(model_dir), s.board_name, sched_dir, 0.25, s.seed, s.arch_file, s.sets, s.quiet
        )
        n, r = m.design.network, m.design.network["resources"]
        return (
            f"II {n['ii_cycles']:,} cycles, {n['images_per_second']:,.0f} images/s "
            f"modeled; DSP {r['dsp']}, BRAM36 {r['bram36']} (estimate)"
        )

    def generate_step():
        c = run_generate(sched_dir, s.rtl_dir, s.top, s.pixels_per_beat)["cycle_model"]
        return (
            f"{s.top}.v: latency {c['latency_cycles']:,}, interval {c['interval_cycles']:,} clocks"
        )

    def synth_step():
        res = run_synth(s.rtl_dir, s.board_name, synth_dir)["resources"]
        return ", ".join(
            f"{k.upper()} {res[k]['yosys']}/{res[k]['capacity']}"
            for k in ("lut", "ff", "dsp", "bram36")
            if k in res
        )

    def report_step():
        cj = cosim_json if s.cosim_images else None
        return str(run_report(report_dir, model_dir, sched_dir, cj, synth_dir if s.synth else None))

    data = str(s.data_dir) if s.data_dir is None else tree_hash(Path(s.data_dir))
    arch = tree_hash(Path(s.arch_file)) if s.arch_file else None
    steps = [
        Step(
            "prune",
            lambda: {**base, "settings": repr(settings), "data": data},
            [model_dir],
            prune_step,
        ),
        Step(
            "map",
            lambda: {
                **base,
                "model": tree_hash(model_dir),
                "board": s.board_name,
                "set": sorted(s.sets),
                "arch": arch,
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
                "top": s.top,
                "per_beat": s.pixels_per_beat,
            },
            [s.rtl_dir],
            generate_step,
        ),
    ]
    if s.cosim_images:
        steps.append(
            Step(
                "cosim",
                lambda: {
                    **base,
                    "rtl": tree_hash(s.rtl_dir),
                    "images": s.cosim_images,
                    "simulator": s.simulator,
                    "data": str(s.data_dir),
                },
                [cosim_json],
                _cosim_step(s, cosim_json),
            )
        )
    if s.synth:
        steps.append(
            Step(
                "synth",
                lambda: {**base, "rtl": tree_hash(s.rtl_dir), "board": s.board_name},
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
    return steps


def synth_beside_cosim(steps: list[Step]) -> list[Step]:
    """When both run, synth moves before cosim and runs alongside it (yosys on one core, the
    simulation on the other; both read only the RTL)."""
    names = [st.name for st in steps]
    if "synth" not in names or "cosim" not in names:
        return steps
    steps = list(steps)
    synth = replace(steps.pop(names.index("synth")), alongside=True)
    steps.insert(names.index("cosim"), synth)
    return steps


def run_flow(s: FlowSettings, *, force: bool = False, until: str = "report") -> list[dict]:
    """Run the stages up to ``until``, skipping those whose inputs and outputs are unchanged."""
    from codesign.eda.boards import load_board
    from codesign.spectral.tables import flow_table

    load_board(s.board_name)  # an unknown board fails before any stage runs
    steps = _steps(s)
    names = [st.name for st in steps]
    if until not in names:
        raise FlowError(f"--until {until}: that stage is switched off (stages: {', '.join(names)})")
    steps = synth_beside_cosim(steps[: names.index(until) + 1])

    def announce(i, step, fresh):
        note = " — up to date, skipped" if fresh else ""
        if step.alongside and not fresh:
            note = " — in the background, beside the next stage"
        console.rule(f"[bold]{i + 1}/{len(steps)} {step.name}{note}")

    t0 = time.perf_counter()
    try:
        rows = run_steps(steps, Path(s.out) / ".flow", force=force, on_start=announce)
    except BaseException as e:
        if getattr(e, "flow_rows", None):
            console.print(flow_table(e.flow_rows, time.perf_counter() - t0))
        raise
    console.print(flow_table(rows, time.perf_counter() - t0))
    return rows

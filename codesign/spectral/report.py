"""The ``codesign report`` stage: what pruning bought, as Markdown with PNG plots.

:func:`report_data` gathers every plotted number from the stage artifacts (model, schedule and,
when given, the co-simulation and synthesis reports); :func:`write_report` draws six plots and
writes ``report.md`` beside them into a directory written atomically.  Equal inputs give
byte-identical files (fixed figure sizes and resolution, default style, no PNG timestamps).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from codesign.artifacts import atomic_directory, sha256_file
from codesign.errors import CodesignError
from codesign.spectral.arch import parallelism

__all__ = ["ReportError", "report_data", "write_report", "story", "PLOTS"]

ACCURACY_KEYS = ("dense", "admm_before_retrain", "pruned", "fixed_point")
ACCURACY_LABELS = {
    "dense": "dense",
    "admm_before_retrain": "ADMM-pruned\n(before retraining)",
    "pruned": "pruned\n(retrained)",
    "fixed_point": "fixed point",
}
RESOURCES = ("dsp", "bram36", "lut", "ff")
RES_LABEL = {"dsp": "DSP", "bram36": "BRAM36", "lut": "LUT", "ff": "FF"}
PLOTS = {
    "accuracy": "accuracy.png",
    "nonzeros": "nonzeros.png",
    "cycles": "cycles.png",
    "resources": "resources.png",
    "dse": "dse.png",
    "cosim": "cosim.png",
}
BOTTLENECK = {
    "fft": "forward FFT",
    "ifft": "inverse FFT",
    "hadamard": "Hadamard stage",
    "mac": "MACs",
    "dram": "external memory traffic",
}
FIGSIZE, DPI = (9.0, 4.2), 100
COLORS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3")


class ReportError(CodesignError, ValueError):
    """An artifact the report cannot use; the message names the file and what is wrong."""


# ---------------------------------------------------------------------------------------------
# reading the artifacts


def _read_json(path: Path, what: str, rerun: str) -> dict:
    if not path.is_file():
        raise ReportError(f"{path}: missing; pass the {what}")
    try:
        d = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ReportError(
            f"{path}: not valid JSON ({e}); the file is truncated or corrupt — re-run {rerun}"
        ) from None
    if not isinstance(d, dict):
        raise ReportError(f"{path}: top level must be a JSON object")
    return d


def _need(d: dict, key: str, typ, path, where: str = ""):
    if key not in d:
        raise ReportError(f"{path}: field '{where}{key}' is missing")
    if not isinstance(d[key], typ):
        raise ReportError(
            f"{path}: field '{where}{key}' has the wrong type ({type(d[key]).__name__})"
        )
    return d[key]


def _optional_report(src, what: str) -> tuple[dict | None, str | None]:
    """A JSON report given as a path or an already loaded dict (None: not given)."""
    if src is None:
        return None, None
    if isinstance(src, dict):
        return src, "(given in memory)"
    path = Path(src)
    return _read_json(path, f"{what} JSON file", f"the {what}"), str(path)


def _model_part(model_dir: Path) -> tuple[dict, dict]:
    mj = model_dir / "model.json"
    d = _read_json(mj, "directory `codesign prune --out` wrote", "`codesign prune`")
    acc = d.get("accuracy") or d.get("metrics", {}).get("accuracy")
    if not isinstance(acc, dict):
        raise ReportError(f"{mj}: field 'accuracy' is missing")
    accuracy = {k: float(acc[k]) for k in ACCURACY_KEYS if isinstance(acc.get(k), (int, float))}
    layers = []
    for i, e in enumerate(_need(d, "layers", list, mj)):
        for k in ("name", "type", "weights", "nonzero"):
            _need(e, k, (str,) if k in ("name", "type") else (int,), mj, f"layers[{i}].")
        live = e.get("live", e["weights"])
        if not isinstance(live, int) or isinstance(live, bool):
            raise ReportError(f"{mj}: field 'layers[{i}].live' must be an integer, got {live!r}")
        layers.append(
            {
                "name": e["name"],
                "type": e["type"],
                "weights": e["weights"],
                "live": live,
                "nonzero": e["nonzero"],
                "density": e["nonzero"] / max(live, 1),
            }
        )
    return (
        {"accuracy": accuracy, "test_images": d.get("test_images"), "layers": layers},
        {"sha256": sha256_file(mj)},
    )


def _schedule_part(sj_path: Path) -> dict:
    from codesign.spectral.mapping import read_schedule

    d = read_schedule(sj_path.parent, ReportError)  # the one reader of schedule artifacts
    net = _need(d, "network", dict, sj_path)
    for k in ("ii_cycles", "images_per_second", "resources", "capacity", "clock_mhz"):
        _need(net, k, (int, float, dict), sj_path, "network.")
    for k in RESOURCES:
        _need(net["resources"], k, int, sj_path, "network.resources.")
        _need(net["capacity"], k, int, sj_path, "network.capacity.")
    board = _need(d, "board", dict, sj_path)
    spectral, iis, par = [], [], {}
    for i, e in enumerate(_need(d, "layers", list, sj_path)):
        w = f"layers[{i}]."
        name = _need(e, "name", str, sj_path, w)
        cost = _need(e, "cost", dict, sj_path, w)
        cyc = _need(cost, "cycles", dict, sj_path, w + "cost.")
        iis.append(
            {
                "name": name,
                "type": e.get("type"),
                "ii": _need(cyc, "ii", int, sj_path, w + "cost.cycles."),
                "bottleneck": cyc.get("bottleneck", "mac"),
            }
        )
        arch = e.get("arch") if isinstance(e.get("arch"), dict) else {}
        par[name] = parallelism(dict(arch, type=e.get("type")))
        if e.get("type") == "spectral_conv":
            s = _need(e, "schedule", dict, sj_path, w)
            row = {"name": name, "tiles": _need(e, "tiles", int, sj_path, w)}
            for k in ("nonzero", "cycles_per_tile", "dense_cycles_per_tile"):
                row[k] = _need(s, k, int, sj_path, w + "schedule.")
            row["pe_utilisation"] = float(
                _need(s, "pe_utilisation", (int, float), sj_path, w + "schedule.")
            )
            row["dense_over_sparse"] = row["dense_cycles_per_tile"] / max(row["cycles_per_tile"], 1)
            row.update(pes=arch.get("pes"), banks=arch.get("banks"))
            spectral.append(row)
    network = {k: net[k] for k in ("ii_cycles", "images_per_second", "clock_mhz")}
    network.update(
        latency_cycles=net.get("latency_cycles"),
        fits=net.get("fits"),
        style=net.get("style", "pipelined"),
        accelerator=net.get("accelerator"),
    )
    chosen = {
        "ii_cycles": net["ii_cycles"],
        "images_per_second": net["images_per_second"],
        **{k: net["resources"][k] for k in RESOURCES},
        "fits": net.get("fits", True),
        "parallelism": par,
    }
    return {
        "doc": d,
        "spectral": spectral,
        "layer_ii": iis,
        "network": network,
        "used": {k: net["resources"][k] for k in RESOURCES},
        "capacity": {k: net["capacity"][k] for k in RESOURCES},
        "board": board,
        "chosen": chosen,
        "runners_up": [
            r for r in d.get("runners_up", []) if isinstance(r, dict) and "ii_cycles" in r
        ],
    }


def _synth_part(synth: dict, capacity: dict) -> tuple[dict | None, list]:
    """Yosys counts of DSP, BRAM36 (RAMB36 + RAMB18/2 when only those are given), LUT, FF."""
    res = synth.get("resources")
    if not isinstance(res, dict):
        return None, ["the synthesis report has no 'resources'; the Yosys bars are omitted"]

    def count(k):
        e = res.get(k)
        return (
            e.get("yosys")
            if isinstance(e, dict) and isinstance(e.get("yosys"), (int, float))
            else None
        )

    out, notes = {}, []
    for k in RESOURCES:
        n = count(k)
        if (
            k == "bram36"
            and n is None
            and (count("ramb36") is not None or count("ramb18") is not None)
        ):
            n = (count("ramb36") or 0) + (count("ramb18") or 0) / 2
        if n is None:
            notes.append(f"the synthesis report has no Yosys count for {RES_LABEL[k]}")
            continue
        e = res.get(k) if isinstance(res.get(k), dict) else {}
        cap = (
            e.get("capacity")
            if isinstance(e.get("capacity"), int) and e["capacity"]
            else capacity[k]
        )
        out[k] = {
            "yosys": n,
            "capacity": cap,
            "percent": 100.0 * n / cap,
            "error_pct": e.get("error_pct"),
        }
    table = {k: dict(v) for k, v in res.items() if isinstance(v, dict)}
    return (
        {
            "resources": out,
            "table": table,
            "logic_depth": synth.get("logic_depth"),
            "board": synth.get("board"),
        }
        if out or table
        else None
    ), notes


def _cosim_part(c: dict) -> tuple[dict, list]:
    t = c.get("timing") if isinstance(c.get("timing"), dict) else {}
    out = {
        k: c.get(k)
        for k in (
            "images",
            "bit_exact",
            "score_mismatches",
            "accuracy_rtl",
            "accuracy_model",
            "images_per_minute",
            "clocks",
            "simulator",
        )
    }
    notes = []
    for k in ("latency_cycles", "interval_cycles"):
        v = t.get(k)
        if (
            isinstance(v, dict)
            and isinstance(v.get("rtl"), (int, float))
            and isinstance(v.get("model"), (int, float))
        ):
            out[k] = {"rtl": v["rtl"], "model": v["model"]}
        else:
            notes.append(f"the co-simulation report has no RTL and model {k.replace('_', ' ')}")
    out["timing_exact"] = t.get("exact")
    return out, notes


def report_data(model_dir, schedule_dir, cosim_report=None, synth_report=None) -> dict:
    """Every number the report plots, read from the artifacts (nothing is written).

    ``cosim_report`` and ``synth_report`` are JSON file paths or loaded dicts (None: omitted).
    Raises :class:`ReportError` (or the model's ``ModelError``) naming the file that is wrong.
    """
    model_dir, schedule_dir = Path(model_dir), Path(schedule_dir)
    sj_path = schedule_dir / "schedule.json"
    model, mfile = _model_part(model_dir)
    s = _schedule_part(sj_path)
    notes = []
    src = s["doc"].get("model", {})
    if src.get("sha256") and src["sha256"] != mfile["sha256"]:
        notes.append(
            f"{sj_path} was mapped from a different model.json ({src.get('path')}) "
            f"than {model_dir / 'model.json'}"
        )
    used, cap = s["used"], s["capacity"]
    data = {
        "sources": {
            "model": str(model_dir),
            "schedule": str(sj_path),
            "cosim": None,
            "synth": None,
        },
        "board": {k: s["board"].get(k) for k in ("name", "part", "family")},
        "accuracy": model["accuracy"],
        "test_images": model["test_images"],
        "layers": model["layers"],
        "spectral": s["spectral"],
        "layer_ii": s["layer_ii"],
        "network": s["network"],
        "resources": {
            "estimate": used,
            "capacity": cap,
            "estimate_percent": {k: 100.0 * used[k] / cap[k] for k in RESOURCES},
            "yosys": None,
        },
        "dse": {"chosen": s["chosen"], "runners_up": s["runners_up"], "sweep": []},
        "cosim": None,
        "synth": None,
        "notes": notes,
    }
    missing = [k for k in ACCURACY_KEYS if k not in model["accuracy"]]
    if missing:
        notes.append(f"{model_dir / 'model.json'} has no accuracy for {', '.join(missing)}")
    data["dse"]["sweep"], n = _sweep(model_dir, s)
    notes += n
    cosim, data["sources"]["cosim"] = _optional_report(cosim_report, "co-simulation report")
    if cosim is None:
        notes.append(
            "no co-simulation report given (`codesign cosim --report FILE`): the RTL "
            "vs model plot is omitted"
        )
    else:
        data["cosim"], n = _cosim_part(cosim)
        notes += n
    synth, data["sources"]["synth"] = _optional_report(synth_report, "synthesis report")
    if synth is None:
        notes.append(
            "no synthesis report given (`codesign synth`): resources are the map "
            "stage's estimates only"
        )
    else:
        data["synth"], n = _synth_part(synth, cap)
        notes += n
        if data["synth"] and data["synth"]["resources"]:
            data["resources"]["yosys"] = {
                k: v["yosys"] for k, v in data["synth"]["resources"].items()
            }
    return data


def _sweep(model_dir: Path, s: dict) -> tuple[list, list]:
    """The pipelined exploration's designs over a range of IIs (empty, with a note, if none)."""
    if s["network"]["style"] != "pipelined":
        return [], ["the schedule uses the sequential style: no II sweep"]
    from codesign.eda.boards import BoardError, load_board
    from codesign.spectral.dse import sweep
    from codesign.spectral.mapping import tasks_from_model
    from codesign.spectral.model import load_model

    name = s["board"].get("name")
    try:
        board = load_board(name)
    except (BoardError, TypeError) as e:
        return [], [f"board {name!r} of the schedule cannot be loaded ({e}): no II sweep"]
    return sweep(tasks_from_model(load_model(model_dir)), board), []


# ---------------------------------------------------------------------------------------------
# plots


def _figure(ncols: int = 1, title: str = ""):
    from matplotlib.figure import Figure

    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    if title:
        fig.suptitle(title, fontsize=11)
    return fig, list(axes)


def _save(fig, path: Path) -> None:
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.16, top=0.86, wspace=0.25)
    fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None})


def _plot_accuracy(d: dict, path: Path) -> None:
    keys = [k for k in ACCURACY_KEYS if k in d["accuracy"]]
    vals = [100 * d["accuracy"][k] for k in keys]
    fig, (ax,) = _figure(1, f"Test accuracy ({d['test_images'] or '?'} images)")
    bars = ax.bar(
        [ACCURACY_LABELS[k] for k in keys], vals, color=COLORS[: len(keys)], label="test accuracy"
    )
    lo, hi = min(vals), max(vals)
    pad = max(1.0, 0.5 * (hi - lo))
    ax.set_ylim(max(0.0, math.floor(lo - pad)), min(100.0, math.ceil(hi + pad)))
    ax.bar_label(bars, labels=[f"{v:.2f}%" for v in vals], padding=2)
    if "dense" in d["accuracy"]:
        ax.axhline(100 * d["accuracy"]["dense"], color="grey", lw=0.8, ls="--", label="dense")
    ax.set_ylabel("accuracy (%)")
    ax.set_xlabel("model")
    ax.legend(loc="lower right")
    _save(fig, path)


def _plot_nonzeros(d: dict, path: Path) -> None:
    from matplotlib.ticker import NullFormatter

    fig, (a1, a2) = _figure(2, "What pruning kept")
    names = [r["name"] for r in d["layers"]]
    x = range(len(names))
    w = 0.4
    b1 = a1.bar(
        [i - w / 2 for i in x],
        [r["weights"] for r in d["layers"]],
        w,
        label="all weights",
        color=COLORS[0],
    )
    b2 = a1.bar(
        [i + w / 2 for i in x],
        [r["nonzero"] for r in d["layers"]],
        w,
        label="non-zero",
        color=COLORS[1],
    )
    a1.bar_label(b1, labels=[_short(r["weights"]) for r in d["layers"]], fontsize=7, padding=1)
    a1.bar_label(b2, labels=[_short(r["nonzero"]) for r in d["layers"]], fontsize=7, padding=1)
    a1.set_yscale("log")
    a1.yaxis.set_minor_formatter(NullFormatter())
    a1.set_ylim(top=4 * max([r["weights"] for r in d["layers"]] + [1]))
    a1.set_xticks(list(x), [f"{r['name']}\n{r['density']:.0%}" for r in d["layers"]])
    a1.set_ylabel("weights (log scale)")
    a1.set_xlabel("layer (share of weights kept)")
    a1.set_title("non-zero weights per layer", fontsize=9)
    a1.legend(fontsize=8)
    sp = d["spectral"]
    b = a2.bar(
        [r["name"] for r in sp],
        [100 * r["pe_utilisation"] for r in sp],
        color=COLORS[2],
        label="PE utilisation",
    )
    a2.bar_label(
        b,
        labels=[f"{100 * r['pe_utilisation']:.0f}%\n(P={r['pes']})" for r in sp],
        fontsize=8,
        padding=1,
    )
    a2.set_ylim(0, 119)
    a2.set_ylabel("busy PE slots (%)")
    a2.set_xlabel("spectral layer")
    a2.set_title("PE utilisation of the Hadamard stage", fontsize=9)
    a2.legend(fontsize=8, loc="lower right")
    _save(fig, path)


def _plot_cycles(d: dict, path: Path) -> None:
    fig, (a1, a2) = _figure(2, "Clock cycles")
    sp = d["spectral"]
    x = range(len(sp))
    w = 0.4
    b1 = a1.bar(
        [i - w / 2 for i in x],
        [r["dense_cycles_per_tile"] for r in sp],
        w,
        label="dense",
        color=COLORS[0],
    )
    b2 = a1.bar(
        [i + w / 2 for i in x],
        [r["cycles_per_tile"] for r in sp],
        w,
        label="sparse",
        color=COLORS[1],
    )
    a1.bar_label(b1, labels=[f"{r['dense_cycles_per_tile']:,}" for r in sp], fontsize=8, padding=1)
    a1.bar_label(
        b2,
        labels=[f"{r['cycles_per_tile']:,}\n({r['dense_over_sparse']:.1f}x)" for r in sp],
        fontsize=8,
        padding=1,
    )
    a1.set_xticks(list(x), [r["name"] for r in sp])
    a1.set_ylim(0, 1.25 * max([r["dense_cycles_per_tile"] for r in sp] or [1]))
    a1.set_ylabel("Hadamard clocks per tile")
    a1.set_xlabel("spectral layer")
    a1.set_title("dense vs sparse Hadamard stage", fontsize=9)
    a1.legend(fontsize=8)
    li = d["layer_ii"]
    b = a2.bar([r["name"] for r in li], [r["ii"] for r in li], color=COLORS[2], label="layer II")
    a2.bar_label(b, labels=[f"{r['ii']:,}\n{r['bottleneck']}" for r in li], fontsize=7, padding=1)
    a2.axhline(
        d["network"]["ii_cycles"],
        color=COLORS[3],
        ls="--",
        lw=1,
        label=f"network II {d['network']['ii_cycles']:,}",
    )
    a2.set_ylim(0, 1.25 * max([r["ii"] for r in li] + [d["network"]["ii_cycles"]]))
    a2.set_ylabel("clocks per image")
    a2.set_xlabel("layer (label: bottleneck)")
    a2.set_title("initiation interval per layer", fontsize=9)
    a2.legend(fontsize=8, loc="upper right")
    _save(fig, path)


def _plot_resources(d: dict, path: Path) -> None:
    r = d["resources"]
    series = [("map estimate", r["estimate"], r["capacity"])]
    if r["yosys"]:
        caps = {k: v["capacity"] for k, v in d["synth"]["resources"].items()}
        series.append(("Yosys", r["yosys"], caps))
    fig, (ax,) = _figure(1, f"Resources on {d['board']['name']} ({d['board']['part']})")
    w = 0.8 / len(series)
    for j, (label, used, caps) in enumerate(series):
        xs = [i + (j - (len(series) - 1) / 2) * w for i, k in enumerate(RESOURCES) if k in used]
        ks = [k for k in RESOURCES if k in used]
        b = ax.bar(xs, [100 * used[k] / caps[k] for k in ks], w, label=label, color=COLORS[j])
        ax.bar_label(b, labels=[f"{_n(used[k])}/{caps[k]:,}" for k in ks], fontsize=7, padding=1)
    ax.axhline(100, color="grey", ls="--", lw=0.8, label="capacity")
    top = max([100 * used[k] / caps[k] for _, used, caps in series for k in used] + [0])
    ax.set_ylim(0, max(108.0, 1.12 * top))
    ax.set_xticks(range(len(RESOURCES)), [RES_LABEL[k] for k in RESOURCES])
    ax.set_ylabel("% of the board's capacity")
    ax.set_xlabel("resource (label: used/capacity)")
    ax.legend(fontsize=8)
    _save(fig, path)


def _plot_dse(d: dict, path: Path) -> None:
    from matplotlib.ticker import MaxNLocator, StrMethodFormatter

    fig, (a1, a2) = _figure(2, "Throughput vs parallelism (design-space exploration)")
    sw, ch, ru = d["dse"]["sweep"], d["dse"]["chosen"], d["dse"]["runners_up"]
    for ax, key, label in ((a1, "dsp", "DSPs used"), (a2, "ii_cycles", "II (clocks per image)")):
        if sw:
            ax.plot(
                [r[key] for r in sw],
                [r["images_per_second"] for r in sw],
                "-",
                color=COLORS[0],
                lw=1,
                label="II sweep",
            )
            fit = [r for r in sw if r["fits"]]
            over = [r for r in sw if not r["fits"]]
            ax.plot(
                [r[key] for r in fit],
                [r["images_per_second"] for r in fit],
                "o",
                color=COLORS[0],
                ms=5,
                label="sweep: fits",
            )
            if over:
                ax.plot(
                    [r[key] for r in over],
                    [r["images_per_second"] for r in over],
                    "o",
                    mfc="none",
                    color=COLORS[3],
                    ms=5,
                    label="sweep: does not fit",
                )
        if ru:
            ax.plot(
                [r[key] for r in ru],
                [r["images_per_second"] for r in ru],
                "s",
                color=COLORS[1],
                ms=7,
                mfc="none",
                mew=1.5,
                label="runners-up",
            )
        ax.plot([ch[key]], [ch["images_per_second"]], "*", color=COLORS[3], ms=14, label="chosen")
        ax.annotate(
            f"{ch['images_per_second']:,.0f}/s",
            (ch[key], ch["images_per_second"]),
            textcoords="offset points",
            xytext=(6, -12),
            fontsize=8,
        )
        ax.set_xlabel(label)
        ax.set_ylabel("images per second")
        ax.set_ylim(0, 1.2 * max([r["images_per_second"] for r in sw + ru + [ch]]))
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
        ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
        ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
        ax.legend(fontsize=7, loc="best")
    _save(fig, path)


def _plot_cosim(d: dict, path: Path) -> None:
    c = d["cosim"]
    keys = [k for k in ("latency_cycles", "interval_cycles") if k in c]
    fig, (ax,) = _figure(1, "RTL co-simulation vs timing model")
    w = 0.38
    x = range(len(keys))
    for j, who in enumerate(("rtl", "model")):
        b = ax.bar(
            [i + (j - 0.5) * w for i in x],
            [c[k][who] for k in keys],
            w,
            label="RTL" if who == "rtl" else "model",
            color=COLORS[j],
        )
        ax.bar_label(b, labels=[f"{c[k][who]:,}" for k in keys], fontsize=8, padding=1)
    ax.set_xticks(list(x), [k.replace("_", " ") for k in keys])
    ax.set_ylim(0, 1.35 * max([c[k][w2] for k in keys for w2 in ("rtl", "model")] + [1]))
    ax.set_ylabel("clock cycles")
    ax.set_xlabel("measure")
    ax.legend(loc="upper right", fontsize=8)
    ax.text(
        0.02,
        0.97,
        _cosim_text(c),
        transform=ax.transAxes,
        va="top",
        fontsize=8,
        bbox={"boxstyle": "round", "fc": "white", "ec": "grey"},
    )
    _save(fig, path)


def _cosim_text(c: dict) -> str:
    lines = [
        f"bit-exact: {_yes(c.get('bit_exact'))} on {c.get('images')} images "
        f"({c.get('score_mismatches')} score mismatches)"
    ]
    if isinstance(c.get("accuracy_rtl"), (int, float)):
        lines.append(
            f"accuracy: RTL {_pct(c['accuracy_rtl'])}, model {_pct(c.get('accuracy_model'))}"
        )
    lines.append(f"timing model exact: {_yes(c.get('timing_exact'))}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Markdown


def _yes(v) -> str:
    return "n/a" if v is None else ("yes" if v else "no")


def _pct(v, digits: int = 2) -> str:
    return f"{100 * v:.{digits}f}%" if isinstance(v, (int, float)) else "n/a"


def _n(v) -> str:
    if isinstance(v, bool) or v is None:
        return _yes(v)
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.1f}"
    return f"{int(v):,}" if isinstance(v, (int, float)) else str(v)


def _short(n: int) -> str:
    return f"{n / 1e6:.3g}M" if n >= 1e6 else f"{n / 1e3:.3g}k" if n >= 1e4 else f"{n:,}"


def _table(head: list, rows: list) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def story(d: dict) -> str:
    """The report's one-paragraph summary, with numbers."""
    acc, parts = d["accuracy"], []
    sp = d["spectral"]
    conv = [r for r in d["layers"] if r["type"] == "spectral_conv"]
    if conv:
        kept, total = sum(r["nonzero"] for r in conv), sum(r["live"] for r in conv)
        parts.append(
            f"Pruning kept {kept:,} of {total:,} live spectral kernel bins ({kept / total:.1%}; "
            f"a bin is live when the inverse transform does not discard it)"
        )
    if "dense" in acc and "pruned" in acc:
        drop = 100 * (acc["dense"] - acc["pruned"])
        fx = f"; {_pct(acc['fixed_point'])} in fixed point" if "fixed_point" in acc else ""
        parts.append(
            f"{'cost' if drop >= 0 else 'gained'} {abs(drop):.2f} percentage points of "
            f"test accuracy (dense {_pct(acc['dense'])} → pruned {_pct(acc['pruned'])}"
            f"{fx}, on {_n(d['test_images'])} test images)"
        )
    text = (" and ".join(parts) + ".") if parts else ""
    if sp:
        dense = sum(r["dense_cycles_per_tile"] * r["tiles"] for r in sp)
        sparse = sum(r["cycles_per_tile"] * r["tiles"] for r in sp)
        per = ", ".join(
            f"{r['name']} {r['dense_cycles_per_tile']:,} → {r['cycles_per_tile']:,}" for r in sp
        )
        text += (
            f" The sparse Hadamard stage needs {dense / max(sparse, 1):.1f}× fewer clocks "
            f"per image than the dense one (per tile: {per})."
        )
    n, r, cap = d["network"], d["resources"]["estimate"], d["resources"]["capacity"]
    slow = max(d["layer_ii"], key=lambda x: x["ii"])
    what = BOTTLENECK.get(slow["bottleneck"], slow["bottleneck"])
    if slow["type"] == "spectral_conv" and slow["bottleneck"] != "hadamard":
        what += ", not by the Hadamard stage"
    acc = n.get("accelerator")
    ii, ips = (
        (acc["interval_cycles"], acc["images_per_second"])
        if acc
        else (n["ii_cycles"], n["images_per_second"])
    )
    text += (
        f" The chosen design takes one image every {ii:,} clocks"
        + (
            f" (the generated accelerator's exact cycle model; the exploration's estimate "
            f"is {n['ii_cycles']:,})"
            if acc
            else ""
        )
        + " — "
        f"{ips:,.0f} images/s at {n['clock_mhz']:g} MHz (the slowest "
        f"layer, {slow['name']}, is bound by its {what}) — and is estimated to use "
        + ", ".join(f"{r[k]:,} {RES_LABEL[k]} ({r[k] / cap[k]:.0%})" for k in RESOURCES)
        + f" of the {d['board']['part']}."
    )
    y = d["resources"]["yosys"]
    if y:
        text += (
            " Yosys counted "
            + ", ".join(f"{_n(y[k])} {RES_LABEL[k]}" for k in RESOURCES if k in y)
            + "."
        )
    c = d["cosim"]
    if c:
        text += (
            f" The RTL was {'bit-exact' if c.get('bit_exact') else 'NOT bit-exact'} with "
            f"the fixed-point model on {_n(c.get('images'))} images (accuracy "
            f"{_pct(c.get('accuracy_rtl'))})"
        )
        if "latency_cycles" in c and "interval_cycles" in c:
            lat, itv = c["latency_cycles"], c["interval_cycles"]
            same = lat["rtl"] == lat["model"] and itv["rtl"] == itv["model"]
            text += f"; its latency and interval ({lat['rtl']:,} and {itv['rtl']:,} clocks) " + (
                "match the timing model exactly"
                if same
                else f"differ from the timing model's ({lat['model']:,} and {itv['model']:,})"
            )
            if itv["rtl"] != n["ii_cycles"] and not acc:
                gap = (itv["rtl"] - n["ii_cycles"]) / n["ii_cycles"]
                text += (
                    f"; the measured interval is {abs(gap):.1%} "
                    f"{'above' if gap > 0 else 'below'} the map stage's estimated II of "
                    f"{n['ii_cycles']:,}"
                )
        text += "."
    return text.strip()


def _markdown(d: dict, pngs: dict) -> str:
    b = d["board"]
    out = [
        f"# Sparse spectral CNN on {b['name']} ({b['part']}): what pruning bought",
        "",
        story(d),
        "",
    ]
    if d["notes"]:
        out += ["Notes:", ""] + [f"- {x}" for x in d["notes"]] + [""]
    acc = d["accuracy"]
    out += ["## 1. Accuracy", ""]
    if "accuracy" in pngs:
        out += [
            f"![accuracy]({pngs['accuracy']})",
            "",
            f"*Test accuracy of the dense network, after ADMM pruning (before retraining), "
            f"after masked retraining, and in the fixed-point arithmetic of the hardware "
            f"({_n(d['test_images'])} test images).*",
            "",
            _table(
                ["model", "accuracy", "vs dense"],
                [
                    [
                        ACCURACY_LABELS[k].replace("\n", " "),
                        _pct(acc[k]),
                        f"{100 * (acc[k] - acc['dense']):+.2f} pp" if "dense" in acc else "n/a",
                    ]
                    for k in ACCURACY_KEYS
                    if k in acc
                ],
            ),
            "",
        ]
    else:
        out += ["The model records no accuracy; plot omitted.", ""]
    out += [
        "## 2. Non-zeros and PE utilisation",
        "",
        f"![nonzeros]({pngs['nonzeros']})",
        "",
        "*Left: weights kept by pruning per layer, against all weights (log scale). Right: "
        "fraction of PE clock slots doing a MAC in each spectral layer's Hadamard stage.*",
        "",
        _table(
            ["layer", "type", "weights", "non-zero", "density", "PE utilisation", "PEs"],
            [
                [
                    r["name"],
                    r["type"],
                    f"{r['weights']:,}",
                    f"{r['nonzero']:,}",
                    f"{r['density']:.1%}",
                    next(
                        (
                            f"{s['pe_utilisation']:.1%}"
                            for s in d["spectral"]
                            if s["name"] == r["name"]
                        ),
                        "—",
                    ),
                    next((str(s["pes"]) for s in d["spectral"] if s["name"] == r["name"]), "—"),
                ]
                for r in d["layers"]
            ],
        ),
        "",
    ]
    out += [
        "## 3. Cycles: dense vs sparse",
        "",
        f"![cycles]({pngs['cycles']})",
        "",
        "*Left: Hadamard-stage clocks per tile of each spectral engine with every weight kept "
        "(dense) and with the pruned kernels (sparse). Right: each layer's initiation interval "
        "(clocks per image) and what bounds it; the slowest sets the network II.*",
        "",
        _table(
            [
                "spectral layer",
                "tiles",
                "dense clocks/tile",
                "sparse clocks/tile",
                "dense ÷ sparse",
            ],
            [
                [
                    r["name"],
                    r["tiles"],
                    f"{r['dense_cycles_per_tile']:,}",
                    f"{r['cycles_per_tile']:,}",
                    f"{r['dense_over_sparse']:.2f}",
                ]
                for r in d["spectral"]
            ],
        ),
        "",
        _table(
            ["layer", "II (clocks)", "bottleneck"],
            [[r["name"], f"{r['ii']:,}", r["bottleneck"]] for r in d["layer_ii"]]
            + [["**network**", f"**{d['network']['ii_cycles']:,}**", ""]],
        ),
        "",
    ]
    r = d["resources"]
    y = r["yosys"] or {}
    synth = (d["synth"] or {}).get("resources", {})
    out += [
        "## 4. Resources",
        "",
        f"![resources]({pngs['resources']})",
        "",
        "*Resources as a percentage of the board's capacity: the map stage's model estimate"
        + (
            " and Yosys's count after synthesis"
            if y
            else " (no synthesis report: Yosys counts omitted)"
        )
        + ".*",
        "",
        _table(
            [
                "resource",
                "capacity",
                "estimate",
                "estimate %",
                "Yosys",
                "Yosys %",
                "estimate error (synth report)",
            ],
            [
                [
                    RES_LABEL[k],
                    f"{r['capacity'][k]:,}",
                    f"{r['estimate'][k]:,}",
                    f"{r['estimate_percent'][k]:.1f}",
                    _n(y[k]) if k in y else "—",
                    f"{synth[k]['percent']:.1f}" if k in synth else "—",
                    f"{synth[k]['error_pct']:+.1f}%"
                    if isinstance(synth.get(k, {}).get("error_pct"), (int, float))
                    else "—",
                ]
                for k in RESOURCES
            ],
        ),
        "",
    ]
    if d["synth"] and d["synth"].get("logic_depth") is not None:
        out += [f"Logic depth after synthesis: {d['synth']['logic_depth']}.", ""]
    dse = d["dse"]
    rows = (
        [["**chosen**", dse["chosen"]]]
        + [["runner-up", x] for x in dse["runners_up"]]
        + [["sweep", x] for x in dse["sweep"]]
    )
    out += [
        "## 5. Throughput vs parallelism",
        "",
        f"![dse]({pngs['dse']})",
        "",
        "*Images per second against DSPs used and against the initiation interval: the chosen "
        "design, the runners-up the exploration reported, and the cheapest design meeting "
        "each of a geometric range of target IIs (free parallelism, at most the inverse-FFT "
        "lanes the generator builds).*",
        "",
        _table(
            ["design", "II (clocks)", "images/s", "DSP", "BRAM36", "LUT", "fits", "parallelism"],
            [
                [
                    w,
                    f"{x['ii_cycles']:,}",
                    f"{x['images_per_second']:,.0f}",
                    _n(x["dsp"]),
                    _n(x["bram36"]),
                    _n(x["lut"]),
                    _yes(x.get("fits")),
                    "; ".join(f"{k}: {v}" for k, v in x.get("parallelism", {}).items()),
                ]
                for w, x in rows
            ],
        ),
        "",
    ]
    out += ["## 6. RTL vs model", ""]
    c = d["cosim"]
    if "cosim" in pngs:
        out += [
            f"![cosim]({pngs['cosim']})",
            "",
            "*Clocks measured in the RTL co-simulation against the accelerator's timing "
            "model: latency (first input to last score of an image) and interval between "
            "images.* " + _cosim_text(c).replace("\n", "; ") + ".",
            "",
            _table(
                ["measure", "RTL", "model"],
                [
                    [k.replace("_", " "), f"{c[k]['rtl']:,}", f"{c[k]['model']:,}"]
                    for k in ("latency_cycles", "interval_cycles")
                    if k in c
                ],
            ),
            "",
        ]
    elif c:
        out += [_cosim_text(c).replace("\n", "; ") + " (no cycle counts: plot omitted).", ""]
    else:
        out += ["No co-simulation report was given; plot omitted.", ""]
    out += [
        "## Artifacts",
        "",
        _table(["artifact", "path"], [[k, f"`{v}`"] for k, v in d["sources"].items() if v]),
        "",
    ]
    return "\n".join(out)


def write_report(
    out, *, model_dir, schedule_dir, cosim_report=None, synth_report=None, quiet: bool = True
) -> Path:
    """Write ``out/`` (atomically): ``report.md`` and its PNG plots; returns ``out/report.md``."""
    import matplotlib
    import matplotlib.style

    d = report_data(model_dir, schedule_dir, cosim_report, synth_report)
    plots = {
        "nonzeros": _plot_nonzeros,
        "cycles": _plot_cycles,
        "resources": _plot_resources,
        "dse": _plot_dse,
    }
    if d["accuracy"]:
        plots["accuracy"] = _plot_accuracy
    if d["cosim"] and ("latency_cycles" in d["cosim"] or "interval_cycles" in d["cosim"]):
        plots["cosim"] = _plot_cosim
    pngs = {k: PLOTS[k] for k in PLOTS if k in plots}
    with (
        atomic_directory(out) as tmp,
        matplotlib.style.context("default"),
        matplotlib.rc_context({"font.size": 9, "path.simplify": True}),
    ):
        for k, f in pngs.items():
            plots[k](d, tmp / f)
        (tmp / "report.md").write_text(_markdown(d, pngs))
    path = Path(out).resolve() / "report.md"
    if not quiet:
        from codesign.progress import console

        console.print(story(d))
        console.print(f"report: {path} ({len(pngs)} plots)")
    return path

"""What the spectral stages print: rich tables of their results (no computation here)."""

from __future__ import annotations

from rich.table import Table

from codesign.progress import console
from codesign.spectral.arch import parallelism

__all__ = ["prune_table", "flow_table", "print_map", "cosim_table"]


def prune_table(model) -> Table:
    acc = model.metrics["accuracy"]
    t = Table(title="prune: spectral LeNet-5", title_justify="left")
    t.add_column("layer")
    t.add_column("weights", justify="right")
    t.add_column("live", justify="right")
    t.add_column("non-zero", justify="right")
    t.add_column("density", justify="right")
    for layer in model.layers:
        m = model.metrics["layers"][layer["name"]]
        live = m.get("live", m["weights"])
        t.add_row(
            layer["name"], str(m["weights"]), str(live), str(m["nonzero"]), f"{m['density']:.2%}"
        )
    a = Table(title="accuracy on the test images", title_justify="left")
    a.add_column("model")
    a.add_column("accuracy", justify="right")
    for k in ("dense", "admm_before_retrain", "pruned", "fixed_point"):
        a.add_row(k.replace("_", " "), f"{acc[k]:.2%}")
    outer = Table.grid(padding=(0, 4))
    outer.add_row(t, a)
    return outer


def flow_table(rows: list[dict], seconds: float) -> Table:
    t = Table(title=f"flow: {seconds:.0f} s", title_justify="left")
    for col in ("stage", "status", "time", "result"):
        t.add_column(col, justify="right" if col == "time" else "left")
    for r in rows:
        style = {"ran": "green", "up to date": "dim", "FAILED": "red"}[r["status"]]
        t.add_row(r["step"], f"[{style}]{r['status']}[/]", f"{r['seconds']:.0f} s", r["summary"])
    return t


def print_map(m, title: str):
    from codesign.spectral.dse import allowed
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
                parallelism(a),
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
        + f"; allowed: {', '.join(f'{k.upper()} {v}' for k, v in allowed(m.board).items())}"
        + (" (budget)" if m.board.budget else " (routing margin)")
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


def cosim_table(r: dict, source: str, rtl_dir) -> Table:
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

"""The sparse-MLP flow's report: accuracy per epoch (model and RTL), clocks per input against
DSP (the z front on the board), resources against the board (yosys and the estimate)."""

from __future__ import annotations

import json
from pathlib import Path

from codesign.artifacts import atomic_directory

__all__ = ["write_mlp_report"]


def _read(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path and path.is_file() else None


def write_mlp_report(out, network_dir, map_dir, cosim_json=None, synth_dir=None) -> Path:
    """Write ``out/report.md`` and its plots (atomically); returns the report's path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from codesign.eda.boards import load_board
    from codesign.mlp.cost import Budget, explore

    net = _read(Path(network_dir) / "network.json")
    mp = _read(Path(map_dir) / "map.json")
    cosim = _read(Path(cosim_json)) if cosim_json else None
    synth = _read(Path(synth_dir) / "report.json") if synth_dir else None
    board = load_board(mp["board"]["name"])
    fo = [j["fo"] for j in net["junctions"]]
    ex = explore(net["layers"], fo, board, Budget(mp["budget"]["margin"], mp["budget"]["max_dsp"]))
    z = net["design"]["z"]
    lines = [
        "# Sparse-MLP trainer report",
        "",
        f"Network {net['layers']}, fo {fo}, z {z}: {sum(j['edges'] for j in net['junctions']):,} "
        f"weights; {net['design']['clocks_per_input']} clocks per input; board {board.name}.",
        "",
        "## Accuracy per epoch",
        "",
        "| epoch | η | float test | fixed test | model online | RTL online |",
        "|---|---|---|---|---|---|",
    ]
    rtl = {e["epoch"]: e for e in (cosim or {}).get("epochs", [])}
    for f, x in zip(net["float"]["epochs"], net["fixed"]["epochs"]):
        r = rtl.get(f["epoch"])
        lines.append(
            f"| {f['epoch']} | 2^-{f['eta_exponent']} | {f['test_accuracy']:.2%} | "
            f"{x['test_accuracy']:.2%} | {x['train_accuracy']:.2%} | "
            + (f"{r['online_accuracy_rtl']:.2%} |" if r else "- |")
        )
    if cosim and "test_accuracy_rtl" in cosim:
        lines += [
            "",
            f"The RTL-trained trainer classifies the test images with "
            f"{cosim['test_accuracy_rtl']:.2%} accuracy (model {cosim['test_accuracy_model']:.2%});"
            f" every weight and bias after every RTL epoch equals the model's "
            f"({cosim['epochs'][-1]['words_bit_exact']:,} words).",
        ]
    lines += [
        "",
        "![accuracy](accuracy.png)",
        "",
        "## Clocks per input against DSP",
        "",
        "| z | clocks/input | DSP | LUT | RAMB18 | fits |",
        "|---|---|---|---|---|---|",
    ]
    for p in ex["front"]:
        mark = " (this design)" if p["z"] == z else ""
        lines.append(
            f"| {p['z']}{mark} | {p['clocks_per_input']} | {p['dsp']} | {p['lut']:,} | "
            f"{p['bram18']} | {'yes' if p['fits'] else 'no'} |"
        )
    lines += ["", "![front](front.png)", ""]
    if synth:
        lines += [
            "## Resources on the board (yosys synth_xilinx)",
            "",
            "| resource | yosys | estimate | capacity |",
            "|---|---|---|---|",
        ]
        for k in ("lut", "ff", "dsp", "bram36"):
            r = synth["resources"][k]
            lines.append(f"| {r['label']} | {r['yosys']:,} | {r['estimate']} | {r['capacity']:,} |")
        lines.append("")
    with atomic_directory(out) as tmp:
        fig, ax = plt.subplots(figsize=(5, 3.2))
        ep = [e["epoch"] for e in net["fixed"]["epochs"]]
        ax.plot(ep, [e["test_accuracy"] for e in net["float"]["epochs"]], "o-", label="float")
        ax.plot(ep, [e["test_accuracy"] for e in net["fixed"]["epochs"]], "s-", label="fixed")
        if rtl:
            ax.plot(
                list(rtl), [rtl[e]["online_accuracy_rtl"] for e in rtl], "x--", label="RTL (online)"
            )
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(tmp / "accuracy.png", dpi=110, metadata={"Software": None})
        plt.close(fig)
        fig, ax = plt.subplots(figsize=(5, 3.2))
        ax.plot(
            [p["dsp"] for p in ex["front"]],
            [p["clocks_per_input"] for p in ex["front"]],
            "o-",
            label="z front",
        )
        here = [p for p in ex["front"] if p["z"] == z]
        if here:
            ax.plot(
                [here[0]["dsp"]], [here[0]["clocks_per_input"]], "r*", ms=12, label="this design"
            )
        ax.axvline(board.dsp, color="0.5", ls=":", label=f"{board.name} DSP")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("DSP48")
        ax.set_ylabel("clocks per input")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(tmp / "front.png", dpi=110, metadata={"Software": None})
        plt.close(fig)
        (tmp / "report.md").write_text("\n".join(lines))
    return Path(out) / "report.md"

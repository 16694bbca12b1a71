"""The generated on-chip trainer, measured: training in RTL against the model, per design.

For the reference network n = (1024, 64, 32), fo = (4, 16) at z = (128, 32) and at z = (64,
16) (``--z`` to choose others): train the artifact (``codesign mlp train``'s stage on the
bundled 4,000 / 1,000 digits), generate the trainer, train it in Verilator — ``--epochs``
epochs (default 10 for the first design, 1 for the others) of the 4,000 training images, every
weight and bias after every epoch compared with the fixed-point model, every prediction too —
and let it classify the 1,000 test images; then yosys ``synth_xilinx`` for the Nexys4 DDR
(``--no-synth`` to skip).

Printed per design: clocks per input in RTL (the spacing of the predictions) and by the cycle
model, inputs trained per second in simulation, clocks per second, inputs per second on the
board at its clock, RTL and model accuracy (online per epoch, test), DSP / RAMB36-equivalent /
LUT / FF by yosys and by the estimate, generation and Verilator build time.

``--json FILE`` writes every figure: ``board``, ``clock_mhz``, and ``designs``: per design
``z``, ``epochs``, ``inputs``, ``clocks_per_input_rtl`` (per epoch), ``clocks_per_input_model``,
``bit_exact`` (bool), ``words`` (weights and biases compared per epoch), ``online_accuracy_rtl``
and ``online_accuracy_model`` (per epoch), ``test_accuracy_rtl``, ``test_accuracy_model``,
``inputs_per_second_simulated``, ``clocks_per_second_simulated``, ``inputs_per_second_board``,
``generate_seconds``, ``cosim_seconds`` (wall, builds included), ``yosys`` (``dsp``,
``bram36``, ``lut``, ``ff``, ``fits``; null with --no-synth), ``estimate`` (the same keys from
the cost model), ``dsp_error_pct`` and ``bram36_error_pct`` (estimate vs yosys).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from codesign.eda.boards import load_board
from codesign.eda.synth import SynthError, synthesise
from codesign.mlp.cosim import cosim_trainer
from codesign.mlp.generate import generate_trainer
from codesign.mlp.settings import read_settings
from codesign.mlp.steps import run_train


def _pct(est, used):
    return None if not used else round(100 * (est - used) / used, 1)


def design(root: Path, z, epochs: int, board, synth: bool) -> dict:
    tag = "-".join(map(str, z))
    s = read_settings(**{"network.z": list(z)})
    net, rtl = root / f"net-{tag}", root / f"rtl-{tag}"
    run_train(s, net, quiet=True)
    t0 = time.perf_counter()
    man = generate_trainer(net, rtl)
    gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    r = cosim_trainer(rtl, epochs=epochs, test_images=1000, work=root / f"cosim-{tag}")
    cos = time.perf_counter() - t0
    est = man["estimate"]
    y = None
    if synth:
        try:
            rep = synthesise(rtl, board.name, root / f"synth-{tag}")
        except SynthError:  # does not fit: the report is written all the same
            rep = json.loads((root / f"synth-{tag}" / "report.json").read_text())
        res = rep["resources"]
        y = {k: res[k]["yosys"] for k in ("dsp", "bram36", "lut", "ff")}
        y["fits"] = rep["fits"]
    block = man["cycle_model"]["clocks_per_input"]
    return {
        "z": list(z),
        "epochs": epochs,
        "inputs": r["inputs"],
        "clocks_per_input_rtl": [e["clocks_per_input_rtl"] for e in r["epochs"]],
        "clocks_per_input_model": block,
        "bit_exact": r["bit_exact"],
        "words": r["epochs"][0]["words_bit_exact"],
        "online_accuracy_rtl": [e["online_accuracy_rtl"] for e in r["epochs"]],
        "online_accuracy_model": [e["online_accuracy_model"] for e in r["epochs"]],
        "test_accuracy_rtl": r["test_accuracy_rtl"],
        "test_accuracy_model": r["test_accuracy_model"],
        "inputs_per_second_simulated": r["inputs_per_second_simulated"],
        "clocks_per_second_simulated": r["clocks_per_second"],
        "inputs_per_second_board": board.target_clock_mhz * 1e6 / block,
        "generate_seconds": gen,
        "cosim_seconds": cos,
        "yosys": y,
        "estimate": est,
        "dsp_error_pct": _pct(est["dsp"], y["dsp"]) if y else None,
        "bram36_error_pct": _pct(est["bram36"], y["bram36"]) if y else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--z", action="append", default=None, help="z per junction, e.g. 128,32")
    ap.add_argument("--epochs", type=int, default=None, help="RTL epochs (default 10, then 1)")
    ap.add_argument("--board", default="nexys4ddr")
    ap.add_argument("--no-synth", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    zs = [tuple(int(v) for v in z.split(",")) for z in a.z] if a.z else [(128, 32), (64, 16)]
    board = load_board(a.board)
    root = a.out or Path(tempfile.mkdtemp(prefix="codesign-mlp-rtl-"))
    rows = []
    for i, z in enumerate(zs):
        epochs = a.epochs if a.epochs is not None else (10 if i == 0 else 1)
        print(f"z = {z}: training, generating, {epochs} RTL epochs ...", flush=True)
        rows.append(design(root, z, epochs, board, not a.no_synth))
    print()
    print(
        f"{'z':>10s} {'clk/in RTL':>11s} {'model':>6s} {'epochs':>6s} {'bit-exact':>9s} "
        f"{'in/s sim':>9s} {'in/s board':>11s} {'test RTL':>8s} {'model':>6s} "
        f"{'DSP y/e':>9s} {'BRAM36 y/e':>11s} {'LUT y/e':>15s}"
    )
    for r in rows:
        y, e = r["yosys"] or {}, r["estimate"]
        print(
            f"{str(tuple(r['z'])):>10s} {str(sorted(set(r['clocks_per_input_rtl']))):>11s} "
            f"{r['clocks_per_input_model']:6d} {r['epochs']:6d} {str(r['bit_exact']):>9s} "
            f"{r['inputs_per_second_simulated']:9,.0f} {r['inputs_per_second_board']:11,.0f} "
            f"{r['test_accuracy_rtl']:8.2%} {r['test_accuracy_model']:6.2%} "
            f"{y.get('dsp', '-')!s:>4s}/{e['dsp']:<4d} "
            f"{y.get('bram36', '-')!s:>5s}/{e['bram36']:<5g} "
            f"{y.get('lut', '-')!s:>7s}/{e['lut']:<7d}"
        )
        print(
            f"{'':>10s} online accuracy per epoch, RTL = model: "
            + " ".join(f"{v:.3f}" for v in r["online_accuracy_rtl"])
        )
    print(f"artifacts: {root}")
    if a.json:
        doc = {"board": board.name, "clock_mhz": board.target_clock_mhz, "designs": rows}
        a.json.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        print(f"wrote {a.json}")


if __name__ == "__main__":
    main()

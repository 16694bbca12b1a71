"""Generate-stage benchmark: both LeNet spectral layers as RTL.

Per layer: RTL clocks against the timing model on N real images (plain Icarus), simulation
speeds (MyHDL model, MyHDL Cosimulation of the Verilog, plain Icarus) in clocks/s, and the
Hadamard stage's clocks per tile measured in RTL simulation for the pruned kernels and for
dense kernels on the same PEs and banks.
Run: ``.venv/bin/python benchmarks/cosim_layer.py [--model build/model] [--images 10]``.
"""

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from click.testing import CliRunner
from myhdl import Simulation, StopSimulation, always, delay, instance

from codesign.cli import main as cli
from codesign.data import load_bundled
from codesign.eda.boards import load_board
from codesign.spectral.cosim import cosim_layer
from codesign.spectral.generate import generate_layer
from codesign.spectral.hdl.hadamard import hadamard_engine, hadamard_signals
from codesign.spectral.mapping import map_tasks, tasks_from_model
from codesign.spectral.model import load_model, save_model
from codesign.spectral.prune import PruneSettings, prune


def hadamard_clocks(lm) -> int:
    """Clocks from start to done of one tile in the MyHDL Hadamard stage."""
    sig = hadamard_signals(lm)
    dut = hadamard_engine(**sig, lm=lm)
    clk, seen = sig["clk"], []

    @always(delay(5))
    def tick():
        clk.next = not clk

    @instance
    def drive():
        sig["rst"].next = 1
        yield clk.negedge
        sig["rst"].next = 0
        sig["start"].next = 1
        yield clk.negedge
        sig["start"].next = 0
        n = 1
        while not sig["done"]:
            yield clk.negedge
            n += 1
        seen.append(n)
        raise StopSimulation

    Simulation(dut, tick, drive).run(quiet=1)
    return seen[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--images", type=int, default=10)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cosim-bench-"))
    if args.model is None:
        args.model = work / "model"
        save_model(prune(load_bundled(0), PruneSettings(), quiet=True), args.model)
    sched = work / "schedule"
    r = CliRunner().invoke(
        cli, ["map", "--model", str(args.model), "--out", str(sched), "--set", "all.ifft_units=1"]
    )
    assert r.exit_code == 0, r.output
    images = load_bundled(0).test_x
    print(
        f"{'layer':6s} {'images':>6s} {'bit-exact':>9s} {'RTL clocks':>10s} {'model':>10s} "
        f"{'icarus c/s':>10s} {'cosim c/s':>9s} {'myhdl c/s':>9s}"
    )
    for layer in ("conv1", "conv2"):
        man = generate_layer(sched, layer, work / layer)
        t0 = time.perf_counter()
        fast = cosim_layer(work / layer, sched, images[: args.images], engine="fast")
        t_fast = time.perf_counter() - t0
        speeds = {}
        for engine in ("icarus", "myhdl"):
            t0 = time.perf_counter()
            one = cosim_layer(work / layer, sched, images[:1], engine=engine)
            speeds[engine] = one["cycles"] / (time.perf_counter() - t0)
            assert one["bit_exact"]
        model = man["expected_cycles"]["out_last"][args.images - 1]
        print(
            f"{layer:6s} {fast['images']:6d} {str(fast['bit_exact']):>9s} "
            f"{fast['marks']['out_last'][-1]:10d} {model:10d} {fast['cycles'] / t_fast:10,.0f} "
            f"{speeds['icarus']:9,.0f} {speeds['myhdl']:9,.0f}"
        )
    model = load_model(args.model)
    q = model.quantized()
    weights = {
        l["name"]: (
            q[f"{l['name']}.kernel_re"].reshape(l["out_channels"], l["in_channels"], -1),
            q[f"{l['name']}.kernel_im"].reshape(l["out_channels"], l["in_channels"], -1),
        )
        for l in model.layers
        if l["type"] == "spectral_conv"
    }
    sparse = map_tasks("s", tasks_from_model(model), load_board("nexys4ddr"), weights=weights)
    print("Hadamard stage in RTL (MyHDL), clocks per tile, same PEs and banks:")
    for name, lm in sparse.layers.items():
        forced = {
            name: {
                "pes": str(lm.arch.pes),
                "banks": str(lm.arch.banks),
                "fft_units": str(lm.arch.fft_units),
            }
        }
        dense_model = replace(model, masks={})
        dense = map_tasks(
            "d", tasks_from_model(dense_model), load_board("vc709"), forced, weights=weights
        ).layers[name]
        s, d = hadamard_clocks(lm), hadamard_clocks(dense)
        print(
            f"  {name}: P={lm.arch.pes} B={lm.arch.banks}: 25 % density {s}, dense {d}: "
            f"dense / sparse = {d / s:.2f}"
        )


if __name__ == "__main__":
    main()

"""Whole-accelerator benchmark: the pruned LeNet as one AXI4-Stream core in RTL simulation.

Maps the model for the Nexys4 DDR, generates the accelerator, and runs the bundled test images
through the converted Verilog (Verilator, one run per core): bit-exact scores, RTL accuracy
against the fixed-point model's, RTL clocks per image against the cycle model, images verified
per minute; then the same with random back-pressure on both AXI4-Stream ports, and one image in
Icarus for the simulator speed ratio.
Run: ``.venv/bin/python benchmarks/cosim_network.py [--model build/model] [--images 1000]``.
"""

import argparse
import tempfile
import time
from pathlib import Path

from click.testing import CliRunner

from codesign.cli import main as cli
from codesign.data import load_bundled
from codesign.spectral.cosim import cosim_accelerator
from codesign.spectral.generate import generate_accelerator
from codesign.spectral.model import save_model
from codesign.spectral.prune import PruneSettings, prune


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--images", type=int, default=1000)
    args = ap.parse_args()
    data = load_bundled(0)
    work = Path(tempfile.mkdtemp(prefix="bench-net-"))
    if args.model is None:
        args.model = work / "model"
        save_model(prune(data, PruneSettings(), quiet=True), args.model)
    sched, rtl = work / "schedule", work / "rtl"
    r = CliRunner().invoke(cli, ["map", "--model", str(args.model), "--out", str(sched), "--quiet"])
    assert r.exit_code == 0, r.output
    t0 = time.perf_counter()
    man = generate_accelerator(sched, rtl)
    t_gen = time.perf_counter() - t0
    x, y = data.test_x[: args.images], data.test_y[: args.images]
    t0 = time.perf_counter()
    rep = cosim_accelerator(rtl, x, y)
    t_all = time.perf_counter() - t0
    tm = rep["timing"]
    print(f"generate: {t_gen:.1f} s; Verilator build {rep['build_seconds']:.1f} s")
    print(
        f"{rep['images']} images, {rep['chunks']} parallel runs: scores bit-exact "
        f"{rep['scores'] - rep['score_mismatches']}/{rep['scores']} "
        f"({(rep['scores'] - rep['score_mismatches']) / rep['scores']:.2%}); predicted classes "
        f"equal: {rep['classes_equal_model']}"
    )
    print(f"accuracy: RTL {rep['accuracy_rtl']:.2%}, fixed-point model {rep['accuracy_model']:.2%}")
    print(
        f"clocks per image (interval): RTL {tm['interval_cycles']['rtl']}, model "
        f"{tm['interval_cycles']['model']} (ratio "
        f"{tm['interval_cycles']['rtl'] / tm['interval_cycles']['model']:.4f}); latency: RTL "
        f"{tm['latency_cycles']['rtl']}, model {tm['latency_cycles']['model']}; every image's "
        f"clock edges equal: {tm['exact']}"
    )
    print(
        f"speed: {rep['images_per_minute']:,.0f} images/min simulated "
        f"({rep['clocks_per_second']:,.0f} clocks/s over {rep['chunks']} runs), "
        f"{t_all:.1f} s wall for the whole check including the reference"
    )
    clock = man["board"]["target_clock_mhz"]
    print(
        f"hardware rate at {clock:.0f} MHz: "
        f"{clock * 1e6 / tm['interval_cycles']['rtl']:,.0f} images/s, latency "
        f"{tm['latency_cycles']['rtl'] / clock:.1f} us"
    )
    n_bp = min(100, args.images)
    bp = cosim_accelerator(rtl, x[:n_bp], gap_in=30, gap_out=50, seed=7)
    print(
        f"back-pressure (30 % tvalid gaps, 50 % tready gaps), {n_bp} images: bit-exact "
        f"{bp['bit_exact']}, clocks {bp['clocks']:,} vs {rep['clocks'] * n_bp // args.images:,}"
        f" unthrottled (pro rata)"
    )
    ic = cosim_accelerator(rtl, x[:1], simulator="icarus")
    print(
        f"Icarus, 1 image: bit-exact {ic['bit_exact']}, clocks equal {ic['timing']['exact']}, "
        f"{ic['clocks_per_second']:,.0f} clocks/s vs Verilator "
        f"{rep['clocks_per_second'] / rep['chunks']:,.0f} per run "
        f"({rep['clocks_per_second'] / rep['chunks'] / ic['clocks_per_second']:,.0f}x)"
    )


if __name__ == "__main__":
    main()

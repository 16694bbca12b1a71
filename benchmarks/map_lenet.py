"""Map-stage benchmark: the pruned LeNet on the Nexys4 DDR, and VGG16 at 25 % density on the VC709.

Prints, per spectral layer, PE utilisation, cycles per tile against the lower bound, and cycles of
the same architecture dense ÷ sparse; modeled images/s; the scheduler's wall time and peak memory.
The LeNet model comes from ``--model DIR`` (default: prune on the bundled data first).
Run: ``.venv/bin/python benchmarks/map_lenet.py [--model build/model] [--no-vgg]``.
"""

import argparse
import resource
import time
from pathlib import Path

from codesign.data import load_bundled
from codesign.eda.boards import load_board
from codesign.spectral.dse import explore_sequential
from codesign.spectral.mapping import map_tasks, tasks_from_model, vgg16_tasks
from codesign.spectral.model import load_model, save_model
from codesign.spectral.prune import PruneSettings, prune


def _report(m, seconds: float) -> None:
    print(
        f"{'layer':8s} {'P':>4s} {'B':>4s} {'non-zero':>9s} {'cycles':>7s} {'bound':>7s} "
        f"{'util':>7s} {'dense/sparse':>12s}"
    )
    for name, lm in m.layers.items():
        r = lm.report()
        print(
            f"{name:8s} {lm.arch.pes:4d} {lm.arch.banks:4d} {r['nonzero']:9d} "
            f"{r['cycles_per_tile']:7d} {r['lower_bound']:7d} {r['pe_utilisation']:7.1%} "
            f"{r['dense_over_sparse']:12.2f}"
        )
    n = m.design.network
    res = n["resources"]
    print(
        f"modeled: II {n['ii_cycles']} cycles, {n['images_per_second']:,.1f} images/s at "
        f"{n['clock_mhz']:.0f} MHz; DSP {res['dsp']}, BRAM36 {res['bram36']}, LUT {res['lut']}; "
        f"fits {m.board.name}: {m.design.fits}"
    )
    print(
        f"map wall time {seconds:.1f} s, peak RSS "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--no-vgg", action="store_true")
    args = ap.parse_args()
    if args.model is None:
        args.model = Path("build/bench/model")
        save_model(prune(load_bundled(0), PruneSettings(), quiet=True), args.model)
    model = load_model(args.model)
    print(f"== LeNet-5 ({args.model}) on nexys4ddr")
    t0 = time.perf_counter()
    m = map_tasks("lenet", tasks_from_model(model), load_board("nexys4ddr"))
    _report(m, time.perf_counter() - t0)
    if args.no_vgg:
        return
    print("== VGG16, 25 % density (synthetic balanced masks, seed 0) on vc709")
    t0 = time.perf_counter()
    tasks = vgg16_tasks(0.25, 0)
    m = map_tasks("vgg16", tasks, load_board("vc709"), style="sequential")
    _report(m, time.perf_counter() - t0)
    dense = explore_sequential(vgg16_tasks(1.0, 0), load_board("vc709"))["chosen"].network
    sparse = m.design.network
    print(
        f"same board and DSP budget: dense spectral {dense['images_per_second']:,.1f} images/s, "
        f"sparse {sparse['images_per_second']:,.1f} images/s: "
        f"{dense['ii_cycles'] / sparse['ii_cycles']:.2f}x (modeled)"
    )


if __name__ == "__main__":
    main()

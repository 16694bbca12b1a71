"""Prune-stage benchmark on the bundled MNIST data with the default settings.

Prints dense, pruned and quantised-pruned accuracy on the 1,000 test images, per-layer density,
and wall times (the ADMM stage separately), as one table.  Run:
``.venv/bin/python benchmarks/prune_lenet.py [--seed N]``.
"""

import argparse

from codesign.data import load_bundled
from codesign.spectral.prune import PruneSettings, prune


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--density", type=float, default=0.25)
    args = ap.parse_args()
    data = load_bundled(seed=args.seed)
    m = prune(data, PruneSettings(density=args.density, seed=args.seed), quiet=True)
    acc, secs = m.metrics["accuracy"], m.metrics["seconds"]
    print(f"data: bundled MNIST, {data.n_train} train / {data.n_test} test, seed {args.seed}")
    print(f"{'model':24s} {'accuracy':>9s}")
    for k in ("dense", "admm_before_retrain", "pruned", "fixed_point"):
        print(f"{k:24s} {acc[k]:9.2%}")
    print(f"pruned - dense:        {100 * (acc['pruned'] - acc['dense']):+.1f} pp")
    print(f"fixed point - pruned:  {100 * (acc['fixed_point'] - acc['pruned']):+.1f} pp")
    print(f"{'layer':8s} {'weights':>8s} {'non-zero':>9s} {'density':>8s} {'ADMM s':>7s}")
    for name, l in m.metrics["layers"].items():
        t = l.get("admm_seconds")
        print(
            f"{name:8s} {l['weights']:8d} {l['nonzero']:9d} {l['density']:8.2%} "
            f"{'' if t is None else f'{t:7.1f}'}"
        )
    print(
        f"wall time: dense training {secs['train_dense']:.1f} s, ADMM {secs['admm']:.1f} s, "
        f"masked retraining {secs['retrain']:.1f} s"
    )
    print(f"saturations in the fixed-point test run: {sum(m.metrics['saturations'].values())}")


if __name__ == "__main__":
    main()

"""``codesign specbp``: speculative back-propagation on the CPU — train at one threshold, or sweep
the thresholds against the sequential baseline."""

from __future__ import annotations

from pathlib import Path

import click

from codesign.command import DEFAULT_BUILD, friendly
from codesign.progress import console, progress

__all__ = ["COMMANDS"]


def _floats(ctx, param, value):
    try:
        return [float(x) for x in value.split(",")]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated numbers, got {value!r}") from None


def _common(fn):
    for opt in reversed(
        [
            click.option(
                "--data",
                "data_dir",
                type=click.Path(file_okay=False, path_type=Path),
                default=None,
                help="directory of the four MNIST IDX files (default: the bundled digits)",
            ),
            click.option("--epochs", type=int, default=10, show_default=True),
            click.option("--seed", type=int, default=0, show_default=True, help="initial weights"),
        ]
    ):
        fn = opt(fn)
    return fn


def _setup(epochs, seed):
    from codesign.specbp.reference import Setup

    return Setup(epochs=epochs, seed=seed)


@click.group("specbp")
def specbp_group():
    """Speculative back-propagation: the backward pass starts from the stored activations of
    the last input with the same label while the forward pass runs (docs/specbp.md)."""


@specbp_group.command("train")
@_common
@click.option("--threshold", type=float, default=0.25, show_default=True)
@click.option("--threads", type=click.IntRange(1, 2), default=2, show_default=True)
@friendly
def train_cmd(data_dir, epochs, seed, threshold, threads):
    """Train once with speculation and once with the plain trainer; compare."""
    from rich.table import Table

    from codesign import data as data_mod
    from codesign.specbp.reference import Outcome, pixels
    from codesign.specbp.trainer import train

    ds = data_mod.load(data_dir)
    setup = _setup(epochs, seed)
    test = (pixels(ds.test_x), ds.test_y)
    base = train(setup, ds.train_x, ds.train_y, speculate=False, threads=1, test=test)
    run = train(setup, ds.train_x, ds.train_y, threshold=threshold, threads=threads, test=test)
    t = Table(title=f"threshold {threshold}, {threads} thread(s), against the plain trainer")
    for col in ("epoch", "hit rate", "seconds", "baseline seconds", "test", "baseline test"):
        t.add_column(col, justify="right")
    for e in range(epochs):
        t.add_row(
            str(e + 1),
            f"{(run.outcomes[e] == Outcome.HIT).mean():.2%}",
            f"{run.epoch_seconds[e]:.3f}",
            f"{base.epoch_seconds[e]:.3f}",
            f"{run.test_accuracy[e]:.2%}",
            f"{base.test_accuracy[e]:.2%}",
        )
    console.print(t)
    console.print(
        f"wall time {run.seconds:.3f} s = {run.seconds / base.seconds:.2f} × the baseline's "
        f"{base.seconds:.3f} s; hit rate {run.hit_rate:.2%}; ns per input: hit "
        f"{run.step_mean_ns(Outcome.HIT):,.0f}, miss {run.step_mean_ns(Outcome.MISS):,.0f}, "
        f"baseline {base.step_mean_ns(Outcome.SERIAL):,.0f}"
    )


@specbp_group.command("sweep")
@_common
@click.option(
    "--thresholds",
    callback=_floats,
    default="0,0.05,0.1,0.25,0.5,1.0",
    show_default=True,
)
@click.option("--repeats", type=click.IntRange(1), default=3, show_default=True)
@click.option("--check-reference", is_flag=True, help="also train the numpy reference; compare")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_BUILD / "specbp",
    show_default=True,
)
@click.option("--quiet", is_flag=True, help="no progress bar")
@friendly
def sweep_cmd(data_dir, epochs, seed, thresholds, repeats, check_reference, out, quiet):
    """Hit rate, wall time ÷ the sequential baseline and accuracy for each threshold."""
    from rich.table import Table

    from codesign import data as data_mod
    from codesign.specbp.sweep import run_sweep, sweep_steps, write_sweep

    ds = data_mod.load(data_dir)
    with progress("specbp sweep", sweep_steps(repeats, thresholds, check_reference), quiet) as bar:
        result = run_sweep(
            _setup(epochs, seed),
            ds,
            thresholds,
            repeats=repeats,
            check_reference=check_reference,
            progress=bar.advance,
        )
    out = write_sweep(result, out)
    b = result["baseline"]
    t = Table(title=f"baseline {b['seconds']:.3f} s, test {b['test_accuracy']:.2%}")
    cols = ["threshold", "hit rate", "seconds", "÷ baseline", "test", "Δ pp", "= baseline"]
    if check_reference:
        cols.append("reference")
    for col in cols:
        t.add_column(col, justify="right")
    for p in result["points"]:
        row = [
            str(p["threshold"]),
            f"{p['hit_rate']:.2%}",
            f"{p['seconds']:.3f}",
            f"{p['time_ratio']:.2f}",
            f"{p['test_accuracy']:.2%}",
            f"{100 * p['accuracy_change']:+.1f}",
            "bit-identical" if p["bit_identical_to_baseline"] else "",
        ]
        if check_reference:
            r = p["reference"]
            row.append(
                f"{'same' if r['same_outcomes'] else 'DIFFERENT'} outcomes, "
                f"|Δw| ≤ {r['max_abs_weight_difference']:.1e}"
            )
        t.add_row(*row)
    console.print(t)
    console.print(f"sweep: {out / 'sweep.json'}; report: {out / 'report.md'}")


COMMANDS = (specbp_group,)

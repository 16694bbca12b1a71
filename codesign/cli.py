"""The ``codesign`` command: one sub-command per stage, plus ``flow`` that chains them."""
from __future__ import annotations

import functools
import time
from dataclasses import replace
from pathlib import Path

import click
from rich.table import Table

from .data import DataError, load
from .model import ModelError, load_model, save_model
from .progress import console
from .prune import PruneSettings, prune
from .tools import ToolError

__all__ = ["main"]

DEFAULT_BUILD = Path("build")


def _friendly(fn):
    """Turn the toolkit's own errors into a one-paragraph message and exit status 2."""
    @functools.wraps(fn)
    def wrapper(*a, **kw):
        try:
            return fn(*a, **kw)
        except (DataError, ModelError, ToolError, ValueError) as e:
            raise click.ClickException(str(e)) from None
    return wrapper


def _prune_table(model) -> Table:
    acc = model.metrics["accuracy"]
    t = Table(title="prune: spectral LeNet-5", title_justify="left")
    t.add_column("layer")
    t.add_column("weights", justify="right")
    t.add_column("non-zero", justify="right")
    t.add_column("density", justify="right")
    for layer in model.layers:
        m = model.metrics["layers"][layer["name"]]
        t.add_row(layer["name"], str(m["weights"]), str(m["nonzero"]), f"{m['density']:.2%}")
    a = Table(title="accuracy on the test images", title_justify="left")
    a.add_column("model")
    a.add_column("accuracy", justify="right")
    for k in ("dense", "admm_before_retrain", "pruned", "fixed_point"):
        a.add_row(k.replace("_", " "), f"{acc[k]:.2%}")
    outer = Table.grid(padding=(0, 4))
    outer.add_row(t, a)
    return outer


def run_prune(out: Path, settings: PruneSettings, data_dir, quiet: bool):
    data = load(data_dir, seed=settings.seed)
    model = prune(data, settings, quiet=quiet)
    save_model(model, out)
    console.print(_prune_table(model))
    secs = model.metrics["seconds"]
    console.print(f"data: {data.name} ({data.n_train} train / {data.n_test} test); "
                  f"time: dense {secs['train_dense']:.0f} s, ADMM {secs['admm']:.1f} s, "
                  f"retrain {secs['retrain']:.0f} s; saturations: "
                  f"{sum(model.metrics['saturations'].values())}")
    console.print(f"model artifact: {out}")
    return model


@click.group()
@click.version_option(package_name="codesign")
def main():
    """Hardware/software co-design of sparse spectral CNN accelerators for FPGAs."""


def _prune_options(f):
    opts = [
        click.option("--density", type=click.FloatRange(0, 1, min_open=True), default=0.25,
                     show_default=True, help="fraction of spectral weights kept per conv layer"),
        click.option("--dense-density", type=click.FloatRange(0, 1, min_open=True), default=1.0,
                     show_default=True, help="fraction of dense-layer weights kept"),
        click.option("--layer-density", multiple=True, metavar="NAME=D",
                     help="per-layer density overriding the model-wide ones, e.g. fc1=0.5"),
        click.option("--balanced/--unbalanced", default=True, show_default=True,
                     help="same number of non-zeros in every kernel (helps the scheduler)"),
        click.option("--epochs", type=click.IntRange(1), default=12, show_default=True),
        click.option("--retrain-epochs", type=click.IntRange(0), default=4, show_default=True),
        click.option("--admm-iterations", type=click.IntRange(1), default=24, show_default=True),
        click.option("--data", "data_dir", type=click.Path(file_okay=False), default=None,
                     help="directory with the four MNIST IDX files (default: bundled 5k subset)"),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--quiet", is_flag=True, help="no progress bars"),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def _layer_densities(items) -> dict:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            d = float(value)
        except ValueError:
            d = -1.0
        if not sep or not name or not 0.0 < d <= 1.0:
            raise click.BadParameter(f"'{item}': expected NAME=D with D in (0, 1], e.g. fc1=0.5",
                                     param_hint="--layer-density")
        out[name] = d
    return out


def _settings(density, dense_density, layer_density, balanced, epochs, retrain_epochs,
              admm_iterations, seed):
    s = PruneSettings(density=density, dense_density=dense_density,
                      layer_density=_layer_densities(layer_density), balanced=balanced,
                      epochs=epochs, retrain_epochs=retrain_epochs, seed=seed)
    return replace(s, admm=replace(s.admm, iterations=admm_iterations))


@main.command("prune")
@_prune_options
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=DEFAULT_BUILD / "model", show_default=True)
@_friendly
def prune_cmd(density, dense_density, layer_density, balanced, epochs, retrain_epochs,
              admm_iterations, data_dir, seed, quiet, out):
    """Train the spectral LeNet, prune it with ADMM, retrain, quantise; write a model artifact."""
    run_prune(out, _settings(density, dense_density, layer_density, balanced, epochs,
                             retrain_epochs, admm_iterations, seed), data_dir, quiet)


@main.command("inspect")
@click.argument("model_dir", type=click.Path(path_type=Path))
@_friendly
def inspect_cmd(model_dir):
    """Validate a model artifact and print its summary."""
    model = load_model(model_dir)
    for layer in model.layers:
        key = f"{layer['name']}." + ("kernel" if layer["type"] == "spectral_conv" else "weight")
        m = model.masks.get(key)
        dens = f"{m.mean():.2%}" if m is not None else "100% (dense)"
        console.print(f"{layer['name']:6s} {layer['type']:14s} density {dens}")
    console.print(f"accuracy: {model.metrics['accuracy']}")


@main.command("flow")
@_prune_options
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_BUILD,
              show_default=True, help="directory for every stage's artifact")
@_friendly
def flow_cmd(density, dense_density, layer_density, balanced, epochs, retrain_epochs,
             admm_iterations, data_dir, seed, quiet, out):
    """Run the whole chain on the bundled default (today: the prune stage)."""
    t0 = time.perf_counter()
    run_prune(out / "model", _settings(density, dense_density, layer_density, balanced, epochs,
                                       retrain_epochs, admm_iterations, seed), data_dir, quiet)
    console.print(f"flow finished in {time.perf_counter() - t0:.0f} s")

"""The architecture description: how much hardware each layer gets.

A small, serialisable config.  Per spectral layer: FFT size N, processing elements P, spectrum
banks B with their read ports, FFT and inverse-FFT units, MAC pipeline latency and word widths;
per dense layer: its MAC parallelism.  The design-space exploration (:mod:`codesign.dse`) chooses
the defaults; any field can be forced from a TOML file or ``--set layer.field=value``.

TOML form (every table and key optional)::

    [all]              # applies to every spectral layer
    mac_latency = 4
    [layers.conv2]     # one layer; overrides [all]
    pes = 4
    banks = 4
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from codesign.errors import CodesignError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "SpectralArch",
    "DenseArch",
    "ArchError",
    "parse_overrides",
    "load_overrides",
    "apply_overrides",
    "check_override_layers",
    "arch_from_dict",
    "parallelism",
]


class ArchError(CodesignError, ValueError):
    """An architecture override that cannot be applied; names the source and field."""


@dataclass(frozen=True)
class SpectralArch:
    """Hardware of one spectral conv layer engine.  ``in_words`` / ``out_words``: activations
    per clock on its input / output stream (a link between two conv engines may carry
    several channels of one position per clock; the network's ends carry one)."""

    name: str
    fft: int
    pes: int
    banks: int
    ports: int = 1
    broadcast: bool = False
    fft_units: int = 1
    ifft_units: int = 1
    tile_slices: int = 1
    in_words: int = 1
    out_words: int = 1
    mac_latency: int = 4
    forwarding: bool = False
    spectrum_bits: int = 24
    weight_bits: int = 16
    activation_bits: int = 16

    kind = "spectral_conv"

    def to_dict(self) -> dict:
        return dict(asdict(self), type=self.kind)


@dataclass(frozen=True)
class DenseArch:
    """Hardware of one dense layer: ``macs`` multiply-accumulators working in parallel."""

    name: str
    macs: int
    mac_latency: int = 4
    weight_bits: int = 16
    activation_bits: int = 16

    kind = "dense"

    def to_dict(self) -> dict:
        return dict(asdict(self), type=self.kind)


def parallelism(arch: dict) -> str:
    """A layer's parallelism in one line, from its ``to_dict()`` (as schedule.json holds it):
    ``P=6 B=6 fft=1 ifft=6 slices=2`` for a spectral layer, ``macs=2`` for a dense one."""
    if arch.get("type") == DenseArch.kind:
        return f"macs={arch.get('macs')}"
    par = (
        f"P={arch.get('pes')} B={arch.get('banks')} fft={arch.get('fft_units')} "
        f"ifft={arch.get('ifft_units')}"
    )
    slices = arch.get("tile_slices", 1)
    par += f" slices={slices}" if slices != 1 else ""
    for key in ("in_words", "out_words"):
        par += f" {key}={arch[key]}" if arch.get(key, 1) != 1 else ""
    return par


_INT_MIN = {
    "fft": 2,
    "pes": 1,
    "banks": 1,
    "ports": 1,
    "fft_units": 1,
    "ifft_units": 1,
    "tile_slices": 1,
    "in_words": 1,
    "out_words": 1,
    "mac_latency": 1,
    "spectrum_bits": 2,
    "weight_bits": 2,
    "activation_bits": 2,
    "macs": 1,
}


def _coerce(cls, key: str, value, source: str):
    names = {f.name: f for f in fields(cls)}
    if key not in names or key == "name":
        raise ArchError(
            f"{source}: '{key}' is not a field of a {cls.kind} layer; fields: "
            f"{', '.join(n for n in names if n != 'name')}"
        )
    if key in ("broadcast", "forwarding"):
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            return value.lower() in ("true", "1")
        if isinstance(value, bool):
            return value
        raise ArchError(f"{source}: '{key}' must be true or false, got {value!r}")
    try:
        v = int(value)
    except (TypeError, ValueError):
        raise ArchError(f"{source}: '{key}' must be an integer, got {value!r}") from None
    if isinstance(value, bool) or (isinstance(value, float) and v != value):
        raise ArchError(f"{source}: '{key}' must be an integer, got {value!r}")
    if v < _INT_MIN[key]:
        raise ArchError(f"{source}: '{key}' must be >= {_INT_MIN[key]}, got {v}")
    if key == "fft" and v & (v - 1):
        raise ArchError(f"{source}: 'fft' must be a power of two, got {v}")
    return v


def parse_overrides(items) -> dict:
    """``["conv2.pes=4", "all.mac_latency=3"]`` → ``{"conv2": {"pes": "4"}, "all": {...}}``."""
    out: dict = {}
    for item in items:
        lhs, sep, value = item.partition("=")
        layer, dot, key = lhs.partition(".")
        if not sep or not dot or not layer or not key or value == "":
            raise ArchError(
                f"--set '{item}': expected LAYER.FIELD=VALUE, e.g. conv2.pes=4 (LAYER may be 'all')"
            )
        out.setdefault(layer, {})[key] = value
    return out


def load_overrides(path: str | Path) -> dict:
    """Read an architecture TOML file into the same form as :func:`parse_overrides`."""
    p = Path(path)
    try:
        d = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise ArchError(f"{p}: architecture file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise ArchError(f"{p}: not valid TOML ({e})") from None
    unknown = set(d) - {"all", "layers"}
    if unknown:
        raise ArchError(f"{p}: unknown tables {sorted(unknown)}; use [all] and [layers.NAME]")
    out = {}
    if "all" in d:
        out["all"] = dict(d["all"])
    for name, t in d.get("layers", {}).items():
        if not isinstance(t, dict):
            raise ArchError(f"{p}: [layers.{name}] must be a table")
        out[name] = dict(t)
    out["_source"] = str(p)
    return out


def apply_overrides(arch, overrides: dict, source: str = "--set"):
    """Return ``arch`` (a layer's SpectralArch/DenseArch) with ``all`` then its own overrides."""
    src = overrides.get("_source", source)
    for scope in ("all", arch.name):
        for key, value in overrides.get(scope, {}).items():
            if (
                scope == "all"
                and arch.kind == "dense"
                and key not in {f.name for f in fields(arch)}
            ):
                continue
            arch = replace(arch, **{key: _coerce(type(arch), key, value, f"{src} [{scope}]")})
    return arch


def check_override_layers(overrides: dict, names: list[str]) -> None:
    unknown = set(overrides) - set(names) - {"all", "_source"}
    if unknown:
        raise ArchError(
            f"{overrides.get('_source', '--set')}: unknown layers {sorted(unknown)}; "
            f"the model's layers are {names}"
        )


def arch_from_dict(d: dict):
    """Inverse of ``to_dict`` (used when reading a schedule artifact)."""
    d = dict(d)
    kind = d.pop("type")
    cls = SpectralArch if kind == "spectral_conv" else DenseArch
    return cls(**d)

"""The sparse-MLP system's settings, their TOML tables and their checks.

``[network]`` (connectivity), ``[train]`` (online training), ``[map]`` (board and budget) and
the flow's ``[generate]``, ``[cosim]``, ``[synth]`` and ``[flow]`` of a TOML file, each key
optional; a bad value raises :class:`SettingsError` naming the file,
the key and the fix.  ``z = "auto"`` lets the design-space exploration pick the z per junction
that trains fastest on the ``[map]`` board.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from codesign.errors import CodesignError
from codesign.flow import load_config
from codesign.mlp.connectivity import Interleaver
from codesign.mlp.fixedpoint import Activation
from codesign.mlp.train import Schedule

__all__ = [
    "SettingsError",
    "NetworkSettings",
    "TrainSettings",
    "MapSettings",
    "MlpSettings",
    "TOML_KEYS",
    "read_settings",
]


class SettingsError(CodesignError, ValueError):
    """A setting that cannot be used; names the file or flag, the key and the fix."""


@dataclass(frozen=True)
class NetworkSettings:
    layers: tuple = (1024, 64, 32)
    fo: tuple = (4, 16)
    z: tuple | str = (128, 32)
    interleaver: str = "start"
    dither: bool = False
    repeat_sweeps: bool = False
    activation: str = "sigmoid"
    seed: int = 1  # of the interleavers; junction i uses seed + i


@dataclass(frozen=True)
class TrainSettings:
    eta_exponents: tuple = (3, 3, 3, 3, 4, 4, 4, 5, 5, 5)  # η = 2^-k, one entry per epoch
    schedule: str = "pipelined"
    threshold: float = 0.25  # speculative: mean |Δσ| of the 10 outputs that still hits
    seed: int = 0  # of the initial weights
    train_images: int | None = None  # the first N training images (default: all)
    data_dir: str | None = None  # IDX directory (default: the bundled 4,000/1,000 split)
    data_seed: int = 0  # of the bundled split


@dataclass(frozen=True)
class MapSettings:
    board: str = "nexys4ddr"
    margin: float = 0.8
    max_dsp: int | None = None
    up_in_dsp: bool = False


@dataclass(frozen=True)
class GenerateSettings:
    pixels_per_beat: int = 32
    top: str = "codesign_mlp_trainer"
    speculative: bool = False  # the speculating trainer (sequential, speculative schedules)


@dataclass(frozen=True)
class CosimSettings:
    epochs: int | None = None  # trained in the RTL (default: every epoch of the artifact)
    inputs: int | None = None  # training images per epoch (default: all)
    test_images: int = 1000  # classified by the RTL-trained trainer
    simulator: str = "verilator"
    schedule: str | None = None  # default: train.schedule if the trainer runs it, else its first


@dataclass(frozen=True)
class SynthSettings:
    enabled: bool = True


@dataclass(frozen=True)
class FlowOut:
    out: str = "build/mlp-flow"


@dataclass(frozen=True)
class MlpSettings:
    network: NetworkSettings = field(default_factory=NetworkSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    map: MapSettings = field(default_factory=MapSettings)
    generate: GenerateSettings = field(default_factory=GenerateSettings)
    cosim: CosimSettings = field(default_factory=CosimSettings)
    synth: SynthSettings = field(default_factory=SynthSettings)
    flow: FlowOut = field(default_factory=FlowOut)

    def to_dict(self) -> dict:
        return asdict(self)


_TABLES = {
    "network": NetworkSettings,
    "train": TrainSettings,
    "map": MapSettings,
    "generate": GenerateSettings,
    "cosim": CosimSettings,
    "synth": SynthSettings,
    "flow": FlowOut,
}
TOML_KEYS = {t: set(c.__dataclass_fields__) for t, c in _TABLES.items()}


def _ints(v, where, what, minimum=1):
    if not isinstance(v, (list, tuple)) or not v:
        raise SettingsError(f"{where}: {what} must be a non-empty list of integers, got {v!r}")
    for x in v:
        if not isinstance(x, int) or isinstance(x, bool) or x < minimum:
            raise SettingsError(f"{where}: {what} must hold integers ≥ {minimum}, got {x!r}")
    return tuple(v)


def _int(v, where, what, minimum=0):
    if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
        raise SettingsError(f"{where}: {what} must be an integer ≥ {minimum}, got {v!r}")
    return v


def _bool(v, where, what):
    if not isinstance(v, bool):
        raise SettingsError(f"{where}: {what} must be true or false, got {v!r}")
    return v


def check(s: MlpSettings, where: str = "settings") -> MlpSettings:
    """``s`` with every value checked and normalised (lists as tuples)."""
    n, t, m = s.network, s.train, s.map
    layers = _ints(n.layers, where, "network.layers")
    if len(layers) < 2:
        raise SettingsError(f"{where}: network.layers needs at least two layers, got {layers}")
    if layers[-1] < 10:
        raise SettingsError(
            f"{where}: network.layers ends with {layers[-1]} neurons; the output layer needs at "
            "least 10 (the first 10 are the digits)"
        )
    fo = _ints(n.fo, where, "network.fo")
    if len(fo) != len(layers) - 1:
        raise SettingsError(
            f"{where}: network.fo needs {len(layers) - 1} values (one per junction), got {fo}"
        )
    z = n.z
    if z != "auto":
        z = _ints(z, where, "network.z ('auto' or one integer per junction)")
        if len(z) != len(fo):
            raise SettingsError(f"{where}: network.z needs {len(fo)} values, got {list(z)}")
    for enum_type, key, value in (
        (Interleaver, "network.interleaver", n.interleaver),
        (Activation, "network.activation", n.activation),
        (Schedule, "train.schedule", t.schedule),
    ):
        if value not in {e.value for e in enum_type}:
            allowed = ", ".join(repr(e.value) for e in enum_type)
            raise SettingsError(f"{where}: {key} = {value!r} is unknown; use {allowed}")
    _bool(n.dither, where, "network.dither")
    _bool(n.repeat_sweeps, where, "network.repeat_sweeps")
    _int(n.seed, where, "network.seed")
    etas = _ints(t.eta_exponents, where, "train.eta_exponents (one per epoch)", minimum=0)
    if max(etas) > 12:
        raise SettingsError(f"{where}: train.eta_exponents must be ≤ 12 (η = 2^-k), got {etas}")
    _int(t.seed, where, "train.seed")
    _int(t.data_seed, where, "train.data_seed")
    if t.train_images is not None:
        _int(t.train_images, where, "train.train_images", minimum=1)
    if t.data_dir is not None and not isinstance(t.data_dir, str):
        raise SettingsError(f"{where}: train.data_dir must be a path string")
    if not isinstance(m.board, str):
        raise SettingsError(f"{where}: map.board must be a board name or path")
    if (
        not isinstance(m.margin, (int, float))
        or isinstance(m.margin, bool)
        or not (0 < m.margin <= 1)
    ):
        raise SettingsError(f"{where}: map.margin must be in (0, 1], got {m.margin!r}")
    if m.max_dsp is not None:
        _int(m.max_dsp, where, "map.max_dsp")
    _bool(m.up_in_dsp, where, "map.up_in_dsp")
    if (
        not isinstance(t.threshold, (int, float))
        or isinstance(t.threshold, bool)
        or not 0 <= t.threshold <= 1
    ):
        raise SettingsError(
            f"{where}: train.threshold must be a mean output distance in [0, 1], got "
            f"{t.threshold!r}"
        )
    _int(s.generate.pixels_per_beat, where, "generate.pixels_per_beat", minimum=1)
    _bool(s.generate.speculative, where, "generate.speculative")
    c = s.cosim
    if c.epochs is not None:
        _int(c.epochs, where, "cosim.epochs", minimum=0)
        if c.epochs > len(etas):
            raise SettingsError(
                f"{where}: cosim.epochs = {c.epochs}, but training has {len(etas)} epochs"
            )
    if c.inputs is not None:
        _int(c.inputs, where, "cosim.inputs", minimum=1)
    _int(c.test_images, where, "cosim.test_images")
    if c.simulator not in ("verilator", "icarus"):
        raise SettingsError(f"{where}: cosim.simulator must be 'verilator' or 'icarus'")
    runs = ("sequential", "speculative") if s.generate.speculative else ("pipelined", "sequential")
    if c.schedule is not None and c.schedule not in runs:
        kind = "speculating" if s.generate.speculative else "pipelined"
        raise SettingsError(
            f"{where}: cosim.schedule = {c.schedule!r}, but the {kind} trainer runs "
            f"{' and '.join(runs)}; change cosim.schedule or generate.speculative"
        )
    _bool(s.synth.enabled, where, "synth.enabled")
    if not isinstance(s.flow.out, str):
        raise SettingsError(f"{where}: flow.out must be a directory path")
    return replace(
        s,
        network=replace(n, layers=layers, fo=fo, z=z),
        train=replace(t, eta_exponents=etas),
        map=replace(m, margin=float(m.margin)),
    )


def read_settings(path: str | Path | None = None, **overrides) -> MlpSettings:
    """Defaults, then the TOML file's tables, then ``overrides`` (``"table.key": value``,
    None values ignored), checked."""
    tables = {t: {} for t in _TABLES}
    where = "settings"
    if path is not None:
        where = str(path)
        try:
            for table, values in load_config(path, TOML_KEYS).items():
                tables[table].update(values)
        except CodesignError as e:
            raise SettingsError(str(e)) from None
    for key, value in overrides.items():
        if value is not None:
            table, _, name = key.partition(".")
            tables[table][name] = value
    s = MlpSettings(**{t: c(**tables[t]) for t, c in _TABLES.items()})
    return check(s, where)

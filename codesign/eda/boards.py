"""FPGA boards: capacities, part numbers and clock pins, one TOML file each in ``boards/``.

``load_board("nexys4ddr")`` looks in the directory named by ``CODESIGN_BOARDS`` (if set), then in
the repository's ``boards/``; a path to a ``.toml`` file is read as is.  Every field is checked and
an error names the file, the field and what is expected.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from codesign.errors import CodesignError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["Board", "BoardError", "load_board", "list_boards", "boards_dir", "FAMILIES"]

FAMILIES = {"artix7": "xc7", "kintex7": "xc7", "virtex7": "xc7", "spartan7": "xc7", "zynq7": "xc7"}
"""The board families a board file may name, each with its ``synth_xilinx -family``."""


class BoardError(CodesignError, ValueError):
    """A board that cannot be used; the message names the file and field."""


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    part: str
    family: str
    lut: int
    ff: int
    dsp: int
    bram36: int
    target_clock_mhz: float
    dram_gbytes_per_s: float
    clock_port: str
    clock_pins: tuple
    clock_iostandard: str
    clock_frequency_mhz: float
    budget: tuple = ()  # ((resource, at most), …): what a design on this board may use

    @property
    def bram18(self) -> int:
        return 2 * self.bram36

    def capacity(self) -> dict:
        return {"lut": self.lut, "ff": self.ff, "dsp": self.dsp, "bram36": self.bram36}

    def limited(self, **caps: int) -> Board:
        """This board with a user's budget (e.g. ``dsp=120``): designs are held to it as well
        as to the device, so designs can be compared at equal cost."""
        for k, v in caps.items():
            if k not in self.capacity():
                raise BoardError(
                    f"budget '{k}': not a resource; resources: {list(self.capacity())}"
                )
            if v < 1:
                raise BoardError(f"budget {k} = {v}: must be at least 1")
        merged = dict(self.budget) | {k: int(v) for k, v in caps.items()}
        return replace(self, budget=tuple(sorted(merged.items())))

    def to_dict(self) -> dict:
        d = {
            "name": self.name,
            "part": self.part,
            "family": self.family,
            "capacity": self.capacity(),
            "target_clock_mhz": self.target_clock_mhz,
            "dram_gbytes_per_s": self.dram_gbytes_per_s,
        }
        if self.budget:
            d["budget"] = dict(self.budget)
        return d

    def dram_bytes_per_cycle(self) -> float:
        return self.dram_gbytes_per_s * 1e3 / self.target_clock_mhz


def boards_dir() -> Path:
    env = os.environ.get("CODESIGN_BOARDS")
    return Path(env) if env else Path(__file__).resolve().parent / "board_files"


def list_boards() -> list[str]:
    d = boards_dir()
    return sorted(p.stem for p in d.glob("*.toml")) if d.is_dir() else []


def _get(d: dict, key: str, typ, path: Path, section: str = ""):
    where = f"{section}.{key}" if section else key
    if key not in d:
        raise BoardError(f"{path}: field '{where}' is missing")
    v = d[key]
    ok = isinstance(v, typ) and not (isinstance(v, bool) and typ is not bool)
    if typ is float:
        ok = isinstance(v, (int, float)) and not isinstance(v, bool)
    if not ok:
        raise BoardError(f"{path}: field '{where}' must be {typ.__name__}, got {v!r}")
    return float(v) if typ is float else v


def _parse(path: Path) -> Board:
    try:
        d = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise BoardError(f"{path}: not valid TOML ({e})") from None
    kw = {k: _get(d, k, str, path) for k in ("name", "description", "part", "family")}
    if not re.fullmatch(r"xc7[a-z]{1,2}\d+[a-z0-9]*(-[a-z0-9]+)?", kw["part"], re.IGNORECASE):
        raise BoardError(
            f"{path}: field 'part' is '{kw['part']}', expected a Xilinx 7-series part "
            f"such as xc7a100tcsg324-1"
        )
    if kw["family"] not in FAMILIES:
        raise BoardError(
            f"{path}: field 'family' is '{kw['family']}', expected one of {tuple(FAMILIES)}"
        )
    for k in ("lut", "ff", "dsp", "bram36"):
        v = _get(d, k, int, path)
        if v <= 0:
            raise BoardError(f"{path}: field '{k}' must be a positive count, got {v}")
        kw[k] = v
    kw["target_clock_mhz"] = _get(d, "target_clock_mhz", float, path)
    kw["dram_gbytes_per_s"] = _get(d, "dram_gbytes_per_s", float, path)
    if kw["dram_gbytes_per_s"] <= 0:
        raise BoardError(
            f"{path}: field 'dram_gbytes_per_s' must be positive, got {kw['dram_gbytes_per_s']}"
        )
    clk = _get(d, "clock", dict, path)
    kw["clock_port"] = _get(clk, "port", str, path, "clock")
    pins = _get(clk, "pins", list, path, "clock")
    if len(pins) not in (1, 2) or not all(isinstance(p, str) and p for p in pins):
        raise BoardError(
            f"{path}: field 'clock.pins' must list one pin, or two (P, N) for a "
            f"differential clock, got {pins!r}"
        )
    kw["clock_pins"] = tuple(pins)
    kw["clock_iostandard"] = _get(clk, "iostandard", str, path, "clock")
    kw["clock_frequency_mhz"] = _get(clk, "frequency_mhz", float, path, "clock")
    for k in ("target_clock_mhz", "clock_frequency_mhz"):
        if not 0 < kw[k] <= 1000:
            raise BoardError(f"{path}: field '{k}' must be in (0, 1000] MHz, got {kw[k]}")
    return Board(**kw)


def load_board(name_or_path: str | os.PathLike) -> Board:
    """A board by name (``boards/<name>.toml``) or by path to a TOML file."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.is_file():
        if not p.is_file():
            raise BoardError(f"{p}: board file not found")
        return _parse(p)
    f = boards_dir() / f"{name_or_path}.toml"
    if not f.is_file():
        raise BoardError(
            f"unknown board '{name_or_path}'; known boards: "
            f"{', '.join(list_boards()) or '(none)'} in {boards_dir()} "
            f"(or pass a path to a .toml file; CODESIGN_BOARDS sets the directory)"
        )
    return _parse(f)

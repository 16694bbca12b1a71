"""The synthesis stage: Yosys ``synth_xilinx`` on a generated RTL directory, resources against the
board and against the map stage's estimate.

``synthesise(rtl_dir, board)`` reads the directory's ``manifest.json`` (docs/rtl-format.md), runs
Yosys out of context (no IO pads or clock buffers: the accelerator is a core inside a larger
design) and writes an artifact directory atomically: ``report.json``, ``yosys.log``,
``stat.json``, ``ltp.txt`` and ``synth.ys`` (the script, to rerun it by hand: ``yosys synth.ys``).
A design that does not fit the board still gets its artifact; then :class:`SynthError` lists every
resource over capacity.

Counting follows Vivado's utilisation report where the primitives allow: Slice LUTs = logic LUTs
(LUT1..LUT6) + LUTs as distributed RAM + LUTs as shift registers; Slice Registers = FD*/LD*;
BRAM tiles = RAMB36E1 + RAMB18E1 / 2.  The logic depth is the number of cells on the longest
path between sequential cells or ports as Yosys ``ltp`` counts it (each LUT, MUXF7/F8, CARRY4 and
INV is one), a proxy for timing.  Yosys is not Vivado: its counts are an independent estimate,
not the figures Vivado would report.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

from rich.table import Table

from codesign import __version__
from codesign.artifacts import atomic_directory, sha256_file, write_json
from codesign.eda.boards import FAMILIES, load_board
from codesign.eda.manifest import read_manifest
from codesign.eda.tools import run_tool
from codesign.errors import CodesignError
from codesign.progress import progress

__all__ = [
    "SynthError",
    "SEQUENTIAL",
    "yosys_script",
    "parse_stat",
    "resources",
    "parse_ltp",
    "synthesise",
    "synthesise_and_print",
    "report_table",
]

# Cells that end a combinational path for `ltp`: flip-flops, block RAM, shift registers,
# distributed RAM and DSP slices (the generated DSPs are fully registered).  Yosys' own -noff
# only knows its internal FF types, so without this cut the path runs through FDRE cells.
SEQUENTIAL = ("FD*", "LD*", "RAMB*", "RAM*", "SRL*", "DSP48E1")

# LUT6 sites a distributed-RAM primitive occupies ("LUT as Distributed RAM" in Vivado).
_LUTRAM_LUTS = {
    "RAM16X1S": 1,
    "RAM16X1S_1": 1,
    "RAM16X1D": 2,
    "RAM16X1D_1": 2,
    "RAM32X1S": 1,
    "RAM32X1S_1": 1,
    "RAM32X1D": 2,
    "RAM32X1D_1": 2,
    "RAM32X2S": 2,
    "RAM64X1S": 1,
    "RAM64X1S_1": 1,
    "RAM64X1D": 2,
    "RAM64X1D_1": 2,
    "RAM64X2S": 2,
    "RAM128X1S": 2,
    "RAM128X1S_1": 2,
    "RAM128X1D": 4,
    "RAM256X1S": 4,
    "RAM32M": 4,
    "RAM64M": 4,
}
_SRL = ("SRL16", "SRL16E", "SRLC16E", "SRLC32E", "SRL16_1", "SRL16E_1", "SRLC16E_1")
_FF = (
    "FDRE",
    "FDSE",
    "FDCE",
    "FDPE",
    "FDRE_1",
    "FDSE_1",
    "FDCE_1",
    "FDPE_1",
    "FDR",
    "FDS",
    "FDC",
    "FDP",
    "FDE",
    "FD",
    "LDCE",
    "LDPE",
    "LDC",
    "LDP",
)
# Cells that cost no slice resource counted here (constants, out-of-context IO / clock buffers).
_FREE = ("VCC", "GND", "IBUF", "OBUF", "IOBUF", "OBUFT", "BUFG", "BUFGCTRL", "BUFHCE", "IBUFG")

# Report rows: key (also the estimate's and the capacity's key), label, key of resources().
ROWS = (
    ("lut", "LUT", "lut_total"),
    ("ff", "FF", "ff"),
    ("dsp", "DSP48E1", "dsp"),
    ("ramb18", "RAMB18E1", "ramb18"),
    ("ramb36", "RAMB36E1", "ramb36"),
    ("bram36", "BRAM36-equivalent", "bram36"),
)
FIT_ROWS = ("lut", "ff", "dsp", "bram36")

REPORT_FORMAT = "codesign-synth"
REPORT_VERSION = 1


class SynthError(CodesignError, ValueError):
    """An RTL directory that cannot be synthesised, unreadable Yosys output, or a design that does
    not fit its board (the message then lists each resource over capacity: used/capacity)."""


def _quote(path: str) -> str:
    if '"' in path or "\n" in path:
        raise SynthError(
            f"Verilog file name {path!r} contains a double quote or a newline, "
            f"which a Yosys script cannot quote; rename the file"
        )
    return f'"{path}"' if re.search(r"\s|;", path) else path


def yosys_script(files: list[str], top: str, family: str = "xc7") -> str:
    """The Yosys script: read the Verilog, ``synth_xilinx`` out of context, then write the cell
    statistics to ``stat.json`` and the logic depth (``ltp``, paths cut at sequential cells) to
    ``ltp.txt`` in the working directory."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", top):
        raise SynthError(f"top module name {top!r} is not a Verilog identifier")
    cut = " ".join(f"t:{c} %d" for c in SEQUENTIAL)
    lines = [f"# codesign {__version__}: out-of-context synthesis of {top} (rerun: yosys synth.ys)"]
    lines += [f"read_verilog {_quote(os.fspath(f))}" for f in files]
    lines += [
        f"synth_xilinx -family {family} -top {top} -noiopad -noclkbuf",
        "tee -q -o stat.json stat -json",
        f"select -set comb * {cut}",
        "tee -q -o ltp.txt ltp -noff @comb",
    ]
    return "\n".join(lines) + "\n"


def resources(cells: dict) -> dict:
    """Resource counts of Xilinx 7-series primitives ``{type: count}`` (see the module docstring);
    ``other`` holds types not counted anywhere (``INV`` is listed as ``inv``: Vivado folds most
    inverters into the LUTs they drive)."""
    n = {k.lstrip("\\"): int(v) for k, v in cells.items()}
    lut = sum(n.get(f"LUT{i}", 0) for i in range(1, 7))
    lutram = sum(c * _LUTRAM_LUTS[t] for t, c in n.items() if t in _LUTRAM_LUTS)
    srl = sum(n.get(t, 0) for t in _SRL)
    ramb18, ramb36 = n.get("RAMB18E1", 0), n.get("RAMB36E1", 0)
    known = (
        {f"LUT{i}" for i in range(1, 7)}
        | set(_LUTRAM_LUTS)
        | set(_SRL)
        | set(_FF)
        | set(_FREE)
        | {"RAMB18E1", "RAMB36E1", "DSP48E1", "CARRY4", "MUXF7", "MUXF8", "INV"}
    )
    bram36 = ramb36 + ramb18 / 2
    return {
        "lut": lut,
        "lutram": lutram,
        "srl": srl,
        "lut_total": lut + lutram + srl,
        "ff": sum(n.get(t, 0) for t in _FF),
        "dsp": n.get("DSP48E1", 0),
        "ramb18": ramb18,
        "ramb36": ramb36,
        "bram36": int(bram36) if bram36 == int(bram36) else bram36,
        "carry4": n.get("CARRY4", 0),
        "muxf7": n.get("MUXF7", 0),
        "muxf8": n.get("MUXF8", 0),
        "inv": n.get("INV", 0),
        "other": {t: c for t, c in sorted(n.items()) if t not in known},
    }


def parse_stat(text: str) -> dict:
    """Yosys ``stat -json`` output → ``{"cells": {type: count}, "resources": resources(cells),
    "yosys": creator string}`` for the whole (flattened) design."""
    try:
        d = json.loads(text)
    except json.JSONDecodeError as e:
        raise SynthError(f"Yosys `stat -json` output is not JSON ({e})") from None
    section = d.get("design") if isinstance(d, dict) else None
    if section is None and isinstance(d, dict) and len(d.get("modules") or {}) == 1:
        section = next(iter(d["modules"].values()))
    if not isinstance(section, dict) or not isinstance(section.get("num_cells_by_type"), dict):
        raise SynthError(
            "Yosys `stat -json` output has no 'design' (or single module) section "
            "with 'num_cells_by_type'; was the design synthesised?"
        )
    cells = {k.lstrip("\\"): int(v) for k, v in sorted(section["num_cells_by_type"].items())}
    return {"cells": cells, "resources": resources(cells), "yosys": d.get("creator", "")}


_LTP = re.compile(r"Longest topological path in (\S+) \(length=(-?\d+)\)")


def parse_ltp(text: str) -> int:
    """Longest topological path (cells on it) from ``ltp`` output, the largest over modules."""
    found = [int(m.group(2)) for m in _LTP.finditer(text)]
    if not found:
        raise SynthError(
            "no 'Longest topological path in ... (length=N)' line in the Yosys `ltp` output"
        )
    return max(0, max(found))


def _ltp_loops(text: str) -> int:
    return len(set(re.findall(r"Detected loop at (.+) in \S+", text)))


def _read_manifest(rtl: Path) -> dict:
    m = read_manifest(rtl, error=SynthError)
    return {
        "kind": m.kind,
        "top": m.top,
        "files": m.files,
        "memory_images": m.memory_images,
        "manifest": m.data,
    }


def _estimate(manifest: dict, rtl: Path) -> dict:
    """The map stage's resource estimate of the design, from the schedule it was generated from
    (its path relative to the RTL directory, format 3; from the current directory before)."""
    own = manifest.get("estimate")
    if isinstance(own, dict):  # a trainer carries its cost model's estimate
        return {"schedule": None, "status": "used (the manifest's own)", "resources": own}
    sched = manifest.get("schedule")
    path = sched.get("path") if isinstance(sched, dict) else None
    if not path:
        return {
            "schedule": None,
            "status": "the manifest names no schedule directory",
            "resources": None,
        }
    base = rtl if manifest.get("format_version", 0) >= 3 else Path.cwd()
    f = base / path / "schedule.json"
    if not f.is_file():
        return {"schedule": str(f), "status": "not found", "resources": None}
    if sched.get("sha256") and sha256_file(f) != sched["sha256"]:
        return {
            "schedule": str(f),
            "resources": None,
            "status": "changed since the RTL was generated (sha256 differs); not used",
        }
    try:
        res = json.loads(f.read_text())["network"]["resources"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        return {"schedule": str(f), "status": f"unreadable ({e!r})", "resources": None}
    return {"schedule": str(f), "status": "used", "resources": res}


def _rows(prims: dict, capacity: dict, est: dict | None) -> dict:
    caps = dict(capacity, ramb18=2 * capacity["bram36"], ramb36=capacity["bram36"])
    out = {}
    for key, label, prim in ROWS:
        used = prims[prim]
        cap = caps[key]
        e = None if est is None else est.get(key)
        out[key] = {
            "label": label,
            "yosys": used,
            "capacity": cap,
            "utilisation": round(used / cap, 4),
            "estimate": e,
            "error_pct": (round(100 * (e - used) / used, 1) if e is not None and used else None),
        }
    return out


def _progress_status(log: Path) -> str:
    """The last numbered Yosys pass header in the log (``2.39. Executing ABC pass``)."""
    try:
        with open(log, "rb") as fh:
            fh.seek(max(0, log.stat().st_size - 16384))
            tail = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    heads = re.findall(r"^\d+(?:\.\d+)*\. (Executing [^\n]*)", tail, re.MULTILINE)
    return heads[-1][:70] if heads else ""


def synthesise(rtl_dir, board: str, out=None, *, timeout: float = 3600, quiet=True) -> dict:
    """Synthesise the generated RTL directory ``rtl_dir`` for ``board`` (a name or a .toml path)
    and write the artifact to ``out`` (default: ``synth`` beside ``rtl_dir``); return the report.

    Raises :class:`SynthError` for an unusable directory and, after writing the artifact, for a
    design that does not fit; ``BoardError`` for an unknown board; ``ToolError`` when Yosys fails
    (no artifact is written then) or ``ToolNotFound`` when it is not installed."""
    rtl = Path(rtl_dir).resolve()
    info = _read_manifest(rtl)
    b = load_board(board)
    family = FAMILIES[b.family]  # load_board accepts only the families of this table
    target = Path(out).resolve() if out is not None else rtl.parent / "synth"
    if target == rtl or target in rtl.parents:
        raise SynthError(
            f"output directory {target} would replace the RTL directory {rtl}; choose another --out"
        )
    est = _estimate(info["manifest"], rtl)
    files = [str(rtl / x) for x in info["files"]]
    script = yosys_script(files, info["top"], family)
    with atomic_directory(target) as tmp:
        (tmp / "synth.ys").write_text(script)
        log = tmp / "yosys.log"
        t0 = time.perf_counter()
        with progress(f"yosys synth_xilinx {info['top']}", 1, quiet) as bar:
            run_tool(
                "yosys",
                ["-q", "-l", "yosys.log", "synth.ys"],
                cwd=tmp,
                timeout=timeout,
                poll=None if quiet else lambda: bar.advance(_progress_status(log), 0),
            )
            bar.advance("done")
        seconds = time.perf_counter() - t0
        stat = parse_stat((tmp / "stat.json").read_text())
        ltp_text = (tmp / "ltp.txt").read_text()
        prims = stat["resources"]
        rows = _rows(prims, b.capacity(), est["resources"])
        over = [
            {
                "resource": k,
                "label": rows[k]["label"],
                "used": rows[k]["yosys"],
                "capacity": rows[k]["capacity"],
            }
            for k in FIT_ROWS
            if rows[k]["yosys"] > rows[k]["capacity"]
        ]
        report = {
            "format": REPORT_FORMAT,
            "format_version": REPORT_VERSION,
            "codesign_version": __version__,
            "rtl": {
                "dir": str(rtl),
                "kind": info["kind"],
                "top": info["top"],
                "files": [{"file": x, "sha256": sha256_file(rtl / x)} for x in info["files"]],
                "memory_images": [
                    {"file": x, "sha256": sha256_file(rtl / x)} for x in info["memory_images"]
                ],
                "generated_for_board": (info["manifest"].get("board") or {}).get("name"),
            },
            "board": {"name": b.name, "part": b.part, "family": b.family, "capacity": b.capacity()},
            "tool": {
                "name": "yosys",
                "version": stat["yosys"],
                "script": "synth.ys",
                "synth": f"synth_xilinx -family {family} -top {info['top']} -noiopad -noclkbuf",
            },
            "cells": stat["cells"],
            "primitives": prims,
            "resources": rows,
            "fits": not over,
            "over_capacity": over,
            "logic_depth": parse_ltp(ltp_text),
            "logic_depth_loops": _ltp_loops(ltp_text),
            "estimate": est,
            "yosys_seconds": round(seconds, 1),
        }
        write_json(tmp / "report.json", report)
    if over:
        worst = ", ".join(
            f"{o['label']} {o['used']:g}/{o['capacity']} ({o['used'] / o['capacity']:.0%})"
            for o in over
        )
        raise SynthError(
            f"{info['top']} does not fit {b.name} ({b.part}): {worst}; the report is "
            f"in {target / 'report.json'}. Map with fewer PEs/MACs or choose a "
            f"larger board"
        )
    return report


def _fmt(v) -> str:
    if v is None:
        return "-"
    return f"{v:,g}" if isinstance(v, float) else f"{v:,}"


def report_table(report: dict) -> Table:
    """The report as a rich table: per resource Yosys count, capacity, utilisation, estimate."""
    b = report["board"]
    t = Table(
        title=f"synth: {report['rtl']['top']} on {b['name']} ({b['part']}), "
        f"{report['tool']['version'] or 'yosys'}",
        title_justify="left",
    )
    t.add_column("resource")
    t.add_column("yosys", justify="right")
    t.add_column("capacity", justify="right")
    t.add_column("utilisation", justify="right")
    t.add_column("map estimate", justify="right")
    t.add_column("estimate error", justify="right")
    over = {o["resource"] for o in report["over_capacity"]}
    for key, r in report["resources"].items():
        util = f"{r['utilisation']:.1%}"
        if key in over:
            util = f"[red]{util}[/]"
        err = "-" if r["error_pct"] is None else f"{r['error_pct']:+.1f}%"
        t.add_row(r["label"], _fmt(r["yosys"]), _fmt(r["capacity"]), util, _fmt(r["estimate"]), err)
    p = report["primitives"]
    t.add_row(
        "  LUT as logic / memory / SRL",
        f"{p['lut']:,} / {p['lutram']:,} / {p['srl']:,}",
        "",
        "",
        "",
        "",
    )
    depth = str(report["logic_depth"])
    if report["logic_depth_loops"]:
        depth += f" ({report['logic_depth_loops']} combinational loops!)"
    t.add_row("logic depth (cells)", depth, "", "", "", "")
    fit = "[green]fits[/]" if report["fits"] else "[red]DOES NOT FIT[/]"
    t.add_row("result", fit, "", "", "", f"{report['yosys_seconds']:.1f} s yosys")
    if report["estimate"]["status"] != "used":
        t.caption = f"map estimate: {report['estimate']['status']}"
    return t


def synthesise_and_print(rtl_dir, board: str, out=None) -> dict:
    """:func:`synthesise`, printing its table, also when the design does not fit the board."""
    from codesign.progress import console

    try:
        rep = synthesise(rtl_dir, board, out)
    except SynthError:
        rep_file = Path(out or Path(rtl_dir).parent / "synth") / "report.json"
        if rep_file.is_file():
            console.print(report_table(json.loads(rep_file.read_text())))
        raise
    console.print(report_table(rep))
    return rep

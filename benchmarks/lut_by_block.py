"""Where a generated accelerator's LUTs are, measured in place: Yosys ``synth_xilinx`` of the whole
design, each cell attributed to the generator block that owns it.

MyHDL writes one flat module, but the registers keep their hierarchical names
(``spectral_engine0__tile_slice1_inverse_stage2_irfft2_unit2_fft1d5_…``).  A sequential cell
(flip-flop, shift register, LUT RAM, block RAM, DSP48E1) belongs to the block its output net is
named after; a combinational cell (LUT, CARRY4, MUXF7/8) to the block of the nearest sequential
cell it feeds (breadth-first search backwards from every sequential input at once).  Logic shared
between blocks goes to the nearer one, so the split is a measurement of the synthesised design, not
of blocks synthesised alone (which can mislead: Yosys folds logic across block boundaries).

Counts follow :func:`codesign.eda.synth.resources` (LUT = logic + LUT RAM + shift registers).
Run: ``.venv/bin/python benchmarks/lut_by_block.py RTL_DIR [--netlist net.json] [--json FILE]``
(``--netlist`` reuses a netlist ``write_json`` wrote, instead of running Yosys; with ``--json`` the
table is also written as ``{block: {lut, lutram, srl, ff, carry4, dsp, bram18}}``).
"""

from __future__ import annotations

import argparse
import collections
import fnmatch
import json
import re
import tempfile
from pathlib import Path

from codesign.eda.manifest import read_manifest
from codesign.eda.synth import SEQUENTIAL, resources, yosys_script
from codesign.eda.tools import run_tool


def sequential(cell_type: str) -> bool:
    """A cell that ends a combinational path, by the synth stage's rule (its ``ltp`` cut)."""
    return any(fnmatch.fnmatchcase(cell_type, p) for p in SEQUENTIAL)


FIELDS = ("lut", "lutram", "srl", "ff", "carry4", "dsp", "bram18")


def netlist(rtl: Path, work: Path) -> dict:
    """Synthesise the RTL directory's design (the synth stage's script) and read its netlist."""
    m = read_manifest(rtl)
    script = yosys_script([rtl / f for f in m.files], m.top) + "write_json net.json\n"
    (work / "synth.ys").write_text(script)
    run_tool("yosys", ["-q", "synth.ys"], cwd=work)
    return json.loads((work / "net.json").read_text())


def block_of(name: str, cols: set, engines: list) -> str:
    """The generator block a hierarchical signal name belongs to; ``engines`` names the spectral
    layers in the order the network instantiates their engines (the manifest's order)."""
    eng = re.match(r"spectral_engine(\d+)", name)
    if "dense_unit" in name:
        return "dense"
    if not eng:
        return "top"
    layer = engines[int(eng.group(1))]
    fft = re.search(r"(irfft2_unit\d+)_(fft1d\d+)", name)
    if fft:
        return f"{layer}:inverse FFT " + ("columns" if fft.group(0) in cols else "rows")
    for key, label in (
        ("irfft2_unit", "inverse FFT buffers"),
        ("inverse_stage", "read-out lane"),
        ("__map_bank", "overlap-add map banks"),
        ("oaa_unit__stream", "overlap-add streams"),
        ("oaa_unit", "overlap-add control/finalise"),
        ("__processing_element", "PEs"),
        ("__readout", "accumulator read-out"),
        ("hadamard", "Hadamard other"),
        ("front_end", "front end"),
    ):
        if key in name:
            return f"{layer}:{label}"
    return f"{layer}:sequencer"


def attribute(net: dict, top: str, engines: list) -> dict:
    """``{block: {field: count}}`` (FIELDS) of the netlist's top module."""
    mod = net["modules"][top]
    names: dict = {}
    for name, n in mod["netnames"].items():
        if n.get("hide_name"):
            continue
        for b in n["bits"]:
            if isinstance(b, int) and (b not in names or len(name) < len(names[b])):
                names[b] = name
    # the column pass is each inverse unit's first fft1d instance, the row pass its second
    units = collections.defaultdict(set)
    for name in set(names.values()):
        for m in re.finditer(r"(irfft2_unit\d+)_fft1d(\d+)", name):
            units[m.group(1)].add(int(m.group(2)))
    cols = {f"{u}_fft1d{min(k)}" for u, k in units.items()}
    cells = mod["cells"]

    def bits(c, direction):
        for p, bs in c["connections"].items():
            if c["port_directions"].get(p) == direction:
                yield from (b for b in bs if isinstance(b, int))

    driver = {b: cn for cn, c in cells.items() for b in bits(c, "output")}
    owner, queue = {}, collections.deque()
    for cn, c in cells.items():
        if sequential(c["type"]):
            out = next((names[b] for b in bits(c, "output") if b in names), cn)
            owner[cn] = block_of(out, cols, engines)
            queue.append(cn)
    for p in mod["ports"].values():
        if p["direction"] == "output":
            for b in p["bits"]:
                d = driver.get(b) if isinstance(b, int) else None
                if d and d not in owner:
                    owner[d] = "top"
                    queue.append(d)
    while queue:
        cn = queue.popleft()
        for b in bits(cells[cn], "input"):
            d = driver.get(b)
            if d and d not in owner and not sequential(cells[d]["type"]):
                owner[d] = owner[cn]
                queue.append(d)
    types = collections.defaultdict(collections.Counter)
    for cn, c in cells.items():
        types[owner.get(cn, "unreached")][c["type"]] += 1
    table = {}
    for block, cellcount in types.items():
        r = resources(cellcount)
        table[block] = {
            "lut": r["lut_total"],
            **{f: r[f] for f in ("lutram", "srl", "ff", "carry4", "dsp")},
            "bram18": r["ramb18"] + 2 * r["ramb36"],
        }
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("rtl", type=Path, help="RTL directory from `codesign generate`")
    ap.add_argument("--netlist", type=Path, help="Yosys write_json netlist to reuse")
    ap.add_argument("--json", type=Path, help="also write the table here")
    args = ap.parse_args()
    m = read_manifest(args.rtl)
    engines = [
        layer["name"] for layer in m.data.get("layers", []) if layer.get("kind") == "spectral_conv"
    ]
    if args.netlist:
        net = json.loads(args.netlist.read_text())
    else:
        with tempfile.TemporaryDirectory() as work:
            net = netlist(args.rtl, Path(work))
    table = attribute(net, m.top, engines)
    total = collections.Counter()
    print(f"{'block':38s}" + "".join(f"{f:>8s}" for f in FIELDS))
    for k in sorted(table, key=lambda k: -table[k]["lut"]):
        total.update(table[k])
        print(f"{k:38s}" + "".join(f"{table[k][f]:8d}" for f in FIELDS))
    print(f"{'total':38s}" + "".join(f"{total[f]:8d}" for f in FIELDS))
    if args.json:
        args.json.write_text(json.dumps(dict(sorted(table.items())), indent=1))


if __name__ == "__main__":
    main()

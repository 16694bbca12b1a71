"""Export a generated accelerator to vendor and open flows: a non-project Vivado build and a
FuseSoC CAPI2 core.

One plain description in (the RTL directory's ``manifest.json`` and a board), tool scripts out,
edalize style: the files are filled from templates in ``codesign/templates/`` with
:class:`string.Template` using the placeholder ``@{name}`` (``$`` belongs to Tcl and bash).

``export(rtl_dir, board, out)`` writes ``out/`` atomically (the whole directory is replaced, so a
failed export leaves the old one as it was) and byte-identical for equal inputs::

    out/export.json             what was exported, from which manifest (sha256)
    out/vivado/                 self-contained: the Verilog, mem/, constraints.xdc, build.tcl,
                                build.sh (run it; CODESIGN_VIVADO names vivado)
    out/fusesoc/<top>.core      CAPI2 core codesign:accel:<top>:<version> with the Verilog, mem/,
                                the test bench, pixels.hex (real test images) and constraints.xdc

``fusesoc --cores-root out/fusesoc run --target sim codesign:accel:<top> --images=1`` runs the
bench in Icarus; the events are in ``build/codesign_accel_<top>_<version>/sim/events.txt``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import string
from pathlib import Path

import numpy as np

from codesign.artifacts import atomic_directory, write_json
from codesign.eda.boards import Board, load_board
from codesign.eda.manifest import ACCELERATOR, TRAINER, read_manifest
from codesign.errors import CodesignError

__all__ = [
    "ExportError",
    "export",
    "export_vivado",
    "export_fusesoc",
    "sim_pixels",
    "SIM_IMAGES",
    "TEMPLATES",
]

TEMPLATES = Path(__file__).resolve().parent / "templates"
SIM_IMAGES = 4
EXPORT_FORMAT = "codesign-export"
EXPORT_VERSION = 1

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")


class ExportError(CodesignError, ValueError):
    """An RTL directory or option that cannot be exported; names the file/field and the fix."""


class _Template(string.Template):
    """``@{name}`` placeholders only; every other character is literal."""

    delimiter = "@"
    pattern = r"@(?:(?P<escaped>(?!))|(?P<named>(?!))|\{(?P<braced>[a-z_]+)\}|(?P<invalid>(?!)))"


def _render(name: str, **values) -> str:
    """Template ``name`` filled with ``values``; a line holding only a placeholder whose value is
    empty is dropped, so optional blocks leave no blank line."""
    text = (TEMPLATES / name).read_text()
    lines = [
        ln
        for ln in text.splitlines(keepends=True)
        if not (m := re.fullmatch(r"@\{([a-z_]+)\}\n?", ln)) or values.get(m.group(1)) != ""
    ]
    try:
        return _Template("".join(lines)).substitute(values)
    except KeyError as e:  # pragma: no cover - a template and this module disagree
        raise ExportError(
            f"{TEMPLATES / name}: placeholder @{{{e.args[0]}}} has no value"
        ) from None


# ---------------------------------------------------------------------------------------------
# the RTL directory


def _load(rtl_dir) -> tuple[Path, dict, bytes]:
    """The checked manifest of an accelerator RTL directory (and its bytes)."""
    m = read_manifest(rtl_dir, error=ExportError)
    if m.kind not in (ACCELERATOR, TRAINER):
        raise ExportError(
            f"{m.path}: a {m.kind}; export takes a whole accelerator or a trainer "
            f"(`codesign generate` without --layer, `codesign mlp generate`)"
        )
    tb_file, tb_top = m.testbench()
    clock = m.stream()["clock"] if m.kind == ACCELERATOR else m.data.get("clock", {}).get("port")
    if not isinstance(clock, str) or not clock.isidentifier():
        raise ExportError(f"{m.path}: field 'clock.port' must be a port name, got {clock!r}")
    man = dict(
        m.data,
        kind=m.kind,
        clock={"port": clock},
        files=m.files,
        memory_images=m.memory_images,
        testbench={"file": tb_file, "top": tb_top},
    )
    return m.dir, man, m.raw


def _board(board: str | Board) -> Board:
    return board if isinstance(board, Board) else load_board(board)


def _copy(rtl: Path, names: list, dst: Path) -> None:
    for name in names:
        (dst / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(rtl / name, dst / name)


def _listing(d: Path) -> list:
    return sorted(p.relative_to(d).as_posix() for p in d.rglob("*") if p.is_file())


def _check_target(out: Path, rtl: Path, looks_like, what: str) -> None:
    """Refuse to replace the RTL directory, one holding it, or a directory that is not a previous
    export of the same kind."""
    if out.resolve() == rtl.resolve() or out.resolve() in rtl.resolve().parents:
        raise ExportError(
            f"{out}: is or holds the RTL directory {rtl}, which the export would "
            f"replace; choose another output directory"
        )
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not looks_like(out))):
        raise ExportError(
            f"{out}: exists and is not {what}; it would be replaced, so choose "
            f"another output directory or remove it"
        )


def _period(b: Board) -> str:
    return f"{1000.0 / b.target_clock_mhz:.3f}"


def _mhz(v: float) -> str:
    return f"{v:g}"


# ---------------------------------------------------------------------------------------------
# Vivado


def _constraints(man: dict, b: Board) -> str:
    port = b.clock_port
    if len(b.clock_pins) == 1:
        pins = [(port, b.clock_pins[0])]
    else:
        pins = [(f"{port}_p", b.clock_pins[0]), (f"{port}_n", b.clock_pins[1])]
    lines = [
        f"# set_property -dict {{PACKAGE_PIN {pin} IOSTANDARD {b.clock_iostandard}}} "
        f"[get_ports {name}]"
        for name, pin in pins
    ]
    lines.append(
        f"# create_clock -period {1000.0 / b.clock_frequency_mhz:.3f} -name {port} "
        f"[get_ports {pins[0][0]}]"
    )
    return _render(
        "constraints.xdc",
        top=man["top"],
        board_description=b.description,
        part=b.part,
        clock_mhz=_mhz(b.target_clock_mhz),
        period_ns=_period(b),
        clock_port=man["clock"]["port"],
        board_clock_mhz=_mhz(b.clock_frequency_mhz),
        board_clock_port=port if len(pins) == 1 else f"{port}_p/_n",
        board_clock_lines="\n".join(lines),
    )


def _write_vivado(rtl: Path, man: dict, b: Board, dst: Path) -> None:
    _copy(rtl, man["files"] + man["memory_images"], dst)
    sources = [f"    read_verilog {f}" for f in man["files"]]
    sources += [f"    read_mem {f}" for f in man["memory_images"]]
    common = dict(
        top=man["top"],
        board_description=b.description,
        part=b.part,
        clock_mhz=_mhz(b.target_clock_mhz),
        period_ns=_period(b),
    )
    (dst / "constraints.xdc").write_text(_constraints(man, b))
    (dst / "build.tcl").write_text(
        _render("vivado_build.tcl", read_sources="\n".join(sources), **common)
    )
    sh = dst / "build.sh"
    sh.write_text(_render("vivado_build.sh", **common))
    os.chmod(sh, 0o755)


def export_vivado(rtl_dir, board: str | Board, out) -> dict:
    """Write a self-contained non-project Vivado build of the accelerator in ``rtl_dir`` for
    ``board`` to ``out`` (atomically): the sources, ``constraints.xdc``, ``build.tcl`` and
    ``build.sh``.  Returns ``dir``, ``files`` (relative to ``dir``), ``top``, ``part``, ``board``,
    ``clock_period_ns`` and ``command``."""
    rtl, man, _ = _load(rtl_dir)
    b = _board(board)
    out = Path(out)
    _check_target(out, rtl, lambda d: (d / "build.tcl").is_file(), "a Vivado export (no build.tcl)")
    with atomic_directory(out) as tmp:
        _write_vivado(rtl, man, b, tmp)
        files = _listing(tmp)
    return _vivado_info(out, man, b, files)


def _vivado_info(out: Path, man: dict, b: Board, files: list) -> dict:
    return {
        "dir": str(out),
        "files": files,
        "top": man["top"],
        "part": b.part,
        "board": b.name,
        "clock_period_ns": float(_period(b)),
        "command": f"bash {out / 'build.sh'}",
    }


# ---------------------------------------------------------------------------------------------
# FuseSoC


def sim_pixels(image: list, n: int = SIM_IMAGES) -> np.ndarray:
    """``n`` real test images (``load_bundled(0).test_x``) as uint8 n×C×H×W for an accelerator
    taking C×H×W images: MNIST as is for 1×28×28, otherwise sampled at the nearest pixel of each
    cell (and repeated over channels)."""
    from codesign.data import load_bundled

    x = load_bundled(0).test_x[:n]
    c, h, w = image
    if (h, w) != x.shape[1:]:
        rows = (np.arange(h) * 2 + 1) * x.shape[1] // (2 * h)
        cols = (np.arange(w) * 2 + 1) * x.shape[2] // (2 * w)
        x = x[:, rows][:, :, cols]
    return np.repeat(x[:, None], c, axis=1).astype(np.uint8)


def _timeout(man: dict, n: int) -> int:
    """Default +timeout of the sim target: twice the cycle model's clocks for ``n`` images."""
    cm = man.get("cycle_model", {})
    lat, ii = cm.get("latency_cycles"), cm.get("interval_cycles")
    if not isinstance(lat, int):
        return 0
    ii = ii if isinstance(ii, int) else lat
    return 2 * (lat + ii * (n - 1)) + 10_000


def _yaml_list(names: list, extra: str = "") -> str:
    return "\n".join(f"      - {n}{extra.format(n=n)}" for n in names)


def _write_fusesoc(rtl: Path, man: dict, b: Board | None, dst: Path, vlnv: str) -> list:
    top, tb = man["top"], man["testbench"]
    _copy(rtl, man["files"] + man["memory_images"] + [tb["file"]], dst)
    if man["kind"] == TRAINER:
        return _write_fusesoc_trainer(rtl, man, b, dst, vlnv)
    px = sim_pixels(man["s_axis"]["image"])
    (dst / "pixels.hex").write_text("".join(f"{int(p):02x}\n" for p in px.reshape(-1)))
    values, targets = _fusesoc_common(man, b, dst, vlnv)
    c, h, w = man["s_axis"]["image"]
    classes = man.get("m_axis", {}).get("beats_per_image")
    scores = f"{classes} class scores" if isinstance(classes, int) else "class scores"
    values.update(
        description=f"codesign accelerator {top}: {c}x{h}x{w} 8-bit "
        f"images in, {scores} out, over AXI4-Stream",
        sim_images=SIM_IMAGES,
        timeout=_timeout(man, SIM_IMAGES),
    )
    (dst / f"{top}.core").write_text(_render("fusesoc.core", **values))
    return targets


def _vlnv(man: dict, vendor: str, library: str, version: str) -> str:
    for field, v in (("vendor", vendor), ("library", library)):
        if not isinstance(v, str) or not _NAME.fullmatch(v) or "." in v:
            raise ExportError(f"{field} '{v}': a FuseSoC VLNV part of letters, digits, '_' and '-'")
    if not isinstance(version, str) or not re.fullmatch(r"\d+(\.\d+)*(-r\d+)?", version):
        raise ExportError(f"version '{version}': a FuseSoC version such as 0.1.0")
    return f"{vendor}:{library}:{man['top']}:{version}"


def _fusesoc_board(man: dict, board) -> Board | None:
    if board is not None:
        return _board(board)
    name = man.get("board", {}).get("name")
    return load_board(name) if isinstance(name, str) else None


def export_fusesoc(
    rtl_dir,
    out,
    *,
    vendor: str = "codesign",
    library: str = "accel",
    version: str = "0.1.0",
    board: str | Board | None = None,
) -> dict:
    """Write a FuseSoC CAPI2 core of the accelerator in ``rtl_dir`` with copies of its files to
    ``out`` (atomically).  Targets: ``default`` (RTL), ``sim`` (the bench in Icarus, plusarg
    parameters images/timeout/gap_in/gap_out/seed) and, when a board is known (``board``, else
    the manifest's), ``synth`` (Yosys for the board's part) and ``synth_vivado``.  Returns
    ``dir``, ``files``, ``core``, ``vlnv``, ``targets`` and ``sim_command``."""
    rtl, man, _ = _load(rtl_dir)
    vlnv = _vlnv(man, vendor, library, version)
    b = _fusesoc_board(man, board)
    out = Path(out)
    _check_target(out, rtl, lambda d: any(d.glob("*.core")), "a FuseSoC export (no .core file)")
    with atomic_directory(out) as tmp:
        targets = _write_fusesoc(rtl, man, b, tmp, vlnv)
        files = _listing(tmp)
    return _fusesoc_info(out, man, vlnv, targets, files)


def _fusesoc_common(man: dict, b: Board | None, dst: Path, vlnv: str) -> tuple[dict, list]:
    """The template values every core has (RTL, memory images, synthesis targets)."""
    top, mems = man["top"], man["memory_images"]
    base = "rtl, mem" if mems else "rtl"
    values = dict(
        top=top,
        vlnv=vlnv,
        vlnv_short=vlnv.rsplit(":", 1)[0],
        bench=man["testbench"]["file"],
        bench_top=man["testbench"]["top"],
        rtl_files=_yaml_list(man["files"]),
        mem_fileset=(
            "  mem:\n    file_type: mem\n    files:\n" + _yaml_list(mems, ": {{copyto: {n}}}")
            if mems
            else ""
        ),
        constraints_fileset="",
        default_filesets=base,
        sim_filesets=f"{base}, tb",
        synth_targets="",
    )
    targets = ["default", "sim"]
    if b is not None:
        (dst / "constraints.xdc").write_text(_constraints(man, b))
        values["constraints_fileset"] = (
            "  constraints:\n    file_type: xdc\n    files:\n      - constraints.xdc\n"
        )
        values["synth_targets"] = _render(
            "fusesoc_synth.core",
            top=top,
            part=b.part,
            clock_mhz=_mhz(b.target_clock_mhz),
            default_filesets=base,
        ).rstrip("\n")
        targets += ["synth", "synth_vivado"]
    return values, targets


def _write_fusesoc_trainer(rtl: Path, man: dict, b: Board | None, dst: Path, vlnv: str) -> list:
    """A trainer's core: its sim target plays the generated ``sim_stream.hex``."""
    sim = man.get("sim")
    if not isinstance(sim, dict) or not isinstance(sim.get("stream"), str):
        raise ExportError(f"{rtl}/manifest.json: field 'sim' is missing; re-run the generator")
    _copy(rtl, [sim["stream"]], dst)
    values, targets = _fusesoc_common(man, b, dst, vlnv)
    layers = man["network"]["layers"]
    values.update(
        description=f"codesign on-chip trainer {man['top']}: MLP {layers} trained over "
        f"AXI4-Stream, {man['cycle_model']['clocks_per_input']} clocks per input",
        stream=sim["stream"],
        beats=sim["beats"],
        outputs=sim["outputs"],
        sim_inputs=sim["inputs"],
        timeout=40 * sim["beats"] + 10_000,
    )
    (dst / f"{man['top']}.core").write_text(_render("fusesoc_trainer.core", **values))
    return targets


def _fusesoc_info(out: Path, man: dict, vlnv: str, targets: list, files: list) -> dict:
    short = vlnv.rsplit(":", 1)[0]
    return {
        "dir": str(out),
        "files": files,
        "core": f"{man['top']}.core",
        "vlnv": vlnv,
        "targets": targets,
        "sim_command": f"fusesoc --cores-root {out} run --target sim {short}"
        + ("" if man.get("kind") == TRAINER else " --images=1"),
    }


# ---------------------------------------------------------------------------------------------


def export(
    rtl_dir, board: str | Board, out=None, *, vivado: bool = True, fusesoc: bool = True
) -> dict:
    """Export the accelerator in ``rtl_dir`` for ``board`` to ``out`` (default
    ``<rtl_dir>/../export``): ``out/vivado/`` and/or ``out/fusesoc/`` and ``out/export.json``,
    written atomically (the whole of ``out`` is replaced).  Returns ``dir``, ``files`` and the
    ``vivado``/``fusesoc`` parts (None when not exported)."""
    if not (vivado or fusesoc):
        raise ExportError("nothing to export: choose --vivado and/or --fusesoc")
    rtl, man, raw = _load(rtl_dir)
    b = _board(board)
    out = Path(out) if out is not None else rtl.resolve().parent / "export"
    _check_target(
        out, rtl, lambda d: (d / "export.json").is_file(), "an export directory (no export.json)"
    )
    vlnv = _vlnv(man, "codesign", "accel", "0.1.0")
    info = {
        "format": EXPORT_FORMAT,
        "format_version": EXPORT_VERSION,
        "top": man["top"],
        "board": b.name,
        "part": b.part,
        "target_clock_mhz": b.target_clock_mhz,
        "manifest_sha256": hashlib.sha256(raw).hexdigest(),
        "vivado": None,
        "fusesoc": None,
    }
    with atomic_directory(out) as tmp:
        if vivado:
            (tmp / "vivado").mkdir()
            _write_vivado(rtl, man, b, tmp / "vivado")
            info["vivado"] = {"dir": "vivado", "command": "bash vivado/build.sh"}
        if fusesoc:
            (tmp / "fusesoc").mkdir()
            targets = _write_fusesoc(rtl, man, b, tmp / "fusesoc", vlnv)
            info["fusesoc"] = {
                "dir": "fusesoc",
                "core": f"fusesoc/{man['top']}.core",
                "vlnv": vlnv,
                "targets": targets,
            }
        write_json(tmp / "export.json", info)
        files = _listing(tmp)
    result = {"dir": str(out), "files": files, "vivado": None, "fusesoc": None}
    if vivado:
        result["vivado"] = _vivado_info(
            out / "vivado", man, b, [f.split("/", 1)[1] for f in files if f.startswith("vivado/")]
        )
    if fusesoc:
        result["fusesoc"] = _fusesoc_info(
            out / "fusesoc",
            man,
            vlnv,
            info["fusesoc"]["targets"],
            [f.split("/", 1)[1] for f in files if f.startswith("fusesoc/")],
        )
    return result

"""Corrupted and hand-edited stage inputs, fed to each stage's command as a new user would.

Every case runs the real command (``click.testing.CliRunner`` on ``codesign.cli.main``, or a
subprocess where a separate process or a time limit matters) and asserts what README.md promises
for an expected failure: exit status 1, one message naming the offending file (and the field,
where there is one), no Python traceback, and nothing half-written (the output directory absent,
or an existing one unchanged, and no ``.<name>.tmp-*`` sibling left behind).

Generated artifacts are shared in module-scoped fixtures and copied per case with
``shutil.copytree``; a copy sits at the same depth under pytest's base directory as its original,
so the relative model paths the artifacts record still lead to the session's model.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from codesign.cli import main
from codesign.hdl.sim import in_thread

BOARD = "nexys4ddr"
# as tests/conftest.py's smallest_schedule_dir: a build of its own converts and compiles in seconds
SMALLEST = ("--max-dsp", 35)
DEAD_PID = 999999


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------


def invoke(args) -> tuple[int, str, str | None]:
    """Run ``codesign ARGS`` in this process: (exit status, output, traceback text or None).
    In a fresh thread: MyHDL inspects the caller's stack for every block it elaborates, which is
    slow under pytest's deep one (codesign.hdl.sim.in_thread)."""
    r = in_thread(CliRunner().invoke, main, [str(a) for a in args])
    tb = None
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        tb = "".join(traceback.format_exception(*r.exc_info))
    return r.exit_code, r.output, tb


def run_process(args, timeout: float) -> tuple[int | None, str, float]:
    """Run ``codesign ARGS`` in a new process (and process group): (status, output, seconds);
    status None if it did not finish within ``timeout`` seconds (it and its children are then
    killed)."""
    cmd = [sys.executable, "-c", "from codesign.cli import main; main()", *map(str, args)]
    t0 = time.monotonic()
    p = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        return None, out, time.monotonic() - t0
    return p.returncode, out, time.monotonic() - t0


def _describe(status, output, tb) -> str:
    tail = "\n".join(tb.strip().splitlines()[-4:]) if tb else output.strip()[-1500:]
    return f"exit status {status}; the user saw:\n{tail}"


def error_message(output: str) -> str:
    """The 'Error: ...' paragraph click printed (the whole output if there is none)."""
    i = output.rfind("Error:")
    return output[i:] if i >= 0 else output


def fails(args, *patterns: str, status_in=(1,)) -> str:
    """``codesign ARGS`` must fail as an expected failure (exit status 1; ``status_in`` where a
    usage error, 2, is as good) whose message matches every regular expression of
    ``patterns``; returns the message."""
    status, output, tb = invoke(args)
    assert tb is None and "Traceback" not in output, "a traceback:\n" + _describe(
        status, output, tb
    )
    assert status in status_in, _describe(status, output, tb)
    msg = error_message(output)
    for p in patterns:
        assert re.search(p, msg), f"the message does not match {p!r}:\n{msg}"
    return msg


def passes(args) -> str:
    status, output, tb = invoke(args)
    assert status == 0 and tb is None, _describe(status, output, tb)
    return output


def snapshot(d: Path) -> dict:
    """Every file under ``d`` → sha256 of its bytes."""
    return {
        p.relative_to(d).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(d.rglob("*"))
        if p.is_file()
    }


def temporaries(target: Path) -> list:
    return sorted(p.name for p in target.parent.glob(f".{target.name}.*-*"))


def nothing_written(target: Path, before: dict | None = None) -> None:
    """``target`` absent (or, given its ``before`` snapshot, unchanged) and no temporary
    sibling of it left."""
    if before is None:
        assert not target.exists(), f"{target} was written by a failed command"
    else:
        assert snapshot(target) == before, f"{target} was changed by a failed command"
    assert not temporaries(target), f"left behind: {temporaries(target)}"


def q(path: Path) -> str:
    """``path`` as a regular expression (for matching it in a message)."""
    return re.escape(str(path))


def tail(path: Path, parts: int = 2) -> str:
    """The last ``parts`` components of ``path`` as a regular expression: a message may give
    the path as typed or resolved."""
    return re.escape("/".join(path.parts[-parts:]))


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def edit_json(path: Path, fn) -> None:
    d = json.loads(path.read_text())
    fn(d)
    path.write_text(json.dumps(d, indent=2) + "\n")


def edit_npz(path: Path, fn) -> None:
    """Rewrite an .npz as a user would (``numpy.savez``) after ``fn`` changed its arrays."""
    with np.load(path) as f:
        arrays = {k: f[k].copy() for k in f.files}
    fn(arrays)
    np.savez(path, **arrays)


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def same_place(copy: Path, original: Path, record: str) -> None:
    """The copy's recorded relative path leads where the original's does (fixture sanity)."""
    assert (copy / record).resolve() == (original / record).resolve(), (copy, original, record)


# --------------------------------------------------------------------------------------------------
# shared artifacts
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def accel_dir(smallest_accel_dir):
    """The whole accelerator, generated once from the smallest schedule (tests/conftest.py)."""
    return smallest_accel_dir


@pytest.fixture(scope="module")
def accel_manifest(accel_dir):
    return json.loads((accel_dir / "manifest.json").read_text())


@pytest.fixture
def rtl(accel_dir, accel_manifest, tmp_path):
    """A private copy of the generated accelerator (its recorded model path still valid)."""
    c = copy_tree(accel_dir, tmp_path / "rtl")
    same_place(c, accel_dir, accel_manifest["model"]["path"])
    return c


@pytest.fixture
def schedule(small_schedule_dir, tmp_path):
    """A private copy of the small schedule artifact (its recorded model path still valid)."""
    c = copy_tree(small_schedule_dir, tmp_path / "schedule")
    record = json.loads((c / "schedule.json").read_text())["model"]["path"]
    same_place(c, small_schedule_dir, record)
    return c


@pytest.fixture(scope="module")
def banked_schedule_dir(small_model_dir, tmp_path_factory):
    """The small model mapped with conv1 on 2 PEs and 2 banks, so that a word can be moved to
    another bank that exists."""
    out = tmp_path_factory.mktemp("banked") / "schedule"
    passes(
        [
            "map",
            "--model",
            small_model_dir,
            "--board",
            BOARD,
            "--out",
            out,
            "--quiet",
            "--set",
            "conv1.banks=2",
            "--set",
            "conv1.pes=2",
            "--set",
            "conv1.ifft_units=2",
        ]
    )
    assert json.loads((out / "schedule.json").read_text())["layers"][0]["arch"]["banks"] == 2
    return out


@pytest.fixture(scope="module")
def build_dir(small_model_dir, tmp_path_factory):
    """A build directory as the flow lays it out: build/model, and build/schedule mapped from
    it (so the schedule records the model as '../model')."""
    build = tmp_path_factory.mktemp("build") / "build"
    copy_tree(small_model_dir, build / "model")
    passes(
        [
            "map",
            "--model",
            build / "model",
            "--board",
            BOARD,
            "--out",
            build / "schedule",
            "--quiet",
            *SMALLEST,
        ]
    )
    assert json.loads((build / "schedule" / "schedule.json").read_text())["model"]["path"] == (
        "../model"
    )
    return build


@pytest.fixture(scope="module")
def other_model_dir(small_model, tmp_path_factory):
    """A different model artifact of the same network: every weight halved."""
    from dataclasses import replace

    from codesign.spectral.model import save_model

    params = {k: v * 0.5 for k, v in small_model.params.items()}
    out = tmp_path_factory.mktemp("other") / "model"
    return save_model(replace(small_model, params=params), out)


# --------------------------------------------------------------------------------------------------
# generate: a copied schedule artifact with edited layer arrays
# --------------------------------------------------------------------------------------------------


def _bank_outside(a):
    a["bank_of"][0, 3] = a["banks"]  # banks 0..banks-1 exist


def _nz_edited(a):
    a["nz"][0, 2] += 1


def _word_bank_edited(a):
    a["word_bank"][0, 0] ^= 1


def _word_w_re_edited(a):
    a["word_w_re"][0, 0] ^= 1


def _word_acc_edited(a):
    a["word_acc"][0, 1] ^= 1


@pytest.mark.parametrize(
    "edit, field",
    [
        (_bank_outside, r"'bank_of'"),
        (_nz_edited, r"'nz'"),
        (_word_bank_edited, r"word_bank"),
        (_word_w_re_edited, r"word_w_re"),
        (_word_acc_edited, r"word_acc"),
    ],
    ids=["bank_of-bank-that-does-not-exist", "nz", "word_bank", "word_w_re", "word_acc"],
)
def test_generate_refuses_edited_layer_arrays(schedule, tmp_path, edit, field):
    npz = schedule / "layers" / "conv1.npz"
    banks = json.loads((schedule / "schedule.json").read_text())["layers"][0]["arch"]["banks"]

    def edit_with_banks(a):
        a["banks"] = banks
        edit(a)
        del a["banks"]

    edit_npz(npz, edit_with_banks)
    out = tmp_path / "rtl"
    fails(["generate", "--schedule", schedule, "--out", out], tail(npz), field)
    nothing_written(out)


def _other_bank(a):
    a["bank_of"][0, 3] = 1 - a["bank_of"][0, 3]


def _other_bank_and_addresses(a):
    """Move word (0, 3) to the other bank and renumber every bank's words as
    docs/schedule-format.md says (row-major (c, f) order within a bank)."""
    _other_bank(a)
    b = a["bank_of"]
    addr = np.zeros_like(b)
    flat = addr.reshape(-1)
    for k in np.unique(b):
        idx = np.flatnonzero(b.reshape(-1) == k)
        flat[idx] = np.arange(len(idx))
    a["addr_of"] = addr


@pytest.mark.parametrize(
    "edit, field",
    [
        (_other_bank, r"bank_of|addr_of"),
        (_other_bank_and_addresses, r"word_bank|word_addr|bank|validity"),
    ],
    ids=["bank_of-only", "bank_of-and-addr_of"],
)
def test_generate_refuses_a_word_moved_to_another_existing_bank(
    banked_schedule_dir, tmp_path, edit, field
):
    """The schedule then no longer matches its memory image (the words still read the old
    bank)."""
    s = copy_tree(banked_schedule_dir, tmp_path / "schedule")
    npz = s / "layers" / "conv1.npz"
    with np.load(npz) as f:
        assert f["bank_of"].max() == 1  # two banks in use
    edit_npz(npz, edit)
    out = tmp_path / "rtl"
    fails(["generate", "--schedule", s, "--out", out], tail(npz), field)
    nothing_written(out)


def test_generate_refuses_a_truncated_layer_npz(schedule, tmp_path):
    npz = schedule / "layers" / "conv2.npz"
    truncate(npz)
    out = tmp_path / "rtl"
    fails(
        ["generate", "--schedule", schedule, "--out", out],
        tail(npz),
        r"unreadable|truncated|corrupt|not a zip|cannot be read",
    )
    nothing_written(out)


def test_a_failed_generate_leaves_the_existing_output_as_it_was(accel_dir, schedule, tmp_path):
    out = copy_tree(accel_dir, tmp_path / "rtl")
    before = snapshot(out)
    npz = schedule / "layers" / "conv1.npz"
    edit_npz(npz, _word_w_re_edited)
    fails(["generate", "--schedule", schedule, "--out", out], tail(npz), r"word_w_re")
    nothing_written(out, before)


# --------------------------------------------------------------------------------------------------
# generate: an edited schedule.json
# --------------------------------------------------------------------------------------------------


def _format_version(d):
    d["format_version"] = 3


def _arch_deleted(d):
    del d["layers"][1]["arch"]


def _pes_zero(d):
    d["layers"][0]["arch"]["pes"] = 0


def _macs_zero(d):
    d["layers"][2]["arch"]["macs"] = 0


def _vgg16_record(d):
    d["model"] = {"density": 0.25, "name": "vgg16", "seed": 0, "synthetic": True}
    for e in d["layers"]:
        e.pop("memory_image", None)


def _no_path(d):
    del d["model"]["path"]


@pytest.mark.parametrize(
    "edit, patterns",
    [
        (_format_version, [r"format_version|version 3"]),
        (_arch_deleted, [r"layers\[1\]\.arch"]),
        (_pes_zero, [r"\bpes\b"]),
        (_macs_zero, [r"\bmacs\b"]),
        (_vgg16_record, [r"'?model'?", r"model-only|no model artifact|path"]),
        (_no_path, [r"'?model'?", r"model-only|no model artifact|path"]),
    ],
    ids=[
        "format_version",
        "arch-deleted",
        "pes-0",
        "macs-0",
        "model-only-vgg16-record",
        "model-without-path",
    ],
)
def test_generate_refuses_an_edited_schedule_json(schedule, tmp_path, edit, patterns):
    sj = schedule / "schedule.json"
    edit_json(sj, edit)
    out = tmp_path / "rtl"
    fails(["generate", "--schedule", schedule, "--out", out], tail(sj), *patterns)
    nothing_written(out)


def test_generate_refuses_pes_that_disagree_with_the_layer_arrays(schedule, tmp_path):
    """`pes` edited to another valid value: schedule.json and layers/conv1.npz now disagree;
    either file may be named, and the message must say what (the PEs)."""
    sj = schedule / "schedule.json"

    def more_pes(d):  # still a multiple of the read-out lanes
        arch = d["layers"][0]["arch"]
        arch["pes"] += arch["ifft_units"]

    edit_json(sj, more_pes)
    out = tmp_path / "rtl"
    fails(
        ["generate", "--schedule", schedule, "--out", out],
        r"schedule\.json|layers/conv1\.npz",
        r"\bpes\b|\bP\b|\bPEs?\b",
    )
    nothing_written(out)


def test_generate_refuses_a_truncated_schedule_json(schedule, tmp_path):
    sj = schedule / "schedule.json"
    truncate(sj)
    out = tmp_path / "rtl"
    fails(["generate", "--schedule", schedule, "--out", out], tail(sj), r"JSON")
    nothing_written(out)


# --------------------------------------------------------------------------------------------------
# generate: the model the schedule records
# --------------------------------------------------------------------------------------------------


def test_generate_refuses_a_model_edited_after_mapping(build_dir, tmp_path):
    b = copy_tree(build_dir, tmp_path / "build")
    edit_json(b / "model" / "model.json", lambda d: d.update(test_images=d["test_images"] + 1))
    out = tmp_path / "rtl"
    fails(
        ["generate", "--schedule", b / "schedule", "--out", out],
        tail(b / "schedule" / "schedule.json"),
        r"model",
        r"changed|sha256|differs",
    )
    nothing_written(out)


def test_generate_refuses_a_model_whose_arrays_were_edited_after_mapping(build_dir, tmp_path):
    """arrays.npz edited (its checksum in model.json left as it was)."""
    b = copy_tree(build_dir, tmp_path / "build")
    edit_npz(b / "model" / "arrays.npz", lambda a: a["float/fc3.bias"].__setitem__(0, 0.125))
    out = tmp_path / "rtl"
    fails(
        ["generate", "--schedule", b / "schedule", "--out", out],
        tail(b / "model" / "arrays.npz"),
        r"checksum|sha256|changed|modified",
    )
    nothing_written(out)


def test_generate_with_model_pointing_at_a_correct_copy(
    smallest_schedule_dir, small_model_dir, tmp_path
):
    """--model names a byte-identical copy elsewhere: it is used and recorded; a stale temporary
    of a dead process beside the output is removed by the successful write."""
    m = copy_tree(small_model_dir, tmp_path / "elsewhere" / "copy")
    out = tmp_path / "rtl"
    stale = tmp_path / f".rtl.tmp-{DEAD_PID}-x"
    (stale / "mem").mkdir(parents=True)
    (stale / "mem" / "junk.hex").write_text("0\n")
    passes(["generate", "--schedule", smallest_schedule_dir, "--model", m, "--out", out])
    man = json.loads((out / "manifest.json").read_text())
    assert (out / man["model"]["path"]).resolve() == m.resolve()
    assert not stale.exists() and not temporaries(out)


def test_generate_with_model_pointing_at_a_different_model(
    small_schedule_dir, other_model_dir, tmp_path
):
    out = tmp_path / "rtl"
    fails(
        ["generate", "--schedule", small_schedule_dir, "--model", other_model_dir, "--out", out],
        r"schedule\.json",
        tail(other_model_dir),
        r"changed|sha256|differs|not the model",
    )
    nothing_written(out)


# --------------------------------------------------------------------------------------------------
# cosim: a copied, corrupted accelerator directory
# --------------------------------------------------------------------------------------------------


def _cosim_fails(rtl_dir: Path, tmp_path: Path, *patterns, extra=()):
    before = snapshot(rtl_dir)
    report = tmp_path / "report.json"
    msg = fails(["cosim", "--rtl", rtl_dir, "--images", 1, "--report", report, *extra], *patterns)
    assert not report.exists(), "a report was written for a refused run"
    assert snapshot(rtl_dir) == before, "cosim changed the RTL directory"
    return msg


def test_cosim_refuses_a_deleted_rom_image(rtl, accel_manifest, tmp_path):
    rom = rtl / accel_manifest["memory_images"][0]
    assert rom.name.startswith("rom_") and rom.suffix == ".hex"
    rom.unlink()
    _cosim_fails(rtl, tmp_path, tail(rom), r"missing")


def test_cosim_refuses_an_altered_rom_image(rtl, accel_manifest, tmp_path):
    rom = rtl / accel_manifest["memory_images"][-1]
    lines = rom.read_text().splitlines(keepends=True)
    first = lines[0]
    lines[0] = ("1" if first[0] == "0" else "0") + first[1:]
    rom.write_text("".join(lines))
    _cosim_fails(rtl, tmp_path, tail(rom), r"changed|sha256|differs")


def test_cosim_refuses_an_altered_verilog_file(rtl, accel_manifest, tmp_path):
    v = rtl / accel_manifest["files"][0]
    v.write_text(v.read_text().replace("endmodule", "endmodule // edited", 1))
    _cosim_fails(rtl, tmp_path, tail(v), r"changed|sha256|differs")


@pytest.mark.parametrize(
    "field",
    [
        "model",
        "cycle_model",
        "s_axis",
        "testbench",
        "files",
        "top",
        "kind",
        "format_version",
        "sha256",
    ],
)
def test_cosim_refuses_a_manifest_with_a_removed_field(rtl, tmp_path, field):
    mp = rtl / "manifest.json"
    edit_json(mp, lambda d: d.pop(field))
    named = rf"'{field}['.\[]" + (r"|format version" if field == "format_version" else "")
    _cosim_fails(rtl, tmp_path, tail(mp), named)


def test_cosim_refuses_a_manifest_naming_a_file_outside_the_directory(rtl, tmp_path):
    (tmp_path / "x.v").write_text("module x; endmodule\n")
    mp = rtl / "manifest.json"
    edit_json(mp, lambda d: d.update(files=["../x.v"]))
    _cosim_fails(rtl, tmp_path, tail(mp), r"files\[0\]", re.escape("../x.v"))


def test_cosim_refuses_a_model_edited_after_generate(rtl, accel_manifest, tmp_path):
    """The manifest's model path leads to the session's model, which must stay intact: point
    the copy at an edited copy of the model instead, keeping the recorded sha256."""
    m = copy_tree((rtl / accel_manifest["model"]["path"]).resolve(), tmp_path / "model")
    edit_json(m / "model.json", lambda d: d.update(test_images=d["test_images"] + 1))
    _cosim_fails(
        rtl, tmp_path, r"manifest\.json", r"model", r"changed|sha256|differs", extra=["--model", m]
    )


def test_cosim_with_model_pointing_at_a_different_model(rtl, other_model_dir, tmp_path):
    _cosim_fails(
        rtl,
        tmp_path,
        r"manifest\.json",
        tail(other_model_dir),
        r"changed|sha256|differs|not the model",
        extra=["--model", other_model_dir],
    )


def test_cosim_reset_at_beyond_the_end_of_the_run(rtl, tmp_path):
    """--reset-at 10**9 with one image: an error naming the option, promptly (a separate
    process, killed if it simulates towards edge 10**9)."""
    status, output, secs = run_process(
        ["cosim", "--rtl", rtl, "--images", 1, "--reset-at", 10**9, "--quiet"], timeout=120
    )
    assert status is not None, f"still running after {secs:.0f} s:\n{output[-1500:]}"
    assert "Traceback" not in output, output[-1500:]
    assert status == 1, f"exit status {status}:\n{output[-1500:]}"
    msg = error_message(output)
    assert "--reset-at" in msg and "1000000000" in msg, msg


# --------------------------------------------------------------------------------------------------
# cosim --inputs
# --------------------------------------------------------------------------------------------------


def test_cosim_inputs_without_images_runs_every_image(rtl, mnist, tmp_path):
    f = tmp_path / "three.npy"
    np.save(f, mnist.test_x[:3])
    report = tmp_path / "report.json"
    out = passes(["cosim", "--rtl", rtl, "--inputs", f, "--report", report, "--quiet"])
    assert re.search(r"\b3 images\b", out), out
    r = json.loads(report.read_text())
    assert r["images"] == 3 and r["scores"] == 30 and r["bit_exact"], r


def _float_images(p, mnist):
    np.save(p, mnist.test_x[:3].astype(np.float32))


def _small_images(p, mnist):
    np.save(p, mnist.test_x[:3, :14, :14].copy())


def _flat_image(p, mnist):
    np.save(p, mnist.test_x[0].reshape(-1))


def _flat_images(p, mnist):
    np.save(p, mnist.test_x[:3].reshape(3, -1))


def _text_file(p, mnist):
    p.write_text("0 1 2 3\n")


def _npz_without_images(p, mnist):
    with open(p, "wb") as fh:
        np.savez(fh, pixels=mnist.test_x[:3])


def _npz_bad_labels(p, mnist):
    with open(p, "wb") as fh:
        np.savez(fh, images=mnist.test_x[:3], labels=np.zeros(2, np.int64))


@pytest.mark.parametrize(
    "write, name, patterns",
    [
        (_float_images, "f.npy", [r"uint8|dtype|float32"]),
        (_small_images, "s.npy", [r"784|28|shape|pixels"]),
        (_flat_image, "one.npy", [r"N×H×W|shape|dimension"]),
        (_flat_images, "flat.npy", [r"N×H×W|shape|dimension"]),
        (_text_file, "t.npy", [r"numpy|\.npy"]),
        (_npz_without_images, "n.npz", [r"'images'"]),
        (_npz_bad_labels, "l.npz", [r"labels"]),
    ],
    ids=[
        "wrong-dtype",
        "wrong-shape-14x14",
        "one-flat-image",
        "flat-images",
        "not-numpy",
        "npz-without-images",
        "npz-labels-wrong-length",
    ],
)
def test_cosim_refuses_bad_inputs_files(rtl, mnist, tmp_path, write, name, patterns):
    f = tmp_path / name
    write(f, mnist)
    before = snapshot(rtl)
    report = tmp_path / "report.json"
    fails(["cosim", "--rtl", rtl, "--inputs", f, "--report", report], q(f), *patterns)
    assert not report.exists()
    assert snapshot(rtl) == before


# --------------------------------------------------------------------------------------------------
# a build directory that moved
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moved_build(build_dir, tmp_path_factory):
    """A copy of the build directory moved elsewhere (the copy's first place no longer exists),
    then generated there."""
    base = tmp_path_factory.mktemp("moved")
    first = copy_tree(build_dir, base / "first")
    moved = base / "somewhere" / "else" / "build"
    moved.parent.mkdir(parents=True)
    shutil.move(first, moved)
    assert not first.exists()
    status, output, tb = invoke(
        ["generate", "--schedule", moved / "schedule", "--out", moved / "rtl"]
    )
    return moved, (status, output, tb)


def test_a_moved_build_directory_generates(moved_build):
    moved, (status, output, tb) = moved_build
    assert status == 0 and tb is None, _describe(status, output, tb)
    man = json.loads((moved / "rtl" / "manifest.json").read_text())
    assert (moved / "rtl" / man["model"]["path"]).resolve() == (moved / "model").resolve()
    assert (moved / "rtl" / man["schedule"]["path"]).resolve() == (moved / "schedule").resolve()


def test_a_moved_build_directory_cosimulates_and_moves_again(moved_build, tmp_path):
    moved, (status, output, tb) = moved_build
    assert status == 0 and tb is None, "generate failed: " + _describe(status, output, tb)
    report = tmp_path / "r.json"
    out = passes(["cosim", "--rtl", moved / "rtl", "--images", 2, "--report", report, "--quiet"])
    r = json.loads(report.read_text())
    assert r["images"] == 2 and r["bit_exact"], out
    again = copy_tree(moved, tmp_path / "again" / "build")
    passes(["cosim", "--rtl", again / "rtl", "--images", 1, "--quiet"])


def test_a_moved_build_whose_model_was_edited_after_generate(moved_build, tmp_path):
    moved, (status, output, tb) = moved_build
    assert status == 0 and tb is None, "generate failed: " + _describe(status, output, tb)
    b = copy_tree(moved, tmp_path / "build")
    edit_json(b / "model" / "model.json", lambda d: d.update(test_images=d["test_images"] + 1))
    _cosim_fails(b / "rtl", tmp_path, r"manifest\.json", r"model", r"changed|sha256|differs")


# --------------------------------------------------------------------------------------------------
# the model artifact: inspect and map
# --------------------------------------------------------------------------------------------------


def _with_checksum(model_dir: Path) -> None:
    """Record arrays.npz's new sha256 in model.json, as a user who knows the format would."""
    digest = sha256(model_dir / "arrays.npz")
    edit_json(model_dir / "model.json", lambda d: d["arrays"].update(sha256=digest))


def _nan_weight(a):
    k = a["float/conv1.kernel"]
    o, c, u, v = np.argwhere(a["mask/conv1.kernel"])[0]
    k[o, c, u, v] = complex(np.nan, 0.0)


def _fixed_off(a):
    a["fixed/fc1.weight"][0, 0] += 1


CORRUPT_MODELS = {
    "nan-in-float-weight": (_nan_weight, True, [r"float/conv1\.kernel", r"NaN"]),
    "nan-checksum-not-updated": (_nan_weight, False, [r"checksum|sha256|modified"]),
    "fixed-not-quantised-float": (_fixed_off, True, [r"fixed/fc1\.weight", r"quantis"]),
    "truncated-arrays": (None, False, [r"truncated|checksum|cannot be read|corrupt"]),
}


def _corrupt_model(small_model_dir, tmp_path, case) -> Path:
    edit, checksum, _ = CORRUPT_MODELS[case]
    m = copy_tree(small_model_dir, tmp_path / "model")
    if edit is None:
        truncate(m / "arrays.npz")
    else:
        edit_npz(m / "arrays.npz", edit)
    if checksum:
        _with_checksum(m)
    return m


@pytest.mark.parametrize("case", sorted(CORRUPT_MODELS))
def test_inspect_names_the_corrupt_model_file(small_model_dir, tmp_path, case):
    m = _corrupt_model(small_model_dir, tmp_path, case)
    before = snapshot(m)
    fails(["inspect", m], tail(m / "arrays.npz"), *CORRUPT_MODELS[case][2])
    assert snapshot(m) == before


@pytest.mark.parametrize("case", sorted(CORRUPT_MODELS))
def test_map_names_the_corrupt_model_file(small_model_dir, tmp_path, case):
    m = _corrupt_model(small_model_dir, tmp_path, case)
    out = tmp_path / "schedule"
    fails(
        ["map", "--model", m, "--board", BOARD, "--out", out, "--quiet"],
        tail(m / "arrays.npz"),
        *CORRUPT_MODELS[case][2],
    )
    nothing_written(out)


def test_inspect_and_map_name_a_truncated_model_json(small_model_dir, tmp_path):
    m = copy_tree(small_model_dir, tmp_path / "model")
    truncate(m / "model.json")
    fails(["inspect", m], tail(m / "model.json"), r"JSON")
    out = tmp_path / "schedule"
    fails(["map", "--model", m, "--out", out, "--quiet"], tail(m / "model.json"), r"JSON")
    nothing_written(out)


# --------------------------------------------------------------------------------------------------
# the flow's TOML file
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "toml, key, allowed",
    [
        ("[cosim]\nimages = -5\n", r"images", r"x\s*>=\s*0|>=\s*0|at least 0|non-negative"),
        (
            "[prune]\ndensity = 1.5\n",
            r"density",
            r"0\s*<\s*x\s*<=\s*1|\(0,\s*1\]|between 0 and 1",
        ),
        (
            '[prune]\ndensity = "high"\n',
            r"density",
            r"0\s*<\s*x\s*<=\s*1|\(0,\s*1\]|between 0 and 1",
        ),
    ],
    ids=["images=-5", "density=1.5", "density=high"],
)
def test_flow_config_values_are_checked(tmp_path, toml, key, allowed):
    cfg = tmp_path / "my-flow.toml"
    cfg.write_text(toml)
    out = tmp_path / "build"
    t0 = time.monotonic()
    fails(["flow", "--config", cfg, "--out", out, "--quiet"], q(cfg), key, allowed)
    assert time.monotonic() - t0 < 10, "the flow started working before checking its settings"
    nothing_written(out)


# --------------------------------------------------------------------------------------------------
# output targets
# --------------------------------------------------------------------------------------------------


EXISTING_FILE = r"not a directory|exists|is a file"


def test_prune_out_an_existing_file_fails_before_training(tmp_path):
    target = tmp_path / "model"
    target.write_text("not a directory\n")
    status, output, secs = run_process(["prune", "--out", target, "--quiet"], timeout=60)
    assert status is not None, f"still running after {secs:.0f} s (training?):\n{output[-800:]}"
    assert "Traceback" not in output, output[-1500:]
    assert status in (1, 2), f"exit status {status}:\n{output[-1500:]}"  # 2: click's own check
    msg = error_message(output)
    assert str(target) in msg and re.search(EXISTING_FILE, msg), msg
    assert secs < 15, f"took {secs:.1f} s: it trained before checking --out"
    assert target.read_text() == "not a directory\n"
    assert not temporaries(target)


def test_prune_out_under_a_read_only_directory_fails_before_training(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("running as root: directory permissions do not apply")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        target = ro / "model"
        status, output, secs = run_process(["prune", "--out", target, "--quiet"], timeout=60)
        assert status is not None, f"still running after {secs:.0f} s:\n{output[-800:]}"
        assert "Traceback" not in output, output[-1500:]
        assert status == 1, f"exit status {status}:\n{output[-1500:]}"
        msg = error_message(output)
        assert str(target) in msg and re.search(r"cannot be written|writable", msg), msg
        assert secs < 15, f"took {secs:.1f} s: it trained before checking --out"
        assert not target.exists() and not temporaries(target)
    finally:
        ro.chmod(0o755)


def test_map_and_generate_out_an_existing_file(small_model_dir, small_schedule_dir, tmp_path):
    target = tmp_path / "target"
    target.write_text("keep me\n")
    fails(
        ["map", "--model", small_model_dir, "--out", target, "--quiet"],
        q(target),
        EXISTING_FILE,
        status_in=(1, 2),
    )
    fails(
        ["generate", "--schedule", small_schedule_dir, "--out", target],
        q(target),
        EXISTING_FILE,
        status_in=(1, 2),
    )
    assert target.read_text() == "keep me\n" and not temporaries(target)


def test_a_stale_temporary_of_a_dead_process_is_removed_by_the_next_write(
    small_model_dir, tmp_path
):
    out = tmp_path / "schedule"
    stale_tmp = tmp_path / f".schedule.tmp-{DEAD_PID}-x"
    stale_old = tmp_path / f".schedule.old-{DEAD_PID}-y"
    for d in (stale_tmp, stale_old):
        (d / "layers").mkdir(parents=True)
        (d / "schedule.json").write_text("{")
    passes(["map", "--model", small_model_dir, "--board", BOARD, "--out", out, "--quiet"])
    assert (out / "schedule.json").is_file()
    assert not stale_tmp.exists() and not stale_old.exists()
    assert not temporaries(out)


def test_a_temporary_of_a_live_process_is_kept(small_model_dir, tmp_path):
    """Another process still writing the same target keeps its temporary (pid 1 is alive)."""
    try:
        os.kill(1, 0)
    except PermissionError:
        pass  # alive, not ours
    out = tmp_path / "schedule"
    live = tmp_path / ".schedule.tmp-1-x"
    live.mkdir()
    passes(["map", "--model", small_model_dir, "--board", BOARD, "--out", out, "--quiet"])
    assert live.is_dir()

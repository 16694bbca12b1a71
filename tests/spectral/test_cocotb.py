"""The cocotb test `codesign generate` writes beside the accelerator (docs/accelerator.md,
"cocotb"): its files, manifest entries and expected scores, and the test itself run on Icarus:
a real image with random pauses on both streams passes; against a stand-in with the core's
ports, a wrong expected score fails naming the image, the class and the scores."""

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from codesign.eda.manifest import ACCELERATOR, read_manifest
from codesign.spectral import fxpmodel
from codesign.spectral.cocotb_bench import VECTORS_FORMAT, write_vectors
from codesign.spectral.model import load_model

HAVE_COCOTB = all(importlib.util.find_spec(m) for m in ("cocotb", "cocotbext")) and bool(
    shutil.which("iverilog")
)


@pytest.fixture(scope="module")
def accel(smallest_accel_dir):
    return smallest_accel_dir


@pytest.fixture(scope="module")
def man(accel):
    return read_manifest(accel, ACCELERATOR)  # checks every listed file's sha256


def _model_scores(man, images):
    model = load_model(man.dir / man["model"]["path"])
    return fxpmodel.run(model.quantized(), model.layers, model.fixed_point, images)


def test_files_in_the_manifest_and_the_hash_table(man):
    c = man["cocotb"]
    assert c["test"] == "test_codesign_accel.py" and c["module"] == "test_codesign_accel"
    assert c["files"] == sorted([c["test"], c["makefile"], c["vectors"]])
    assert set(c["files"]) <= set(man["sha256"])
    assert c["simulator"] == "icarus" and c["toplevel"] == man["top"]
    source = (man.dir / c["test"]).read_text()
    compile(source, c["test"], "exec")
    assert "import codesign" not in source and "numpy" not in source  # self-contained
    assert "AxiStreamSource" in source and "set_pause_generator" in source
    make = (man.dir / c["makefile"]).read_text()
    assert "COCOTB_TOPLEVEL = codesign_accel" in make
    assert "COCOTB_TEST_MODULES = test_codesign_accel" in make


def test_vectors_are_the_bundled_images_with_the_fixed_point_models_scores(man, mnist):
    c = man["cocotb"]
    v = json.loads((man.dir / c["vectors"]).read_text())
    n = c["images"]
    assert v["format"] == VECTORS_FORMAT and len(v["vectors"]) == n >= 2
    assert v["model_sha256"] == man["model"]["sha256"]
    x = mnist.test_x[:n]
    want = _model_scores(man, x)
    assert [r["scores"] for r in v["vectors"]] == want.tolist()
    assert [r["class"] for r in v["vectors"]] == want.argmax(axis=1).tolist()
    assert [r["label"] for r in v["vectors"]] == mnist.test_y[:n].tolist()
    assert [bytes.fromhex(r["pixels"]) for r in v["vectors"]] == [i.tobytes() for i in x]


def test_your_own_images_get_their_expected_scores(man, mnist, tmp_path):
    x, y = mnist.test_x[20:23], mnist.test_y[20:23]
    path = write_vectors(man.dir, x, tmp_path / "mine.json", labels=y)
    v = json.loads(path.read_text())
    assert [r["scores"] for r in v["vectors"]] == _model_scores(man, x).tolist()
    assert [r["label"] for r in v["vectors"]] == y.tolist()
    with pytest.raises(ValueError, match="784 pixels each"):
        write_vectors(man.dir, x[:, :20], tmp_path / "bad.json")


def test_every_output_register_has_a_simulation_only_initial_value(man):
    """The outputs are defined from time 0 (docs/accelerator.md, "Initial values"): each output
    that is a reg gets its reset value, for simulators only (yosys and Vivado see no init)."""
    text = (man.dir / "codesign_accel.v").read_text()
    assert "`ifdef SYNTHESIS\n`define CODESIGN_INIT(value)\n`else" in text
    for p in man["ports"]:
        if p["direction"] != "output":
            continue
        decl = re.search(rf"^(reg|wire) (\[\d+:0\] )?{p['name']}\b.*$", text, re.M)
        assert decl, p["name"]
        if decl.group(1) == "reg":
            assert decl.group(0).endswith(f"`CODESIGN_INIT({p['width']}'d0);"), decl.group(0)
    module_regs = re.findall(r"^reg .*;$", text, re.M)
    undefined = [r for r in module_regs if "CODESIGN_INIT" not in r and "[0:" not in r]
    assert not undefined  # every register but the memories (arrays)


def _run(script, work, *args):
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env.pop("COCOTB_RANDOM_SEED", None)
    return subprocess.run(
        [sys.executable, str(script), "--work", str(work), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        timeout=1200,
    )


def _stand_in(scores: list, pixels: int) -> str:
    """Verilog with the accelerator's ports that takes one image's pixels and sends ``scores``
    (with their running argmax on tuser): the core's right answer within a few clocks."""
    best = [max(range(k + 1), key=lambda j: (scores[j], -j)) for k in range(len(scores))]
    tdata = "".join(f"beat == {k} ? 16'd{v & 0xFFFF} : " for k, v in enumerate(scores))
    tuser = "".join(f"beat == {k} ? 4'd{b} : " for k, b in enumerate(best))
    last = len(scores) - 1
    return f"""`timescale 1ns/10ps
module codesign_accel (
    input aclk, input aresetn,
    input [7:0] s_axis_tdata, input s_axis_tvalid, output s_axis_tready, input s_axis_tlast,
    output [15:0] m_axis_tdata, output m_axis_tvalid, input m_axis_tready,
    output m_axis_tlast, output [3:0] m_axis_tuser, output frame_error
);
    reg [9:0] taken = 0;
    reg [3:0] beat = 0;
    reg sending = 0;
    assign m_axis_tdata = {tdata}16'd0;
    assign m_axis_tuser = {tuser}4'd0;
    assign s_axis_tready = !sending;
    assign m_axis_tvalid = sending;
    assign m_axis_tlast = sending && beat == {last};
    assign frame_error = 1'b0;
    always @(posedge aclk)
        if (!aresetn) begin
            taken <= 0; beat <= 0; sending <= 0;
        end else if (!sending) begin
            if (s_axis_tvalid) begin
                taken <= taken == {pixels - 1} ? 0 : taken + 1;
                sending <= taken == {pixels - 1};
            end
        end else if (m_axis_tready) begin
            beat <= beat == {last} ? 0 : beat + 1;
            sending <= beat != {last};
        end
endmodule
"""


@pytest.mark.skipif(not HAVE_COCOTB, reason="needs cocotb, cocotbext-axi and Icarus Verilog")
def test_the_cocotb_test_passes_on_the_core_in_icarus(man, tmp_path):
    """One real image (~37 k clocks of Icarus on the smallest design, most of this file's
    time), random pauses on both streams (images back to back, buffer reuse and resets on the
    wide paced design: test_accelerator, in Verilator)."""
    r = _run(man.dir / man["cocotb"]["test"], tmp_path / "run", "--images", "1", "--seed", "3")
    assert r.returncode == 0, r.stdout[-4000:]
    assert "1 of 1 passed" in r.stdout
    assert "1 images, pauses 0.30 in, 0.50 out" in r.stdout
    assert "image 0: scores equal" in r.stdout and "image 1" not in r.stdout
    read_manifest(man.dir, ACCELERATOR)  # the run left the generated files as they were


@pytest.mark.skipif(not HAVE_COCOTB, reason="needs cocotb, cocotbext-axi and Icarus Verilog")
def test_a_wrong_expected_score_fails_the_cocotb_test(man, tmp_path):
    """The written test, unchanged, against a stand-in sending the right scores at once (the
    core would take its ~37 k clocks of latency to show the same): one expected score off by
    one fails, naming the image, the class and both scores."""
    c = man["cocotb"]
    v = json.loads((man.dir / c["vectors"]).read_text())
    scores = list(v["vectors"][0]["scores"])
    v["vectors"][0]["scores"][3] += 1
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps(v))
    bench = tmp_path / "stand_in"
    bench.mkdir()
    for f in (c["test"], c["vectors"]):
        shutil.copy(man.dir / f, bench)
    (bench / "codesign_accel.v").write_text(_stand_in(scores, len(v["vectors"][0]["pixels"]) // 2))
    ok = _run(bench / c["test"], tmp_path / "ok", "--images", "1")
    assert ok.returncode == 0, ok.stdout[-4000:]  # the stand-in is right with the right vectors
    bad = _run(bench / c["test"], tmp_path / "bad", "--images", "1", "--vectors", wrong)
    assert bad.returncode == 1, bad.stdout[-4000:]
    assert f"image 0, class 3: score {scores[3]} " in bad.stdout
    assert f"expected {scores[3] + 1} " in bad.stdout and "0 of 1 passed" in bad.stdout

"""The generate stage: a whole spectral conv layer engine from the schedule artifact, converted to
Verilog, bit-exact against the fixed-point model on real MNIST images in Icarus, at exactly the
clocks of the timing model; lint and synthesis of the generated Verilog."""

import json
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from click.testing import CliRunner

from codesign.cli import main
from codesign.eda.synth import resources
from codesign.hdl.ram import ram_style
from codesign.hdl.rom import rom_style
from codesign.hdl.sim import in_thread, lint, tool_in_background
from codesign.spectral.cosim import cosim_layer, verdict
from codesign.spectral.generate import GenerateError, generate_layer


@pytest.fixture(scope="module")
def schedule_dir(linked_schedule_dir):
    return linked_schedule_dir


@pytest.fixture(scope="module")
def rtl(schedule_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("rtl")
    return {
        name: (in_thread(generate_layer, schedule_dir, name, root / name), root / name)
        for name in ("conv1", "conv2")
    }


def test_manifest_describes_the_design(rtl, schedule_dir):
    man, path = rtl["conv2"]
    assert man["top"] == "conv2_engine" and (path / "conv2_engine.v").is_file()
    assert man["arch"]["fft_units"] == 2 and man["arch"]["ifft_units"] == 4
    assert man["input"]["shape"] == [6, 12, 12] and man["output"]["shape"] == [16, 4, 4]
    ports = {p["name"]: p for p in man["ports"]}
    assert ports["in_x"]["width"] == 32 and not ports["in_x"]["signed"]  # two words a beat
    assert man["input"]["words_per_beat"] == 2 and man["output"]["words_per_beat"] == 1
    assert ports["out_v"]["width"] == 16 and ports["out_v"]["signed"]
    assert ports["out_o"]["width"] == 4 and ports["out_v"]["direction"] == "output"
    conv1 = {p["name"]: p for p in rtl["conv1"][0]["ports"]}
    assert (conv1["in_x"]["width"], conv1["out_v"]["width"]) == (16, 32)
    assert all((path / f).is_file() for f in man["memory_images"])
    e = man["expected_cycles"]
    assert len(e["out_first"]) == e["images"] and e["interval"] > 0
    sj = json.loads((schedule_dir / "schedule.json").read_text())
    engine = next(x for x in sj["layers"] if x["name"] == "conv2")["engine"]
    assert (engine["latency_cycles"], engine["interval_cycles"]) == (e["latency"], e["interval"])
    on_disk = json.loads((path / "manifest.json").read_text())
    assert on_disk == man


def test_real_images_bit_exact_at_the_modelled_clocks(rtl, schedule_dir, mnist):
    """conv1 on MNIST test digits, conv2 on the fixed-point model's conv1 activations of them;
    the two Icarus runs go in parallel (one per core).  Two images back to back, one in each
    input and map buffer (test_link runs the same engines on more images, in Verilator, at
    every clock edge of the model)."""
    with ThreadPoolExecutor(2) as pool:
        runs = {
            layer: pool.submit(
                cosim_layer, rtl[layer][1], schedule_dir, mnist.test_x[:2], engine="fast"
            )
            for layer in ("conv1", "conv2")
        }
        for layer, job in runs.items():
            r, e = job.result(), rtl[layer][0]["expected_cycles"]
            assert r["bit_exact"], (layer, r.get("first_mismatch"))
            assert r["outputs"] == r["expected"] > 0
            for key in ("in_first", "out_first", "out_last"):
                assert r["marks"][key] == e[key][:2], (layer, key)
            assert r["timing"]["exact"] and verdict(r) is None, layer


def test_myhdl_cosimulation_of_the_converted_verilog(rtl, schedule_dir, mnist):
    """The same check through MyHDL's Cosimulation (vvp -m myhdl.vpi), per clock from Python."""
    man, path = rtl["conv2"]
    r = in_thread(cosim_layer, path, schedule_dir, mnist.test_x[10:11], engine="icarus")
    assert r["bit_exact"], r.get("first_mismatch")
    for key in ("in_first", "out_first", "out_last"):
        assert r["marks"][key] == man["expected_cycles"][key][:1], key


def test_bad_layers_are_refused_and_nothing_is_written(schedule_dir, tmp_path):
    """(Byte-identical output is tested on the whole accelerator, which holds both engines.)"""
    with pytest.raises(GenerateError, match=r"no spectral conv layer 'fc1'"):
        generate_layer(schedule_dir, "fc1", tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
    with pytest.raises(GenerateError, match="schedule.json: missing"):
        generate_layer(tmp_path, "conv1", tmp_path / "bad")


def test_several_inverse_lanes_are_refused_with_the_fix(wide_schedule_dir, tmp_path):
    sj = json.loads((wide_schedule_dir / "schedule.json").read_text())
    archs = {e["name"]: e["arch"] for e in sj["layers"] if "schedule" in e}
    name = "conv2"  # 4 read-out lanes over 3 PEs: a lane would share a PE with another
    assert archs[name]["ifft_units"] == 4 and archs[name]["pes"] == 3
    r = CliRunner().invoke(
        main,
        [
            "generate",
            "--schedule",
            str(wide_schedule_dir),
            "--layer",
            name,
            "--out",
            str(tmp_path / "x"),
        ],
    )
    assert r.exit_code != 0 and f"--set {name}.ifft_units=1" in r.output


SYNTH_TEST = "test_generated_verilog_lints_and_maps_to_dsp_and_block_ram"


@pytest.fixture(scope="module", autouse=True)
def synthesis(request, tmp_path_factory):
    """Yosys ``synth_xilinx`` of the conv1 engine, started with the module's first test (when the
    synthesis test is selected) so that the slow run overlaps the simulations."""
    if not any(item.name == SYNTH_TEST for item in request.session.items):
        yield None
        return
    _, path = request.getfixturevalue("rtl")["conv1"]
    out = tmp_path_factory.mktemp("synth")
    script = (
        "read_verilog conv1_engine.v; synth_xilinx -family xc7 -top conv1_engine; "
        f"tee -q -o {out / 'stat.txt'} stat; "
        f"tee -q -o {out / 'bram.txt'} select -list t:RAMB18E1 t:RAMB36E1; "
        f"tee -q -o {out / 'lutram.txt'} select -list t:RAM32M t:RAM64M t:RAM128X1D"
    )
    with tool_in_background("yosys", ["-q", "-p", script], cwd=path, timeout=600) as job:
        yield job, out


def test_generated_verilog_lints_and_maps_to_dsp_and_block_ram(rtl, synthesis, schedule_dir):
    """Lint-clean; yosys puts the products in DSP48E1, the kernel ROMs where their style says
    (LUTs when at most 64 slots), the small spectrum banks in LUT RAM; block RAM as the map stage
    estimated, LUT within 10 % of it."""
    _, path = rtl["conv1"]
    # UNUSEDSIGNAL: sub-block outputs this engine does not need (e.g. the read-out valid flag)
    assert lint(["conv1_engine.v"], None, path, also_waive=["UNUSEDSIGNAL"]) == []
    job, out = synthesis
    job.result()
    stat = (out / "stat.txt").read_text()
    cells = {m[1]: int(m[2]) for m in re.finditer(r"^\s+(\w+)\s+(\d+)$", stat, re.M)}
    assert cells.get("DSP48E1", 0) >= 3 + 6 + 5  # one PE, forward and inverse FFT units
    bram = (out / "bram.txt").read_text()
    lutram = (out / "lutram.txt").read_text()
    layers = json.loads((schedule_dir / "schedule.json").read_text())["layers"]
    conv1 = next(e for e in layers if e["name"] == "conv1")
    image = conv1["memory_image"]
    in_block = rom_style(image["depth"], image["width"]) == "block"
    # every slice's sparse-kernel memories are block RAM or logic as their style says, never
    # LUT RAM; its two spectrum banks (2 buffers × 20 words → 64 × 48 bits) are LUT RAM, as the
    # block-RAM rule says
    assert ram_style(64, 48) == "distributed"
    for s in range(2):
        kernel = rf"_tile_slice{s}_hadamard_engine\d+_\w*rom\w*"
        bank = rf"_tile_slice{s}_hadamard_engine\d+_sdp_ram\d+"
        assert bool(re.search(kernel, bram)) == in_block, (image, bram)
        assert not re.search(kernel, lutram), lutram
        assert re.search(bank, lutram) and not re.search(bank, bram), (bram, lutram)
    used = resources(cells)
    estimate = conv1["cost"]
    assert used["ramb18"] + 2 * used["ramb36"] == estimate["bram18"]
    assert abs(used["lut_total"] - estimate["lut"]) <= 0.1 * used["lut_total"], (used, estimate)


def test_cosim_cli_reports_agreement(rtl, schedule_dir):
    _, path = rtl["conv2"]
    r = CliRunner().invoke(
        main, ["cosim", "--rtl", str(path), "--schedule", str(schedule_dir), "--images", "1"]
    )
    assert r.exit_code == 0, r.output
    assert "bit-exact: yes" in r.output and "equal to the timing model" in r.output


def test_a_mismatch_names_the_first_differing_output(rtl, schedule_dir, mnist, monkeypatch):
    """Alter one expected value: the report names layer, image, channel, position and clock."""
    import codesign.spectral.cosim as g

    real = g._reference

    def shifted(d, images):
        x, want = real(d, images)
        want = want.copy()
        want[0, 3, 1, 2] += 1
        return x, want

    monkeypatch.setattr(g, "_reference", shifted)
    man, path = rtl["conv2"]
    r = cosim_layer(path, schedule_dir, mnist.test_x[:1], engine="fast")
    assert not r["bit_exact"]
    m = r["first_mismatch"]
    assert (m["layer"], m["image"], m["channel"], m["position"]) == ("conv2", 0, 3, (1, 2))
    assert m["got"][3] == m["expected"] - 1
    assert (
        man["expected_cycles"]["out_first"][0]
        <= m["clock"]
        <= man["expected_cycles"]["out_last"][0]
    )

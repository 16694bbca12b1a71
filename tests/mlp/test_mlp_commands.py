"""``codesign mlp``: train → inspect → map from a TOML file, explore per board, and errors
that exit 1 with the file and field named and leave no artifact."""

import json

from click.testing import CliRunner

from codesign.cli import main

SMALL_TOML = """
[network]
layers = [784, 16, 16]
fo = [1, 4]
z = [49, 16]
interleaver = "random"
dither = true
[train]
eta_exponents = [3, 4]
train_images = 300
"""


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_train_inspect_map(tmp_path):
    cfg = tmp_path / "m.toml"
    cfg.write_text(SMALL_TOML)
    net = tmp_path / "net"
    r = _run("mlp", "train", "--config", cfg, "--out", net, "--quiet")
    assert r.exit_code == 0, r.output
    assert "junction 1: 784→16" in r.output and "clash-free" in r.output
    assert "interleaver random" in r.output and "dither" in r.output
    assert "20 clocks per input" in r.output and "fixed-point saturations" in r.output
    doc = json.loads((net / "network.json").read_text())
    assert doc["junctions"][0]["interleaver"]["dither"] is True
    r = _run("mlp", "inspect", net)
    assert r.exit_code == 0, r.output
    assert "layers [784, 16, 16]" in r.output and "clocks per input: 20" in r.output
    m = tmp_path / "map"
    r = _run("mlp", "map", net, "--board", "nexys4ddr", "--out", m)
    assert r.exit_code == 0, r.output
    d = json.loads((m / "map.json").read_text())
    assert d["cycles"]["clocks_per_input"] == 20 and d["fits"] is True
    assert d["resources"]["multipliers"]["ff"] == 49 + 16
    assert d["board"]["name"] == "nexys4ddr"
    # 97 DSP: more than 80 % of the Arty's 90; the map says so and is still written
    r = _run("mlp", "map", net, "--board", "arty-a7-35t", "--out", m)
    assert r.exit_code == 0 and "does NOT fit within 80%" in r.output
    assert json.loads((m / "map.json").read_text())["fits"] is False


def test_z_auto_takes_the_explorers_choice(tmp_path):
    cfg = tmp_path / "m.toml"
    cfg.write_text(SMALL_TOML.replace("z = [49, 16]", 'z = "auto"'))
    net = tmp_path / "net"
    r = _run("mlp", "train", "--config", cfg, "--board", "arty-a7-35t", "--out", net, "--quiet")
    assert r.exit_code == 0, r.output
    doc = json.loads((net / "network.json").read_text())
    assert doc["design"]["explored_for"] == "arty-a7-35t"
    r = _run("mlp", "explore", "--config", cfg, "--board", "arty-a7-35t")
    assert r.exit_code == 0, r.output
    chosen = [line for line in r.output.splitlines() if "chosen" in line]
    assert len(chosen) == 1 and ",".join(map(str, doc["design"]["z"])) in chosen[0]


def test_explore_reference_on_nexys4ddr():
    r = _run("mlp", "explore", "--board", "nexys4ddr")
    assert r.exit_code == 0, r.output
    line = next(x for x in r.output.splitlines() if "chosen" in x)
    assert "64,16" in line and "68" in line and "112" in line


def test_errors_exit_1_with_the_cause_and_write_nothing(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[network]\nfo = [4, 16]\nz = [100, 32]\n")
    out = tmp_path / "net"
    r = _run("mlp", "train", "--config", cfg, "--out", out, "--quiet")
    assert r.exit_code == 1
    assert "p/z = 1024/100 is not an integer" in r.output
    assert not out.exists()
    r = _run("mlp", "inspect", tmp_path / "nothing")
    assert r.exit_code == 1 and "not a directory" in r.output
    r = _run("mlp", "train", "--z", "12,x", "--out", out)
    assert r.exit_code == 2 and "comma-separated integers" in r.output
    r = _run("mlp", "map", tmp_path, "--margin", "0", "--out", tmp_path / "m")
    assert r.exit_code == 1 and "--margin must be in (0, 1]" in r.output
    r = _run("mlp", "explore", "--max-dsp", "1")
    assert r.exit_code == 1 and "no z fits nexys4ddr" in r.output


def test_flow_trains_in_rtl_and_reports(tmp_path):
    """The whole flow on a small network (synthesis off): the RTL trains bit-exact, the report
    has accuracy per epoch and the z front; a second run skips every stage."""
    cfg = tmp_path / "flow.toml"
    cfg.write_text(
        "[network]\nlayers = [1024, 16, 16]\nfo = [1, 4]\nz = [32, 4]\n"
        "[train]\neta_exponents = [3, 4]\ntrain_images = 60\n"
        "[cosim]\ntest_images = 40\n[synth]\nenabled = false\n"
        f'[flow]\nout = "{tmp_path / "out"}"\n'
    )
    r = _run("mlp", "flow", "--config", cfg, "--quiet")
    assert r.exit_code == 0, r.output
    assert "2 epochs × 60 inputs bit-exact" in r.output and "36 clocks per input" in r.output
    report = (tmp_path / "out" / "report" / "report.md").read_text()
    assert "| 2 | 2^-4 |" in report and "## Clocks per input against DSP" in report
    assert "RTL-trained trainer classifies the test images" in report
    assert (tmp_path / "out" / "report" / "accuracy.png").is_file()
    again = _run("mlp", "flow", "--config", cfg, "--quiet")
    assert again.exit_code == 0 and again.output.count("up to date") == 5

"""The generated trainer: its arithmetic blocks against the model's rules, generation (atomic,
byte-deterministic, refusals), and training in the converted Verilog — Verilator and Icarus —
bit-exact with the fixed-point model, under back-pressure, a reset in the middle of an input
and a wrong ``tlast``."""

import json

import numpy as np
import pytest
from myhdl import Signal, StopSimulation, delay, instance, intbv

from codesign.fixed import OverflowCounter
from codesign.hdl.sim import in_thread, run
from codesign.mlp.bench import Stream, run_bench, verilator_model
from codesign.mlp.connectivity import Interleaver, interleave, junctions
from codesign.mlp.cosim import TrainerCosimError, cosim_trainer, words_of
from codesign.mlp.fixedpoint import WORD, delta_bias, mul
from codesign.mlp.generate import generate_trainer, read_manifest
from codesign.mlp.hdl.arith import bias_step, mul_word, mul_word_lut, word_signal
from codesign.mlp.hdl.plan import TrainerError, plan_trainer
from codesign.mlp.settings import read_settings
from codesign.mlp.steps import run_train
from codesign.mlp.train import FixedArithmetic, Schedule, pad_inputs, train_online

# z1 = 32 < fi1 = 64: a neuron over two clocks; z2 = 4 = fi2
SMALL = {
    "network.layers": [1024, 16, 16],
    "network.fo": [1, 4],
    "network.z": [32, 4],
    "train.eta_exponents": [3, 4],
    "train.train_images": 120,
}


def _sim_block(make, cases, outputs):
    """Drive a combinational block over ``cases`` (dicts of input values) in MyHDL."""
    got = []

    def bench():
        sigs = make()
        dut = sigs.pop("dut")

        @instance
        def drive():
            for case in cases:
                for k, v in case.items():
                    sigs[k].next = v
                yield delay(1)
                got.append(tuple(int(sigs[o]) for o in outputs))
            raise StopSimulation

        run(dut, drive)

    in_thread(bench)
    return got


def test_multiplier_blocks_equal_the_model_rule():
    rng = np.random.default_rng(0)
    a_vals = rng.integers(0, 128, 300).tolist() + [0, 127]
    b_vals = rng.integers(WORD.min, WORD.max + 1, 302).tolist()
    b_vals[-2:] = [WORD.min, WORD.max]

    def make():
        a = Signal(intbv(0)[7:])
        b, p, q = word_signal(), word_signal(), word_signal()
        return {"a": a, "b": b, "p": p, "q": q, "dut": (mul_word(a, b, p), mul_word_lut(a, b, q))}

    got = _sim_block(make, [{"a": a, "b": b} for a, b in zip(a_vals, b_vals)], ["p", "q"])
    want = mul(np.array(a_vals), np.array(b_vals), OverflowCounter(), "t")
    assert [g[0] for g in got] == want.tolist() == [g[1] for g in got]


def test_bias_step_block_equals_the_model_rule():
    deltas = list(range(WORD.min, WORD.max + 1, 7)) + [WORD.min, WORD.max, 0, -1]
    cases = [{"d": d, "k": k} for d in deltas for k in (0, 1, 3, 5, 12)]

    def make():
        d, db = word_signal(), word_signal()
        k = Signal(intbv(0)[4:])
        return {"d": d, "k": k, "db": db, "dut": bias_step(d, k, db)}

    got = _sim_block(make, cases, ["db"])
    for case, (g,) in zip(cases, got):
        assert g == int(delta_bias(np.array([case["d"]]), case["k"], OverflowCounter())[0]), case


def test_plans_the_rtl_cannot_build_are_refused():
    js = junctions([64, 16, 16], [2, 8], [16, 8])
    dithered = [interleave(j, Interleaver.START, 1, dither=True) for j in js]
    with pytest.raises(TrainerError, match="dither"):
        plan_trainer(js, dithered, pixels=60, per_beat=8)
    orders = [interleave(j, Interleaver.START, 1) for j in js]
    with pytest.raises(TrainerError, match="must divide z1"):
        plan_trainer(js, orders, pixels=60, per_beat=12)
    slow = plan_trainer(js, orders, pixels=60, per_beat=2)  # the loader sets the pace
    assert (slow.block, slow.clocks_per_input) == (20, 64 // 2 + 1)
    js = junctions([64, 16, 16], [2, 8], [16, 16])  # 2 neurons a clock, 16 banks: fine
    plan_trainer(js, [interleave(j, Interleaver.START, 1) for j in js], pixels=60, per_beat=8)


@pytest.fixture(scope="module")
def rtl(tmp_path_factory):
    root = tmp_path_factory.mktemp("trainer")
    run_train(read_settings(**SMALL), root / "net", quiet=True)
    generate_trainer(root / "net", root / "rtl")
    return root


def test_generation_is_atomic_and_byte_deterministic(rtl, tmp_path):
    again = tmp_path / "rtl"
    generate_trainer(rtl / "net", again)
    for f in sorted(p.relative_to(rtl / "rtl") for p in (rtl / "rtl").rglob("*") if p.is_file()):
        assert (again / f).read_bytes() == (rtl / "rtl" / f).read_bytes(), f
    man = read_manifest(rtl / "rtl")
    assert man["cycle_model"]["clocks_per_input"] == 36 and man["memory_images"]
    assert man["estimate"]["dsp"] == 32 + 4 + 2 * 4  # FF z1 + z2, BP 2·z2
    bad = tmp_path / "bad"
    (bad / "network.json").parent.mkdir()
    (bad / "network.json").write_text("{}")
    with pytest.raises(Exception, match="network.json"):
        generate_trainer(bad, tmp_path / "never")
    assert not (tmp_path / "never").exists()


def test_rtl_trains_bit_exact_at_the_model_clocks(rtl):
    r = cosim_trainer(rtl / "rtl", epochs=2, inputs=120, test_images=60, work=rtl / "w1")
    assert r["bit_exact"] and len(r["epochs"]) == 2
    assert all(e["clocks_per_input_rtl"] == 36 == r["block_cycle"] for e in r["epochs"])
    assert all(e["online_accuracy_rtl"] == e["online_accuracy_model"] for e in r["epochs"])
    assert r["test_accuracy_rtl"] == r["test_accuracy_model"]


def test_back_pressure_changes_no_bit(rtl):
    r = cosim_trainer(
        rtl / "rtl", epochs=1, inputs=60, gap_in=30, gap_out=50, seed=7, work=rtl / "w2"
    )
    assert r["bit_exact"] and r["epochs"][0]["clocks_per_input_rtl"] > 36


def test_icarus_runs_the_same_bench(rtl):
    r = cosim_trainer(rtl / "rtl", epochs=1, inputs=4, simulator="icarus", work=rtl / "w3")
    assert r["bit_exact"] and r["epochs"][0]["words_bit_exact"] == 1024 + 16 + 64 + 16


def _setup(rtl):
    from codesign.data import load_bundled
    from codesign.mlp.artifact import load_network

    man = read_manifest(rtl / "rtl")
    art = load_network(rtl / "net")
    ds = load_bundled(0)
    return man, art, ds.train_x[:24], ds.train_y[:24]


def _model(art, x, y, k):
    net = art.net
    return train_online(
        net, FixedArithmetic(net), art.init_fixed, pad_inputs(x, 1024), y, [k], Schedule.PIPELINED
    )


def test_reset_in_the_middle_of_an_input_drops_only_that_input(rtl):
    """Flushed after 10 inputs, reset while input 10 is being loaded: the trainer forgets that
    input and trains the rest; its weights equal the model's without input 10."""
    man, art, x, y = _setup(rtl)
    exe = verilator_model(rtl / "rtl", man)

    def stream():
        s = Stream(32, 784)
        s.load(words_of(art.init_fixed))
        s.inputs(x[:10], y[:10], 3)
        s.flush()
        s.inputs(x[10:], y[10:], 3)
        s.dump(len(words_of(art.init_fixed)))
        return s

    first = run_bench(rtl / "rtl", man, stream(), rtl / "r1", exe, {})
    starts = [int(e[1]) for e in first if e[0] == "I"]
    # packets: load, 10 inputs, flush, input 10 (index 12), …
    s = stream()
    s.predictions -= 1
    ev = run_bench(rtl / "rtl", man, s, rtl / "r2", exe, {"reset_at": starts[12] + 6})
    assert any(e[0] == "R" for e in ev) and ev[-1][0] == "E"
    a = _model(art, x[:10], y[:10], 3)
    keep = np.r_[11:24]
    net = art.net
    b = train_online(
        net,
        FixedArithmetic(net),
        a.params,
        pad_inputs(x[keep], 1024),
        y[keep],
        [3],
        Schedule.PIPELINED,
    )
    got = [int(e[2]) for e in ev if e[0] == "O" and e[3] == "1"]
    got = [v - 65536 if v >= 32768 else v for v in got]
    assert got == words_of(b.params).tolist()
    preds = [int(e[2]) for e in ev if e[0] == "O" and e[3] == "0"]
    assert preds == [*a.epochs[0].predictions, *b.epochs[0].predictions]


def test_wrong_tlast_sets_frame_error_and_framing_holds(rtl):
    man, art, x, y = _setup(rtl)
    s = Stream(32, 784)
    s.load(words_of(art.init_fixed))
    s.inputs(x[:8], y[:8], 3)
    s.dump(len(words_of(art.init_fixed)))
    last, user, data = s.beats[-30]  # a middle beat of an input
    s.beats[-30] = (1 - last, user, data)
    ev = run_bench(rtl / "rtl", man, s, rtl / "t1", verilator_model(rtl / "rtl", man), {})
    assert ev[-1][0] == "E" and ev[-1][2] == "1"  # frame_error
    want = _model(art, x[:8], y[:8], 3)
    got = [int(e[2]) for e in ev if e[0] == "O" and e[3] == "1"]
    assert [v - 65536 if v >= 32768 else v for v in got] == words_of(want.params).tolist()


def test_rtl_of_another_network_is_refused(rtl, tmp_path):
    """A network edited after generation (its initial words) is not the RTL's: refused."""
    import shutil

    from codesign.artifacts import save_arrays, sha256_file

    net = tmp_path / "net"
    shutil.copytree(rtl / "net", net)
    arrays = dict(np.load(net / "arrays.npz"))
    arrays["j2_b_init"] = arrays["j2_b_init"] + 1
    save_arrays(net / "arrays.npz", arrays)
    doc = json.loads((net / "network.json").read_text())
    doc["arrays"]["sha256"] = sha256_file(net / "arrays.npz")
    (net / "network.json").write_text(json.dumps(doc))
    with pytest.raises(TrainerCosimError, match="generated from another network"):
        cosim_trainer(rtl / "rtl", network_dir=net, epochs=1, inputs=4)


def test_a_mismatch_names_the_epoch_junction_word_and_clock(rtl, monkeypatch):
    import codesign.mlp.cosim as cosim

    real = cosim.train_online

    def off_by_one(*a, **kw):
        r = real(*a, **kw)
        r.params.b[1][3] += 1
        return r

    monkeypatch.setattr(cosim, "train_online", off_by_one)
    with pytest.raises(
        TrainerCosimError,
        match=r"epoch 1: junction 2 bias of neuron 3 is -?\d+ in the RTL, -?\d+ in the model "
        r"\(dumped at clock \d+; 1 words differ\)",
    ):
        cosim_trainer(rtl / "rtl", epochs=1, inputs=6, work=rtl / "w4")


def test_export_vivado_and_fusesoc_and_the_cores_sim_target(rtl, tmp_path):
    """`codesign export` of a trainer: Vivado build and FuseSoC core; the core's sim target
    (FuseSoC → Icarus) plays the generated stream and ends with the model's weights."""
    import subprocess
    import sys
    from pathlib import Path

    from codesign.eda.export import export

    r = export(rtl / "rtl", "nexys4ddr", tmp_path / "export")
    viv, fs = Path(r["vivado"]["dir"]), Path(r["fusesoc"]["dir"])
    assert (viv / "build.tcl").is_file() and "create_clock" in (viv / "constraints.xdc").read_text()
    core = (fs / "codesign_mlp_trainer.core").read_text()
    assert "stream.hex" in core and "synth_vivado" in core
    man = read_manifest(rtl / "rtl")
    fusesoc = Path(sys.executable).parent / "fusesoc"
    proc = subprocess.run(
        [
            str(fusesoc),
            "--cores-root",
            str(fs),
            "run",
            "--target",
            "sim",
            "codesign:accel:codesign_mlp_trainer",
        ],
        cwd=fs,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ev = [line.split() for line in next(fs.rglob("events.txt")).read_text().splitlines()]
    assert ev[-1][0] == "E" and ev[-1][2] == "0"
    words = [int(e[2]) for e in ev if e[0] == "O" and e[3] == "1"]
    assert len(words) == man["stream"]["words"]
    _, art, x, y = _setup(rtl)
    want = _model(art, x[:8], y[:8], art.meta["training"]["eta_exponents"][0])
    assert [v - 65536 if v >= 32768 else v for v in words] == words_of(want.params).tolist()


def test_narrow_beats_cost_the_loaders_clocks(rtl, tmp_path):
    """16 pixels a beat: the loader needs 1024/16 = 64 clocks per input, the block cycle 36 —
    the RTL takes 65 clocks per input, as the cycle model says, and stays bit-exact."""
    generate_trainer(rtl / "net", tmp_path / "rtl16", per_beat=16)
    man = read_manifest(tmp_path / "rtl16")
    assert man["cycle_model"]["clocks_per_input"] == 65 and man["stream"]["beats_per_input"] == 49
    r = cosim_trainer(tmp_path / "rtl16", epochs=1, inputs=20, work=tmp_path / "w")
    assert r["bit_exact"] and r["epochs"][0]["clocks_per_input_rtl"] == 65

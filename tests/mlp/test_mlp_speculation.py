"""The trainer's schedules beside the pipelined one: the speculative model (hand-worked, its
threshold, its store), the cycle models, and the speculating trainer trained in Verilator and
Icarus bit-exact with the model at every input's clocks; the pipelined trainer's sequential
schedule."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from codesign.cli import main
from codesign.mlp.connectivity import Interleaver, interleave, junctions
from codesign.mlp.cosim import TrainerCosimError, cosim_trainer
from codesign.mlp.cost import memories, trainer_cost
from codesign.mlp.fixedpoint import WORD
from codesign.mlp.generate import generate_trainer, read_manifest
from codesign.mlp.hdl.plan import LABEL_SPACE, SLOTS, TrainerError, plan_trainer
from codesign.mlp.settings import SettingsError, read_settings
from codesign.mlp.steps import run_train
from codesign.mlp.timing import block_cycle, sequential_clocks, speculative_clocks
from codesign.mlp.train import (
    OUTPUT_CLASSES,
    FixedArithmetic,
    FloatArithmetic,
    Network,
    Outcome,
    Schedule,
    glorot_normal,
    quantize_params,
    train_online,
)

SMALL = {
    "network.layers": [1024, 16, 16],
    "network.fo": [1, 4],
    "network.z": [32, 4],
    "train.eta_exponents": [3, 4],
    "train.train_images": 120,
}


def _tiny():
    js = junctions([16, 12, 10], [3, 5], [4, 6])
    net = Network(js, tuple(interleave(j, Interleaver.START, 1 + i) for i, j in enumerate(js)))
    return net, quantize_params(glorot_normal(net, 3))


def _data(n, seed=0, labels=10):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 16), dtype=np.uint8), rng.integers(0, labels, n)


def test_threshold_units():
    assert FixedArithmetic.threshold(None, 0.25) == 320  # 10 outputs × 0.25 × 128 LSB
    assert FixedArithmetic.threshold(None, 0.0) == 0
    assert FloatArithmetic.threshold(None, 0.1) == pytest.approx(1.0)


def test_a_threshold_no_distance_reaches_is_the_sequential_schedule():
    net, p0 = _tiny()
    x, y = _data(40)
    seq = train_online(net, FixedArithmetic(net), p0, x, y, [3, 4], Schedule.SEQUENTIAL)
    spec = train_online(
        net, FixedArithmetic(net), p0, x, y, [3, 4], Schedule.SPECULATIVE, threshold=-1
    )
    for a, b in zip(seq.params.w + seq.params.b, spec.params.w + spec.params.b):
        assert np.array_equal(a, b)
    for e in spec.epochs:  # the store is emptied at each epoch's start
        assert np.sum(e.outcomes == Outcome.SERIAL) == len(set(y.tolist()))
        assert not np.any(e.outcomes == Outcome.HIT)
    assert seq.epochs[0].outcomes is None


def test_a_hit_updates_from_the_stored_input():
    """Two inputs of label 4, every distance a hit: input 1's update is input 0's activations,
    σ′ and output deltas back-propagated through the weights after input 0's update."""
    net, p0 = _tiny()
    x, _ = _data(2, seed=5)
    y = np.array([4, 4])
    ops = FixedArithmetic(net)
    spec = train_online(net, ops, p0, x, y, [2], Schedule.SPECULATIVE, threshold=10**6)
    assert list(spec.epochs[0].outcomes) == [Outcome.SERIAL, Outcome.HIT]
    acts, ders = [ops.inputs(x[0])], [None]
    for j in range(2):
        a, d = ops.forward(j, acts[-1], p0.w[j], p0.b[j])
        acts.append(a)
        ders.append(d)
    delta0 = ops.cost(acts[-1], ops.target(4, 10))
    p = p0.copy()
    for _ in range(2):  # input 0's own update, then the same activations again
        delta = delta0
        for j in (1, 0):
            below = ops.backward(j, delta, ders[j], p.w[j]) if j else None
            p.w[j], p.b[j] = ops.update(j, p.w[j], p.b[j], delta, acts[j], 2)
            delta = below
    for a, b in zip(p.w + p.b, spec.params.w + spec.params.b):
        assert np.array_equal(a, b)


def test_outcomes_follow_the_summed_distance():
    net, p0 = _tiny()
    x, y = _data(60, seed=2, labels=3)
    ops = FixedArithmetic(net)
    r = train_online(net, ops, p0, x, y, [3], Schedule.SPECULATIVE, threshold=40)
    outcomes = r.epochs[0].outcomes
    assert {Outcome.HIT, Outcome.MISS} <= set(outcomes.tolist())
    # replay: the weights before each input, from the sequential rule with the chosen update
    p, last = p0.copy(), {}
    for i, (img, label) in enumerate(zip(x, y)):
        acts, ders = [ops.inputs(img)], [None]
        for j in range(2):
            a, d = ops.forward(j, acts[-1], p.w[j], p.b[j])
            acts.append(a)
            ders.append(d)
        delta = ops.cost(acts[-1], ops.target(int(label), 10))
        own = (acts, ders, delta)
        if label in last:
            dist = np.abs(acts[-1][:OUTPUT_CLASSES] - last[label][0][-1][:OUTPUT_CLASSES]).sum()
            want = Outcome.HIT if dist <= 40 else Outcome.MISS
            use = last[label] if want is Outcome.HIT else own
        else:
            want, use = Outcome.SERIAL, own
        assert outcomes[i] == want, i
        last[label] = own
        acts, ders, delta = use
        for j in (1, 0):
            below = ops.backward(j, delta, ders[j], p.w[j]) if j else None
            p.w[j], p.b[j] = ops.update(j, p.w[j], p.b[j], delta, acts[j], 3)
            delta = below
    assert all(np.array_equal(a, b) for a, b in zip(p.w + p.b, r.params.w + r.params.b))


def test_cycle_models():
    js = junctions([1024, 16, 16], [1, 4], [32, 4])
    assert block_cycle(js) == 36
    assert speculative_clocks(js, True) == 72 and speculative_clocks(js, False) == 144
    assert sequential_clocks(js, 32) == 3 * 36 + 36
    assert sequential_clocks(js, 8) == 3 * 36 + 1024 // 8 + 1  # the loader sets the last block
    assert speculative_clocks(js, True, 8) == 1024 // 8 + 1


def test_plans_and_memories_of_the_speculating_trainer():
    js = junctions([1024, 16, 16], [1, 4], [32, 4])
    orders = [interleave(j, Interleaver.START, 1 + i) for i, j in enumerate(js)]
    plan = plan_trainer(js, orders, speculative=True)
    assert plan.speculative and plan.collections == (SLOTS, SLOTS)
    with pytest.raises(TrainerError, match="two junctions"):
        j1 = junctions([1024, 16], [1], [32])
        plan_trainer(j1, [interleave(j1[0], Interleaver.START, 1)], speculative=True)
    plain = {m["name"]: m for m in memories(js)}
    spec = {m["name"]: m for m in memories(js, speculative=True)}
    assert spec["j1 weights"]["depth"] == 2 * plain["j1 weights"]["depth"]  # two banks
    assert spec["input activations"]["depth"] == 16 * js[0].rows  # 12 slots: 4 bits
    assert spec["outputs by label"]["depth"] == LABEL_SPACE * 16  # 16 neurons, 1 per clock
    assert "output deltas" not in spec and "output deltas" in plain
    assert trainer_cost(js, speculative=True)["dsp"] == trainer_cost(js)["dsp"]


def test_settings_refuse_schedules_the_trainer_cannot_run():
    with pytest.raises(SettingsError, match="cosim.schedule = 'speculative'.*pipelined trainer"):
        read_settings(**{"cosim.schedule": "speculative"})
    with pytest.raises(SettingsError, match="cosim.schedule = 'pipelined'.*speculating"):
        read_settings(**{"cosim.schedule": "pipelined", "generate.speculative": True})
    with pytest.raises(SettingsError, match="train.threshold"):
        read_settings(**{"train.threshold": 2})
    assert read_settings(**{"train.schedule": "speculative"}).train.schedule == "speculative"


@pytest.fixture(scope="module")
def rtl(tmp_path_factory):
    root = tmp_path_factory.mktemp("speculating")
    run_train(read_settings(**SMALL), root / "net", quiet=True)
    generate_trainer(root / "net", root / "spec", speculative=True)
    generate_trainer(root / "net", root / "pipe")
    return root


def test_generation_is_byte_deterministic_and_the_manifest_names_the_schedules(rtl, tmp_path):
    again = tmp_path / "spec"
    generate_trainer(rtl / "net", again, speculative=True)
    for f in sorted(p.relative_to(rtl / "spec") for p in (rtl / "spec").rglob("*") if p.is_file()):
        assert (again / f).read_bytes() == (rtl / "spec" / f).read_bytes(), f
    man = read_manifest(rtl / "spec")
    assert man["trainer"] == "speculating" and man["schedules"] == ["sequential", "speculative"]
    c = man["cycle_model"]
    assert c["speculative_hit_clocks"] == 72 and c["sequential_clocks_per_input"] == 144
    assert read_manifest(rtl / "pipe")["schedules"] == ["pipelined", "sequential"]


def test_speculative_schedule_trains_bit_exact_at_every_inputs_clocks(rtl):
    r = cosim_trainer(
        rtl / "spec", epochs=2, inputs=80, schedule="speculative", threshold=0.25,
        test_images=40, work=rtl / "s1",
    )  # fmt: skip
    assert r["bit_exact"] and r["threshold_lsb"] == 320
    for e in r["epochs"]:
        assert 0.3 < e["hit_rate_model"] < 1  # hits and misses both, each at its own clocks
        assert 72 < e["mean_clocks_per_input_rtl"] < 144
        assert e["online_accuracy_rtl"] == e["online_accuracy_model"]
    assert r["test_accuracy_rtl"] == r["test_accuracy_model"]


def test_sequential_schedule_on_both_trainers(rtl):
    for name in ("spec", "pipe"):
        r = cosim_trainer(rtl / name, epochs=1, inputs=30, schedule="sequential", work=rtl / name)
        assert r["bit_exact"] and r["epochs"][0]["clocks_per_input_rtl"] == 144


def test_back_pressure_and_icarus(rtl):
    r = cosim_trainer(
        rtl / "spec", epochs=1, inputs=40, schedule="speculative", gap_in=30, gap_out=50,
        seed=3, work=rtl / "s2",
    )  # fmt: skip
    assert r["bit_exact"] and not r["clocks_checked"]
    r = cosim_trainer(
        rtl / "spec", epochs=1, inputs=6, schedule="speculative", simulator="icarus",
        work=rtl / "s3",
    )  # fmt: skip
    assert r["bit_exact"]


def test_a_wrong_decision_is_caught_at_its_input(rtl, monkeypatch):
    """The RTL told a threshold 40 LSB higher than the model's: the first input the two decide
    differently is named, by its clocks."""
    import codesign.mlp.bench as bench

    real = bench.Stream.config

    def higher(self, schedule, threshold=0):
        real(self, schedule, threshold + 40)

    monkeypatch.setattr(bench.Stream, "config", higher)
    with pytest.raises(TrainerCosimError, match=r"inputs \d+ and \d+ leave 72 clocks apart .* 144"):
        cosim_trainer(rtl / "spec", epochs=1, inputs=80, schedule="speculative", work=rtl / "s4")


def test_schedules_the_trainer_does_not_run_are_refused(rtl):
    with pytest.raises(TrainerCosimError, match="runs the schedules pipelined, sequential"):
        cosim_trainer(rtl / "pipe", epochs=1, inputs=4, schedule="speculative", work=rtl / "s5")


def test_cosim_command_speculative(rtl, tmp_path):
    out = tmp_path / "r.json"
    r = CliRunner().invoke(
        main,
        ["mlp", "cosim", "--rtl", str(rtl / "spec"), "--inputs", "30", "--schedule",
         "speculative", "--report", str(out)],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "hits at threshold 0.25" in r.output and "equal to the cycle model" in r.output
    assert json.loads(out.read_text())["schedule"] == "speculative"
    assert WORD.frac == 7  # the threshold's LSB is the output σ's


def test_reset_keeps_the_weights_and_returns_to_the_sequential_schedule(rtl):
    """Speculative for 10 inputs, flushed, reset while input 10 is loaded: the trainer forgets
    that input, keeps its weights (and their bank) and trains the rest sequentially."""
    from codesign.data import load_bundled
    from codesign.mlp.artifact import load_network
    from codesign.mlp.bench import Stream, run_bench, verilator_model
    from codesign.mlp.cosim import words_of
    from codesign.mlp.train import pad_inputs

    man = read_manifest(rtl / "spec")
    art = load_network(rtl / "net")
    ds = load_bundled(0)
    x, y = ds.train_x[:24], ds.train_y[:24]
    exe = verilator_model(rtl / "spec", man)
    ops = FixedArithmetic(art.net)

    def stream():
        s = Stream(32, 784)
        s.config("speculative", ops.threshold(0.25))
        s.load(words_of(art.init_fixed))
        s.inputs(x[:10], y[:10], 3)
        s.flush()
        s.inputs(x[10:], y[10:], 3)
        s.dump(len(words_of(art.init_fixed)))
        return s

    first = run_bench(rtl / "spec", man, stream(), rtl / "reset1", exe, {})
    starts = [int(e[1]) for e in first if e[0] == "I"]
    s = stream()  # packets: config, load, 10 inputs, flush, input 10 (index 13), …
    s.predictions -= 1
    ev = run_bench(rtl / "spec", man, s, rtl / "reset2", exe, {"reset_at": starts[13] + 6})
    assert any(e[0] == "R" for e in ev) and ev[-1][0] == "E"
    net = art.net
    a = train_online(
        net, ops, art.init_fixed, pad_inputs(x[:10], 1024), y[:10], [3], Schedule.SPECULATIVE,
        threshold=ops.threshold(0.25),
    )  # fmt: skip
    assert np.any(a.epochs[0].outcomes == Outcome.HIT)
    keep = np.r_[11:24]
    b = train_online(
        net, ops, a.params, pad_inputs(x[keep], 1024), y[keep], [3], Schedule.SEQUENTIAL
    )
    got = [int(e[2]) for e in ev if e[0] == "O" and e[3] == "1"]
    got = [v - 65536 if v >= 32768 else v for v in got]
    assert got == words_of(b.params).tolist()

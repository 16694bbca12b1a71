"""The dense layer unit (codesign.hdl.dense) against ``fxpmodel.dense_layer_fixed``, bit for bit,
and against its clock-exact timing model.

Images are fed back to back (as fast as ``in_ready`` allows, or with random gaps) in the MyHDL
simulator and, converted to Verilog, in Icarus with a plain Verilog bench (inputs from a $readmemh
file, outputs with their clock edges to a file; optional seeded random ``in_valid`` gaps and
``out_ready`` stalls drawn by ``$random``).  Both benches count edges as codesign.hdl.timing does
(edge 1 samples ``rst`` high) and flag any output that changes or vanishes while stalled.
"""

import re

import numpy as np
import pytest
from myhdl import Signal, StopSimulation, always, instance

from codesign.eda.tools import run_tool
from codesign.hdl import sim
from codesign.hdl.signals import sync_reset
from codesign.spectral.fixedpoint import FixedPointConfig, Format, OverflowCounter
from codesign.spectral.fxpmodel import dense_layer_fixed
from codesign.spectral.hdl.dense import dense_plan, dense_signals, dense_timing, dense_unit

CFG = FixedPointConfig()
NARROW = FixedPointConfig(accumulator=Format(32, 0))  # 20 full-scale products saturate it


# --- layers and reference -------------------------------------------------------------------


def _layer(n_in, n_out, macs, density=None, relu=True, seed=0, cfg=CFG):
    """Random quantized weights (one in eight at the format's extremes), masked to ``density``
    when given; biases of moderate size with the format's extremes first."""
    rng = np.random.default_rng(seed)
    w, a = cfg.dense_weight, cfg.activation
    weight = rng.integers(w.min // 4, w.max // 4, (n_in, n_out))
    extreme = rng.random(weight.shape) < 0.125
    weight[extreme] = rng.choice([w.min, w.max], int(extreme.sum()))
    mask = None
    if density is not None:
        mask = rng.random(weight.shape) < density
        mask[:, 0] = False  # an all-pruned column: bias only
        weight = np.where(mask, weight, 0)
    bias = rng.integers(a.min // 8, a.max // 8, n_out)
    bias[:2] = [a.max, a.min][: min(2, n_out)]
    return dict(
        weight=weight, mask=mask, bias=tuple(int(b) for b in bias), macs=macs, relu=relu, cfg=cfg
    )


def _images(p, n, seed=1):
    """Activations: mostly moderate (outputs in range), one in sixteen at the format's extremes."""
    a = p["cfg"].activation
    rng = np.random.default_rng(seed)
    x = rng.integers(-(1 << a.frac), 1 << a.frac, (n, p["weight"].shape[0]))
    extreme = rng.random(x.shape) < 1 / 16
    x[extreme] = rng.choice([a.min, a.max], int(extreme.sum()))
    return x


def _reference(x, p):
    q = {"fc.weight": p["weight"], "fc.bias": np.array(p["bias"])}
    counter = OverflowCounter()
    out = dense_layer_fixed(x, q, {"name": "fc", "relu": p["relu"]}, p["cfg"], counter)
    return out, counter


# --- MyHDL simulation -----------------------------------------------------------------------


def _simulate(p, x, gap, stall, seed):
    """Feed ``x`` (images × n_in) back to back; ``gap``/``stall``: probability of an idle
    ``in_valid`` / a low ``out_ready`` clock.  Returns the edges accepting each image's first
    word, the accepted outputs [(edge, value)] and the edges at which a stalled output had
    changed or vanished."""
    n_in, n_out = p["weight"].shape
    sig = dense_signals(n_in, n_out, p["cfg"])
    clk, rst = Signal(bool(0)), sync_reset()
    dut = dense_unit(clk, rst, **sig, **p)
    words = x.reshape(-1)
    expected = x.shape[0] * n_out
    s = {"i": 0, "edge": 0, "held": None}
    rows = {"in_first": [], "out": [], "errors": []}

    @always(clk.posedge)
    def monitor():
        s["edge"] += 1
        if sig["in_valid"] and sig["in_ready"]:
            if s["i"] % n_in == 0:
                rows["in_first"].append(s["edge"])
            s["i"] += 1
        if s["held"] is not None and (not sig["out_valid"] or int(sig["out_v"]) != s["held"]):
            rows["errors"].append(s["edge"])
        s["held"] = int(sig["out_v"]) if sig["out_valid"] and not sig["out_ready"] else None
        if sig["out_valid"] and sig["out_ready"]:
            rows["out"].append((s["edge"], int(sig["out_v"])))

    @instance
    def drive():
        rng = np.random.default_rng(seed)
        rst.next = 1
        yield clk.negedge
        rst.next = 0
        for _ in range(100 * (len(words) + expected) + 1000):
            i = s["i"]
            sig["in_valid"].next = i < len(words) and rng.random() >= gap
            sig["in_x"].next = int(words[min(i, len(words) - 1)])
            sig["out_ready"].next = rng.random() >= stall
            yield clk.negedge
            if len(rows["out"]) == expected:
                break
        raise StopSimulation

    sim.run(dut, sim.clock(clk), monitor, drive)
    return rows


# --- Icarus with a plain Verilog bench ------------------------------------------------------

_BENCH = """`timescale 1ns/1ps
module bench;
  localparam N_IN = {n_in}, WORDS = {words}, EXPECTED = {expected};
  reg clk = 0, rst = 1, in_valid = 0, out_ready = 0;
  reg signed [{aw}:0] in_x = 0;
  wire in_ready, out_valid;
  wire signed [{aw}:0] out_v;
  reg [{aw}:0] words [0:WORDS - 1];
  reg signed [{aw}:0] held_v;
  reg held = 0;
  integer i = 0, edges = 0, outputs = 0, fd, seed = {seed};
  {top} dut(.clk(clk), .rst(rst), .in_valid(in_valid), .in_ready(in_ready), .in_x(in_x),
            .out_valid(out_valid), .out_ready(out_ready), .out_v(out_v));
  always #5 clk = ~clk;
  always @(posedge clk) begin
    edges = edges + 1;
    if (in_valid && in_ready) begin
      if (i % N_IN == 0) $fwrite(fd, "I %0d\\n", edges);
      i = i + 1;
    end
    if (held && (!out_valid || out_v !== held_v)) $fwrite(fd, "E %0d\\n", edges);
    held = out_valid && !out_ready;
    held_v = out_v;
    if (out_valid && out_ready) begin
      $fwrite(fd, "O %0d %0d\\n", edges, out_v);
      outputs = outputs + 1;
      if (outputs == EXPECTED) begin
        $fclose(fd);
        $finish;
      end
    end
  end
  always @(negedge clk) begin
    rst <= 0;
    in_valid <= i < WORDS && ($unsigned($random(seed)) % 100) >= {gap};
    in_x <= words[i < WORDS ? i : WORDS - 1];
    out_ready <= ($unsigned($random(seed)) % 100) >= {stall};
  end
  initial begin
    $readmemh("input.hex", words);
    fd = $fopen("output.txt", "w");
    #{timeout};
    $display("TIMEOUT after %0d edges, %0d outputs", edges, outputs);
    $fclose(fd);
    $finish;
  end
endmodule
"""


def _convert(p, path, name):
    n_in, n_out = p["weight"].shape
    sig = dense_signals(n_in, n_out, p["cfg"])
    return sim.convert(dense_unit(Signal(bool(0)), sync_reset(), **sig, **p), path, name)


def _icarus(p, x, gap, stall, seed, path, name):
    """The same run as :func:`_simulate` on the converted Verilog (gap/stall in percent)."""
    sim.in_thread(_convert, p, path, name)
    n_in, n_out = p["weight"].shape
    bits = p["cfg"].activation.bits
    words = x.reshape(-1)
    (path / "input.hex").write_text("".join(f"{int(v) & ((1 << bits) - 1):x}\n" for v in words))
    expected = x.shape[0] * n_out
    (path / "bench.v").write_text(
        _BENCH.format(
            n_in=n_in,
            words=len(words),
            expected=expected,
            aw=bits - 1,
            top=name,
            seed=seed,
            gap=int(100 * gap),
            stall=int(100 * stall),
            timeout=10 * 100 * (len(words) + expected + 1000),
        )
    )
    run_tool(
        "iverilog",
        ["-g2005", "-s", "bench", "-o", "bench.vvp", f"{name}.v", "bench.v"],
        cwd=path,
        timeout=120,
    )
    proc = run_tool("vvp", ["-n", "bench.vvp"], cwd=path, timeout=300)
    assert "TIMEOUT" not in proc.stdout, proc.stdout
    rows = {"in_first": [], "out": [], "errors": []}
    for line in (path / "output.txt").read_text().splitlines():
        kind, *vals = line.split()
        if kind == "I":
            rows["in_first"].append(int(vals[0]))
        elif kind == "O":
            rows["out"].append((int(vals[0]), int(vals[1])))
        else:
            rows["errors"].append(int(vals[0]))
    return rows


def _run(engine, p, x, path=None, name="dense", gap=0.0, stall=0.0, seed=7):
    if engine == "myhdl":
        return sim.in_thread(_simulate, p, x, gap, stall, seed)
    return _icarus(p, x, gap, stall, seed, path, name)


def _check(rows, x, p, timed=True):
    """Outputs complete, in order and bit-exact, never withdrawn; with ``timed`` (no gaps or
    stalls), every image arrives as soon as its input half is free and every output at the edge
    :func:`dense_timing` gives."""
    ref, counter = _reference(x, p)
    n_in, n_out = p["weight"].shape
    assert not rows["errors"], f"stalled output changed at edges {rows['errors'][:5]}"
    got = [v for _, v in rows["out"]]
    assert len(got) == ref.size
    bad = [(k, g, int(e)) for k, (g, e) in enumerate(zip(got, ref.reshape(-1))) if g != e]
    assert not bad, f"{len(bad)} wrong outputs (index, got, expected), first {bad[:5]}"
    if timed:
        first = rows["in_first"]
        t = dense_timing(
            n_in,
            n_out,
            p["macs"],
            dense_plan(p["weight"], p["mask"], p["macs"], cfg=p["cfg"])["steps"],
            first,
        )
        assert first == [
            max(t["in_ready"][k], first[k - 1] + n_in if k else 2) for k in range(len(first))
        ]
        edges = [e for e, _ in rows["out"]]
        assert edges[::n_out] == t["out_first"]
        assert edges[n_out - 1 :: n_out] == t["out_last"]
        assert all(
            edges[k + 1] - edges[k] == 1 for k in range(len(edges) - 1) if (k + 1) % n_out
        )  # an image's outputs one per clock
    return counter


# --- tests ----------------------------------------------------------------------------------

SMALL = {
    "dense": dict(n_in=20, n_out=7, macs=3),
    "sparse": dict(n_in=20, n_out=7, macs=3, density=0.3, relu=False),
    "output-bound": dict(n_in=6, n_out=12, macs=12, density=0.5),  # R·S < n_out
    "one-mac": dict(n_in=5, n_out=4, macs=1, relu=False),
}


def _small(name, seed=0, cfg=CFG):
    k = SMALL[name]
    return _layer(
        k["n_in"], k["n_out"], k["macs"], k.get("density"), k.get("relu", True), seed, cfg
    )


@pytest.mark.parametrize("name", list(SMALL))
def test_myhdl_matches_model_and_timing(name):
    p = _small(name)
    x = _images(p, 5)
    counter = _check(_run("myhdl", p, x), x, p)
    assert counter.saturated["fc.out"] > 0  # the extreme inputs saturate some outputs
    plan = dense_plan(p["weight"], p["mask"], p["macs"])
    assert plan["sparse"] == (p["mask"] is not None)


@pytest.mark.parametrize("name", ["dense", "sparse"])
def test_icarus_matches_model_and_timing(name, tmp_path):
    p = _small(name)
    x = _images(p, 5)
    _check(_run("icarus", p, x, tmp_path, f"dense_{name}"), x, p)


def test_icarus_lenet_sized_layer(tmp_path):
    """LeNet's fc1: 256 → 120 on 10 MACs, dense, two images."""
    p = _layer(256, 120, 10, seed=3)
    x = _images(p, 2, seed=4)
    _check(_run("icarus", p, x, tmp_path, "dense_fc1"), x, p)
    plan = dense_plan(p["weight"], None, 10)
    assert (plan["rounds"], plan["steps"], plan["acc_bits"]) == (12, 256, 40)
    assert plan["memories"] == {
        "kernel": (10, 3072, 16),
        "input": (1, 512, 16),
        "result": (10, 32, 40),
    }


@pytest.mark.parametrize(
    "engine,name",
    [("myhdl", "dense"), ("myhdl", "sparse"), ("myhdl", "output-bound"), ("icarus", "sparse")],
)
def test_back_pressure(engine, name, tmp_path):
    """Random ``in_valid`` gaps and ``out_ready`` stalls: every output once, in order, held
    while stalled."""
    p = _small(name, seed=5)
    x = _images(p, 4, seed=6)
    rows = _run(engine, p, x, tmp_path, "dense_bp", gap=0.3, stall=0.5, seed=11)
    _check(rows, x, p, timed=False)


@pytest.mark.parametrize("engine", ["myhdl", "icarus"])
def test_saturation_corners(engine, tmp_path):
    """Inputs and weights at the format limits through a 32-bit accumulator: the accumulator
    and the activation saturate, ReLU clips, rounding ties go up; all bit-exact."""
    a, w = NARROW.activation, NARROW.dense_weight
    n_in, n_out = 20, 7
    weight = np.zeros((n_in, n_out), dtype=np.int64)
    weight[:, 0] = w.min
    weight[:, 1] = w.max
    weight[::2, 2], weight[1::2, 2] = w.min, w.max
    weight[0, 3] = 1 << (w.frac - 1)  # × ±1: ±half an output LSB
    weight[0, 4] = 3 << (w.frac - 1)  # × ±1: ±1.5 LSB
    weight[:, 5] = np.random.default_rng(8).integers(w.min, w.max + 1, n_in)
    bias = (a.max, a.min, 0, 0, 0, a.max, a.min)
    x = np.array(
        [
            np.full(n_in, a.min),
            np.full(n_in, a.max),
            [1] + [0] * (n_in - 1),
            [-1] + [0] * (n_in - 1),
            np.where(np.arange(n_in) % 2, a.max, a.min),
            np.random.default_rng(9).integers(a.min, a.max + 1, n_in),
        ]
    )
    for relu in (False, True):
        p = dict(weight=weight, mask=None, bias=bias, macs=3, relu=relu, cfg=NARROW)
        (tmp_path / str(relu)).mkdir()
        assert dense_plan(weight, None, 3, cfg=NARROW)["saturates"]
        counter = _check(_run(engine, p, x, tmp_path / str(relu), f"dense_sat{int(relu)}"), x, p)
        assert counter.saturated["fc.acc"] > 0 and counter.saturated["fc.out"] > 0
        ref, _ = _reference(x, p)
        assert (ref[2, 3], ref[3, 3], ref[2, 4], ref[3, 4]) == (1, 0, 2, -1 if not relu else 0)
        assert (ref == a.max).any() and (ref == (0 if relu else a.min)).any()


def test_timing_model():
    # R = 3, S = 20: image 0 starts at 22, its pass at 22 + 60 + 6 = 88
    t = dense_timing(20, 7, 3, 20, [2, 22])
    assert t["out_first"] == [94, 154] and t["out_last"] == [100, 160]
    assert t["latency"] == 99 and t["interval"] == 60 and t["in_ready"] == [2, 2]
    # image 2 may use half 0 once image 0's last slot was read: edge 22 + 60 + 2
    assert dense_timing(20, 7, 3, 20, [2, 22, 84])["out_last"][2] == 220
    with pytest.raises(ValueError, match="no input back-pressure"):
        dense_timing(20, 7, 3, 20, [2, 22, 83])
    with pytest.raises(ValueError, match="overlaps"):
        dense_timing(20, 7, 3, 20, [2, 21])
    with pytest.raises(ValueError, match="edge 2"):
        dense_timing(20, 7, 3, 20, [1])
    # output-bound (R·S = 3 < n_out = 12): passes back to back, one output per clock; image k
    # starts computing once image k−2's pass read its last sum, its input half frees 5 later
    t = dense_timing(3, 12, 12, 3, [2, 5, 10, 13, 32])
    assert t["out_first"] == [20, 32, 44, 56, 68]
    assert [b - a for a, b in zip(t["out_last"], t["out_last"][1:])] == [12] * 4
    assert t["in_ready"] == [2, 2, 10, 13, 32]
    with pytest.raises(ValueError, match="in_ready is low until edge 32"):
        dense_timing(3, 12, 12, 3, [2, 5, 10, 13, 31])


def test_plan_words():
    p = _small("sparse")
    plan = dense_plan(p["weight"], p["mask"], 3)
    ib, wb = plan["index_bits"], plan["weight_bits"]
    assert (plan["rounds"], ib, wb) == (3, 5, 16)
    assert plan["steps"] == p["mask"].sum(axis=0).max()
    for m, words in enumerate(plan["words"]):
        for r in range(3):
            j = r * 3 + m
            entries = [
                (v >> wb, (v & 0xFFFF) - ((v & 0x8000) << 1))
                for v in words[r * plan["steps"] : (r + 1) * plan["steps"]]
            ]
            nz = [(i, v) for i, v in entries if v] if j < 7 else entries
            want = (
                [
                    (int(i), int(p["weight"][i, j]))
                    for i in np.flatnonzero(p["mask"][:, j])
                    if p["weight"][i, j]
                ]
                if j < 7
                else [(0, 0)] * plan["steps"]
            )
            assert nz == want
    full = dense_plan(p["weight"], np.ones_like(p["mask"]), 3)
    assert not full["sparse"] and full["steps"] == 20 and full["index_bits"] == 0


def test_rejects_what_it_cannot_build():
    p = _small("dense")
    sig = lambda: dict(clk=Signal(bool(0)), rst=sync_reset(), **dense_signals(20, 7))  # noqa: E731
    with pytest.raises(ValueError, match="n_in × n_out"):
        dense_unit(**sig(), **dict(p, weight=p["weight"].reshape(-1)))
    with pytest.raises(ValueError, match="macs must be an integer >= 1"):
        dense_unit(**sig(), **dict(p, macs=0))
    with pytest.raises(ValueError, match="need 7 biases"):
        dense_unit(**sig(), **dict(p, bias=p["bias"][:-1]))
    with pytest.raises(ValueError, match="mask shape"):
        dense_plan(p["weight"], np.ones((7, 20), dtype=bool), 3)
    with pytest.raises(ValueError, match="outside the mask"):
        dense_plan(p["weight"], np.zeros((20, 7), dtype=bool), 3)
    with pytest.raises(ValueError, match="outside the Q2.14"):
        dense_plan(p["weight"] * 8, None, 3)
    with pytest.raises(ValueError, match="activation format"):
        dense_unit(**sig(), **dict(p, bias=(1 << 15,) + p["bias"][1:]))


def test_verilator_lint(tmp_path):
    for name in ("dense", "sparse"):
        top = f"dense_lint_{name}"
        source = sim.in_thread(_convert, _small(name), tmp_path, top)
        assert sim.lint([source], top, tmp_path) == []


def test_yosys_one_dsp48_per_mac(tmp_path):
    """``synth_xilinx`` of the small dense unit: one DSP48E1 per MAC holding the operand,
    product and accumulator registers (``P ← (first ? 0 : P) + M``), no other multiplier, the
    weight ROMs in block RAM, no memory left to flip-flops."""
    source = sim.in_thread(_convert, _small("dense"), tmp_path, "dense_synth")
    script = (
        f"read_verilog {source.name}; synth_xilinx -family xc7 -top dense_synth; "
        "tee -q -o stat.txt stat; tee -q -o dsp.txt dump t:DSP48E1"
    )
    run_tool("yosys", ["-q", "-p", script], cwd=tmp_path, timeout=300)
    stat = (tmp_path / "stat.txt").read_text()
    cells = {m[1]: int(m[2]) for m in re.finditer(r"^\s+(\w+)\s+(\d+)$", stat, re.M)}
    assert cells.get("DSP48E1") == 3
    assert cells.get("RAMB18E1") == 3  # 3 ROMs of 3 × 20 words
    assert re.search(r"Number of memories:\s+0\n", stat)
    dsp = (tmp_path / "dsp.txt").read_text()
    for reg in ("AREG", "BREG", "MREG", "PREG"):
        assert len(re.findall(rf"parameter \\{reg} [^0]", dsp)) == 3, reg

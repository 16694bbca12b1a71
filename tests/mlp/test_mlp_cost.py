"""Cycle model, multiplier formula, memories and the z exploration per board."""

import pytest

from codesign.eda.boards import list_boards, load_board
from codesign.hdl.ram import ram_bram18, ram_style
from codesign.mlp.connectivity import junctions
from codesign.mlp.cost import (
    Budget,
    ExploreError,
    explore,
    lutram_luts,
    memories,
    multipliers,
    trainer_cost,
)
from codesign.mlp.timing import block_cycle, input_latency, training_clocks

LAYERS, FO = [1024, 64, 32], [4, 16]


def test_reference_takes_36_clocks_and_z_64_16_takes_68():
    assert block_cycle(junctions(LAYERS, FO, [128, 32])) == 32 + 2 + 2
    assert block_cycle(junctions(LAYERS, FO, [64, 16])) == 68
    # the busiest junction sets the block cycle
    assert block_cycle(junctions(LAYERS, FO, [128, 16])) == 64 + 4


def test_latency_and_epoch_clocks():
    js = junctions(LAYERS, FO, [128, 32])
    assert input_latency(js) == 5 * 36  # enters in cycle t, last update in cycle t + 4
    assert training_clocks(js, 4000, 10) == 10 * (4000 + 4) * 36


def test_multipliers_follow_the_reference_formula():
    js = junctions(LAYERS, FO, [128, 32])
    m = multipliers(js)
    # FF z; BP 2z where the left layer is hidden; UP z + z/fi
    assert m == [{"ff": 128, "bp": 0, "up": 128 + 2}, {"ff": 32, "bp": 64, "up": 32 + 1}]
    c = trainer_cost(js)
    assert c["dsp"] == 128 + 32 + 64 == 224  # FF and BP in DSP48E1, UP in LUTs
    assert trainer_cost(js, up_in_dsp=True)["dsp"] == 224 + 163
    assert c["clocks_per_input"] == 36


def test_memories_are_the_rtls_and_use_the_platform_ram_rule():
    js = junctions(LAYERS, FO, [64, 16])
    mems = {m["name"]: m for m in memories(js)}
    w1 = mems["j1 weights"]
    assert (w1["count"], w1["depth"], w1["width"]) == (64, 64, 10)
    # per bank two copies (one per reader) holding the 2J + 1 = 5 collections of 16 rows
    a0 = mems["input activations"]
    assert (a0["count"], a0["depth"], a0["width"]) == (2 * 64, 8 * 16, 7)
    a1 = mems["layer 1 activations"]  # 3 collections of 4 rows
    assert (a1["count"], a1["depth"], a1["width"]) == (2 * 16, 4 * 4, 12)
    assert mems["layer 1 deltas"]["count"] == 2 * 16
    assert mems["j1 activation tables"]["count"] == 1 and mems["j1 activation tables"]["bram18"]
    for m in mems.values():
        if m["name"].endswith("tables"):
            continue
        assert m["style"] == ram_style(m["depth"], m["width"])
        assert m["bram18"] == ram_bram18(m["depth"], m["width"])
    assert lutram_luts(32, 10) == 8 and lutram_luts(64, 7) == 12 and lutram_luts(256, 7) == 48
    deep = trainer_cost(junctions(LAYERS, FO, [8, 2]))
    assert deep["bram18"] == sum(m["count"] * m["bram18"] for m in deep["memories"]) > 0


def test_estimate_matches_yosys_on_the_reference_trainer():
    """yosys synth_xilinx of the generated reference trainer (benchmarks/mlp_rtl.py): 224 DSP,
    3 RAMB18, 40,593 LUT, 10,536 FF."""
    c = trainer_cost(junctions(LAYERS, FO, [128, 32]))
    assert c["dsp"] == 224 and c["bram18"] == 3
    assert abs(c["lut"] - 40593) / 40593 < 0.05 and abs(c["ff"] - 10536) / 10536 < 0.05


def test_explore_picks_the_fastest_design_within_the_margin():
    nexys = load_board("nexys4ddr")
    r = explore(LAYERS, FO, nexys)  # 80 %: 192 DSP, the reference's 224 does not fit
    assert r["chosen"]["z"] == [64, 16] and r["chosen"]["clocks_per_input"] == 68
    full = explore(LAYERS, FO, nexys, Budget(margin=1.0))
    assert full["chosen"]["z"] == [128, 32]  # 224 of 240 DSP, as the reference design
    capped = explore(LAYERS, FO, nexys, Budget(max_dsp=60))
    assert capped["chosen"]["dsp"] <= 60 and capped["chosen"]["z"] == [32, 8]
    clocks = [p["clocks_per_input"] for p in r["front"]]
    dsps = [p["dsp"] for p in r["front"]]
    assert clocks == sorted(clocks) and dsps == sorted(dsps, reverse=True)


@pytest.mark.parametrize("board", list_boards())
def test_every_board_gets_a_design(board):
    b = load_board(board)
    r = explore(LAYERS, FO, b)
    lim = Budget().limits(b)
    assert all(r["chosen"][k] <= lim[k] for k in lim)


def test_nothing_fits_names_the_limit():
    with pytest.raises(ExploreError, match="no z fits nexys4ddr within 80% .* and 2 DSP"):
        explore(LAYERS, FO, load_board("nexys4ddr"), Budget(max_dsp=2))

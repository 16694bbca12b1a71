"""The exploration judges what the generator builds by its exact cycle model (hdl/timing.py), and
model-only designs by the analytic one (cost.py)."""

from collections import Counter

import pytest

from codesign.eda.boards import load_board
from codesign.spectral import dse
from codesign.spectral.arch import SpectralArch
from codesign.spectral.dse import SpectralTask, explore, sweep
from codesign.spectral.hdl.engine import generatable
from codesign.spectral.hdl.timing import engine_timing, network_timing, stage_timing
from codesign.spectral.mapping import map_tasks, tasks_from_model

BOARD = "nexys4ddr"


def _layer(task: SpectralTask) -> dict:
    """The engine timing model's layer dict, from the task's shapes (pool from the map sizes)."""
    C, H, W = task.in_shape
    pool = (H - task.K + 1) // task.out_shape[1]
    return dict(C=C, O=task.O, H=H, W=W, K=task.K, N=task.N, pool=pool)


def _stages(tasks, design) -> list:
    """network_timing's stages for a design, its schedule lengths read from its cost."""
    stages = []
    for task, arch, cost in zip(tasks, design.archs, design.costs):
        if isinstance(task, SpectralTask):
            cycles = cost["cycles"]["hadamard_per_tile"]  # one chunk on chip: the schedule
            stages.append(
                {
                    "kind": "spectral",
                    "layer": _layer(task),
                    "fft_units": arch.fft_units,
                    "lanes": arch.ifft_units,
                    "slices": arch.tile_slices,
                    "in_words": arch.in_words,
                    "out_words": arch.out_words,
                    "cycles": cycles,
                }
            )
        else:
            stages.append(
                {
                    "kind": "dense",
                    "n_in": task.n_in,
                    "n_out": task.n_out,
                    "macs": arch.macs,
                    "steps": task.nnz_per_output,
                }
            )
    return stages


@pytest.fixture(scope="module")
def tasks(small_model):
    return tasks_from_model(small_model)


def test_generatable_names_what_the_engine_lacks():
    assert generatable(SpectralArch("c", 8, pes=3, banks=4, fft_units=2)) is None
    assert "ifft_units = 2" in generatable(SpectralArch("c", 8, 1, 1, ifft_units=2))
    assert generatable(SpectralArch("c", 8, 2, 1, ifft_units=2), 6) is None
    assert "for 1 output channels" in generatable(SpectralArch("c", 8, 2, 1, ifft_units=2), 1)
    assert "ports = 2" in generatable(SpectralArch("c", 8, 1, 1, ports=2))
    two_out = SpectralArch("c", 8, 3, 1, ifft_units=3, out_words=2)
    assert generatable(two_out, 6).startswith("out_words = 2 needs a divisor of ifft_units = 3")
    assert generatable(SpectralArch("c", 8, 2, 1, ifft_units=2, out_words=2), 6) is None
    assert "fft_units >= 2" in generatable(SpectralArch("c", 8, 1, 1, in_words=2), 16, 6)
    assert "6 input channels" in generatable(
        SpectralArch("c", 8, 3, 3, fft_units=3, in_words=4), C=6
    )


def test_every_design_explored_is_timed_exactly(tasks):
    """The chosen design and every runner-up: each spectral layer's interval and latency are its
    engine's (engine_timing), above the analytic stage bound; the network's are the
    accelerator's (network_timing) — unless a layer is slower than its producer, which that model
    does not replay (it raises): then the slowest layer sets the interval."""
    res = explore(tasks, load_board(BOARD))
    timed = []
    for d in [res["chosen"], *res["runners_up"]]:
        try:
            t = network_timing(_stages(tasks, d), images=4)
        except ValueError:
            assert d.network["ii_cycles"] == max(c["cycles"]["ii"] for c in d.costs)
        else:
            timed.append(d)
            exact = (t["interval"], t["latency"])
            assert (d.network["ii_cycles"], d.network["latency_cycles"]) == exact
        for task, arch, cost in zip(tasks, d.archs, d.costs):
            if isinstance(task, SpectralTask):
                c = cost["cycles"]
                e = engine_timing(
                    _layer(task),
                    arch.fft_units,
                    c["hadamard_per_tile"],
                    images=3,
                    lanes=arch.ifft_units,
                    slices=arch.tile_slices,
                )
                assert (c["ii"], c["latency"]) == (e["interval"], e["latency"])
                per_slice = -(-c["tiles"] // arch.tile_slices)
                assert c["ii"] > c["compute_ii"] == per_slice * c["ii_tile"]
    assert timed[0] is res["chosen"]


def test_map_stage_interval_is_the_generated_accelerators(small_model, tasks):
    """After scheduling for real, the mapping's network figures are the exact ones of the
    accelerator the generate stage builds from it."""
    m = map_tasks("lenet", tasks, load_board(BOARD))
    t = network_timing(_stages(tasks, m.design), images=4)
    assert m.design.network["ii_cycles"] == t["interval"]
    assert m.design.network["latency_cycles"] == t["latency"]
    assert m.design.network["images_per_second"] == pytest.approx(100e6 / t["interval"])


def test_no_faster_design_fits_by_the_exact_model(tasks):
    """Ranked by exact intervals, the chosen design is the fastest that fits: the sweep of
    buildable designs (also exact) has none faster."""
    board = load_board(BOARD)
    ii = explore(tasks, board)["chosen"].network["ii_cycles"]
    rows = sweep(tasks, board, points=6)
    assert rows and min(r["ii_cycles"] for r in rows if r["fits"]) == ii
    assert all(r["ii_cycles"] >= ii for r in rows if r["fits"])
    assert all(not r["fits"] for r in rows if r["ii_cycles"] < ii)


def test_model_only_layers_keep_the_analytic_model(tasks):
    """conv2 forced to 2 read ports per bank cannot be generated: its cycles are the analytic
    model's, the network's the slowest layer's; conv1 is still timed exactly."""
    d = explore(tasks, load_board(BOARD), {"conv2": {"ports": "2"}})["chosen"]
    conv1, conv2 = d.costs[0]["cycles"], d.costs[1]["cycles"]
    assert d.archs[1].ports == 2 and generatable(d.archs[1], 16) is not None
    assert conv2["ii"] == conv2["compute_ii"] == conv2["tiles"] * conv2["ii_tile"]
    assert conv1["ii"] > conv1["compute_ii"]
    assert d.network["ii_cycles"] == max(c["cycles"]["ii"] for c in d.costs)
    assert d.network["latency_cycles"] == sum(c["cycles"]["latency"] for c in d.costs)


def test_exact_model_is_computed_once_per_engine(small_model, monkeypatch):
    """The binary search asks for the same engines over and over: each (layer, FFT units,
    lanes, slices, words per beat, schedule length) is replayed once."""
    calls = Counter()

    def counting(st, *args, **kw):
        layer = st["layer"]
        calls[
            (layer["C"], layer["O"], layer["H"], *(v for k, v in st.items() if k != "layer"))
        ] += 1
        return stage_timing(st, *args, **kw)

    monkeypatch.setattr(dse, "stage_timing", counting)
    fresh = tasks_from_model(small_model)
    explore(fresh, load_board(BOARD))
    explore(fresh, load_board(BOARD))
    assert calls and max(calls.values()) == 1


@pytest.mark.parametrize(
    "overrides", [{}, {"conv2": {"pes": "6", "banks": "6", "ifft_units": "6"}}]
)
def test_memory_estimate_is_what_the_engine_builds(small_model, overrides):
    """The map stage's kernel word and its kernel, spectrum and accumulator RAMB18 are those of
    the memories the Hadamard engine builds for the scheduled layer (hadamard_plan), priced by
    the RAM rule: the power-of-two depths of the fullest bank and PE, not the average ones."""
    from codesign.hdl.ram import ram_bram18
    from codesign.hdl.rom import rom_bram18
    from codesign.spectral.hdl.hadamard import hadamard_plan
    from codesign.spectral.mapping import kernel_weights, map_tasks

    m = map_tasks(
        "lenet",
        tasks_from_model(small_model),
        load_board(BOARD),
        overrides,
        kernel_weights(small_model),
    )
    for task, arch, cost in zip(m.tasks, m.design.archs, m.design.costs):
        if not isinstance(task, SpectralTask):
            continue
        plan = hadamard_plan(m.layers[task.name])["memories"]
        rtl = {
            "kernel": plan["kernel"][0] * rom_bram18(*plan["kernel"][1:]),
            "spectrum": plan["spectrum"][0] * ram_bram18(*plan["spectrum"][1:]),
            "accumulator": plan["accumulator"][0] * ram_bram18(*plan["accumulator"][1:]),
        }
        assert dse.kernel_word_width(task, arch, 0) == plan["kernel"][2]
        S = arch.tile_slices
        got = {k: cost["bram18_by_memory"][k] for k in rtl}
        assert got == {k: S * v for k, v in rtl.items()}, task.name


def test_a_slower_later_layer_paces_the_first_so_long_runs_replay(tasks):
    """A layer slower than the first would hold its producer back sooner or later: four
    replayed images may not show it, a thousand in cosim do.  So the first layer's loader is
    paced at the slowest later layer's own interval (network_pace): every design, chosen or
    forced, replays 40 images at its 4-image figures, at the slowest layer's interval."""
    from codesign.spectral.hdl.timing import network_pace, stage_interval

    res = explore(tasks, load_board(BOARD))
    slow = [SpectralArch("conv1", 8, 6, 6, ifft_units=6), SpectralArch("conv2", 8, 1, 1)]
    forced = slow + list(res["chosen"].archs[2:])
    cycles = [
        dse._bound(t, a) if isinstance(t, SpectralTask) else None for t, a in zip(tasks, forced)
    ]
    designs = [
        res["chosen"],
        *res["runners_up"],
        dse.evaluate(tasks, load_board(BOARD), forced, cycles),
    ]
    paced = 0
    for d in designs:
        stages = _stages(tasks, d)
        own = [stage_interval(st) for st in stages]
        t = network_timing(stages, images=40)
        assert (t["interval"], t["latency"]) == (
            d.network["ii_cycles"],
            d.network["latency_cycles"],
        )
        assert t["interval"] == max(own)
        assert network_pace(stages) == (max(own[1:]) if max(own[1:]) > own[0] else 0)
        paced += network_pace(stages) > 0
    assert paced  # the forced design at least: conv2 on one PE is far slower than conv1


def test_a_board_faster_than_one_word_per_clock_gets_a_wider_link(tasks):
    """On the VC709 the chosen interval is below conv1's 864 output words: conv1 emits the
    fewest channels per clock that fit, conv2 takes as many (with at least as many FFT units),
    and the exact model of the built accelerator agrees."""
    d = explore(tasks, load_board("vc709"))["chosen"]
    conv1, conv2 = d.archs[0], d.archs[1]
    ii = d.network["ii_cycles"]
    assert ii < 6 * 12 * 12 and conv1.out_words == -(-6 * 12 * 12 // ii) == conv2.in_words
    assert conv1.ifft_units % conv1.out_words == 0 and conv2.fft_units >= conv2.in_words
    assert (conv1.in_words, conv2.out_words) == (1, 1)  # the network's ends carry one word
    assert network_timing(_stages(tasks, d), images=4)["interval"] == ii
    slow = explore(tasks, load_board(BOARD))["chosen"]
    assert slow.network["ii_cycles"] > 864 and slow.archs[0].out_words == 1

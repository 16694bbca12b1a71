"""Cost models: block-RAM packing, FFT units, spectral and dense layer cycles (hand-worked)."""

from dataclasses import replace

import pytest

from codesign.hdl.ram import ram_bram18
from codesign.spectral.arch import DenseArch, SpectralArch
from codesign.spectral.cost import (
    bram18,
    dense_layer_cost,
    fft_unit_cost,
    ifft_unit_cost,
    network_cost,
    spectral_layer_cost,
)


@pytest.mark.parametrize(
    "depth, width, n",
    [
        (0, 8, 0),
        (512, 36, 1),
        (513, 36, 2),
        (1024, 18, 1),
        (1024, 36, 2),
        (100, 48, 2),
        (16384, 1, 1),
        (16385, 1, 2),
        (2048, 9, 1),
        (320, 51, 2),
        (4096, 4, 1),
        (200, 86, 3),
    ],
)
def test_bram18_cheapest_aspect_ratio(depth, width, n):
    assert bram18(depth, width) == n


def test_fft_unit_n8_has_one_twiddle_multiplier_per_pass():
    c = fft_unit_cost(8, 24)
    assert c["cycles_per_channel"] == 64
    assert c["dsp"] == 2 * 3  # W8^1/W8^3 stage in the row and the column pass, 3 DSP each
    assert fft_unit_cost(4, 24)["dsp"] == 0  # only ±1, ±j twiddles
    assert fft_unit_cost(16, 24)["dsp"] == 2 * 2 * 3


@pytest.mark.parametrize(
    "n, forward, inverse",
    # hand-worked from the units' documented timing, L = N − 1 + log2 N + 3·(log2 N − 2):
    # forward N²/2 − N + 5 + 2L (tile's last sample → last bin), inverse 2L + N²/2 + 6 + N² − 1
    [(4, 19, 39), (8, 55, 127), (16, 167, 439), (32, 575, 1631)],
)
def test_fft_unit_timing_is_the_units_own(n, forward, inverse):
    """The FFT units' cycle figures are the MyHDL units' timing (which their simulations check),
    for every size: N² clocks per channel tile, the documented latencies."""
    from codesign.spectral.hdl import fft

    fu, iu = fft_unit_cost(n, 24), ifft_unit_cost(n, 24)
    assert (fu["latency"], iu["latency"]) == (forward, inverse)
    assert (fu["latency"], iu["latency"]) == (
        fft.rfft2_latency(n)["last"],
        fft.irfft2_latency(n)["last"],
    )
    assert fu["cycles_per_channel"] == iu["cycles_per_channel"] == n * n


def test_spectral_layer_cycles_hand_worked():
    """LeNet conv2 (C=6, O=16, 9 tiles) on P=3, 2 FFT units, 4 IFFT units, 320-clock schedule."""
    a = SpectralArch("conv2", fft=8, pes=3, banks=4, fft_units=2, ifft_units=4, mac_latency=4)
    c = spectral_layer_cost(
        a,
        C=6,
        O=16,
        tiles=9,
        schedule_cycles=320,
        groups_per_pe=214,
        kernel_width=51,
        in_shape=(6, 12, 12),
        out_shape=(16, 4, 4),
        kernel=5,
        pool=2,
    )
    cy = c["cycles"]
    assert (cy["fft_per_tile"], cy["hadamard_per_tile"], cy["ifft_per_tile"]) == (192, 320, 256)
    assert cy["ii_tile"] == 320 and cy["ii"] == 9 * 320 and cy["bottleneck"] == "hadamard"
    # stage times, then 8 more tiles, the forward unit's 55, the Hadamard stage's 8 pipeline
    # clocks (start → last accumulator write) and the inverse unit's 127
    assert cy["latency"] == 192 + 320 + 256 + 8 * 320 + 55 + 8 + 127
    # 3 per PE, 6 per forward FFT unit plus its 2 address multipliers, 5 per inverse unit
    assert c["dsp"] == 3 * 3 + 2 * (6 + 2) + 4 * 5
    m = c["bram18_by_memory"]
    assert m["kernel"] == 3 * bram18(320, 51)
    assert m["spectrum"] == 4 * bram18(2 * 60, 48)
    assert m["accumulator"] == 2 * 3 * bram18(214, 2 * (24 + 16 + 3 + 1))  # per PE, per parity
    assert m["input"] == 2 * bram18(2 * 3 * 144, 16)  # per FFT unit: its 3 channels, 2 images
    # overlap-add: per read-out lane (4, channels o ≡ lane) 2 images × 4 pool banks of
    # 4·4·4 words, 24-bit products + 2 bits for the 4 tiles that overlap a pixel (ceil(8/4)²):
    # 64 words, LUT RAM; with one lane 8 banks of 16·4·4 = 256 words, block RAM
    assert m["overlap_add"] == 32 * ram_bram18(64, 26) == 0
    shapes = dict(in_shape=(6, 12, 12), out_shape=(16, 4, 4), kernel=5, pool=2)
    one = spectral_layer_cost(replace(a, ifft_units=1), 6, 16, 9, 320, 214, 51, **shapes)
    assert one["bram18_by_memory"]["overlap_add"] == 8 * ram_bram18(256, 26) == 8
    # two tile slices: every slice's own memories twice, overlap-add twice (per slice partials)
    two = spectral_layer_cost(replace(a, tile_slices=2), 6, 16, 9, 320, 214, 51, **shapes)
    mm = two["bram18_by_memory"]
    assert all(mm[k] == 2 * m[k] for k in m)
    assert two["dsp"] == 2 * c["dsp"] and two["cycles"]["compute_ii"] == 5 * 320
    assert spectral_layer_cost(a, 6, 16, 9, 320, 60, 51)["bram18_by_memory"]["accumulator"] == 0


def test_external_memory_plan_adds_dram_time_and_chunks():
    a = SpectralArch("c", fft=8, pes=4, banks=4)
    on = spectral_layer_cost(a, 4, 8, 10, 400, 80, 50)
    off = spectral_layer_cost(
        a,
        4,
        8,
        10,
        400,
        80,
        50,
        chunks=2,
        nonzero=1600,
        in_shape=(4, 20, 20),
        out_shape=(8, 16, 16),
        dram_bytes_per_cycle=1.0,
    )
    assert on["dram_bytes"] == 0
    assert off["dram_bytes"] == 1600 * 50 // 8 + 2 * 4 * 400 * 2 + 8 * 256 * 2
    assert off["cycles"]["dram_ii"] == off["dram_bytes"]
    assert off["cycles"]["ii"] == max(off["cycles"]["compute_ii"], off["dram_bytes"])
    assert off["cycles"]["bottleneck"] == "dram"


def test_dense_layer_cost():
    c = dense_layer_cost(DenseArch("fc1", macs=10), 256, 120, 256)
    assert c["cycles"]["ii"] == 12 * 256 and c["dsp"] == 10
    # one image: 256 inputs loaded, 12 rounds of 256 slots, 6 compute and 6 output pipeline
    # clocks, 120 outputs (hdl/dense.py's documented timing)
    assert c["cycles"]["latency"] == 256 + 12 * 256 + 6 + 6 + 120
    # yosys synth_xilinx of this layer (tests/test_hdl_dense.py): ten 3072×16 weight ROMs of 3
    # RAMB18 each, one 512×16 input buffer; the 24-word result RAMs are LUT RAM
    assert c["bram18"] == 10 * bram18(12 * 256, 16) + 1 == 31
    c = dense_layer_cost(DenseArch("fc2", macs=1), 120, 84, 120)  # 168-word result RAM: BRAM
    assert c["bram18"] == bram18(84 * 120, 16) + bram18(240, 16) + bram18(168, 2 * 16 + 7 + 1)
    sparse = dense_layer_cost(DenseArch("fc1", macs=4), 256, 120, 64)  # index field, input copies
    assert sparse["bram18"] == 4 * bram18(30 * 64, 16 + 8) + 4 * bram18(512, 16)


def test_network_is_bottlenecked_by_slowest_layer():
    layers = [
        {
            "cycles": {"ii": 100, "latency": 150},
            "dsp": 3,
            "bram18": 2,
            "lut": 10,
            "ff": 20,
            "dram_bytes": 0,
        },
        {
            "cycles": {"ii": 300, "latency": 320},
            "dsp": 5,
            "bram18": 3,
            "lut": 1,
            "ff": 2,
            "dram_bytes": 0,
        },
    ]
    n = network_cost(layers, buffers_bram18=3, clock_mhz=100.0)
    assert n["ii_cycles"] == 300 and n["latency_cycles"] == 470
    assert n["images_per_second"] == pytest.approx(1e8 / 300)
    assert n["resources"] == {"dsp": 8, "bram18": 8, "bram36": 4, "lut": 11, "ff": 22}
    # the network's own exact figures replace the per-layer rule; resources stay the sum
    x = network_cost(layers, 3, 100.0, exact={"interval": 333, "latency": 500})
    assert (x["ii_cycles"], x["latency_cycles"], x["latency_us"]) == (333, 500, 5.0)
    assert x["images_per_second"] == pytest.approx(1e8 / 333)
    assert x["resources"] == n["resources"]

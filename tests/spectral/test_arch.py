"""Architecture overrides from --set and TOML files, with clear errors."""

import pytest

from codesign.spectral.arch import (
    ArchError,
    DenseArch,
    SpectralArch,
    apply_overrides,
    check_override_layers,
    load_overrides,
    parse_overrides,
)


def test_set_overrides_layer_beats_all():
    ov = parse_overrides(["all.mac_latency=3", "conv2.pes=4", "conv2.forwarding=true"])
    a = apply_overrides(SpectralArch("conv2", 8, 1, 1), ov)
    assert (a.pes, a.mac_latency, a.forwarding) == (4, 3, True)
    b = apply_overrides(SpectralArch("conv1", 8, 1, 1), ov)
    assert (b.pes, b.mac_latency) == (1, 3)
    d = apply_overrides(DenseArch("fc1", 2), parse_overrides(["fc1.macs=7"]))
    assert d.macs == 7


def test_toml_overrides(tmp_path):
    f = tmp_path / "a.toml"
    f.write_text("[all]\nmac_latency = 5\n[layers.conv1]\npes = 2\nbanks = 2\n")
    ov = load_overrides(f)
    a = apply_overrides(SpectralArch("conv1", 8, 1, 1), ov)
    assert (a.pes, a.banks, a.mac_latency) == (2, 2, 5)


@pytest.mark.parametrize(
    "items, message",
    [
        (["conv2pes=4"], "expected LAYER.FIELD=VALUE"),
        (["conv2.pes="], "expected LAYER.FIELD=VALUE"),
    ],
)
def test_bad_set_syntax(items, message):
    with pytest.raises(ArchError, match=message):
        parse_overrides(items)


@pytest.mark.parametrize(
    "item, message",
    [
        ("conv2.pes=0", "'pes' must be >= 1"),
        ("conv2.pes=two", "'pes' must be an integer"),
        ("conv2.fft=6", "power of two"),
        ("conv2.speed=3", "'speed' is not a field"),
        ("conv2.forwarding=maybe", "true or false"),
    ],
)
def test_bad_values_name_field(item, message):
    with pytest.raises(ArchError, match=message):
        apply_overrides(SpectralArch("conv2", 8, 1, 1), parse_overrides([item]))


def test_unknown_layer_and_bad_toml(tmp_path):
    with pytest.raises(ArchError, match=r"unknown layers \['conv9'\]"):
        check_override_layers(parse_overrides(["conv9.pes=2"]), ["conv1", "conv2"])
    f = tmp_path / "b.toml"
    f.write_text("[speed]\nx = 1\n")
    with pytest.raises(ArchError, match="unknown tables"):
        load_overrides(f)
    f.write_text("[all\n")
    with pytest.raises(ArchError, match="not valid TOML"):
        load_overrides(f)
    with pytest.raises(ArchError, match="not found"):
        load_overrides(tmp_path / "missing.toml")

"""Settings from TOML and flags: defaults, overrides and named errors."""

import pytest

from codesign.mlp.settings import SettingsError, read_settings


def test_defaults_are_the_reference_network():
    s = read_settings()
    assert s.network.layers == (1024, 64, 32) and s.network.fo == (4, 16)
    assert s.network.z == (128, 32) and s.train.eta_exponents[0] == 3
    assert len(s.train.eta_exponents) == 10


def test_toml_then_overrides(tmp_path):
    f = tmp_path / "m.toml"
    f.write_text('[network]\nfo = [2, 8]\nz = "auto"\n[map]\nboard = "arty-a7-35t"\n')
    s = read_settings(f, **{"train.seed": 7, "network.layers": None})
    assert s.network.fo == (2, 8) and s.network.z == "auto" and s.train.seed == 7
    assert s.map.board == "arty-a7-35t"


@pytest.mark.parametrize(
    "toml, words",
    [
        ("[network]\nfo = [4]\n", "network.fo needs 2 values"),
        ("[network]\nz = [128]\n", "network.z needs 2 values"),
        ("[network]\ninterleaver = 'zigzag'\n", "network.interleaver = 'zigzag' is unknown"),
        ("[train]\nschedule = 'async'\n", "train.schedule"),
        ("[train]\neta_exponents = []\n", "train.eta_exponents"),
        ("[map]\nmargin = 1.5\n", "map.margin must be in"),
        ("[network]\nlayers = [1024, 'x']\n", "network.layers must hold integers"),
        ("[network]\nspeed = 3\n", "unknown keys \\['speed'\\]"),
        ("[netwrk]\n", "unknown table \\[netwrk\\]"),
        ("[network\n", "not valid TOML"),
        ("[network]\nlayers = [1024, 64, 8]\n", "the output layer needs at least 10"),
    ],
)
def test_bad_settings_name_the_file_and_key(tmp_path, toml, words):
    f = tmp_path / "bad.toml"
    f.write_text(toml)
    with pytest.raises(SettingsError, match=words) as e:
        read_settings(f)
    assert str(f) in str(e.value)


def test_bundled_examples_are_valid():
    from pathlib import Path

    examples = sorted((Path(__file__).parents[2] / "examples").glob("mlp-*.toml"))
    assert len(examples) >= 2
    for f in examples:
        s = read_settings(f)
        assert s.network.layers == (1024, 64, 32)

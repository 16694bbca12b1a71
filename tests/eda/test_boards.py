"""Boards: the bundled TOML files load with data-sheet capacities; bad files get clear errors."""

import pytest

from codesign.eda.boards import FAMILIES, BoardError, list_boards, load_board


def test_bundled_boards_have_data_sheet_capacities():
    assert list_boards() == ["arty-a7-35t", "nexys4ddr", "vc707", "vc709"]
    b = load_board("nexys4ddr")
    assert (b.part, b.lut, b.ff, b.dsp, b.bram36) == ("xc7a100tcsg324-1", 63400, 126800, 240, 135)
    assert b.bram18 == 270 and b.clock_pins == ("E3",)
    a = load_board("arty-a7-35t")
    assert (a.part, a.dsp, a.bram36) == ("xc7a35ticsg324-1L", 90, 50)
    v7 = load_board("vc707")
    assert (v7.part, v7.dsp, v7.bram36, v7.lut) == ("xc7vx485tffg1761-2", 2800, 1030, 303600)
    v9 = load_board("vc709")
    assert (v9.part, v9.dsp, v9.bram36, v9.lut) == ("xc7vx690tffg1761-2", 3600, 1470, 433200)
    assert len(v9.clock_pins) == 2 and v9.clock_iostandard == "LVDS"


def test_unknown_board_lists_known_ones():
    with pytest.raises(BoardError, match=r"unknown board 'zedboard'.*nexys4ddr.*vc709"):
        load_board("zedboard")


GOOD = """name = "x"
description = "d"
part = "xc7a100tcsg324-1"
family = "artix7"
lut = 1
ff = 2
dsp = 3
bram36 = 4
target_clock_mhz = 100.0
dram_gbytes_per_s = 1.5
[clock]
port = "clk"
pins = ["E3"]
iostandard = "LVCMOS33"
frequency_mhz = 100
"""


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("dsp = 3\n", "", r"field 'dsp' is missing"),
        ("dsp = 3", "dsp = -3", r"field 'dsp' must be a positive count"),
        ("dsp = 3", 'dsp = "many"', r"field 'dsp' must be int"),
        ('part = "xc7a100tcsg324-1"', 'part = "ep4ce22"', r"field 'part'.*7-series"),
        ('family = "artix7"', 'family = "stratix"', r"field 'family'"),
        ('pins = ["E3"]', 'pins = ["A", "B", "C"]', r"clock\.pins"),
        ("frequency_mhz = 100\n", "", r"field 'clock\.frequency_mhz' is missing"),
        ("target_clock_mhz = 100.0", "target_clock_mhz = 0", r"target_clock_mhz"),
        ("lut = 1", "lut = = 1", r"not valid TOML"),
        ("dram_gbytes_per_s = 1.5", "dram_gbytes_per_s = 0", r"dram_gbytes_per_s"),
    ],
)
def test_bad_board_files(tmp_path, old, new, message):
    f = tmp_path / "bad.toml"
    f.write_text(GOOD.replace(old, new))
    with pytest.raises(BoardError, match=message) as e:
        load_board(f)
    assert str(f) in str(e.value)


def test_good_file_by_path_and_env_directory(tmp_path, monkeypatch):
    (tmp_path / "mine.toml").write_text(GOOD)
    assert load_board(tmp_path / "mine.toml").dsp == 3
    monkeypatch.setenv("CODESIGN_BOARDS", str(tmp_path))
    assert load_board("mine").bram36 == 4
    assert load_board("mine").clock_frequency_mhz == 100.0


def test_one_family_table_for_board_files_and_yosys(tmp_path):
    """The families a board file may name are the ones Yosys synthesises (7-series: xc7); an
    unknown one is refused with the list."""
    assert FAMILIES == dict.fromkeys(("artix7", "kintex7", "virtex7", "spartan7", "zynq7"), "xc7")
    assert {load_board(b).family for b in list_boards()} <= set(FAMILIES)
    f = tmp_path / "bad.toml"
    f.write_text(GOOD.replace('family = "artix7"', 'family = "ultrascale"'))
    with pytest.raises(BoardError, match=r"'ultrascale', expected one of \('artix7', 'kintex7'"):
        load_board(f)

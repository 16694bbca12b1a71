"""The one RTL-manifest reader: both kinds, every refusal naming the file, the field and the fix."""

import json

import pytest

from codesign.eda.manifest import (
    ACCELERATOR,
    LAYER_ENGINE,
    ManifestError,
    file_hashes,
    read_manifest,
)


def _rtl(tmp_path, **fields):
    d = tmp_path / "rtl"
    (d / "mem").mkdir(parents=True)
    (d / "top.v").write_text("module top; endmodule\n")
    (d / "bench.v").write_text("module bench; top t(); endmodule\n")
    (d / "mem" / "rom_0.hex").write_text("00\n01\n")
    m = {
        "format": "codesign-rtl",
        "format_version": 3,
        "kind": "accelerator",
        "top": "top",
        "files": ["top.v"],
        "memory_images": ["mem/rom_0.hex"],
        "testbench": {"file": "bench.v", "top": "bench"},
        "s_axis": {"image": [1, 28, 28], "pixel_bits": 8},
    }
    m["sha256"] = file_hashes(d, ["top.v", "bench.v", "mem/rom_0.hex"])
    m.update(fields)
    m = {k: v for k, v in m.items() if v is not None}
    (d / "manifest.json").write_text(json.dumps(m))
    return d


def test_reads_an_accelerator_and_its_bench(tmp_path):
    m = read_manifest(_rtl(tmp_path), ACCELERATOR)
    assert (m.kind, m.top, m.files, m.memory_images) == (
        ACCELERATOR,
        "top",
        ["top.v"],
        ["mem/rom_0.hex"],
    )
    assert m.testbench() == ("bench.v", "bench")
    assert m.stream()["image"] == [1, 28, 28] and m.stream()["clock"] == "aclk"


def test_a_layer_engine_is_its_own_kind(tmp_path):
    d = _rtl(tmp_path, kind=None, format_version=1, layer="conv1")
    assert read_manifest(d).kind == LAYER_ENGINE
    with pytest.raises(ManifestError, match="needs a whole accelerator"):
        read_manifest(d, ACCELERATOR)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: (d / "manifest.json").unlink(), r"manifest\.json: missing"),
        (lambda d: (d / "manifest.json").write_text("{"), r"manifest\.json: not valid JSON"),
        (lambda d: (d / "manifest.json").write_text("[]"), "expected a JSON object"),
        (lambda d: (d / "mem" / "rom_0.hex").unlink(), r"rom_0\.hex: listed in manifest\.json"),
        (lambda d: (d / "mem" / "rom_0.hex").write_text("ff\n01\n"), r"rom_0\.hex: changed since"),
        (lambda d: (d / "top.v").write_text("module top; wire x; endmodule\n"), r"top\.v: changed"),
    ],
)
def test_missing_corrupt_and_edited_files_are_named(tmp_path, edit, message):
    d = _rtl(tmp_path)
    edit(d)
    with pytest.raises(ManifestError, match=message):
        read_manifest(d)


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"kind": "schedule"}, "field 'kind'"),
        ({"top": "1bad"}, "field 'top'"),
        ({"files": []}, "field 'files'"),
        ({"files": ["../top.v"]}, r"field 'files\[0\]' is '\.\./top\.v'"),
        ({"files": ["/etc/passwd"]}, r"field 'files\[0\]'"),
        ({"sha256": ["top.v"]}, "field 'sha256' must map"),
    ],
)
def test_bad_fields_are_named(tmp_path, fields, message):
    with pytest.raises(ManifestError, match=message):
        read_manifest(_rtl(tmp_path, **fields))


def test_bench_and_stream_checks(tmp_path):
    m = read_manifest(_rtl(tmp_path, testbench={"file": "bench.v"}))
    with pytest.raises(ManifestError, match="field 'testbench'"):
        m.testbench()
    m = read_manifest(_rtl(tmp_path / "b", s_axis={"image": [28, 28]}))
    with pytest.raises(ManifestError, match=r"field 's_axis.image'"):
        m.stream()


def test_the_callers_error_type(tmp_path):
    class StageError(ValueError):
        pass

    with pytest.raises(StageError, match="not a directory"):
        read_manifest(tmp_path / "none", error=StageError)

"""The flow's settings, stated once: flags, TOML keys, defaults and the checks a TOML value gets."""

import re
from dataclasses import fields
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from codesign.cli import main
from codesign.flow import load_config
from codesign.spectral.cosim import verdict
from codesign.spectral.settings import PruneSettings
from codesign.spectral.steps import FlowSettings, config_keys, prune_settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "flow.md"


def test_defaults_are_the_prune_settings_defaults():
    s, p = FlowSettings(), PruneSettings()
    assert (s.density, s.dense_density, s.balanced, s.epochs, s.retrain_epochs, s.seed) == (
        p.density,
        p.dense_density,
        p.balanced,
        p.epochs,
        p.retrain_epochs,
        p.seed,
    )
    assert s.admm_iterations == p.admm.iterations
    assert prune_settings(s) == p


def test_the_documented_toml_example_is_exactly_the_accepted_keys(tmp_path):
    """docs/flow.md's example names every key the flow accepts, and only those."""
    text = DOC.read_text()
    example = re.search(r"```toml\n(.*?)```", text, re.S).group(1)
    f = tmp_path / "flow.toml"
    f.write_text(re.sub(r"^# ", "", example, flags=re.M))  # the commented-out keys too
    cfg = load_config(f, config_keys())
    assert {t: set(v) for t, v in cfg.items()} == config_keys()


def test_every_flag_of_flow_is_a_setting_and_vice_versa():
    names = {p.name for p in main.commands["flow"].params}
    assert {f.name for f in fields(FlowSettings)} <= names
    assert names - {f.name for f in fields(FlowSettings)} == {"config_file", "force", "until"}


@pytest.mark.parametrize(
    "toml, message",
    [
        ("[cosim]\nimages = -5\n", r"\[cosim\] images = -5: .*>=0"),
        ("[prune]\ndensity = 1.5\n", r"\[prune\] density = 1.5: "),
        ('[prune]\ndensity = "high"\n', r"\[prune\] density = 'high': .*not a valid float"),
        ('[cosim]\nsimulator = "modelsim"\n', r"\[cosim\] simulator = 'modelsim': "),
        ("[generate]\npixels_per_beat = 0\n", r"\[generate\] pixels_per_beat = 0: "),
    ],
)
def test_toml_values_get_the_flags_checks(tmp_path, toml, message):
    f = tmp_path / "flow.toml"
    f.write_text(toml)
    r = CliRunner().invoke(main, ["flow", "--config", str(f), "--out", str(tmp_path / "b")])
    assert r.exit_code != 0
    assert re.search(message, r.output), r.output
    assert "flow.toml" in r.output and not (tmp_path / "b").exists()


def test_a_flag_wins_over_the_file(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr(
        "codesign.spectral.steps.run_flow", lambda s, **kw: seen.update(settings=s, **kw)
    )
    f = tmp_path / "flow.toml"
    f.write_text("[prune]\ndensity = 0.5\nlayer_density = { fc1 = 0.5 }\n[map]\nset = 'a.b=1'\n")
    r = CliRunner().invoke(main, ["flow", "--config", str(f), "--density", "0.3"])
    assert r.exit_code == 0, r.output
    s = seen["settings"]
    assert s.density == 0.3 and s.layer_density == ("fc1=0.5",) and s.sets == ("a.b=1",)
    assert seen["until"] == "report" and seen["force"] is False


def test_verdict_is_the_one_pass_rule():
    ok = {"bit_exact": True, "frame_error": False, "timing": {"checked": True, "exact": True}}
    assert verdict(ok) is None
    assert "fixed-point" in verdict({**ok, "bit_exact": False, "first_mismatch": {"image": 3}})
    assert "frame_error" in verdict({**ok, "frame_error": True})
    late = {**ok, "timing": {"checked": True, "exact": False, "first_difference": {"image": 1}}}
    assert "cycle model" in verdict(late)
    assert verdict({**ok, "timing": {"checked": False, "exact": False}}) is None
    assert verdict({"bit_exact": True}) is None  # a layer engine's report


def test_layer_density_items_are_checked():
    with pytest.raises(click.BadParameter, match="NAME=D"):
        prune_settings(FlowSettings(layer_density=("fc1",)))


def test_synth_runs_beside_cosim_and_only_when_both_run(tmp_path):
    from codesign.spectral.steps import FlowSettings, _steps, synth_beside_cosim

    steps = synth_beside_cosim(_steps(FlowSettings(out=str(tmp_path))))
    assert [(st.name, st.alongside) for st in steps] == [
        ("prune", False),
        ("map", False),
        ("generate", False),
        ("synth", True),
        ("cosim", False),
        ("report", False),
    ]
    until_cosim = synth_beside_cosim(_steps(FlowSettings(out=str(tmp_path)))[:4])
    assert [st.name for st in until_cosim] == ["prune", "map", "generate", "cosim"]
    assert not any(st.alongside for st in until_cosim)

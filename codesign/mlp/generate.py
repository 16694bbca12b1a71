"""``codesign mlp generate``: a trained-network artifact → the trainer's Verilog, bench, manifest.

The directory (docs/mlp-trainer.md) holds ``<top>.v`` (the converted MyHDL of
:mod:`codesign.mlp.hdl.trainer`), ``codesign_mlp_bench.v`` (:mod:`codesign.mlp.bench`) and
``manifest.json``: ports, stream protocol, formats, the cycle model and the sha256 of every file
and of the network it was built from.  Written atomically; the same artifact gives the same
bytes.
"""

from __future__ import annotations

from pathlib import Path

from codesign import __version__
from codesign.artifacts import atomic_directory, check_target, sha256_file, write_json
from codesign.hdl.convert import convert, fresh_names
from codesign.hdl.sim import in_thread
from codesign.mlp.artifact import load_network
from codesign.mlp.bench import BENCH_TOP, bench_source
from codesign.mlp.cost import trainer_cost
from codesign.mlp.hdl.plan import TrainerPlan, plan_trainer
from codesign.mlp.hdl.trainer import (
    CONFIG_BITS,
    MODES,
    SCHEDULES,
    TUSER_BITS,
    trainer,
    trainer_ports,
)
from codesign.mlp.timing import input_latency, sequential_clocks, speculative_clocks

__all__ = ["TRAINER", "TRAINER_VERSION", "generate_trainer", "plan_of", "read_manifest"]

TRAINER = "codesign-mlp-trainer"
TRAINER_VERSION = 1


def plan_of(network_dir: Path, per_beat: int = 32, speculative: bool = False):
    """The artifact and the trainer plan built from it."""
    art = load_network(network_dir)
    plan = plan_trainer(
        art.net.junctions,
        art.net.orders,
        pixels=art.meta["inputs"]["pixels"],
        per_beat=per_beat,
        speculative=speculative,
    )
    return art, plan


SIM_STREAM = "sim_stream.hex"
SIM_INPUTS = 8


def _sim_stream(art, plan: TrainerPlan, path: Path) -> dict:
    """A short real run for the bench without Python (FuseSoC's sim target): load the initial
    words, train on the first training images at the first η, dump."""
    from codesign.data import load
    from codesign.mlp.bench import Stream
    from codesign.mlp.cosim import words_of

    t = art.meta["settings"]["train"]
    ds = load(t["data_dir"], seed=t["data_seed"])
    s = Stream(plan.per_beat, plan.pixels)
    s.load(words_of(art.init_fixed))
    s.inputs(
        ds.train_x[:SIM_INPUTS], ds.train_y[:SIM_INPUTS], art.meta["training"]["eta_exponents"][0]
    )
    s.dump(plan.words)
    s.write(path)
    return {"stream": SIM_STREAM, "beats": len(s.beats), "outputs": s.outputs, "inputs": SIM_INPUTS}


def _convert(plan: TrainerPlan, activation, out: Path, top: str) -> list[str]:
    fresh_names()
    inst = trainer(**trainer_ports(plan), plan=plan, activation=activation)
    # initial values (simulation only): the registers no reset touches, the read bank of the
    # speculating trainer among them, start defined in every simulator
    return convert(inst, out, top, testbench=False, quiet=True, initial_values=True)


def generate_trainer(
    network_dir: Path,
    out: Path,
    top: str = "codesign_mlp_trainer",
    per_beat: int = 32,
    speculative: bool = False,
) -> dict:
    """Write the trainer of the artifact ``network_dir`` into ``out`` (``speculative``: the
    speculating trainer); returns the manifest."""
    out = check_target(out)
    art, plan = plan_of(Path(network_dir), per_beat, speculative)
    with atomic_directory(out) as tmp:
        images = in_thread(_convert, plan, art.net.activation, tmp, top)
        (tmp / f"{BENCH_TOP}.v").write_text(bench_source(top, per_beat))
        sim = _sim_stream(art, plan, tmp / SIM_STREAM)
        files = [f"{top}.v"]
        js = tuple(j.junction for j in plan.junctions)
        cost = trainer_cost(js, speculative=speculative)
        man = {
            "format": TRAINER,
            "version": TRAINER_VERSION,
            "kind": "trainer",
            "format_version": TRAINER_VERSION,
            "clock": {"port": "aclk"},
            "estimate": {
                "dsp": cost["dsp"],
                "bram36": cost["bram18"] / 2,
                "lut": cost["lut"],
                "ff": cost["ff"],
            },
            "codesign_version": __version__,
            "top": top,
            "files": files,
            "memory_images": images,
            "testbench": {"file": f"{BENCH_TOP}.v", "top": BENCH_TOP},
            "sha256": {
                f: sha256_file(tmp / f) for f in (*files, *images, f"{BENCH_TOP}.v", SIM_STREAM)
            },
            "sim": sim,
            "network": {
                "path": str(Path(network_dir).resolve()),
                "sha256": art.meta["arrays"]["sha256"],
                "layers": list(art.net.layers),
                "activation": art.net.activation.value,
            },
            "ports": {
                "clock": "aclk",
                "reset": {"name": "aresetn", "active": "low", "synchronous": True},
                "s_axis": {"tdata": 8 * per_beat, "tuser": TUSER_BITS, "tlast": 1},
                "m_axis": {"tdata": 16, "tuser": 1, "tlast": 1},
                "frame_error": 1,
            },
            "trainer": "speculating" if speculative else "pipelined",
            "schedules": ["sequential", "speculative"]
            if speculative
            else ["pipelined", "sequential"],
            "stream": {
                "modes": MODES,
                "config": {
                    "bits": {k: list(v) for k, v in CONFIG_BITS.items()},
                    "schedules": SCHEDULES,
                },
                "tuser": {"mode": [3, 0], "label": [7, 4], "eta_exponent": [11, 8]},
                "pixels_per_beat": per_beat,
                "pixels": plan.pixels,
                "beats_per_input": plan.beats,
                "words": plan.words,
                "words_per_beat": per_beat // 2,
                "word_order": "per junction: weights in slot order, then biases by neuron",
            },
            "junctions": [
                {**j.junction.to_dict(), "ports": j.ports, "clocks_per_neuron": j.per}
                for j in plan.junctions
            ],
            "cycle_model": {
                "block_cycle": plan.block,
                "clocks_per_input": plan.clocks_per_input,
                "loader_clocks": plan.load_clocks,
                "input_latency": input_latency(tuple(j.junction for j in plan.junctions)),
                "prediction_after_blocks": plan.n_junctions,
                "sequential_clocks_per_input": speculative_clocks(js, False, per_beat)
                if speculative
                else sequential_clocks(js, per_beat),
                "speculative_hit_clocks": speculative_clocks(js, True, per_beat)
                if speculative
                else None,
                "model": "codesign/mlp/timing.py block_cycle (equal to the RTL)",
            },
        }
        write_json(tmp / "manifest.json", man)
    return man


def read_manifest(rtl: Path) -> dict:
    """The trainer manifest of ``rtl`` (the platform's reader: files present, sha256 equal)."""
    from codesign.eda.manifest import TRAINER as KIND
    from codesign.eda.manifest import read_manifest as read

    return read(rtl, KIND).data

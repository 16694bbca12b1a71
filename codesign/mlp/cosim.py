"""``codesign mlp cosim``: train in the generated RTL and prove it bit-exact with the model.

Per epoch one run of the bench: load the weights (the artifact's initial words, then the RTL's
own dump of the epoch before), stream the epoch's training inputs with its η, dump every weight
and bias.  The fixed-point model trains the same inputs from the same weights with the same
schedule (codesign.mlp.train, pipelined); every prediction and every dumped word must equal the
model's, and with no gaps the predictions leave one block cycle apart (the cycle model's
clocks per input).  Optionally the trained RTL classifies the test images (infer mode).  A
mismatch names the epoch, the input or the junction and weight, and the clock.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from codesign.errors import CodesignError
from codesign.mlp.artifact import load_network
from codesign.mlp.bench import Stream, run_bench, verilator_model
from codesign.mlp.generate import read_manifest
from codesign.mlp.train import FixedArithmetic, Params, Schedule, pad_inputs, predict, train_online

__all__ = ["TrainerCosimError", "cosim_trainer", "words_of", "params_of"]


class TrainerCosimError(CodesignError, RuntimeError):
    """The RTL disagrees with the model (or did not finish); names where."""


def words_of(p: Params) -> np.ndarray:
    """The words of a load or dump: per junction the weights (slot order), then the biases."""
    return np.concatenate([np.concatenate([w, b]) for w, b in zip(p.w, p.b)]).astype(np.int64)


def params_of(words: np.ndarray, net) -> Params:
    w, b, at = [], [], 0
    for j in net.junctions:
        w.append(words[at : at + j.edges].copy())
        at += j.edges
        b.append(words[at : at + j.n_right].copy())
        at += j.n_right
    return Params(w, b)


def _where(net, index: int) -> str:
    at = 0
    for i, j in enumerate(net.junctions):
        if index < at + j.edges:
            s = index - at
            return f"junction {i + 1} weight of slot {s} (bank {s % j.z}, row {s // j.z})"
        at += j.edges
        if index < at + j.n_right:
            return f"junction {i + 1} bias of neuron {index - at}"
        at += j.n_right
    return f"word {index}"


def _outputs(ev: list[list[str]], what: str, epoch: int):
    done = [e for e in ev if e[0] in ("E", "T")]
    if not done or done[-1][0] == "T":
        raise TrainerCosimError(f"epoch {epoch}: the bench timed out before {what}")
    preds = [(int(e[2]), int(e[1])) for e in ev if e[0] == "O" and e[3] == "0"]
    words = [(int(e[2]), int(e[1])) for e in ev if e[0] == "O" and e[3] == "1"]
    return preds, words, int(done[-1][2])


_OUTCOME = {0: "label's first input", 1: "hit", 2: "miss"}


def _spacing(man: dict, sched: Schedule, outcomes, n: int) -> np.ndarray:
    """The cycle model's clocks between the predictions of consecutive training inputs (the
    pipelined schedule's steady pace: its median is checked, the loader may bunch a few)."""
    model = man["cycle_model"]
    if sched is Schedule.PIPELINED:
        return np.full(max(n - 1, 0), model["clocks_per_input"])
    if sched is Schedule.SEQUENTIAL:
        return np.full(max(n - 1, 0), model["sequential_clocks_per_input"])
    hit, miss = model["speculative_hit_clocks"], model["sequential_clocks_per_input"]
    return np.where(np.asarray(outcomes[:-1]) == 1, hit, miss)


def _signed(v: int) -> int:
    return v - (1 << 16) if v >= 1 << 15 else v


def cosim_trainer(
    rtl: Path,
    *,
    network_dir: Path | None = None,
    epochs: int = 1,
    inputs: int | None = None,
    test_images: int = 0,
    gap_in: int = 0,
    gap_out: int = 0,
    seed: int = 1,
    simulator: str = "verilator",
    work: Path | None = None,
    schedule: str = "pipelined",
    threshold: float = 0.25,
) -> dict:
    """Train ``epochs`` epochs of the first ``inputs`` training images (default: as many as the
    artifact was trained on) in the RTL of ``rtl`` with ``schedule`` (``threshold``: the
    speculative schedule's mean output distance); returns the report (raises
    :class:`TrainerCosimError` on the first mismatch)."""
    from codesign.data import load

    man = read_manifest(rtl)
    art = load_network(network_dir or man["network"]["path"])
    if art.meta["arrays"]["sha256"] != man["network"]["sha256"]:
        raise TrainerCosimError(
            f"{rtl}: generated from another network than {art.path}; regenerate or pass --network"
        )
    net = art.net
    t = art.meta["settings"]["train"]
    ds = load(t["data_dir"], seed=t["data_seed"])
    n = art.meta["training"]["inputs_per_epoch"] if inputs is None else min(inputs, ds.n_train)
    x, y = ds.train_x[:n], ds.train_y[:n]
    xp = pad_inputs(x, net.layers[0])
    etas = list(art.meta["training"]["eta_exponents"])
    if epochs > len(etas):
        raise TrainerCosimError(f"{art.path}: {epochs} epochs asked, the artifact has {len(etas)}")
    per_beat = man["stream"]["pixels_per_beat"]
    if schedule not in man.get("schedules", ["pipelined"]):
        raise TrainerCosimError(
            f"{rtl}: the {man.get('trainer', 'pipelined')} trainer runs the schedules "
            f"{', '.join(man.get('schedules', ['pipelined']))}, not {schedule!r}; generate the "
            f"{'pipelined' if schedule == 'pipelined' else 'speculating'} trainer"
        )
    sched = Schedule(schedule)
    ops_units = FixedArithmetic(net)
    t_units = ops_units.threshold(threshold) if sched is Schedule.SPECULATIVE else 0
    configure = schedule != "pipelined" or man.get("trainer") == "speculating"
    block = man["cycle_model"]["clocks_per_input"]
    exe = verilator_model(Path(rtl), man) if simulator == "verilator" else None
    model = art.init_fixed
    rtl_words = words_of(art.init_fixed)
    report = {
        "epochs": [],
        "inputs": n,
        "simulator": simulator,
        "block_cycle": block,
        "schedule": schedule,
        "trainer": man.get("trainer", "pipelined"),
        "clocks_checked": gap_in == 0 and gap_out == 0,
    }
    if sched is Schedule.SPECULATIVE:
        report["threshold"] = threshold
        report["threshold_lsb"] = t_units
    root = Path(work) if work else Path(tempfile.mkdtemp(prefix="codesign-mlp-cosim-"))
    clocks, wall = 0, 0.0
    for e in range(epochs):
        r = train_online(
            net, FixedArithmetic(net), model, xp, y, [etas[e]], sched, threshold=t_units
        )
        want_pred, want_words = r.epochs[0].predictions, words_of(r.params)
        s = Stream(per_beat, man["stream"]["pixels"])
        if configure:
            s.config(schedule, t_units)
        s.load(rtl_words)
        s.inputs(x, y, etas[e], train=True)
        s.dump(len(want_words))
        t0 = time.perf_counter()
        ev = run_bench(
            Path(rtl),
            man,
            s,
            root / f"epoch{e + 1}",
            exe,
            {"gap_in": gap_in, "gap_out": gap_out, "seed": seed, "timeout": 40 * len(s.beats)},
        )
        wall += time.perf_counter() - t0
        preds, words, frame_error = _outputs(ev, "the dump", e + 1)
        if frame_error:
            raise TrainerCosimError(f"epoch {e + 1}: frame_error is set")
        if len(preds) != n:
            raise TrainerCosimError(f"epoch {e + 1}: {len(preds)} predictions for {n} inputs")
        edges = np.array([edge for _, edge in preds])
        spacing = np.diff(edges)
        steady = int(np.median(spacing)) if spacing.size else None
        want_spacing = _spacing(man, sched, r.epochs[0].outcomes, n)
        clocks += int(ev[-1][1])
        outcomes = r.epochs[0].outcomes
        if gap_in == 0 and gap_out == 0 and sched is Schedule.PIPELINED and steady != block:
            raise TrainerCosimError(
                f"epoch {e + 1}: predictions leave every {steady} clocks, the cycle model says "
                f"{block}"
            )
        if gap_in == 0 and gap_out == 0 and sched is not Schedule.PIPELINED:
            bad = np.flatnonzero(spacing != want_spacing)
            if bad.size:
                i = int(bad[0])
                raise TrainerCosimError(
                    f"epoch {e + 1}: the predictions of inputs {i} and {i + 1} leave "
                    f"{spacing[i]} clocks apart (clock {edges[i + 1]}), the cycle model says "
                    f"{want_spacing[i]} ({schedule} schedule"
                    + (f", input {i} a {_OUTCOME[outcomes[i]]}" if outcomes is not None else "")
                    + f"; {bad.size} spacings differ)"
                )
        for i, (cls, edge) in enumerate(preds):
            if cls != want_pred[i]:
                raise TrainerCosimError(
                    f"epoch {e + 1}, input {i}: the RTL predicts {cls}, the model "
                    f"{want_pred[i]} (clock {edge})"
                )
        got = np.array([_signed(v) for v, _ in words], np.int64)
        if len(got) != len(want_words):
            raise TrainerCosimError(
                f"epoch {e + 1}: {len(got)} words dumped, {len(want_words)} due"
            )
        bad = np.flatnonzero(got != want_words)
        if bad.size:
            i = int(bad[0])
            raise TrainerCosimError(
                f"epoch {e + 1}: {_where(net, i)} is {got[i]} in the RTL, {want_words[i]} in the "
                f"model (dumped at clock {words[i][1]}; {bad.size} words differ)"
            )
        report["epochs"].append(
            {
                "epoch": e + 1,
                "eta_exponent": etas[e],
                "online_accuracy_rtl": float(np.mean([c for c, _ in preds] == y)),
                "online_accuracy_model": r.epochs[0].train_accuracy,
                "words_bit_exact": len(got),
                "clocks_per_input_rtl": steady,
                "mean_clocks_per_input_rtl": float(spacing.mean()) if spacing.size else None,
                "mean_clocks_per_input_model": float(want_spacing.mean()) if spacing.size else None,
                "clocks": int(ev[-1][1]),
                "hit_rate_model": None if outcomes is None else float(np.mean(outcomes == 1)),
            }
        )
        model, rtl_words = r.params, got
    if test_images:
        tx, ty = ds.test_x[:test_images], ds.test_y[:test_images]
        s = Stream(per_beat, man["stream"]["pixels"])
        s.load(rtl_words)
        s.inputs(tx, ty, 0, train=False)
        s.flush()
        ev = run_bench(Path(rtl), man, s, root / "test", exe, {"timeout": 40 * len(s.beats)})
        preds, _, _ = _outputs(ev, "the test predictions", epochs)
        rtl_cls = np.array([c for c, _ in preds])
        want = predict(net, FixedArithmetic(net), model, pad_inputs(tx, net.layers[0]))
        if not np.array_equal(rtl_cls, want):
            i = int(np.flatnonzero(rtl_cls != want)[0])
            raise TrainerCosimError(
                f"test image {i}: the RTL predicts {rtl_cls[i]}, the model {want[i]} "
                f"(clock {preds[i][1]})"
            )
        report["test_accuracy_rtl"] = float(np.mean(rtl_cls == ty))
        report["test_accuracy_model"] = float(np.mean(want == ty))
    report.update(
        {
            "bit_exact": True,
            "clocks": clocks,
            "wall_seconds": wall,
            "clocks_per_second": clocks / wall if wall else None,
            "inputs_per_second_simulated": epochs * n / wall if wall else None,
        }
    )
    return report

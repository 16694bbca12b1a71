"""An independent checker of the schedule artifact, written from docs/schedule-format.md alone.

Nothing under `codesign/` is imported to *read* or *check* the artifact: only json, numpy, pathlib
and the standard library, following docs/schedule-format.md (schedule artifact) and
docs/model-format.md (the model artifact it refers to).  `codesign` itself is only used through the
CLI, to write the artifact again for the determinism test (the fixtures write the first one).

Every message of `check_schedule_artifact` starts with the layer name and a tag naming the rule of
the document it enforces (e.g. ``conv2: [rule 4]``), so that the corruption tests can assert that
the right rule caught the corruption.  Where the document does not say enough to check something,
the checker says so with a ``[doc gap]`` tag instead of guessing.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

# --------------------------------------------------------------------------------------------------
# The checker (docs/schedule-format.md + docs/model-format.md)
# --------------------------------------------------------------------------------------------------

# "mem/<layer>_pe<p>.hex": fields, least significant bit first (section "mem/<layer>_pe<p>.hex").
FIELD_ORDER = ["w_im", "w_re", "acc", "addr", "bank", "first", "valid"]

# "layers/<layer>.npz (all int64)"
NPZ_ARRAYS = ["nz", "cycle", "pe", "program", "pe_of_group", "bank_of", "addr_of", "acc_addr"]


def _clog2(x: int) -> int:
    """ceil(log2(x)) for a positive integer x (0 for x = 1)."""
    return (int(x) - 1).bit_length() if x > 1 else 0


def _field_widths(
    acc_addr: np.ndarray, addr_of: np.ndarray, B: int, weight_bits: int
) -> dict[str, int]:
    """Field widths exactly as the table of section `mem/<layer>_pe<p>.hex` gives them."""
    return {
        "w_im": weight_bits,
        "w_re": weight_bits,
        "acc": max(1, _clog2(int(acc_addr.max()) + 1)),
        "addr": max(1, _clog2(int(addr_of.max()) + 1)),
        "bank": max(1, _clog2(B)),
        "first": 1,
        "valid": 1,
    }


def _twos(value: int, bits: int) -> int:
    return int(value) & ((1 << bits) - 1)


def check_schedule_artifact(schedule_dir, model_dir) -> list[str]:
    """Check a schedule artifact against its model artifact; return a list of problems ([] = ok)."""
    sd, md = Path(schedule_dir), Path(model_dir)
    errors: list[str] = []

    try:
        sj = json.loads((sd / "schedule.json").read_text())
    except (OSError, ValueError) as exc:
        return [f"schedule.json: [format] cannot read: {exc}"]
    try:
        mj_bytes = (md / "model.json").read_bytes()
        mj = json.loads(mj_bytes)
        marrays = np.load(md / "arrays.npz")
    except (OSError, ValueError) as exc:
        return [f"model: [format] cannot read the model artifact: {exc}"]

    # --- schedule.json header ------------------------------------------------------------------
    if sj.get("format") != "codesign-schedule" or sj.get("format_version") != 2:
        errors.append(
            f"schedule.json: [format] format/format_version is "
            f"{sj.get('format')!r}/{sj.get('format_version')!r}, "
            f"expected 'codesign-schedule'/1"
        )
    model_ref = sj.get("model", {})
    sha = hashlib.sha256(mj_bytes).hexdigest()
    if model_ref.get("sha256") != sha:
        errors.append(
            f"schedule.json: [model] model.sha256 {model_ref.get('sha256')!r} is not the "
            f"sha256 of {md / 'model.json'} ({sha})"
        )
    if "path" in model_ref and (sd / model_ref["path"]).resolve() != md.resolve():
        errors.append(f"schedule.json: [model] model.path {model_ref['path']!r} is not {md}")

    # --- layers, in network order --------------------------------------------------------------
    s_layers = sj.get("layers", [])
    m_layers = mj.get("layers", [])
    if [L.get("name") for L in s_layers] != [L.get("name") for L in m_layers]:
        errors.append(
            f"schedule.json: [layers] layers {[L.get('name') for L in s_layers]} are not "
            f"the model's layers in network order {[L.get('name') for L in m_layers]}"
        )
    m_by_name = {L["name"]: L for L in m_layers}
    for entry in s_layers:
        if entry.get("type") != "spectral_conv":
            continue
        name = entry.get("name")
        mlayer = m_by_name.get(name)
        if mlayer is None or mlayer.get("type") != "spectral_conv":
            errors.append(f"{name}: [layers] no spectral_conv layer of that name in the model")
            continue
        try:
            _check_layer(sd, entry, mlayer, mj, marrays, errors)
        except Exception as exc:  # a malformed artifact must be reported, not crash the checker
            errors.append(
                f"{name}: [format] checker could not read the layer: {type(exc).__name__}: {exc}"
            )
    return errors


def _check_layer(sd: Path, entry: dict, mlayer: dict, mj: dict, marrays, errors: list[str]) -> None:
    name = entry["name"]

    def err(tag: str, msg: str) -> None:
        errors.append(f"{name}: [{tag}] {msg}")

    # --- dimensions (section "A spectral layer entry") -----------------------------------------
    C, O, N, K = entry["in_channels"], entry["out_channels"], entry["fft"], entry["kernel"]
    F, H = entry["bins"], N // 2 + 1
    for key in ("in_channels", "out_channels", "fft", "kernel", "tile", "tiles", "bins"):
        if entry.get(key) != mlayer.get(key):
            err("layer", f"{key} = {entry.get(key)} but the model says {mlayer.get(key)}")
    if F != N * H:
        err("layer", f"bins F = {F} is not N*(N/2+1) = {N * H}")
    if entry["tile"] != N - K + 1:
        err("layer", f"tile {entry['tile']} is not N - K + 1 = {N - K + 1}")

    arch = entry["arch"]
    P, B, ports = arch["pes"], arch["banks"], arch["ports"]
    broadcast, U = bool(arch["broadcast"]), arch["fft_units"]
    lat, forwarding, wb = arch["mac_latency"], bool(arch["forwarding"]), arch["weight_bits"]
    conv_weight = mj.get("fixed_point", {}).get("conv_weight", {})
    if conv_weight.get("bits") != wb:
        err(
            "memory",
            f"arch.weight_bits {wb} is not the model's conv_weight bits "
            f"{conv_weight.get('bits')} (the weight fields are in that format)",
        )

    sched = entry["schedule"]
    cycles = sched["cycles_per_tile"]

    # --- arrays ----------------------------------------------------------------------------------
    if entry.get("arrays") != f"layers/{name}.npz":
        err("format", f"arrays = {entry.get('arrays')!r}, expected 'layers/{name}.npz'")
    with np.load(sd / f"layers/{name}.npz") as z:
        a = {k: z[k] for k in z.files}
    missing = [k for k in NPZ_ARRAYS if k not in a]
    if missing:
        err("format", f"layers/{name}.npz lacks {missing}")
        return
    for k, v in a.items():
        if v.dtype != np.int64:
            err("format", f"array {k} has dtype {v.dtype}, the document says all int64")
    nz, cyc, pe, prog = a["nz"], a["cycle"], a["pe"], a["program"]
    pog, bank_of, addr_of, acc_addr = a["pe_of_group"], a["bank_of"], a["addr_of"], a["acc_addr"]
    n = len(nz)
    shapes = {
        "nz": (n, 3),
        "cycle": (n,),
        "pe": (n,),
        "program": (P, cycles),
        "pe_of_group": (O, F),
        "bank_of": (C, F),
        "addr_of": (C, F),
        "acc_addr": (O, F),
    }
    bad_shape = False
    for k, shape in shapes.items():
        if a[k].shape != shape:
            err(
                "rule 5" if k == "program" else "format",
                f"array {k} has shape {a[k].shape}, expected {shape} "
                f"(cycles = cycles_per_tile = {cycles}, P = {P})",
            )
            bad_shape = True
    if bad_shape:
        return

    # --- non-zeros == model mask non-zeros (model-format.md, bin index f = u*(N/2+1) + v) ------
    if n and not (
        (nz[:, 0] >= 0).all()
        and (nz[:, 0] < O).all()
        and (nz[:, 1] >= 0).all()
        and (nz[:, 1] < C).all()
        and (nz[:, 2] >= 0).all()
        and (nz[:, 2] < F).all()
    ):
        err("nz", "a non-zero (o, c, f) is out of range")
        return
    keys = (nz[:, 0] * C + nz[:, 1]) * F + nz[:, 2]
    if n > 1 and not (np.diff(keys) > 0).all():
        err("nz", "nz is not in strictly increasing row-major (o, c, f) order")
    mask_key = f"mask/{name}.kernel"
    if mask_key not in marrays.files:
        err(
            "doc gap",
            f"the model has no {mask_key} (model-format.md: masks exist only for pruned "
            f"layers) and neither document says what the non-zeros of an unmasked "
            f"spectral layer are",
        )
    else:
        mask = marrays[mask_key]
        if mask.shape != (O, C, N, H):
            err("model", f"{mask_key} has shape {mask.shape}, expected {(O, C, N, H)}")
        else:
            mo, mc, mu, mv = np.nonzero(mask)
            expected = np.stack([mo, mc, mu * H + mv], axis=1)
            if expected.shape != nz.shape or not np.array_equal(expected, nz):
                err(
                    "nz",
                    f"nz ({n} rows) differs from the model's mask non-zeros "
                    f"({len(expected)} entries)",
                )
    if sched.get("nonzero") != n:
        err("bounds", f"schedule.nonzero = {sched.get('nonzero')} but nz has {n} rows")
    o_i, c_i, f_i = nz[:, 0], nz[:, 1], nz[:, 2]
    group = o_i * F + f_i

    # --- rule 5: cycles / program consistency ---------------------------------------------------
    if ((cyc < 0) | (cyc >= cycles)).any():
        err("rule 5", f"a cycle is outside 0 <= cycle < cycles = {cycles}")
        return
    if ((pe < 0) | (pe >= P)).any():
        err("rule 2", f"a pe is outside 0 .. P-1 = {P - 1}")
        return
    if ((prog < -1) | (prog >= n)).any():
        err("rule 1", "program holds an index that is neither -1 nor a row of nz")
        return
    if entry["memory_image"]["depth"] != cycles:
        err("rule 5", f"memory_image.depth {entry['memory_image']['depth']} != cycles {cycles}")

    # --- rule 1: each non-zero in exactly one slot, nothing else ---------------------------------
    used = prog[prog >= 0]
    count = np.bincount(used, minlength=n)
    if (count != 1).any():
        dup, miss = np.flatnonzero(count > 1), np.flatnonzero(count == 0)
        err(
            "rule 1",
            f"non-zeros appearing more than once in program: {dup[:10].tolist()}, "
            f"never: {miss[:10].tolist()}",
        )
    if n and not (prog[pe, cyc] == np.arange(n)).all():
        bad = np.flatnonzero(prog[pe, cyc] != np.arange(n))
        err("rule 1", f"program[pe[i], cycle[i]] != i for non-zeros {bad[:10].tolist()}")
    slot = pe * cycles + cyc
    if len(np.unique(slot)) != n:
        err(
            "rule 2", "two non-zeros share one (pe, cycle) slot: more than one MAC per PE per clock"
        )

    # --- rule 2: PE ownership ---------------------------------------------------------------
    if ((pog < 0) | (pog >= P)).any():
        err("rule 2", "pe_of_group outside 0 .. P-1")
    else:
        bad = np.flatnonzero(pe != pog[o_i, f_i])
        if len(bad):
            err("rule 2", f"non-zeros not on the PE owning their group: {bad[:10].tolist()}")
    # the program itself: the PE running an entry must own its group
    pp, tt = np.nonzero(prog >= 0)
    ii = prog[pp, tt]
    if len(ii) and (pog[o_i[ii], f_i[ii]] != pp).any():
        err("rule 2", "program runs a non-zero on a PE that does not own its group")

    # --- bank map (section "Bank assignment") -------------------------------------------------
    if ((bank_of < 0) | (bank_of >= B)).any():
        err("bank map", f"bank_of outside 0 .. B-1 = {B - 1}")
        return
    widths = _field_widths(acc_addr, addr_of, B, wb)
    for b in range(B):
        sel = bank_of == b  # np.nonzero order is row-major (c, f)
        words = addr_of[sel]
        if not np.array_equal(words, np.arange(len(words))):
            err(
                "bank map",
                f"bank {b}: addr_of is not 0, 1, 2, ... in row-major (c, f) order "
                f"(got {words[:12].tolist()}...)",
            )
        if len(words) > (1 << widths["addr"]):
            err(
                "memory",
                f"bank {b} holds {len(words)} words: more than the {widths['addr']}-bit "
                f"addr field can address",
            )
    if U > 1:
        if B % U:
            err("bank map", f"B = {B} is not a multiple of fft_units U = {U}")
        else:
            per = B // U
            for c in range(C):
                u = c % U
                if ((bank_of[c] < u * per) | (bank_of[c] >= (u + 1) * per)).any():
                    err(
                        "bank map",
                        f"channel {c} (FFT unit {u}) has words outside banks "
                        f"{u * per} .. {(u + 1) * per - 1}",
                    )

    # --- rule 3: bank reads per clock -----------------------------------------------------------
    if broadcast:
        # words read by several PEs in one clock count once
        word = c_i[ii] * F + f_i[ii]
        uniq = np.unique(tt * (C * F) + word)
        t_u, w_u = uniq // (C * F), uniq % (C * F)
        reads = np.zeros((cycles, B), dtype=np.int64)
        np.add.at(reads, (t_u, bank_of[w_u // F, w_u % F]), 1)
    else:
        reads = np.zeros((cycles, B), dtype=np.int64)
        np.add.at(reads, (tt, bank_of[c_i[ii], f_i[ii]]), 1)
    over = np.argwhere(reads > ports)
    if len(over):
        t0, b0 = over[0]
        err(
            "rule 3",
            f"{len(over)} (clock, bank) pairs read more than ports = {ports} times, "
            f"e.g. clock {t0} bank {b0}: {reads[t0, b0]} reads",
        )

    # --- rule 4: accumulator hazards --------------------------------------------------------------
    order = np.lexsort((cyc, group))
    g_s, t_s = group[order], cyc[order]
    same = g_s[1:] == g_s[:-1]
    gaps = np.diff(t_s)[same]
    if not forwarding and len(gaps) and (gaps < lat).any():
        k = np.flatnonzero(same & (np.diff(t_s) < lat))[0]
        g = g_s[k]
        err(
            "rule 4",
            f"hazard: group (o={g // F}, f={g % F}) is updated at clocks {t_s[k]} and "
            f"{t_s[k + 1]}, less than mac_latency = {lat} apart",
        )

    # --- bounds -------------------------------------------------------------------------------
    pe_bound = int(np.bincount(pe, minlength=P).max()) if n else 0
    bank_reads = np.bincount(bank_of[c_i, f_i], minlength=B)
    if broadcast:
        err(
            "doc gap",
            "broadcast is true: the document does not say what 'reads' means in "
            "bank_bound = max ceil(reads / ports) when one read serves several PEs",
        )
    bank_bound = int(max(math.ceil(r / ports) for r in bank_reads)) if n else 0
    m = np.bincount(group, minlength=O * F)
    hazard_bound = 0 if forwarding or not n else int(((m[m > 0] - 1) * lat + 1).max())
    konig = max(pe_bound, bank_bound)
    lower = max(konig, hazard_bound)
    util = n / (P * cycles) if cycles else 0.0
    for key, value in (
        ("pe_bound", pe_bound),
        ("bank_bound", bank_bound),
        ("hazard_bound", hazard_bound),
        ("konig_bound", konig),
        ("lower_bound", lower),
    ):
        if sched.get(key) != value:
            err("bounds", f"schedule.{key} = {sched.get(key)} but the arrays give {value}")
    if not isinstance(sched.get("pe_utilisation"), (int, float)) or not math.isclose(
        sched["pe_utilisation"], util, rel_tol=1e-12, abs_tol=1e-15
    ):
        err(
            "bounds",
            f"schedule.pe_utilisation = {sched.get('pe_utilisation')} but "
            f"nonzero / (P * cycles) = {util}",
        )
    if sched.get("stall_cycles") != cycles - konig:
        err(
            "bounds",
            f"schedule.stall_cycles = {sched.get('stall_cycles')} but cycles - "
            f"konig_bound = {cycles - konig}",
        )
    if cycles != sched.get("lower_bound") or cycles != lower:
        err(
            "optimality",
            f"cycles_per_tile = {cycles} is not the lower bound {lower}: the "
            f"scheduler is claimed optimal",
        )

    # --- acc_addr -------------------------------------------------------------------------------
    has = (m > 0).reshape(O, F)
    if (acc_addr[~has] != -1).any():
        err("acc_addr", "acc_addr is not -1 for a group without non-zeros")
    if (acc_addr[has] < 0).any():
        err("acc_addr", "acc_addr is -1 (or negative) for a group with non-zeros")
    for p in range(P):
        addrs = acc_addr[has & (pog == p)]
        if len(np.unique(addrs)) != len(addrs):
            err("acc_addr", f"PE {p}: two groups share an accumulator address")
        if len(addrs) and addrs.max() >= (1 << widths["acc"]):
            err(
                "memory",
                f"PE {p}: accumulator address {addrs.max()} does not fit the "
                f"{widths['acc']}-bit acc field",
            )

    # --- memory image ---------------------------------------------------------------------------
    image = entry["memory_image"]
    layout = image.get("layout", [])
    exp_layout, lsb = [], 0
    for f in FIELD_ORDER:
        exp_layout.append({"name": f, "lsb": lsb, "width": widths[f]})
        lsb += widths[f]
    width = lsb
    if layout != exp_layout:
        err("memory", f"memory_image.layout {layout} is not the documented one {exp_layout}")
    if image.get("width") != width:
        err("memory", f"memory_image.width {image.get('width')} != documented total {width}")
    files = [f"mem/{name}_pe{p}.hex" for p in range(P)]
    if image.get("files") != files:
        err("memory", f"memory_image.files {image.get('files')} != {files}")

    # expected words, from the program and the model (documented semantics)
    first = np.zeros(n, dtype=np.int64)
    if n:
        first_of_group = np.r_[True, ~same]  # earliest clock of each group in lexsort order
        first[order[first_of_group]] = 1
    re_key, im_key = f"fixed/{name}.kernel_re", f"fixed/{name}.kernel_im"
    have_w = re_key in marrays.files and im_key in marrays.files
    if have_w:
        w_re = marrays[re_key][o_i, c_i, f_i // H, f_i % H]
        w_im = marrays[im_key][o_i, c_i, f_i // H, f_i % H]
        lo, hi = -(1 << (wb - 1)), (1 << (wb - 1))
        if ((w_re < lo) | (w_re >= hi) | (w_im < lo) | (w_im >= hi)).any():
            err("memory", f"a model weight does not fit {wb}-bit two's complement")
    fields_of = {
        "valid": np.ones(n, dtype=np.int64),
        "first": first,
        "bank": bank_of[c_i, f_i],
        "addr": addr_of[c_i, f_i],
        "acc": acc_addr[o_i, f_i],
    }
    if have_w:
        fields_of["w_re"] = w_re & ((1 << wb) - 1)
        fields_of["w_im"] = w_im & ((1 << wb) - 1)
    exp_words = {f: np.zeros((P, cycles), dtype=np.int64) for f in fields_of}
    for f, vals in fields_of.items():
        exp_words[f][pe, cyc] = vals  # idle slots stay 0 ("the whole word is 0")

    digits = math.ceil(width / 4)
    line_re = re.compile(rf"[0-9a-fA-F]{{{digits}}}")
    decoded = {f: np.zeros((P, cycles), dtype=np.int64) for f in FIELD_ORDER}
    for p, rel in enumerate(files):
        path = sd / rel
        if not path.is_file():
            err("memory", f"{rel} is missing")
            continue
        lines = path.read_text().splitlines()
        if len(lines) != image.get("depth"):
            err("memory", f"{rel} has {len(lines)} lines, depth is {image.get('depth')}")
        for t, line in enumerate(lines[:cycles]):
            if not line_re.fullmatch(line):
                err("memory", f"{rel} line {t + 1}: {line!r} is not {digits} hex digits")
                continue
            word = int(line, 16)
            if word >> width:
                err("memory", f"{rel} line {t + 1}: value wider than {width} bits")
            for f in FIELD_ORDER:
                decoded[f][p, t] = (word >> exp_layout[FIELD_ORDER.index(f)]["lsb"]) & (
                    (1 << widths[f]) - 1
                )
            if prog[p, t] < 0 and word != 0:
                err("memory", f"{rel} line {t + 1}: idle slot but the word is not 0")
    for f in FIELD_ORDER:
        if f not in exp_words:
            continue
        bad = np.argwhere(decoded[f] != exp_words[f])
        if len(bad):
            p0, t0 = bad[0]
            err(
                f"memory {f}",
                f"{len(bad)} words of the hex files have a wrong {f} field, e.g. "
                f"mem/{name}_pe{p0}.hex line {t0 + 1}: {decoded[f][p0, t0]}, "
                f"expected {exp_words[f][p0, t0]}",
            )
    # the unpacked word_<field> arrays
    present = [f for f in FIELD_ORDER if f"word_{f}" in a]
    if have_w and len(present) != len(FIELD_ORDER):
        err(
            "memory",
            f"weights are available but word_<field> arrays are missing: "
            f"{[f for f in FIELD_ORDER if f not in present]}",
        )
    for f in present:
        arr = a[f"word_{f}"]
        if arr.shape != (P, cycles):
            err("memory", f"word_{f} has shape {arr.shape}, expected {(P, cycles)}")
        elif not np.array_equal(arr, decoded[f]):
            bad = np.argwhere(arr != decoded[f])
            p0, t0 = bad[0]
            err(
                f"memory {f}",
                f"word_{f} differs from the hex files in {len(bad)} slots, e.g. "
                f"PE {p0} clock {t0}: {arr[p0, t0]} vs {decoded[f][p0, t0]}",
            )


# --------------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------------


def test_checker_accepts_the_real_artifact(wide_schedule_dir, small_schedule_dir, small_model_dir):
    assert check_schedule_artifact(small_schedule_dir, small_model_dir) == []
    errors = check_schedule_artifact(wide_schedule_dir, small_model_dir)
    assert errors == [], "\n".join(errors)


def test_fixture_exercises_the_interesting_cases(wide_schedule_dir):
    """The corruption tests need a layer with P > 1, U > 1 and groups of several non-zeros."""
    sj = json.loads((wide_schedule_dir / "schedule.json").read_text())
    conv2 = next(L for L in sj["layers"] if L["name"] == "conv2")
    assert conv2["arch"]["pes"] > 1 and conv2["arch"]["fft_units"] > 1
    assert conv2["schedule"]["hazard_bound"] > 1 and not conv2["arch"]["forwarding"]


# ---- corruptions ---------------------------------------------------------------------------------

LAYER = "conv2"


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "schedule"
    shutil.copytree(src, dst)
    return dst


def _load(sd: Path) -> dict:
    with np.load(sd / f"layers/{LAYER}.npz") as z:
        return {k: z[k].copy() for k in z.files}


def _save(sd: Path, a: dict) -> None:
    np.savez(sd / f"layers/{LAYER}.npz", **a)


def _move(a: dict, i: int, p: int, t: int) -> None:
    """Put non-zero i into slot (p, t) of the program (keeping pe/cycle consistent)."""
    a["program"][p, t] = i
    a["pe"][i], a["cycle"][i] = p, t


def _swap_between_pes(sd: Path) -> None:
    a = _load(sd)
    prog = a["program"]
    i = int(prog[0, 0])
    t1 = 5
    j = int(prog[1, t1])
    _move(a, j, 0, 0)
    _move(a, i, 1, t1)
    _save(sd, a)


def _duplicate_slot(sd: Path) -> None:
    a = _load(sd)
    a["program"][0, 1] = a["program"][0, 0]  # non-zero program[0, 1] vanishes, [0, 0] twice
    _save(sd, a)


def _hazard(sd: Path) -> None:
    a = _load(sd)
    nz, cyc, pe, prog = a["nz"], a["cycle"], a["pe"], a["program"]
    F = int(a["pe_of_group"].shape[1])
    group = nz[:, 0] * F + nz[:, 2]
    g = np.bincount(group).argmax()  # a group with several non-zeros
    i, j = np.flatnonzero(group == g)[:2]
    p, ti, tj = int(pe[i]), int(cyc[i]), int(cyc[j])
    t_new = tj + 1 if tj + 1 < prog.shape[1] and tj + 1 != ti else tj - 1
    k = int(prog[p, t_new])  # whatever was there goes to i's slot
    _move(a, int(i), p, t_new)
    if k >= 0:
        _move(a, k, p, ti)
    else:
        prog[p, ti] = -1
    _save(sd, a)


def _edit_hex(sd: Path, p: int, t: int, bit: int) -> None:
    path = sd / f"mem/{LAYER}_pe{p}.hex"
    lines = path.read_text().splitlines()
    digits = len(lines[t])
    lines[t] = format(int(lines[t], 16) ^ (1 << bit), f"0{digits}x")
    path.write_text("\n".join(lines) + "\n")


def _flip_weight_bit(sd: Path) -> None:
    _edit_hex(sd, 1, 7, 3)  # bit 3 of w_im (lsb 0)


def _layout(sd: Path) -> dict:
    sj = json.loads((sd / "schedule.json").read_text())
    entry = next(L for L in sj["layers"] if L["name"] == LAYER)
    return {f["name"]: f for f in entry["memory_image"]["layout"]}


def _wrong_first(sd: Path) -> None:
    _edit_hex(sd, 2, 11, _layout(sd)["first"]["lsb"])


def _edit_bound(sd: Path) -> None:
    path = sd / "schedule.json"
    sj = json.loads(path.read_text())
    entry = next(L for L in sj["layers"] if L["name"] == LAYER)
    entry["schedule"]["pe_bound"] -= 1
    path.write_text(json.dumps(sj, indent=2, sort_keys=True) + "\n")


CORRUPTIONS = {
    # name: (corruption, tags that must appear)
    "swap_between_pes": (_swap_between_pes, ["[rule 2]"]),
    "duplicate_slot": (_duplicate_slot, ["[rule 1]"]),
    "hazard": (_hazard, ["[rule 4]"]),
    "flipped_weight_bit": (_flip_weight_bit, ["[memory w_im]"]),
    "wrong_first_flag": (_wrong_first, ["[memory first]"]),
    "edited_bound": (_edit_bound, ["[bounds]"]),
}


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_checker_catches_corruption(kind, wide_schedule_dir, small_model_dir, tmp_path):
    sd = _copy(wide_schedule_dir, tmp_path)
    corrupt, tags = CORRUPTIONS[kind]
    corrupt(sd)
    errors = check_schedule_artifact(sd, small_model_dir)
    for tag in tags:
        assert any(e.startswith(f"{LAYER}: {tag}") for e in errors), (
            f"{kind}: no {tag} error among:\n" + "\n".join(errors)
        )


def test_swap_between_pes_also_breaks_bank_ports_or_memory(
    wide_schedule_dir, small_model_dir, tmp_path
):
    """The swapped non-zeros' hex words no longer match the program either."""
    sd = _copy(wide_schedule_dir, tmp_path)
    _swap_between_pes(sd)
    errors = check_schedule_artifact(sd, small_model_dir)
    assert any("[memory" in e for e in errors), "\n".join(errors)


def test_bank_port_conflict_is_caught(wide_schedule_dir, small_model_dir, tmp_path):
    """Swap two slots of PE 1 so that PE 0 and PE 1 read the same bank in clock 0 (ownership stays
    intact): rule 3 must break (ports = 1, broadcast false)."""
    sd = _copy(wide_schedule_dir, tmp_path)
    a = _load(sd)
    nz, prog = a["nz"], a["program"]
    bank = a["bank_of"][nz[:, 1], nz[:, 2]]
    P = prog.shape[0]
    assert a["bank_of"].max() + 1 > 1 and P > 1
    t0 = 0
    i = int(prog[0, t0])
    j_t = next(
        t
        for t in range(prog.shape[1])
        if t != t0
        and prog[1, t] >= 0
        and bank[prog[1, t]] == bank[i]
        and bank[prog[1, t0]] != bank[i]
    )
    j, k = int(prog[1, j_t]), int(prog[1, t0])
    _move(a, j, 1, t0)
    _move(a, k, 1, j_t)
    _save(sd, a)
    errors = check_schedule_artifact(sd, small_model_dir)
    assert any(e.startswith(f"{LAYER}: [rule 3]") for e in errors), "\n".join(errors)


def test_wrong_first_in_word_arrays_is_caught(wide_schedule_dir, small_model_dir, tmp_path):
    sd = _copy(wide_schedule_dir, tmp_path)
    a = _load(sd)
    a["word_first"][0, 3] ^= 1
    _save(sd, a)
    errors = check_schedule_artifact(sd, small_model_dir)
    assert any(e.startswith(f"{LAYER}: [memory first]") for e in errors), "\n".join(errors)


# ---- determinism ---------------------------------------------------------------------------------


def test_map_is_deterministic(small_schedule_dir, small_map_args, tmp_path):
    from click.testing import CliRunner

    from codesign.cli import main

    out = tmp_path / "again"
    r = CliRunner().invoke(main, small_map_args + ["--out", str(out)])
    assert r.exit_code == 0, r.output

    def tree(root: Path) -> dict[str, bytes]:
        return {
            str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
        }

    first, second = tree(small_schedule_dir), tree(out)
    assert sorted(first) == sorted(second)
    differ = [k for k in first if first[k] != second[k]]
    assert differ == [], f"files differ between two identical `codesign map` runs: {differ}"


# ---- the document against the artifact -----------------------------------------------------

# Keys of schedule.json as the tables of docs/schedule-format.md list them.
DOC_TOP = {
    "format",
    "format_version",
    "codesign_version",
    "model",
    "board",
    "layers",
    "network",
    "runners_up",
    "modeled",
}
DOC_BOARD = {"name", "part", "family", "capacity", "target_clock_mhz", "dram_gbytes_per_s"}
DOC_NETWORK = {
    "ii_cycles",
    "latency_cycles",
    "clock_mhz",
    "images_per_second",
    "latency_us",
    "memory_plan",
    "dram_bytes_per_image",
    "dram_gbytes_per_s",
    "resources",
    "capacity",
    "utilisation",
    "fits",
}
DOC_SPECTRAL = {
    "name",
    "type",
    "in_channels",
    "out_channels",
    "fft",
    "kernel",
    "tile",
    "tiles",
    "bins",
    "arch",
    "schedule",
    "cost",
    "memory_image",
    "arrays",
}
DOC_SPECTRAL_OPTIONAL = {"engine"}  # only for layers the generator can build (ifft_units 1)
DOC_ARCH = {
    "type",
    "name",
    "fft",
    "pes",
    "banks",
    "ports",
    "broadcast",
    "fft_units",
    "ifft_units",
    "tile_slices",
    "in_words",
    "out_words",
    "mac_latency",
    "forwarding",
    "spectrum_bits",
    "weight_bits",
    "activation_bits",
}
DOC_SCHEDULE = {
    "nonzero",
    "cycles_per_tile",
    "lower_bound",
    "konig_bound",
    "pe_bound",
    "bank_bound",
    "hazard_bound",
    "stall_cycles",
    "pe_utilisation",
    "dense_cycles_per_tile",
    "dense_over_sparse",
}
DOC_COST = {"cycles", "dram_bytes", "dsp", "bram18", "bram18_by_memory", "lut", "ff"}
DOC_COST_CYCLES = {
    "fft_per_tile",
    "hadamard_per_tile",
    "ifft_per_tile",
    "ii_tile",
    "tiles",
    "chunks",
    "compute_ii",
    "dram_ii",
    "ii",
    "latency",
    "bottleneck",
}
DOC_MEMORY_IMAGE = {"layout", "width", "depth", "files"}
DOC_DENSE = {"name", "type", "in_features", "out_features", "nonzero_per_output", "arch", "cost"}
DOC_DENSE_ARCH = {"type", "name", "macs", "mac_latency", "weight_bits", "activation_bits"}
DOC_RUNNER_UP = {
    "ii_cycles",
    "images_per_second",
    "dsp",
    "bram36",
    "lut",
    "ff",
    "fits",
    "parallelism",
}


def test_generatable_design_has_the_accelerator_cycle_model(small_schedule_dir):
    net = json.loads((small_schedule_dir / "schedule.json").read_text())["network"]
    assert set(net) - DOC_NETWORK == {"accelerator"}
    assert set(net["accelerator"]) == {
        "latency_cycles",
        "interval_cycles",
        "images_per_second",
        "model",
    }
    assert net["accelerator"]["interval_cycles"] >= net["ii_cycles"]


def test_schedule_json_fields_match_the_document(wide_schedule_dir):
    """Every field of schedule.json is documented, and every documented field is present."""
    sj = json.loads((wide_schedule_dir / "schedule.json").read_text())
    problems: list[str] = []

    def cmp(where: str, obj: dict, documented: set[str]) -> None:
        extra, missing = sorted(set(obj) - documented), sorted(documented - set(obj))
        if extra:
            problems.append(f"{where}: undocumented fields {extra}")
        if missing:
            problems.append(f"{where}: documented but missing fields {missing}")

    cmp("schedule.json", sj, DOC_TOP)
    cmp("board", sj["board"], DOC_BOARD)
    cmp("network", sj["network"], DOC_NETWORK)
    assert "accelerator" not in sj["network"]  # conv2 has 4 inverse-FFT lanes: not generatable
    for i, ru in enumerate(sj["runners_up"]):
        cmp(f"runners_up[{i}]", ru, DOC_RUNNER_UP)
    for L in sj["layers"]:
        if L["type"] == "spectral_conv":
            cmp(
                f"{L['name']}",
                {k: v for k, v in L.items() if k not in DOC_SPECTRAL_OPTIONAL},
                DOC_SPECTRAL,
            )
            cmp(f"{L['name']}.arch", L["arch"], DOC_ARCH)
            cmp(f"{L['name']}.schedule", L["schedule"], DOC_SCHEDULE)
            cmp(f"{L['name']}.cost", L["cost"], DOC_COST)
            cmp(f"{L['name']}.cost.cycles", L["cost"]["cycles"], DOC_COST_CYCLES)
            cmp(f"{L['name']}.memory_image", L["memory_image"], DOC_MEMORY_IMAGE)
        else:
            cmp(f"{L['name']}", L, DOC_DENSE)
            cmp(f"{L['name']}.arch", L["arch"], DOC_DENSE_ARCH)
    # de-duplicate the per-layer repeats for a readable message
    problems = list(dict.fromkeys(problems))
    assert problems == [], (
        "docs/schedule-format.md (section 'schedule.json' and its tables) does "
        "not match the artifact:\n" + "\n".join(problems)
    )

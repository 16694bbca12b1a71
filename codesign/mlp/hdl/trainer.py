"""The generated on-chip trainer: junctions, layer memories, control and the AXI4-Stream ports.

Block cycles (docs/mlp-trainer.md): a counter ``c`` runs 0 … C−1 and the trainer advances to
the next block cycle when the loader holds this block's input (or a bubble) and the prediction
leaving can be taken.  Bit ``d`` of the metadata shift registers describes the input loaded
``d + 1`` block cycles ago (valid, train, label, η exponent): junction ``j`` runs its forward
pass for bit ``j − 1`` and its back-propagation and update for bit ``2J − j``; the prediction
of bit ``J − 1`` leaves at the block's end.  Layer ``h``'s activations rotate over
``2(J − h) + 1`` collections (written in collection ``ptr_h``, read by the forward pass from
``ptr_h − 1`` and by the update from ``ptr_h + 1``); every delta memory has two, swapped each
block cycle.

Stream commands (``s_axis_tuser`` of a packet's first beat, bits 3…0): 0 train, 1 infer (label
in bits 7…4, η exponent k in bits 11…8, then the pixels), 2 flush, 3 dump, 4 load (then the
words), 5 config (``tdata`` bits 17…16 the schedule — 0 pipelined, 1 sequential, 2 speculative
— and bits 15…0 the speculative threshold).  Flush, dump, load and config first run bubbles
until no input is in flight.

Schedules.  The pipelined trainer runs ``pipelined`` (a new input every block cycle) and
``sequential`` (a training input holds the loader until its last update has run: the *gate*).
The speculating trainer (``plan.speculative``; :mod:`codesign.mlp.hdl.speculation`) runs
``sequential`` and ``speculative``: every layer's activations live in slots; junction ``j``
runs a speculative update for the input at bit ``J − j`` (from the stored slot of its label)
beside the forward passes, and, if the input misses, its own update at bit ``2J − j``; updates
write the second bank of weights and biases, which becomes the read bank when the input's
update is complete (a hit: at its decision; a miss: after its last update).
"""

from __future__ import annotations

from myhdl import ResetSignal, Signal, always, always_comb, always_seq, block, concat, intbv

from codesign.hdl.ram import sdp_ram
from codesign.hdl.signals import delay_bits, delay_line, index_bits, select, uint_signal, wire_to
from codesign.mlp.fixedpoint import Activation
from codesign.mlp.hdl.arith import ACT_FIELD, word_signal
from codesign.mlp.hdl.junction import JunctionPorts, dump_select, junction
from codesign.mlp.hdl.plan import LABELS, SLOTS, TrainerPlan
from codesign.mlp.hdl.speculation import (
    bank_select,
    decide,
    distance_sum,
    free_slot,
    label_deltas,
    label_store,
    output_delta,
    output_store,
    speculative_gate,
    store_write,
)

__all__ = ["trainer", "trainer_ports", "MODES", "TUSER_BITS", "SCHEDULES", "CONFIG_BITS"]

MODES = {"train": 0, "infer": 1, "flush": 2, "dump": 3, "load": 4, "config": 5}
SCHEDULES = {"pipelined": 0, "sequential": 1, "speculative": 2}
CONFIG_BITS = {"threshold": (15, 0), "schedule": (17, 16)}
TUSER_BITS = 16
IDLE, PIX, ZERO, DONE, DUMP_RD, DUMP_OUT, LOADW = range(7)


def trainer_ports(plan: TrainerPlan) -> dict:
    """The top level's ports (names of the generated Verilog)."""
    return {
        "aclk": Signal(bool(0)),
        "aresetn": ResetSignal(0, active=0, isasync=False),
        "s_axis_tdata": Signal(intbv(0)[8 * plan.per_beat :]),
        "s_axis_tuser": Signal(intbv(0)[TUSER_BITS:]),
        "s_axis_tvalid": Signal(bool(0)),
        "s_axis_tready": Signal(bool(0)),
        "s_axis_tlast": Signal(bool(0)),
        "m_axis_tdata": Signal(intbv(0)[16:]),
        "m_axis_tuser": Signal(bool(0)),
        "m_axis_tvalid": Signal(bool(0)),
        "m_axis_tready": Signal(bool(0)),
        "m_axis_tlast": Signal(bool(0)),
        "frame_error": Signal(bool(0)),
    }


@block
def _rotating(clk, rst, advance, ptr, ff_coll, up_coll, *, n: int):
    """A layer's collection pointer (advanced every block cycle) and its two readers'."""

    @always_seq(clk.posedge, reset=rst)
    def rotate():
        if advance:
            if ptr == n - 1:
                ptr.next = 0
            else:
                ptr.next = ptr + 1

    @always_comb
    def readers():
        if ptr == 0:
            ff_coll.next = n - 1
        else:
            ff_coll.next = ptr - 1
        if ptr == n - 1:
            up_coll.next = 0
        else:
            up_coll.next = ptr + 1

    return rotate, readers


@block
def _address(coll, row, addr, *, row_bits: int):
    """``addr = coll · 2^row_bits + row``."""
    if row_bits:

        @always_comb
        def bank_address():
            addr.next = concat(coll, row[row_bits:])
    else:

        @always_comb
        def bank_address():
            addr.next = coll

    return bank_address


@block
def _layer_bank(clk, we, waddr, wdata, rdata_ff, rdata_up, coll_ff, coll_up, row, *, bits):
    """One bank of a layer's activations: two copies written alike, one per reader."""
    a_ff = Signal(intbv(0)[len(waddr) :])
    a_up = Signal(intbv(0)[len(waddr) :])
    return (
        _address(coll_ff, row, a_ff, row_bits=bits),
        _address(coll_up, row, a_up, row_bits=bits),
        sdp_ram(clk, we, waddr, wdata, a_ff, rdata_ff),
        sdp_ram(clk, we, waddr, wdata, a_up, rdata_up),
    )


def _row_bits(rows: int) -> int:
    return (rows - 1).bit_length()


@block
def _layer_writer(on, index, words, coll, we, waddr, wdata, *, z: int, count: int, bits: int):
    """``len(words)`` consecutive neurons (write number ``index`` < ``count``: neurons
    ``index·len(words) …``) into a layer's ``z`` banks — the loader's beat of pixels into layer 0,
    a junction's finished neuron group into the next layer."""
    n = len(words)
    per_row = z // n
    row = uint_signal(max(2, 1 << bits))
    sel = uint_signal(per_row)

    @always_comb
    def split():
        if index < count:
            sel.next = index % per_row
            row.next = index // per_row
        else:
            sel.next = 0
            row.next = 0

    lanes = [_bank_lane(on, sel, words[b % n], we[b], wdata[b], index=b // n) for b in range(z)]
    return split, _address(coll, row, waddr, row_bits=bits), lanes


@block
def _bank_lane(on, sel, word, we, wdata, *, index: int):
    @always_comb
    def lane():
        we.next = on and sel == index
        wdata.next = word

    return lane


@block
def _delta_bank(clk, sel, rmw_raddr, rmw_rdata, we, waddr, wdata, cons_raddr, cons_rdata):
    """Two collections of one bank of a hidden layer's deltas: collection ``sel`` accumulates
    (read-modify-write), the other is read by the junction on the left."""
    we0, we1 = Signal(bool(0)), Signal(bool(0))
    ra0, ra1 = (uint_signal(rmw_raddr.val.max) for _ in range(2))
    rd0, rd1 = word_signal(), word_signal()

    @always_comb
    def route():
        we0.next = we and not sel
        we1.next = we and sel
        if sel:
            ra1.next = rmw_raddr
            ra0.next = cons_raddr
            rmw_rdata.next = rd1
            cons_rdata.next = rd0
        else:
            ra0.next = rmw_raddr
            ra1.next = cons_raddr
            rmw_rdata.next = rd0
            cons_rdata.next = rd1

    return (
        route,
        sdp_ram(clk, we0, waddr, wdata, ra0, rd0),
        sdp_ram(clk, we1, waddr, wdata, ra1, rd1),
    )


@block
def _delta_reader(clk, group0, row, key1, *, nb: int, z: int):
    """The left junction's read of the right layer's deltas: row and bank group of group0."""
    per_row = z // nb
    key0 = uint_signal(per_row)

    @always_comb
    def split():
        row.next = group0 // per_row
        key0.next = group0 % per_row

    @always(clk.posedge)
    def delay():
        key1.next = key0

    return split, delay


@block
def _output_deltas(clk, sel, valid, group, word, label, raddr, delta, *, nb, q):
    """Port ``q`` of the output layer's deltas ``a − y`` (neuron ``group·nb + q``): two
    collections, swapped per block cycle; written by the last junction's forward pass, read by
    its back-propagation and update in the next block cycle."""
    we0, we1 = Signal(bool(0)), Signal(bool(0))
    rd0, rd1 = word_signal(), word_signal()
    d = word_signal()

    @always_comb
    def swap():
        we0.next = valid and not sel
        we1.next = valid and sel
        if sel:
            delta.next = rd0
        else:
            delta.next = rd1

    return (
        output_delta(label, group, word, d, nb=nb, q=q),
        swap,
        sdp_ram(clk, we0, group, d, raddr, rd0),
        sdp_ram(clk, we1, group, d, raddr, rd1),
    )


@block
def _argmax(clk, start, valid, group, words, best_idx, *, nb: int, classes: int):
    """The first largest activation of neurons 0 … classes−1 of the current block cycle."""
    n = len(words)
    vals = [Signal(intbv(-1, min=-1, max=128)) for _ in range(n + 1)]
    idxs = [uint_signal(classes) for _ in range(n + 1)]
    best_val = Signal(intbv(-1, min=-1, max=128))
    insts = []
    v_first, i_first, v_last, i_last = vals[0], idxs[0], vals[n], idxs[n]

    @always_comb
    def head():
        v_first.next = best_val
        i_first.next = best_idx

    insts.append(head)
    for q in range(n):
        insts.append(
            _argmax_link(
                valid,
                group,
                words[q],
                vals[q],
                idxs[q],
                vals[q + 1],
                idxs[q + 1],
                nb=nb,
                q=q,
                classes=classes,
            )
        )

    @always(clk.posedge)
    def keep():
        if start:
            best_val.next = -1
            best_idx.next = 0
        else:
            best_val.next = v_last
            best_idx.next = i_last

    insts.append(keep)
    return insts


@block
def _argmax_link(valid, group, word, v_in, i_in, v_out, i_out, *, nb, q, classes):
    a = Signal(intbv(0, min=-1, max=128))

    @always_comb
    def link():
        a.next = word[12:ACT_FIELD]

    @always_comb
    def better():
        if valid and group * nb + q < classes and a > v_in:
            v_out.next = a
            i_out.next = group * nb + q
        else:
            v_out.next = v_in
            i_out.next = i_in

    return link, better


@block
def _tap(vec, out, *, lo: int):
    """``out = vec[lo + len(out) − 1 : lo]`` (one entry of a packed shift register)."""
    hi = lo + len(out)

    @always_comb
    def tap():
        out.next = vec[hi:lo]

    return tap


@block
def _pixel(on, tdata, beat, pix, *, m: int, k: int, pixels: int):
    """Pixel ``m`` of the beat as a word (its 7 top bits), zero beyond the image's pixels."""
    lo, hi = 8 * m + 1, 8 * m + 8

    @always_comb
    def pixel():
        if on and beat * k + m < pixels:
            pix.next = tdata[hi:lo]
        else:
            pix.next = 0

    return pixel


@block
def trainer(
    aclk,
    aresetn,
    s_axis_tdata,
    s_axis_tuser,
    s_axis_tvalid,
    s_axis_tready,
    s_axis_tlast,
    m_axis_tdata,
    m_axis_tuser,
    m_axis_tvalid,
    m_axis_tready,
    m_axis_tlast,
    frame_error,
    *,
    plan: TrainerPlan,
    activation: Activation = Activation.SIGMOID,
):
    """The trainer of ``plan`` (module docstring); synchronous active-low reset."""
    J, C, k = plan.n_junctions, plan.block, plan.per_beat
    D = 2 * J  # in-flight inputs: bit d entered d + 1 block cycles ago
    clk = aclk
    insts = []
    rst = ResetSignal(0, active=1, isasync=False)

    @always_comb
    def reset():
        rst.next = not aresetn

    insts.append(reset)
    c = uint_signal(C)
    advance, loader_done, out_free, block_start = (Signal(bool(0)) for _ in range(4))
    gate, load_gate = Signal(bool(0)), Signal(bool(0))  # a bubble enters / the loader waits
    # packed metadata shift registers: entry d = the input that entered d block cycles ago
    valid_vec = Signal(intbv(0)[D:])
    train_vec = Signal(intbv(0)[D:])
    label_vec = Signal(intbv(0)[4 * D :])
    k_vec = Signal(intbv(0)[4 * D :])
    new_valid, new_train = Signal(bool(0)), Signal(bool(0))
    new_label, new_k = Signal(intbv(0)[4:]), Signal(intbv(0)[4:])
    dsel = Signal(bool(0))
    out_valid = Signal(bool(0))
    out_class = Signal(intbv(0)[4:])
    best_idx = uint_signal(plan.classes)
    valid_J, train_J = Signal(bool(0)), Signal(bool(0))
    label_J = Signal(intbv(0)[4:])
    insts += [
        _tap(valid_vec, valid_J, lo=J - 1),
        _tap(train_vec, train_J, lo=J - 1),
        _tap(label_vec, label_J, lo=4 * (J - 1)),
    ]
    dumping = Signal(bool(0))
    schedule = Signal(intbv(0)[2:])  # the config command's
    threshold = Signal(intbv(0)[16:])
    # the speculating trainer: slots, the decision, the weight banks
    spec = plan.speculative
    slot_vec = Signal(intbv(0)[4 * D :])
    miss_vec = Signal(intbv(0)[D:])
    new_slot, free = uint_signal(SLOTS), uint_signal(SLOTS)
    hit_now, miss_now, toggle, wsel = (Signal(bool(0)) for _ in range(4))
    zeros_J = intbv(0)[J:]

    @always_comb
    def ready():
        out_free.next = not out_valid or (m_axis_tready and not dumping)
        advance.next = c == C - 1 and (loader_done or gate) and (out_free or not valid_J)
        block_start.next = c == 0

    @always_seq(clk.posedge, reset=rst)
    def control():
        if advance:
            c.next = 0
            if gate:
                valid_vec.next = concat(valid_vec[D - 1 : 0], False)
                train_vec.next = concat(train_vec[D - 1 : 0], False)
            else:
                valid_vec.next = concat(valid_vec[D - 1 : 0], new_valid)
                train_vec.next = concat(train_vec[D - 1 : 0], new_train)
            label_vec.next = concat(label_vec[4 * (D - 1) : 0], new_label)
            k_vec.next = concat(k_vec[4 * (D - 1) : 0], new_k)
            dsel.next = not dsel
        elif c < C - 1:
            c.next = c + 1
        if advance and valid_J:
            out_valid.next = 1
            out_class.next = best_idx
        elif out_valid and m_axis_tready and not dumping:
            out_valid.next = 0

    insts += [ready, control]
    if spec:
        insts.append(
            speculative_gate(
                valid_vec, train_vec, miss_vec, valid_J, train_J, hit_now, gate, load_gate,
                miss_now, toggle, J=J,
            )
        )  # fmt: skip

        @always_seq(clk.posedge, reset=rst)
        def decisions():
            if advance:
                slot_vec.next = concat(slot_vec[4 * (D - 1) : 0], new_slot)
                miss_vec.next = concat(miss_vec[D - 1 : J], miss_now, zeros_J)

        @always(clk.posedge)
        def read_bank():  # not reset: the weights stay where they are, like the memories
            if advance and toggle:
                wsel.next = not wsel

        insts += [decisions, read_bank]
    else:
        insts.append(_sequential_gate(schedule, valid_vec, train_vec, gate, load_gate, D=D))
    # junctions and their enables
    ports, spec_on, label_spec = [], [], []
    for i, jp in enumerate(plan.junctions):
        p = JunctionPorts(
            jp, i > 0, max(max(x.clocks, x.groups) for x in plan.junctions), 2 if spec else 1
        )
        ports.append(p)
        ff_on, up_on = Signal(bool(0)), Signal(bool(0))
        kk = Signal(intbv(0)[4:])
        d_up = 2 * J - i - 1
        insts.append(_tap(valid_vec, ff_on, lo=i))
        if spec:  # the speculative update at bit J−1−i, a miss's own at bit 2J−1−i
            d_spec = J - 1 - i
            s_v, s_t, s_on, m_on = (Signal(bool(0)) for _ in range(4))
            k_s, k_m, lab = Signal(intbv(0)[4:]), Signal(intbv(0)[4:]), Signal(intbv(0)[4:])
            insts += [
                _tap(valid_vec, s_v, lo=d_spec),
                _tap(train_vec, s_t, lo=d_spec),
                _and(s_v, s_t, s_on),
                _tap(miss_vec, m_on, lo=d_up),
                _tap(k_vec, k_s, lo=4 * d_spec),
                _tap(k_vec, k_m, lo=4 * d_up),
                _tap(label_vec, lab, lo=4 * d_spec),
                _either(s_on, m_on, k_s, k_m, up_on, kk),
                bank_select(wsel, p.rbank, p.wbank),
            ]
            spec_on.append(s_on)
            label_spec.append(lab)
        else:
            up_on_v, up_on_t = Signal(bool(0)), Signal(bool(0))
            insts += [
                _tap(valid_vec, up_on_v, lo=d_up),
                _tap(train_vec, up_on_t, lo=d_up),
                _tap(k_vec, kk, lo=4 * d_up),
                _and(up_on_v, up_on_t, up_on),
            ]
        insts.append(
            junction(clk, c, ff_on, up_on, kk, p, jp=jp, hidden_left=i > 0, activation=activation)
        )
    if spec:  # the label store; the loader's free slot
        store_on, store_clear = Signal(bool(0)), Signal(bool(0))
        stored_bits = Signal(intbv(0)[LABELS:])
        label_slots = [uint_signal(SLOTS) for _ in range(LABELS)]
        up_slots = [uint_signal(SLOTS) for _ in range(J)]
        slot_J = uint_signal(SLOTS)
        busy_on = [Signal(bool(0)) for _ in range(J)]
        busy_slot = [uint_signal(SLOTS) for _ in range(J)]
        for d in range(J):
            insts += [_tap(valid_vec, busy_on[d], lo=d), _tap(slot_vec, busy_slot[d], lo=4 * d)]
        insts += [
            _tap(slot_vec, slot_J, lo=4 * (J - 1)),
            store_write(advance, valid_J, train_J, store_on),
            label_store(
                clk, rst, store_on, label_J, slot_J, store_clear,
                list(zip(label_spec, up_slots)), stored_bits, label_slots,
            ),
            free_slot(stored_bits, label_slots, busy_on, busy_slot, free),
        ]  # fmt: skip
    # layer memories
    ptrs = []
    for h, jp in enumerate(plan.junctions):
        n = plan.collections[h]
        ptr, ff_coll, up_coll = uint_signal(n), uint_signal(n), uint_signal(n)
        ptrs.append(ptr)
        if spec:
            if h > 0:
                insts.append(_tap(slot_vec, ptr, lo=4 * (h - 1)))  # FF of junction h writes
            own = uint_signal(n)
            insts += [
                _tap(slot_vec, ff_coll, lo=4 * h),
                _tap(slot_vec, own, lo=4 * (2 * J - 1 - h)),
                select(spec_on[h], up_slots[h], own, up_coll),
            ]
        else:
            insts.append(_rotating(clk, rst, advance, ptr, ff_coll, up_coll, n=n))
        bits = _row_bits(jp.junction.rows)
        depth_bits = index_bits(n) + bits
        z = jp.z
        we = [Signal(bool(0)) for _ in range(z)]
        width = 7 if h == 0 else 12
        wdata = [Signal(intbv(0)[width:]) for _ in range(z)]
        waddr = Signal(intbv(0)[depth_bits:])
        p = ports[h]
        for g in range(z):
            insts.append(
                _layer_bank(
                    clk,
                    we[g],
                    waddr,
                    wdata[g],
                    p.a_ff[g],
                    p.a_up[g],
                    ff_coll,
                    up_coll,
                    p.row[g],
                    bits=bits,
                )
            )
        if h == 0:
            layer0 = (we, waddr, wdata, ptr, bits)
        else:
            left = ports[h - 1]
            insts.append(
                _layer_writer(
                    left.out_valid,
                    left.out_group,
                    left.out_word,
                    ptr,
                    we,
                    waddr,
                    wdata,
                    z=z,
                    count=plan.junctions[h - 1].groups,
                    bits=bits,
                )
            )
            # the deltas of layer h: accumulated by junction h+1 (index h), read by index h−1
            cons_row = uint_signal(jp.junction.rows)
            cons_data = [word_signal() for _ in range(z)]
            for g in range(z):
                insts.append(
                    _delta_bank(
                        clk,
                        dsel,
                        p.dl_raddr[g],
                        p.dl_rdata[g],
                        p.dl_we,
                        p.dl_waddr[g],
                        p.dl_wdata[g],
                        cons_row,
                        cons_data[g],
                    )
                )
            nb = plan.junctions[h - 1].ports
            key1 = uint_signal(z // nb)
            insts.append(_delta_reader(clk, left.group0, cons_row, key1, nb=nb, z=z))
            for q in range(nb):
                insts.append(dump_select(key1, cons_data[q::nb], left.delta[q]))
    last, lp = ports[-1], plan.junctions[-1]
    if spec:
        lab0, labJ1 = Signal(intbv(0)[4:]), Signal(intbv(0)[4:])
        rlabel = Signal(intbv(0)[4:])
        delta_we = Signal(bool(0))
        insts += [
            _tap(label_vec, lab0, lo=0),
            _tap(label_vec, labJ1, lo=4 * J),
            select(spec_on[J - 1], lab0, labJ1, rlabel),
            _and(last.out_valid, train_J, delta_we),
        ]
        news = [Signal(intbv(0)[7:]) for _ in range(lp.ports)]
        olds = [Signal(intbv(0)[7:]) for _ in range(lp.ports)]
        cmp_on = Signal(bool(0))
        cmp_group = uint_signal(lp.groups)
        dist = uint_signal(plan.classes * 127 + 1)
        for q in range(lp.ports):
            insts += [
                label_deltas(
                    clk, delta_we, label_J, last.out_group, last.out_word[q], rlabel,
                    last.group0, last.delta[q], nb=lp.ports, q=q, groups=lp.groups,
                ),
                output_store(
                    clk, delta_we, label_J, last.out_group, last.out_word[q], news[q], olds[q],
                    groups=lp.groups,
                ),
            ]  # fmt: skip
        insts += [
            delay_bits(clk, rst, delta_we, cmp_on, 1),
            delay_line(clk, last.out_group, cmp_group, 1),
            distance_sum(
                clk, block_start, cmp_on, cmp_group, news, olds, dist,
                nb=lp.ports, classes=plan.classes, groups=lp.groups,
            ),
            decide(schedule, stored_bits, label_J, dist, threshold, hit_now),
        ]  # fmt: skip
    else:
        for q in range(lp.ports):
            insts.append(
                _output_deltas(
                    clk,
                    dsel,
                    last.out_valid,
                    last.out_group,
                    last.out_word[q],
                    label_J,
                    last.group0,
                    last.delta[q],
                    nb=lp.ports,
                    q=q,
                )
            )
    insts.append(
        _argmax(
            clk,
            block_start,
            last.out_valid,
            last.out_group,
            last.out_word,
            best_idx,
            nb=lp.ports,
            classes=plan.classes,
        )
    )
    # the loader: pixels into layer 0, commands, dump and load
    state = uint_signal(7)
    beat = uint_signal(plan.load_clocks + 1)
    flushing = Signal(bool(0))
    cmd = uint_signal(8)
    cfg = Signal(intbv(0)[18:])
    cfg_bits = min(18, 8 * k)  # narrower beats carry the threshold's low bits only
    load_on, pix_on = Signal(bool(0)), Signal(bool(0))
    accept = Signal(bool(0))
    pix = [Signal(intbv(0)[7:]) for _ in range(k)]
    we0, waddr0, wdata0, ptr0, bits0 = layer0
    if spec:
        insts += [
            _slot0(state, free, new_slot, ptr0),
            _flush_done(state, flushing, valid_vec, out_valid, store_clear),
        ]
    for m in range(k):
        insts.append(_pixel(pix_on, s_axis_tdata, beat, pix[m], m=m, k=k, pixels=plan.pixels))
    insts.append(
        _layer_writer(
            load_on,
            beat,
            pix,
            ptr0,
            we0,
            waddr0,
            wdata0,
            z=plan.junctions[0].z,
            count=plan.load_clocks,
            bits=bits0,
        )
    )
    mode = Signal(intbv(0)[4:])
    inflight = Signal(bool(0))
    # dump / load counters over segments (junction weights, junction biases, …)
    seg_banks = tuple(x for jp in plan.junctions for x in (jp.z, jp.ports))
    seg_depth = tuple(x for jp in plan.junctions for x in (jp.clocks, jp.groups))
    seg_offset = tuple(sum(seg_banks[:i]) for i in range(len(seg_banks)))
    seg_banks_m1 = tuple(x - 1 for x in seg_banks)
    seg_depth_m1 = tuple(x - 1 for x in seg_depth)
    S = len(seg_banks)
    seg = uint_signal(S)
    addr = uint_signal(max(seg_depth))
    bank = uint_signal(max(seg_banks))
    banks_m1 = uint_signal(max(seg_banks))
    depth_m1 = uint_signal(max(seg_depth))
    offset = uint_signal(sum(seg_banks))
    key = uint_signal(sum(seg_banks))
    is_last = Signal(bool(0))
    dump_rd = word_signal()
    dump_val = Signal(intbv(0, min=-(1 << 15), max=1 << 15))
    dump_valid, dump_last, have, load_write = (Signal(bool(0)) for _ in range(4))
    wpb = 8 * k // 16
    wi = uint_signal(wpb)
    lbeat = Signal(intbv(0)[8 * k :])
    lword = word_signal()
    beats_seen = uint_signal(plan.words // wpb + 2)
    last_beat = (plan.words - 1) // wpb
    cands = [x for p in ports for x in (*p.w_rdata, *p.b_rdata)]
    insts.append(dump_select(key, cands, dump_rd))
    beats, load_clocks = plan.beats, plan.load_clocks

    @always_comb
    def segment():
        banks_m1.next = seg_banks_m1[seg]
        depth_m1.next = seg_depth_m1[seg]
        offset.next = seg_offset[seg]

    @always_comb
    def loader_comb():
        mode.next = s_axis_tuser[4:0]
        inflight.next = valid_vec != 0
        key.next = offset + bank
        is_last.next = seg == S - 1 and addr == depth_m1 and bank == banks_m1
        lword.next = lbeat[10:0].signed()
        dumping.next = state == DUMP_RD or state == DUMP_OUT
        load_write.next = state == LOADW and have
        loader_done.next = state == DONE
        if state == IDLE:
            accept.next = s_axis_tvalid and not flushing and not load_gate
        elif state == PIX:
            accept.next = s_axis_tvalid
        elif state == LOADW:
            accept.next = s_axis_tvalid and not have
        else:
            accept.next = 0

    @always_comb
    def loader_ports():
        if state == IDLE:
            s_axis_tready.next = not flushing and not load_gate
            pix_on.next = s_axis_tvalid and not flushing and not load_gate and s_axis_tuser[4:0] < 2
        elif state == PIX:
            s_axis_tready.next = 1
            pix_on.next = s_axis_tvalid
        elif state == LOADW:
            s_axis_tready.next = not have
            pix_on.next = 0
        else:
            s_axis_tready.next = 0
            pix_on.next = 0
        load_on.next = pix_on or state == ZERO

    @always_seq(clk.posedge, reset=rst)
    def loader():
        if advance and not gate:
            new_valid.next = 0
            new_train.next = 0
        if state == IDLE:
            if flushing:
                if inflight:
                    state.next = DONE
                elif not out_valid:
                    flushing.next = 0
                    if cmd == 5:
                        schedule.next = cfg[18:16]
                        threshold.next = cfg[16:0]
                    seg.next = 0
                    addr.next = 0
                    bank.next = 0
                    beats_seen.next = 0
                    if cmd == 3:
                        state.next = DUMP_RD
                    elif cmd == 4:
                        state.next = LOADW
            elif accept:
                if mode < 2:
                    new_valid.next = 1
                    new_train.next = mode == 0
                    new_label.next = s_axis_tuser[8:4]
                    new_k.next = s_axis_tuser[12:8]
                    new_slot.next = free
                    if s_axis_tlast != (beats == 1):
                        frame_error.next = 1
                    beat.next = 1
                    if beats > 1:
                        state.next = PIX
                    elif load_clocks > 1:
                        state.next = ZERO
                    else:
                        state.next = DONE
                else:  # a one-beat command (load: its header, the words follow)
                    if s_axis_tlast != (mode != 4):
                        frame_error.next = 1
                    flushing.next = 1
                    cmd.next = mode
                    cfg.next = s_axis_tdata[cfg_bits:0]
        elif state == PIX:
            if accept:
                if s_axis_tlast != (beat == beats - 1):
                    frame_error.next = 1
                beat.next = beat + 1
                if beat == beats - 1:
                    if load_clocks > beats:
                        state.next = ZERO
                    else:
                        state.next = DONE
        elif state == ZERO:
            beat.next = beat + 1
            if beat == load_clocks - 1:
                state.next = DONE
        elif state == DONE:
            if advance and not gate:
                state.next = IDLE
                beat.next = 0
        elif state == DUMP_RD:
            state.next = DUMP_OUT
        elif state == DUMP_OUT:
            if not dump_valid:
                dump_val.next = dump_rd
                dump_valid.next = 1
                dump_last.next = is_last
            elif m_axis_tready:
                dump_valid.next = 0
                if is_last:
                    state.next = IDLE
                else:
                    state.next = DUMP_RD
                    if bank == banks_m1:
                        bank.next = 0
                        if addr == depth_m1:
                            addr.next = 0
                            seg.next = seg + 1
                        else:
                            addr.next = addr + 1
                    else:
                        bank.next = bank + 1
        elif state == LOADW:
            if accept:
                lbeat.next = s_axis_tdata
                have.next = 1
                wi.next = 0
                beats_seen.next = beats_seen + 1
                if s_axis_tlast != (beats_seen == last_beat):
                    frame_error.next = 1
            elif have:
                lbeat.next = lbeat >> 16
                if is_last:
                    state.next = IDLE
                    have.next = 0
                else:
                    if wi == wpb - 1:
                        have.next = 0
                    else:
                        wi.next = wi + 1
                    if bank == banks_m1:
                        bank.next = 0
                        if addr == depth_m1:
                            addr.next = 0
                            seg.next = seg + 1
                        else:
                            addr.next = addr + 1
                    else:
                        bank.next = bank + 1

    insts += [segment, loader_comb, loader_ports, loader]
    # dump and load reach every bank through the junctions' memory ports
    mem_on = Signal(bool(0))

    @always_comb
    def memory_mode():
        mem_on.next = state == DUMP_RD or state == DUMP_OUT or state == LOADW

    insts.append(memory_mode)
    for i, p in enumerate(ports):
        insts += [wire_to(mem_on, p.mem_on), wire_to(addr, p.mem_addr), wire_to(lword, p.mem_wdata)]
        for g, we in enumerate(p.mem_we_w):
            insts.append(_bank_write(load_write, seg, bank, we, seg_index=2 * i, index=g))
        for q, we in enumerate(p.mem_we_b):
            insts.append(_bank_write(load_write, seg, bank, we, seg_index=2 * i + 1, index=q))

    @always_comb
    def m_axis_drive():
        if dumping:
            m_axis_tvalid.next = dump_valid
            m_axis_tdata.next = dump_val[16:]
            m_axis_tuser.next = 1
            m_axis_tlast.next = dump_last
        else:
            m_axis_tvalid.next = out_valid
            m_axis_tdata.next = out_class
            m_axis_tuser.next = 0
            m_axis_tlast.next = 1

    insts.append(m_axis_drive)
    return insts


@block
def _and(a, b, y):
    @always_comb
    def both():
        y.next = a and b

    return both


@block
def _bank_write(on, seg, bank, we, *, seg_index: int, index: int):
    @always_comb
    def decode():
        we.next = on and seg == seg_index and bank == index

    return decode


@block
def _either(a_on, b_on, a_k, b_k, on, k):
    """The update of whichever window is open (never both): its enable and η exponent."""

    @always_comb
    def pick():
        on.next = a_on or b_on
        if a_on:
            k.next = a_k
        else:
            k.next = b_k

    return pick


@block
def _sequential_gate(schedule, valid_vec, train_vec, gate, load_gate, *, D: int):
    """The pipelined trainer's sequential schedule: while a training input is at bits 0 …
    2J − 2, no input is loaded and bubbles enter (its last update runs at bit 2J − 1)."""
    mask = (1 << (D - 1)) - 1

    @always_comb
    def hold():
        busy = (valid_vec & train_vec & mask) != 0
        gate.next = schedule != 0 and busy
        load_gate.next = schedule != 0 and busy

    return hold


@block
def _slot0(state, free, new_slot, ptr0):
    """The loader's slot: the free one on a packet's first beat, then the one it took."""

    @always_comb
    def choose():
        if state == IDLE:
            ptr0.next = free
        else:
            ptr0.next = new_slot

    return choose


@block
def _flush_done(state, flushing, valid_vec, out_valid, done):
    """The clock a flush (or dump, load, config) finds no input in flight."""

    @always_comb
    def finished():
        done.next = state == IDLE and flushing and valid_vec == 0 and not out_valid

    return finished

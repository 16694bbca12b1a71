"""One junction of the trainer: its weight and bias banks and its three passes, slot by slot.

Every clock ``c < clocks`` of a block cycle the junction reads weight row ``c`` of its ``z``
banks once, for all three passes (docs/mlp-trainer.md):

* stage 0 (clock c): addresses — weight row c, each lane's left-neuron row (a ROM), the right
  neurons' bias and delta;
* stage 1: feed-forward product ``a·w``; back-propagation ``δ·σ′``; the bias step
  ``Δb = rs(sat(−δ), k)``;
* stage 2: a neuron group's sum (plus its bias, accumulated over ``per`` clocks when z < fi)
  → its pre-activation; update ``w ← sat(w + Δb·a)`` written back to row c, ``b ← sat(b +
  Δb)``; back-propagation ``·w`` and the read of the left delta's old value;
* stage 3: the activation table; the left delta ``sat(old + term)`` (``term`` on a left
  neuron's first slot) written back, the previous clock's write forwarded.

So every pass of a block cycle reads the weights as they stood at its start, and the last slot
finishes at clock ``clocks + 2`` of a block of ``clocks + 4``.
"""

from __future__ import annotations

from myhdl import Signal, always, always_comb, block, intbv

from codesign.hdl.ram import sdp_ram
from codesign.hdl.signals import pick, saturate, select, signed_signal, uint_signal, wire_to
from codesign.mlp.fixedpoint import WORD
from codesign.mlp.hdl.arith import (
    ACT_FIELD,
    activation_rom,
    add_word,
    adder_tree,
    bias_step,
    mul_word,
    mul_word_lut,
    word_signal,
)
from codesign.mlp.hdl.plan import JunctionPlan

__all__ = ["JunctionPorts", "junction", "dump_select"]


class JunctionPorts:
    """The signals a junction shares with the rest of the trainer."""

    def __init__(self, jp: JunctionPlan, hidden_left: bool, mem_depth: int, banks: int = 1):
        z, ports = jp.z, jp.ports
        # two banks of weights and biases (the speculating trainer): passes read bank
        # ``rbank``, updates write bank ``wbank``, dump and load use ``rbank``
        self.banks = banks
        self.rbank = Signal(bool(0))
        self.wbank = Signal(bool(0))
        self.row = [uint_signal(jp.junction.rows) for _ in range(z)]  # stage-0 left rows
        left_bits = 12 if hidden_left else 7
        self.a_ff = [Signal(intbv(0)[left_bits:]) for _ in range(z)]  # stage 1 (FF copy)
        self.a_up = [Signal(intbv(0)[left_bits:]) for _ in range(z)]  # stage 1 (UP copy)
        self.group0 = uint_signal(jp.groups)  # stage 0: the neuron group being read
        self.delta = [word_signal() for _ in range(ports)]  # stage 1: right deltas
        self.out_valid = Signal(bool(0))  # stage 3: a group's activations
        self.out_group = uint_signal(jp.groups)
        self.out_word = [Signal(intbv(0)[12:]) for _ in range(ports)]  # σ·32 + σ′
        # back-propagation into the left layer's deltas (junctions 2…J)
        self.dl_raddr = [uint_signal(jp.junction.rows) for _ in range(z)]
        self.dl_rdata = [word_signal() for _ in range(z)]
        self.dl_we = Signal(bool(0))
        self.dl_waddr = [uint_signal(jp.junction.rows) for _ in range(z)]
        self.dl_wdata = [word_signal() for _ in range(z)]
        # dump and load: one word of one bank at a time
        self.mem_on = Signal(bool(0))
        self.mem_addr = uint_signal(mem_depth)  # the deepest bank of any junction
        self.mem_we_w = [Signal(bool(0)) for _ in range(z)]
        self.mem_we_b = [Signal(bool(0)) for _ in range(ports)]
        self.mem_wdata = word_signal()
        self.w_rdata = [word_signal() for _ in range(z)]
        self.b_rdata = [word_signal() for _ in range(ports)]


@block
def _stage0(c, slot, group, first_c, last_c, row, first, *, jp: JunctionPlan):
    """Which slot clock ``c`` is, its neuron group, and every lane's left row and first flag."""
    clocks, per = jp.clocks, jp.per
    insts = []

    @always_comb
    def where():
        slot.next = c < clocks
        if c < clocks:
            group.next = c // per
            first_c.next = c % per == 0
            last_c.next = c % per == per - 1
        else:
            group.next = 0
            first_c.next = 0
            last_c.next = 0

    insts.append(where)
    for g in range(jp.z):
        insts.append(_lane_rom(c, row[g], first[g], rows=jp.rows[g], firsts=jp.first[g]))
    return insts


@block
def _lane_rom(c, row, first, *, rows: tuple, firsts: tuple):
    """A lane's left-neuron row at clock ``c`` (and, unless ``first`` is None, whether that
    slot is the neuron's first)."""
    clocks = len(rows)
    flags = tuple(int(f) for f in firsts)

    @always_comb
    def lookup_row():
        if c < clocks:
            row.next = rows[c]
        else:
            row.next = 0

    if first is None:
        return lookup_row

    @always_comb
    def lookup_first():
        if c < clocks:
            first.next = flags[c]
        else:
            first.next = 0

    return lookup_row, lookup_first


@block
def _register(clk, d, q):
    @always(clk.posedge)
    def register():
        q.next = d

    return register


@block
def _fields(word, act, der, *, hidden: bool):
    """A left-layer memory word as a (and a′ unless ``der`` is None): a hidden layer holds
    σ·32 + σ′, layer 0 pixels."""
    if not hidden:

        @always_comb
        def split():
            act.next = word

    elif der is None:

        @always_comb
        def split():
            act.next = word[12:ACT_FIELD]

    else:

        @always_comb
        def split():
            act.next = word[12:ACT_FIELD]
            der.next = word[ACT_FIELD:]

    return split


@block
def _group_sum(clk, tree, bias, first_c, acc_on, pre, *, acc_range):
    """``total = (first clock of the group ? bias : acc) + tree``, kept in ``acc``; ``pre``
    the saturated total (combinational: the activation table registers it)."""
    total = signed_signal(*acc_range)
    acc = signed_signal(*acc_range)

    @always_comb
    def add():
        if first_c:
            total.next = bias + tree
        else:
            total.next = acc + tree

    @always(clk.posedge)
    def keep():
        if acc_on:
            acc.next = total

    return add, keep, saturate(total, pre, WORD)


@block
def _delta_rmw(clk, on, first, row, term, rdata, we, waddr, wdata):
    """The left delta's stage 3: ``first ? term : sat(old + term)``, ``old`` the RAM's word or
    the previous clock's write to the same row (forwarded)."""
    last_row = uint_signal(row.val.max)
    last_val = word_signal()
    last_on = Signal(bool(0))
    old = word_signal()
    summed = word_signal()
    new = word_signal()

    @always_comb
    def forward():
        if last_on and last_row == row:
            old.next = last_val
        else:
            old.next = rdata

    @always_comb
    def choose():
        if first:
            new.next = term
        else:
            new.next = summed

    @always_comb
    def write():
        waddr.next = row
        wdata.next = new

    insts = [write]
    if we is not None:  # the lanes write together: lane 0 drives the shared enable

        @always_comb
        def enable():
            we.next = on

        insts.append(enable)

    @always(clk.posedge)
    def remember():
        last_on.next = on
        last_row.next = row
        last_val.next = new

    return forward, add_word(old, term, summed), choose, insts, remember


@block
def junction(
    clk, c, ff_on, up_on, k, p: JunctionPorts, *, jp: JunctionPlan, hidden_left: bool, activation
):
    """The junction's banks and passes (module docstring).  ``ff_on`` / ``up_on``: this block
    cycle runs the forward pass / the back-propagation and update; ``k`` the update's η
    exponent."""
    z, ports, lanes = jp.z, jp.ports, jp.lanes_per_port
    insts = []
    # stage 0
    slot0, first_c0, last_c0 = (Signal(bool(0)) for _ in range(3))
    first0 = [Signal(bool(0)) if hidden_left else None for _ in range(z)]
    insts.append(_stage0(c, slot0, p.group0, first_c0, last_c0, p.row, first0, jp=jp))
    c_bits = uint_signal(jp.clocks)
    w_ra = uint_signal(jp.clocks)
    b_ra = uint_signal(jp.groups)

    @always_comb
    def addresses():
        if slot0:
            c_bits.next = c % jp.clocks
        else:
            c_bits.next = 0
        if p.mem_on:
            w_ra.next = p.mem_addr % jp.clocks
            b_ra.next = p.mem_addr % jp.groups
        else:
            w_ra.next = c_bits
            b_ra.next = p.group0

    insts.append(addresses)
    if p.banks == 2:
        w_raddr, b_raddr = uint_signal(2 * jp.clocks), uint_signal(2 * jp.groups)
        insts.append(_banked(p.rbank, w_ra, w_raddr, size=jp.clocks))
        insts.append(_banked(p.rbank, b_ra, b_raddr, size=jp.groups))
    else:
        w_raddr, b_raddr = w_ra, b_ra
    # stage 1 registers
    ff1, up1, first_c1, last_c1 = (Signal(bool(0)) for _ in range(4))
    c1 = uint_signal(jp.clocks)
    group1 = uint_signal(jp.groups)
    row1 = [uint_signal(jp.junction.rows) for _ in range(z)]
    first1 = [Signal(bool(0)) for _ in range(z)]

    @always(clk.posedge)
    def stage1():
        ff1.next = slot0 and ff_on
        up1.next = slot0 and up_on
        first_c1.next = first_c0
        last_c1.next = last_c0
        c1.next = c_bits
        group1.next = p.group0

    insts.append(stage1)
    if hidden_left:
        for g in range(z):
            insts += [_register(clk, p.row[g], row1[g]), _register(clk, first0[g], first1[g])]
    # weight and bias banks (written back by the update at stage 2, or by a load)
    w_we = [Signal(bool(0)) for _ in range(z)]
    w_wa = uint_signal(jp.clocks)
    w_wdata = [word_signal() for _ in range(z)]
    b_we = [Signal(bool(0)) for _ in range(ports)]
    b_wa = uint_signal(jp.groups)
    if p.banks == 2:
        w_waddr, b_waddr = uint_signal(2 * jp.clocks), uint_signal(2 * jp.groups)
        write_bank = Signal(bool(0))
        insts += [
            select(p.mem_on, p.rbank, p.wbank, write_bank),  # a load writes the read bank
            _banked(write_bank, w_wa, w_waddr, size=jp.clocks),
            _banked(write_bank, b_wa, b_waddr, size=jp.groups),
        ]
    else:
        w_waddr, b_waddr = w_wa, b_wa
    b_wdata = [word_signal() for _ in range(ports)]
    for g in range(z):
        insts.append(sdp_ram(clk, w_we[g], w_waddr, w_wdata[g], w_raddr, p.w_rdata[g]))
    for q in range(ports):
        insts.append(sdp_ram(clk, b_we[q], b_waddr, b_wdata[q], b_raddr, p.b_rdata[q]))
    # stage 1 → 2: products, δ·σ′, the bias step
    hidden = hidden_left
    act_bits = 7
    a_ff = [Signal(intbv(0)[act_bits:]) for _ in range(z)]
    a_up = [Signal(intbv(0)[act_bits:]) for _ in range(z)]
    der_up = [Signal(intbv(0)[ACT_FIELD:]) if hidden_left else None for _ in range(z)]
    prod = [word_signal() for _ in range(z)]
    prod2 = [word_signal() for _ in range(z)]
    dd = [word_signal() for _ in range(z)]
    dd2 = [word_signal() for _ in range(z)]
    w2 = [word_signal() for _ in range(z)]
    a2 = [Signal(intbv(0)[act_bits:]) for _ in range(z)]
    db = [word_signal() for _ in range(ports)]
    db2 = [word_signal() for _ in range(ports)]
    b2 = [word_signal() for _ in range(ports)]
    for g in range(z):
        q = g // lanes
        insts += [
            _fields(p.a_ff[g], a_ff[g], None, hidden=hidden),
            _fields(p.a_up[g], a_up[g], der_up[g], hidden=hidden),
            mul_word(a_ff[g], p.w_rdata[g], prod[g]),
            _register(clk, prod[g], prod2[g]),
            _register(clk, p.w_rdata[g], w2[g]),
            _register(clk, a_up[g], a2[g]),
        ]
        if hidden:
            insts += [mul_word(p.delta[q], der_up[g], dd[g]), _register(clk, dd[g], dd2[g])]
    for q in range(ports):
        insts += [
            bias_step(p.delta[q], k, db[q]),
            _register(clk, db[q], db2[q]),
            _register(clk, p.b_rdata[q], b2[q]),
        ]
    # stage 2
    ff2, up2, first_c2, last_c2 = (Signal(bool(0)) for _ in range(4))
    c2 = uint_signal(jp.clocks)
    group2 = uint_signal(jp.groups)
    row2 = [uint_signal(jp.junction.rows) for _ in range(z)]
    first2 = [Signal(bool(0)) for _ in range(z)]

    @always(clk.posedge)
    def stage2():
        ff2.next = ff1
        up2.next = up1
        first_c2.next = first_c1
        last_c2.next = last_c1
        c2.next = c1
        group2.next = group1

    insts.append(stage2)
    if hidden_left:  # the rows travel on for back-propagation
        for g in range(z):
            insts += [_register(clk, row1[g], row2[g]), _register(clk, first1[g], first2[g])]
    # feed-forward: the group's sum → pre-activation → the table (registered: stage 3)
    pre2 = [word_signal() for _ in range(ports)]
    acc_range = (jp.per * lanes * WORD.min + WORD.min, jp.per * lanes * WORD.max + WORD.max)
    for q in range(ports):
        tree = signed_signal(lanes * WORD.min, lanes * WORD.max)
        insts.append(adder_tree(prod2[q * lanes : (q + 1) * lanes], tree))
        insts.append(_group_sum(clk, tree, b2[q], first_c2, ff2, pre2[q], acc_range=acc_range))
    # update: weights and biases written back
    dw = [word_signal() for _ in range(z)]
    w_new = [word_signal() for _ in range(z)]
    b_new = [word_signal() for _ in range(ports)]
    for g in range(z):
        q = g // lanes
        insts += [mul_word_lut(a2[g], db2[q], dw[g]), add_word(w2[g], dw[g], w_new[g])]
    for q in range(ports):
        insts.append(add_word(b2[q], db2[q], b_new[q]))

    @always_comb
    def write_addresses():
        if p.mem_on:
            w_wa.next = p.mem_addr % jp.clocks
            b_wa.next = p.mem_addr % jp.groups
        else:
            w_wa.next = c2
            b_wa.next = group2

    insts.append(write_addresses)
    for g in range(z):
        insts.append(
            _write_port(up2, p.mem_on, p.mem_we_w[g], w_new[g], p.mem_wdata, w_we[g], w_wdata[g])
        )
    b_on = Signal(bool(0))

    @always_comb
    def bias_on():
        b_on.next = up2 and first_c2

    insts.append(bias_on)
    for q in range(ports):
        insts.append(
            _write_port(b_on, p.mem_on, p.mem_we_b[q], b_new[q], p.mem_wdata, b_we[q], b_wdata[q])
        )
    # stage 3: the activation table; the group leaves the junction
    ff3 = Signal(bool(0))
    group3 = uint_signal(jp.groups)

    @always(clk.posedge)
    def stage3():
        ff3.next = ff2 and last_c2
        group3.next = group2

    @always_comb
    def out():
        p.out_valid.next = ff3
        p.out_group.next = group3

    insts += [stage3, out]
    for q in range(ports):
        insts.append(activation_rom(clk, pre2[q], p.out_word[q], activation))
    # back-propagation into the left deltas (hidden left layer only)
    if hidden:
        term = [word_signal() for _ in range(z)]
        term3 = [word_signal() for _ in range(z)]
        row3 = [uint_signal(jp.junction.rows) for _ in range(z)]
        first3 = [Signal(bool(0)) for _ in range(z)]
        bp3 = Signal(bool(0))

        @always(clk.posedge)
        def bp_stage3():
            bp3.next = up2

        insts.append(bp_stage3)
        for g in range(z):
            insts += [
                mul_word(dd2[g], w2[g], term[g]),
                _register(clk, term[g], term3[g]),
                _register(clk, row2[g], row3[g]),
                _register(clk, first2[g], first3[g]),
                wire_to(row2[g], p.dl_raddr[g]),
            ]
            insts.append(
                _delta_rmw(
                    clk,
                    bp3,
                    first3[g],
                    row3[g],
                    term3[g],
                    p.dl_rdata[g],
                    p.dl_we if g == 0 else None,
                    p.dl_waddr[g],
                    p.dl_wdata[g],
                )
            )
    return insts


@block
def _banked(bank, addr, out, *, size: int):
    """``out = addr + (size if bank else 0)``: the address in a two-bank memory."""

    @always_comb
    def offset():
        if bank:
            out.next = addr + size
        else:
            out.next = addr

    return offset


@block
def _write_port(on, mem_on, mem_we, new, mem_wdata, we, wdata):
    """A bank's write port: the update's write-back, or a load's word."""

    @always_comb
    def port():
        if mem_on:
            we.next = mem_we
            wdata.next = mem_wdata
        else:
            we.next = on
            wdata.next = new

    return port


@block
def dump_select(key, cands, out):
    """``out = cands[key]`` as a chain of :func:`pick` links (key out of range: cands[0])."""
    if len(cands) == 1:
        return wire_to(cands[0], out)
    links, prev = [], cands[0]
    for i in range(1, len(cands)):
        nxt = word_signal() if i < len(cands) - 1 else out
        links.append(pick(prev, cands[i], key, nxt, index=i))
        prev = nxt
    return links

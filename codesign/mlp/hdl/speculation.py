"""The speculating trainer's own blocks (docs/mlp-trainer.md, speculation): the label store,
the free-slot finder, the output comparator and the per-label output deltas.

Every layer's activations live in :data:`~codesign.mlp.hdl.plan.SLOTS` slots.  The label store
maps each label to the slot of the last training input of that label (``slot_of``) and says
whether there is one (``stored``); the input being loaded takes the lowest slot that no label
holds and no input before its decision occupies.
"""

from __future__ import annotations

from myhdl import Signal, always, always_comb, always_seq, block, intbv

from codesign.hdl.ram import sdp_ram
from codesign.hdl.signals import uint_signal
from codesign.mlp.hdl.arith import ACT_FIELD, word_signal
from codesign.mlp.hdl.plan import LABEL_SPACE, LABELS, SLOTS

__all__ = [
    "bank_select",
    "decide",
    "distance_sum",
    "free_slot",
    "label_deltas",
    "label_store",
    "output_delta",
    "output_store",
    "speculative_gate",
    "store_write",
]


@block
def label_store(clk, rst, write, label, slot, clear, lookups, stored_bits, slots):
    """``slots[c]`` / ``stored_bits[c]``: label ``c``'s slot and whether it has one; on
    ``write``, label ``label`` takes ``slot``; ``clear`` forgets every label.  ``lookups``:
    (label in, slot out) pairs read combinationally."""
    table = [uint_signal(SLOTS) for _ in range(LABEL_SPACE)]
    stored = Signal(intbv(0)[LABEL_SPACE:])

    @always(clk.posedge)
    def remember():
        if write:
            table[label].next = slot

    @always_seq(clk.posedge, reset=rst)
    def valid():
        if clear:
            stored.next = 0
        elif write and label < LABELS:
            stored.next[label] = 1

    @always_comb
    def expose():
        for c in range(LABELS):
            slots[c].next = table[c]
        stored_bits.next = stored[LABELS:]

    insts = [remember, valid, expose]
    for lab, out in lookups:
        insts.append(_lookup(table, lab, out))
    return insts


@block
def _lookup(table, label, out):
    @always_comb
    def read():
        out.next = table[label]

    return read


@block
def free_slot(stored_bits, slots, busy_on, busy_slot, free):
    """The lowest slot held by no stored label and no busy input (``busy_on[i]`` /
    ``busy_slot[i]``: the inputs before their decision)."""
    used = Signal(intbv(0)[SLOTS:])
    n_busy = len(busy_on)

    @always_comb
    def mark():
        u = intbv(0)[SLOTS:]
        for s in range(SLOTS):
            for c in range(LABELS):
                if stored_bits[c] and slots[c] == s:
                    u[s] = 1
            for i in range(n_busy):
                if busy_on[i] and busy_slot[i] == s:
                    u[s] = 1
        used.next = u

    @always_comb
    def lowest():
        f = 0
        found = False
        for s in range(SLOTS):
            if not found and not used[s]:
                f = s
                found = True
        free.next = f

    return mark, lowest


@block
def output_store(clk, on, label, group, word, new, old, *, groups: int):
    """Port ``q`` of the output layer's per-label store (σ of the last training input of each
    label): read at (``label``, ``group``) while ``on``; one clock later ``old`` is the stored σ
    and ``new`` the input's, written back at the same address after the read."""
    depth = LABEL_SPACE * groups
    raddr, waddr = uint_signal(depth), uint_signal(depth)
    we = Signal(bool(0))
    sigma = Signal(intbv(0)[7:])

    @always_comb
    def address():
        raddr.next = label * groups + group
        sigma.next = word[12:ACT_FIELD]

    @always(clk.posedge)
    def delay():
        we.next = on
        waddr.next = label * groups + group
        new.next = sigma

    return address, delay, sdp_ram(clk, we, waddr, new, raddr, old)


@block
def distance_sum(clk, start, on, group, news, olds, total, *, nb: int, classes: int, groups: int):
    """``total``: Σ |new − old| over the output neurons < ``classes`` of the block cycle so
    far, the current clock's terms included (combinational; ``on``/``group``/``news``/``olds``
    are the stores' one-clock-late view)."""
    n = len(news)
    limit = classes * 127
    acc = uint_signal(limit + 1)
    terms = [uint_signal(128) for _ in range(n)]
    insts = []
    for q in range(n):
        insts.append(_abs_term(on, group, news[q], olds[q], terms[q], nb=nb, q=q, classes=classes))
    now = uint_signal(limit + 1)

    @always_comb
    def add():
        s = 0
        for q in range(n):
            s += terms[q]
        now.next = acc + s

    @always(clk.posedge)
    def keep():
        if start:
            acc.next = 0
        else:
            acc.next = now

    @always_comb
    def out():
        total.next = now

    return insts, add, keep, out


@block
def _abs_term(on, group, new, old, term, *, nb: int, q: int, classes: int):
    @always_comb
    def absolute():
        if on and group * nb + q < classes:
            if new >= old:
                term.next = new - old
            else:
                term.next = old - new
        else:
            term.next = 0

    return absolute


@block
def label_deltas(clk, we, wlabel, group, word, rlabel, rgroup, delta, *, nb, q, groups):
    """Port ``q`` of the per-label output deltas ``a − y`` (neuron ``group·nb + q``), written
    by the last junction's forward pass of a training input, read by its update (speculative:
    the next input of the label; a miss: the input itself, a block cycle later)."""
    depth = LABEL_SPACE * groups
    waddr, raddr = uint_signal(depth), uint_signal(depth)
    d = word_signal()

    @always_comb
    def addresses():
        waddr.next = wlabel * groups + group
        raddr.next = rlabel * groups + rgroup

    return (
        addresses,
        output_delta(wlabel, group, word, d, nb=nb, q=q),
        sdp_ram(clk, we, waddr, d, raddr, delta),
    )


@block
def output_delta(label, group, word, d, *, nb: int, q: int):
    """The output delta ``a − y`` of neuron ``group·nb + q`` from its memory word (σ·32 + σ′):
    σ, less 1.0 (128 LSB) on the label's neuron."""

    @always_comb
    def cost():
        if label == group * nb + q:
            d.next = word[12:ACT_FIELD] - 128
        else:
            d.next = word[12:ACT_FIELD]

    return cost


@block
def speculative_gate(
    valid_vec, train_vec, miss_vec, valid_J, train_J, hit_now, gate, load_gate, miss_now,
    toggle, *, J: int,
):  # fmt: skip
    """One input at a time: a bubble enters while an input is at bits 0 … J − 2, when the input
    at bit J − 1 is decided a miss, and while a miss runs its own update (bits J … 2J − 2).
    The read bank changes after a hit's decision and after a miss's last update (bit 2J − 1).
    The loader never waits (its input keeps its slot)."""
    D = 2 * J
    early = (1 << (J - 1)) - 1
    running = ((1 << (D - 1)) - 1) & ~((1 << J) - 1)

    @always_comb
    def hold():
        decided = valid_J and train_J
        miss_now.next = decided and not hit_now
        gate.next = (
            (valid_vec & early) != 0 or (decided and not hit_now) or (miss_vec & running) != 0
        )
        toggle.next = (decided and hit_now) or miss_vec[D - 1]
        load_gate.next = False

    return hold


@block
def decide(schedule, stored_bits, label, dist, threshold, hit):
    """A hit: the speculative schedule, the label has a stored input, and the summed distance
    of the 10 outputs is at most the threshold."""

    @always_comb
    def compare():
        hit.next = schedule == 2 and label < LABELS and stored_bits[label] and dist <= threshold

    return compare


@block
def bank_select(wsel, rbank, wbank):
    """Passes read bank ``wsel``; updates write the other."""

    @always_comb
    def banks():
        rbank.next = wsel
        wbank.next = not wsel

    return banks


@block
def store_write(advance, valid_J, train_J, write):
    """A training input's decision: its slot becomes its label's stored one."""

    @always_comb
    def write_on():
        write.next = advance and valid_J and train_J

    return write_on

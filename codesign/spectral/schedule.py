"""Conflict-free cycle schedules for one sparse spectral conv layer on P PEs and B memory banks.

The model
---------
A pruned layer keeps non-zeros ``(o, c, f)``: output channel, input channel, frequency bin.  For
each input tile the hardware runs the same schedule: in every clock each of the ``P`` processing
elements (PEs) issues at most one complex MAC.  The MAC for ``(o, c, f)`` reads ``X[c, f]`` from a
banked buffer (``B`` banks, ``ports`` reads per bank per clock) and accumulates into address
``(o, f)`` of its PE.  All non-zeros of one *accumulator group* ``(o, f)`` live on one PE (so no
cross-PE reduction), and two of them must issue at least ``latency`` clocks apart unless the MAC
pipeline forwards (``forwarding=True``).  All PEs step in lockstep, so an idle slot of one PE is a
real clock.

The reads of a tile form a bipartite multigraph PEs x banks with one edge per non-zero; a clock
without conflicts is a matching in which each bank may appear ``ports`` times, so a schedule is an
edge colouring.  By König's theorem ``max(max PE load, max ceil(bank load / ports))`` colours
suffice (:func:`lower_bound` calls this ``konig``); no schedule can be shorter, nor shorter than the
hazard span ``(m - 1) * latency + 1`` of a group with ``m`` non-zeros.

The algorithm (:func:`schedule_layer`)
--------------------------------------
1. *Regular graph.*  With ``T = konig``, each bank is cut into at most ``ports`` pieces of load
   ``<= T``; pieces are packed first-fit-decreasing into "columns" of capacity ``T``, and PEs into
   "rows" of capacity ``T`` (two vertices may share a colour class only if they never need the same
   colour, so merging vertices whose loads sum to ``<= T`` keeps any colouring valid).  Dummy edges
   (north-west-corner rule) pad the ``K x K`` multigraph to exactly ``T``-regular.
2. *Euler splitting with multiplicities.*  Edges are kept as units
   ``(row, col, group, multiplicity)``.
   A ``D``-regular node with ``D`` even is split into two ``D/2``-regular halves: each unit sends
   ``mult // 2`` to both halves; the units of odd multiplicity are paired at every row (pairs of the
   same accumulator group first) and at every column, the pairs form even cycles, and alternating
   the halves along each cycle balances every row and column exactly and every group to within one.
   A node with ``D`` odd first gives one perfect matching (Hopcroft-Karp on the support,
   ``scipy.sparse.csgraph.maximum_bipartite_matching``) its own colour, placed between the halves.
   All nodes of a level are processed together with vectorised numpy, so the cost is
   ``O(E log T)`` for ``E ~ n`` units, and exactly ``T`` colours come out.  Because groups are
   halved at every level, each group's non-zeros land in different blocks of about ``T / m``
   clocks, and hazards mostly remain only where two blocks meet.
3. *Hazard repair.*  Remaining hazards are removed by a min-conflicts local search whose moves
   keep every clock conflict-free: a non-zero goes to an idle slot of its PE where its bank has a
   free port, or is exchanged with another non-zero of its PE or of its bank, or two clocks are
   swapped along a Kempe chain (an alternating path of two clocks); the move that removes the
   most close same-group pairs is taken.  On small layers where that stalls, clock-by-clock list
   scheduling (a maximum-weight PE/bank-port assignment per clock favouring groups near their
   deadline and PEs/banks with no idle clock to spare) is tried as well.
4. *Bubbles.*  If a hazard survives, whole idle clocks are inserted (every PE stalls) until every
   group is spaced; their number is ``Schedule.stall_cycles``.  A schedule is never invalid.

Exactly ``konig`` clocks result whenever no bubble is needed.  Zero bubbles when
``hazard_bound <= konig // 2`` is an empirical property, not a proven one: in randomised stress
runs at the largest latency that condition allows, about one layer in two thousand (tiny groups,
latency close to ``konig / 2``, every bank busy in every clock) still needed a bubble.

:func:`check_schedule` re-derives validity from the definition alone, sharing nothing with the
scheduler.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, maximum_bipartite_matching

__all__ = [
    "Schedule",
    "nonzeros_from_mask",
    "assign_pes",
    "assign_banks",
    "bank_addresses",
    "cyclic_bank_map",
    "lower_bound",
    "schedule_layer",
    "check_schedule",
    "utilisation",
]

_I = np.int64
_J = np.int32


# ----------------------------------------------------------------------------- inputs


def nonzeros_from_mask(mask) -> np.ndarray:
    """The ``(n, 3)`` triples ``(o, c, f)`` of a boolean mask ``(O, C, ...)`` in row-major order.

    Trailing axes after ``C`` are flattened into the bin index ``f``."""
    m = np.asarray(mask)
    if m.ndim < 3:
        raise ValueError(f"mask must have shape (O, C, F...), got {m.shape}")
    return np.argwhere(m.reshape(m.shape[0], m.shape[1], -1)).astype(_I)


def _triples(nz) -> np.ndarray:
    a = np.asarray(nz)
    if a.ndim == 3 and a.dtype == bool:
        return nonzeros_from_mask(a)
    a = a.astype(_I, copy=False).reshape(-1, 3) if a.size else np.zeros((0, 3), _I)
    if a.ndim != 2 or a.shape[1] != 3:
        raise ValueError(f"nz must be (n, 3) triples (o, c, f), got shape {np.shape(nz)}")
    if a.size and a.min() < 0:
        raise ValueError("nz has negative indices")
    return a


# ----------------------------------------------------------------------------- assignment


def _lpt(loads: np.ndarray, bins: int) -> np.ndarray:
    """Longest-processing-time: items (largest first, ties by index) to the least-loaded bin."""
    order = np.argsort(-loads, kind="stable")
    heap = [(0, b) for b in range(bins)]
    out = np.zeros(len(loads), _I)
    for i in order:
        load, b = heapq.heappop(heap)
        out[i] = b
        heapq.heappush(heap, (load + int(loads[i]), b))
    return out


def assign_pes(nz, O: int, F: int, P: int, lanes: int = 1) -> np.ndarray:
    """Map every accumulator group ``(o, f)`` to a PE, balancing the non-zeros per PE.

    Whole output channels are kept on one PE (round-robin when ``O % P == 0``, else LPT over
    channels) whenever that is as balanced as LPT over individual groups; otherwise groups are
    placed by LPT.  Empty groups go to PE 0.  Deterministic.  Returns an int array ``(O, F)``.

    ``lanes`` read-out lanes (lane ℓ reads the channels o ≡ ℓ mod lanes, all lanes in the same
    clocks): the PEs p ≡ ℓ (mod lanes) hold lane ℓ's channels and only those, so the lanes never
    read one PE's accumulators at once.  ``P`` must then be a multiple of ``lanes``."""
    if P < 1:
        raise ValueError("P must be >= 1")
    if lanes < 1 or P % lanes:
        raise ValueError(f"P ({P}) must be a multiple of the read-out lanes ({lanes})")
    if lanes > 1:
        t = _triples(nz)
        out = np.zeros((O, F), _I)
        for lane in range(lanes):
            chans = np.arange(lane, O, lanes)
            if not len(chans):
                continue
            sel = t[t[:, 0] % lanes == lane].copy()
            sel[:, 0] //= lanes
            local = assign_pes(sel, len(chans), F, P // lanes)
            out[chans] = local * lanes + lane
        return out
    t = _triples(nz)
    loads = np.bincount(t[:, 0] * F + t[:, 2], minlength=O * F).reshape(O, F)
    best = _lpt(loads.ravel(), P).reshape(O, F)
    best_max = np.bincount(best.ravel(), weights=loads.ravel(), minlength=P).max()
    chan = loads.sum(axis=1)
    candidates = []
    if O % P == 0:
        candidates.append(np.arange(O) % P)
    if O >= P:
        candidates.append(_lpt(chan, P))
    for pe_of_o in candidates:
        if np.bincount(pe_of_o, weights=chan, minlength=P).max() <= best_max:
            best = np.repeat(pe_of_o[:, None], F, axis=1)
            break
    else:
        best = np.where(loads > 0, best, 0)
    return best.astype(_I)


def assign_banks(nz, C: int, F: int, B: int) -> np.ndarray:
    """Map every spectrum address ``(c, f)`` to a bank, balancing reads per bank (LPT).

    Addresses nobody reads are spread over the banks holding the fewest words, so bank depths
    stay even.  Deterministic.  Returns an int array ``(C, F)``."""
    if B < 1:
        raise ValueError("B must be >= 1")
    t = _triples(nz)
    loads = np.bincount(t[:, 1] * F + t[:, 2], minlength=C * F)
    out = np.zeros(C * F, _I)
    heap = [(0, 0, b) for b in range(B)]
    words = np.zeros(B, _I)
    used = np.flatnonzero(loads > 0)
    for i in used[np.argsort(-loads[used], kind="stable")]:
        load, cnt, b = heapq.heappop(heap)
        out[i] = b
        words[b] += 1
        heapq.heappush(heap, (load + int(loads[i]), cnt + 1, b))
    heap = [(int(words[b]), b) for b in range(B)]
    heapq.heapify(heap)
    for i in np.flatnonzero(loads == 0):
        cnt, b = heapq.heappop(heap)
        out[i] = b
        heapq.heappush(heap, (cnt + 1, b))
    return out.reshape(C, F)


def cyclic_bank_map(C: int, F: int, B: int) -> np.ndarray:
    """The simple interleaved map ``bank(c, f) = (c * F + f) % B`` (for comparison)."""
    return (np.arange(C * F, dtype=_I) % B).reshape(C, F)


def bank_addresses(bank_of) -> np.ndarray:
    """Word address of ``(c, f)`` inside its bank: consecutive per bank in row-major ``(c, f)``
    order, so the FFT writer knows where ``X[c, f]`` goes.  Returns an int array ``(C, F)``."""
    b = np.asarray(bank_of, dtype=_I)
    flat = b.ravel()
    order = np.argsort(flat, kind="stable")
    sorted_b = flat[order]
    first = np.searchsorted(sorted_b, sorted_b, side="left")
    addr = np.empty(len(flat), _I)
    addr[order] = np.arange(len(flat)) - first
    return addr.reshape(b.shape)


# ----------------------------------------------------------------------------- bounds


def _loads(t, pe_of_group, bank_of, P, B):
    pe = pe_of_group[t[:, 0], t[:, 2]]
    bank = bank_of[t[:, 1], t[:, 2]]
    if len(t) and (pe.min() < 0 or pe.max() >= P):
        raise ValueError("pe_of_group maps a used group outside [0, P)")
    if len(t) and (bank.min() < 0 or bank.max() >= B):
        raise ValueError("bank_of maps a used address outside [0, B)")
    return pe, bank


def lower_bound(
    nz,
    pe_of_group,
    bank_of,
    P: int,
    B: int,
    ports: int = 1,
    latency: int = 1,
    forwarding: bool = False,
) -> dict:
    """Cycle lower bounds for one tile: ``pe_bound`` (max PE load), ``bank_bound``
    (max ceil(bank load / ports)), ``hazard_bound`` (max ``(m - 1) * latency + 1`` over groups,
    0 with forwarding), ``konig = max(pe_bound, bank_bound)`` and ``bound = max(konig, hazard)``."""
    t = _triples(nz)
    pe_of_group = np.asarray(pe_of_group, dtype=_I)
    bank_of = np.asarray(bank_of, dtype=_I)
    pe, bank = _loads(t, pe_of_group, bank_of, P, B)
    pe_bound = int(np.bincount(pe, minlength=P).max()) if len(t) else 0
    bank_bound = int(-(-np.bincount(bank, minlength=B).max() // ports)) if len(t) else 0
    hazard = 0
    if len(t) and not forwarding:
        F = pe_of_group.shape[1]
        m = np.bincount(t[:, 0] * F + t[:, 2]).max()
        hazard = int((m - 1) * latency + 1)
    konig = max(pe_bound, bank_bound)
    return {
        "pe_bound": pe_bound,
        "bank_bound": bank_bound,
        "hazard_bound": hazard,
        "konig": konig,
        "bound": max(konig, hazard),
    }


def utilisation(n: int, P: int, cycles: int) -> float:
    """Fraction of PE-clocks doing a MAC: ``n / (P * cycles)`` (0 for an empty schedule)."""
    return float(n) / (P * cycles) if cycles else 0.0


# ----------------------------------------------------------------------------- schedule


@dataclass
class Schedule:
    """One tile's schedule.

    ``cycle[i]`` / ``pe[i]``: clock and PE of non-zero ``i`` (row ``i`` of the triples);
    ``cycles``: tile length (``max(cycle) + 1``, 0 if empty); ``program``: ``(P, cycles)`` array,
    the non-zero each PE issues per clock, ``-1`` for an idle slot (all PEs step in lockstep);
    ``stall_cycles``: whole bubble clocks inserted for hazards; ``konig``: the conflict bound."""

    cycle: np.ndarray
    pe: np.ndarray
    cycles: int
    program: np.ndarray
    stall_cycles: int
    konig: int


def _first_fit_decreasing(sizes: np.ndarray, cap: int) -> np.ndarray:
    """Bin of each item when packing ``sizes`` (each ``<= cap``) first-fit decreasing."""
    order = np.argsort(-sizes, kind="stable")
    rem = np.full(len(sizes), cap, _I)
    nbins = 0
    out = np.empty(len(sizes), _I)
    for i in order:
        s = sizes[i]
        b = int(np.argmax(rem[:nbins] >= s)) if nbins else 0
        if nbins == 0 or rem[b] < s:
            b = nbins
            nbins += 1
        rem[b] -= s
        out[i] = b
    return out


def _vertices(pe, bank, P, B, T):
    """Rows (PEs packed into bins of load ``<= T``) and columns (each bank cut into
    ``ceil(load / T) <= ports`` balanced pieces, pieces packed into bins of load ``<= T``)."""
    row = _first_fit_decreasing(np.bincount(pe, minlength=P), T)[pe]
    bank_load = np.bincount(bank, minlength=B)
    npieces = -(-bank_load // T)
    first_piece = np.concatenate(([0], np.cumsum(npieces)))
    order = np.argsort(bank.astype(np.uint16) if B <= 65536 else bank, kind="stable")
    sb = bank[order]
    rank = np.arange(len(sb)) - np.searchsorted(sb, np.arange(B))[sb]
    piece = np.empty(len(bank), _I)
    piece[order] = first_piece[sb] + rank * npieces[sb] // bank_load[sb]
    col_of_piece = _first_fit_decreasing(np.bincount(piece, minlength=first_piece[-1]), T)
    return row.astype(_I), col_of_piece[piece].astype(_I)


def _excl(a):
    """Exclusive prefix sum with the total appended: ``out[i] = sum(a[:i])``."""
    out = np.empty(len(a) + 1, _I)
    out[0] = 0
    np.cumsum(a, out=out[1:])
    return out


def _cycle_labels(sigma):
    """A label per element naming the cycle of the permutation ``sigma`` it lies on."""
    k = len(sigma)
    g = csr_matrix(
        (np.ones(k, np.int8), sigma.astype(_J), np.arange(k + 1, dtype=_J)), shape=(k, k)
    )
    return connected_components(g, directed=True, connection="weak")[1]


def _euler_sides(a_n, a_l, ro):
    """Euler split of single edges: ``a_n, a_l`` are the node and (row, group) key of each edge in
    row order, ``ro`` lists the edges in (node, column) order.  Every row and column has an even
    number of them.  Pairs are formed at rows (same group first) and at columns; the pairs close
    into even cycles and alternating along them gives every row and column exactly half, and every
    group half rounded either way.  Returns the half (bool) of each edge."""
    k = len(a_n)
    if k == 0:
        return np.zeros(0, bool)
    brk = np.empty(k, bool)
    brk[0] = True
    brk[1:] = (a_n[1:] != a_n[:-1]) | (a_l[1:] != a_l[:-1])
    starts = np.flatnonzero(brk).astype(_J)
    rid = np.cumsum(brk, dtype=_J) - 1
    idx = np.arange(k, dtype=_J)
    r = idx - starts[rid]
    internal = r < (np.diff(np.append(starts, _J(k)))[rid] & ~1)
    lp = idx + 1 - 2 * (r & 1)
    del brk, starts, rid, r, idx
    lo = np.flatnonzero(~internal).astype(_J)
    lp[lo[0::2]] = lo[1::2]
    lp[lo[1::2]] = lo[0::2]
    rp = np.empty(k, _J)
    rp[ro[0::2]] = ro[1::2]
    rp[ro[1::2]] = ro[0::2]
    lab = _cycle_labels(rp[lp])
    return lab > lab[lp]


def _edge_colour(row, col, grp, G, T, K):
    """Colour the edges (row, col) with exactly ``T`` colours (both degrees ``<= T``) by
    group-balanced Euler splitting; see the module docstring.  Returns the colour of each edge."""
    n = len(row)
    GG = G + 1
    key = (row * GG + grp) * K + col
    eorder = np.argsort(key)  # edges grouped by unit
    key = key[eorder]
    first = np.empty(n, bool)
    first[0] = True
    np.not_equal(key[1:], key[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    ukey = key[starts]
    mult = np.diff(np.append(starts, n))
    nu = len(ukey)
    del key, first, starts
    # north-west corner padding to a T-regular K x K multigraph (dummy group G)
    cr = np.cumsum(T - np.bincount(row, minlength=K))
    cc = np.cumsum(T - np.bincount(col, minlength=K))
    bps = np.union1d(cr, cc)
    bps = bps[bps > 0]
    dlen = np.diff(np.concatenate(([0], bps)))
    dkey = (np.searchsorted(cr, bps).astype(_I) * GG + G) * K + np.searchsorted(cc, bps)
    ins = np.searchsorted(ukey, dkey)
    allkey = np.insert(ukey, ins, dkey)
    mult_ = np.insert(mult, ins, dlen).astype(_J)
    org = np.insert(np.arange(nu, dtype=_J), ins, -1)
    col_ = (allkey % K).astype(_J)
    lv = allkey // K  # row * GG + group: units sorted by (node, lv, col)
    lv = lv.astype(_J) if K * GG < 2**31 else lv
    del allkey, ukey
    node = np.zeros(len(lv), _J)
    rperm = np.argsort(col_.astype(np.uint16) if K <= 65536 else col_, kind="stable").astype(_J)
    base = np.zeros(1, _I)
    rec_org, rec_col = [], []
    N, D = 1, T
    while D > 1:
        peel = D % 2 == 1
        if peel:
            # one perfect matching per node gets colour base + D//2 (between the two halves)
            ck = node[rperm].astype(_I) * K + col_[rperm]
            rk = node[rperm].astype(_I) * K + lv[rperm] // GG
            uniq = np.ones(len(ck), bool)
            uniq[1:] = (ck[1:] != ck[:-1]) | (rk[1:] != rk[:-1])
            indptr = _excl(np.bincount(ck[uniq], minlength=N * K))
            gm = csr_matrix(
                (np.ones(int(uniq.sum()), np.int8), rk[uniq], indptr), shape=(N * K, N * K)
            )
            match = maximum_bipartite_matching(gm, perm_type="column")
            del uniq
            cand = np.flatnonzero(match[ck] == rk)
            if len(cand) == 0 or np.count_nonzero(np.diff(ck[cand])) + 1 != N * K:
                raise RuntimeError("internal error: no perfect matching in a regular graph")
            first = rperm[cand[np.concatenate(([True], ck[cand][1:] != ck[cand][:-1]))]]
            del ck, rk, gm, match, cand
            fo = org[first]
            real = fo >= 0
            rec_org.append(fo[real])
            rec_col.append((base[node[first]] + D // 2)[real])
            mult_[first] -= 1
            keep = mult_ > 0
            if not keep.all():
                newidx = np.cumsum(keep, dtype=_J) - 1
                rperm = newidx[rperm[keep[rperm]]]
                node, lv, col_ = node[keep], lv[keep], col_[keep]
                mult_, org = mult_[keep], org[keep]
            D -= 1
        U = len(mult_)
        odd = (mult_ & 1).astype(bool)
        single = bool((mult_ == 1).all())  # fast path: every unit is a single edge
        oi = None if single else np.flatnonzero(odd)
        a_n, a_l = (node, lv) if single else (node[oi], lv[oi])
        ro = rperm if single else (np.cumsum(odd) - 1)[rperm[odd[rperm]]]
        s = _euler_sides(a_n, a_l, ro)
        del a_n, a_l, ro
        # children: node 2i gets half 0 and node 2i+1 half 1, both keeping the (row) order and,
        # through rperm, the (column) order; stable sorts on the child-node key do both
        node2 = 2 * node
        if single:
            key = node2 + s
            src = np.argsort(key, kind="stable").astype(_J)
            inv = np.empty(U, _J)
            inv[src] = np.arange(U, dtype=_J)
            rperm = inv[rperm[np.argsort(key[rperm], kind="stable")]]
            node = key[src]
            mult_ = np.ones(U, _J)
        else:
            sf = np.zeros(U, bool)
            sf[oi] = s
            m1 = (mult_ >> 1) + (odd & sf)
            m0 = mult_ - m1
            i0, i1 = np.flatnonzero(m0 > 0), np.flatnonzero(m1 > 0)
            key = np.concatenate((node2[i0], node2[i1] + 1))
            src = np.argsort(key, kind="stable")
            inv = np.empty(len(key), _J)
            inv[src] = np.arange(len(key), dtype=_J)
            pos0 = np.cumsum(m0 > 0, dtype=_J) - 1
            pos1 = np.cumsum(m1 > 0, dtype=_J) - 1 + len(i0)
            r0, r1 = rperm[m0[rperm] > 0], rperm[m1[rperm] > 0]
            rkey = np.concatenate((node2[r0], node2[r1] + 1))
            rpos = np.concatenate((pos0[r0], pos1[r1]))
            rperm = inv[rpos[np.argsort(rkey, kind="stable")]]
            mult_ = np.concatenate((m0[i0], m1[i1]))[src].astype(_J)
            node = key[src].astype(_J)
            src = np.concatenate((i0, i1))[src]
            del sf, m0, m1, i0, i1, pos0, pos1, r0, r1, rkey, rpos
        lv, col_, org = lv[src], col_[src], org[src]
        del key, src, inv, node2
        nbase = np.empty(2 * N, _I)
        nbase[0::2] = base
        nbase[1::2] = base + D // 2 + peel
        base = nbase
        N, D = 2 * N, D // 2
    real = org >= 0
    rec_org.append(org[real])
    rec_col.append(base[node[real]])
    ro = np.concatenate(rec_org)
    rc = np.concatenate(rec_col)
    colour = np.empty(n, _I)
    colour[eorder] = rc[np.argsort(ro, kind="stable")]  # a unit's colours to its edges
    return colour


class _Repair:
    """Hazard removal on a conflict-free colouring by conflict-preserving local moves.

    State: ``at[p, t]`` the edge PE p issues at colour t and ``gat[p, t]`` its group (-1: idle),
    ``cnt[b, t]`` the reads of bank b, ``port_at[b, k, t]`` the edge on port k, and ``near[e]``
    the number of edges of e's group closer than L to e (a hazard iff > 0)."""

    def __init__(self, colour, pe, bank, grp, T, P, B, ports, L):
        self.c, self.pe, self.bank, self.grp = colour, pe, bank, grp
        self.T, self.P, self.B, self.ports, self.L = T, P, B, ports, L
        n = len(colour)
        self.at = np.full((P, T), -1, _I)
        self.at[pe, colour] = np.arange(n)
        self.gat = np.full((P, T), -1, _I)
        self.gat[pe, colour] = grp
        self.cnt = np.bincount(bank * T + colour, minlength=B * T).reshape(B, T).astype(np.int32)
        if ports == 1:
            self.port = np.zeros(n, _I)
        else:
            key = bank * T + colour
            o = np.argsort(key, kind="stable")
            sk = key[o]
            self.port = np.empty(n, _I)
            self.port[o] = np.arange(n) - np.searchsorted(sk, sk, side="left")
        self.port_at = np.full((B, ports, T), -1, _J if n < 2**31 else _I)
        self.port_at[bank, self.port, colour] = np.arange(n)
        if L <= 16:
            near = np.zeros((P, T), _I)
            for d in range(1, min(L, T)):
                same = (self.gat[:, d:] == self.gat[:, :-d]) & (self.gat[:, d:] >= 0)
                near[:, d:] += same
                near[:, :-d] += same
            self.near = near[pe, colour]
        else:
            key = grp * (T + 2 * L) + colour
            sk = np.sort(key)
            self.near = (
                np.searchsorted(sk, key + L - 1, side="right")
                - np.searchsorted(sk, key - L + 1, side="left")
                - 1
            )

    def hazards(self):
        """Edges closer than L to another edge of their group."""
        return np.flatnonzero(self.near > 0).tolist()

    def _window(self, e, t):
        """Edges of e's group (other than e) closer than L to colour t on e's PE."""
        lo, hi = max(0, t - self.L + 1), min(self.T, t + self.L)
        p = self.pe[e]
        w = self.at[p, lo:hi][self.gat[p, lo:hi] == self.grp[e]]
        return w[w != e]

    def _set(self, e, t):
        b = self.bank[e]
        self.c[e] = t
        self.at[self.pe[e], t] = e
        self.gat[self.pe[e], t] = self.grp[e]
        self.cnt[b, t] += 1
        k = int(np.argmin(self.port_at[b, :, t]))  # a free port (-1 < any edge id)
        self.port[e] = k
        self.port_at[b, k, t] = e
        w = self._window(e, t)
        self.near[w] += 1
        self.near[e] = len(w)

    def _unset(self, e):
        t = self.c[e]
        self.near[self._window(e, t)] -= 1
        self.near[e] = 0
        self.at[self.pe[e], t] = -1
        self.gat[self.pe[e], t] = -1
        self.cnt[self.bank[e], t] -= 1
        self.port_at[self.bank[e], self.port[e], t] = -1

    def try_fix(self, e, rng, now, tabu):
        """One min-conflicts step for hazardous edge e.  Candidate moves keep every clock
        conflict-free: e to another slot of its PE (idle, or exchanged with that slot's edge;
        banks need a free port), or e exchanged with an edge of its bank on another PE (both PEs
        need the other's slot idle).  The move removing the most close same-group pairs wins;
        a Kempe-chain swap is tried when no move helps.  Returns the edges moved."""
        T, L, ports = self.T, self.L, self.ports
        a, p, b, g = int(self.c[e]), self.pe[e], self.bank[e], self.grp[e]
        before = int(self.near[e])
        if before == 0:
            return []
        row, grow = self.at[p], self.gat[p]
        mine = np.flatnonzero(grow == g)
        mine = mine[mine != a]
        ts = np.arange(T) if T <= 2048 else np.unique(rng.integers(0, T, 2048))
        win = (
            np.searchsorted(mine, ts + L - 1, side="right")
            - np.searchsorted(mine, ts - L + 1, side="left")
            - before
        )
        lo, hi = max(0, a - L + 1), min(T, a + L)
        # A. same PE: slot t idle (bank b needs a port) or holding f (both banks need ports)
        f = row[ts]
        idle = f < 0
        fx = np.where(idle, 0, f)
        bf = self.bank[fx]
        h = np.where(idle, -2, grow[ts])
        feas = np.where(
            idle,
            self.cnt[b, ts] < ports,
            (bf == b) | ((self.cnt[b, ts] < ports) & (self.cnt[bf, a] < ports)),
        )
        feas &= (h != g) & (now - tabu[fx] > 7) & (ts != a)
        wa = grow[lo:hi]
        if L <= 8:
            gain_h = -(np.abs(ts - a) < L).astype(_I)
            for v in wa[wa >= 0]:
                gain_h += h == v
        else:
            vals, counts = np.unique(wa, return_counts=True)
            j = np.minimum(np.searchsorted(vals, h), len(vals) - 1)
            gain_h = np.where(vals[j] == h, counts[j], 0) - (np.abs(ts - a) < L)
        delta = win + np.where(idle, 0, gain_h - self.near[fx])
        ct, cd, cf = [ts[feas]], [delta[feas]], [f[feas]]
        # B. same bank, other PE q: e -> t needs p idle at t, f -> a needs q idle at a
        for k in range(ports):
            fb = self.port_at[b, k, ts].astype(_I)
            sel = (fb >= 0) & idle
            t, fb = ts[sel], fb[sel]
            q = self.pe[fb]
            ok = (self.at[q, a] < 0) & (now - tabu[fb] > 7) & (q != p)
            t, fb, q, dw = t[ok], fb[ok], q[ok], win[sel][ok]
            hb = self.grp[fb]
            gain = np.count_nonzero(self.gat[q, lo:hi] == hb[:, None], axis=1) - (np.abs(t - a) < L)
            ct.append(t)
            cd.append(dw + gain - self.near[fb])
            cf.append(fb)
        ct, cd, cf = np.concatenate(ct), np.concatenate(cd), np.concatenate(cf)
        if len(ct):
            best = int(cd.min())
            if best < 0 or (best == 0 and rng.random() < 0.5):
                pick = np.flatnonzero(cd == best)
                j = int(pick[rng.integers(len(pick))])
                return self._swap(e, int(ct[j]), int(cf[j]), now, tabu)
        for y in rng.integers(0, T, 8):
            moved = self._kempe(e, a, int(y), rng) if y != a else []
            if moved:
                tabu[moved] = now
                return moved
        if len(ct) and rng.random() < 0.1:  # random walk out of a local minimum
            j = int(rng.integers(len(ct)))
            return self._swap(e, int(ct[j]), int(cf[j]), now, tabu)
        return []

    def _swap(self, e, t, f, now, tabu):
        """e to colour t; f (if >= 0) from colour t to e's old colour."""
        a = self.c[e]
        self._unset(e)
        if f < 0:
            self._set(e, t)
            tabu[e] = now
            return [e]
        self._unset(f)
        self._set(e, t)
        self._set(f, a)
        tabu[[e, f]] = now
        return [e, f]

    def _pairs_at(self, row, x, y):
        """Close same-group pairs of one PE timeline ``row`` that involve slot x or y."""
        L, T = self.L, self.T
        tot = 0
        for z in (x, y):
            if row[z] >= 0:
                w = row[max(0, z - L + 1) : min(T, z + L)]
                tot += int(np.count_nonzero(w == row[z])) - 1
        if row[x] >= 0 and row[x] == row[y] and abs(x - y) < L:
            tot -= 1
        return tot

    def _kempe(self, e, x, y, rng, limit=128):
        """Swap colours x and y on the alternating (PE, bank-port) component containing e if that
        lowers the number of close same-group pairs (or keeps it, half of the time); returns the
        moved edges (empty if refused)."""
        comp, stack = {e}, [e]
        while stack:
            f = stack.pop()
            other = y if self.c[f] == x else x
            for g in (self.at[self.pe[f], other], self.port_at[self.bank[f], self.port[f], other]):
                if g >= 0 and g not in comp:
                    comp.add(int(g))
                    stack.append(int(g))
                    if len(comp) > limit:
                        return []
        delta = 0
        for q in {int(self.pe[f]) for f in comp}:
            row = self.gat[q].copy()
            delta -= self._pairs_at(row, x, y)
            row[x], row[y] = row[y], row[x]
            delta += self._pairs_at(row, x, y)
        if delta > 0 or (delta == 0 and rng.random() < 0.5):
            return []
        new = {f: (y if self.c[f] == x else x) for f in comp}
        port = {f: int(self.port[f]) for f in comp}
        for f in comp:
            self._unset(f)
        for f, t in new.items():
            self._set(f, t)
            if self.port[f] != port[f]:  # keep the chain's labels: swap with the holder
                self._relabel(f, port[f])
        return list(comp)

    def _relabel(self, e, k):
        b, t, j = self.bank[e], self.c[e], self.port[e]
        other = self.port_at[b, k, t]
        self.port_at[b, k, t], self.port_at[b, j, t] = e, other
        self.port[e] = k
        if other >= 0:
            self.port[other] = j

    def run(self, budget):
        """Repair until no hazard is left or ``budget`` steps were made; returns how many edges
        are still in a hazard."""
        rng = np.random.default_rng(0)
        tabu = np.full(len(self.c), -(1 << 30), _I)
        work = []
        for now in range(budget):
            if not work:
                work = self.hazards()
                if not work:
                    return 0
                rng.shuffle(work)
            e = work.pop()
            for f in self.try_fix(e, rng, now, tabu):
                if self.near[f]:
                    work.extend(self._window(f, int(self.c[f])).tolist() + [f])
        return len(self.hazards())


def _sequential(pe, bank, grp, T, P, B, ports, L, rng, noise):
    """Clock-by-clock list scheduling, used when repair fails on small tight layers.

    Every clock takes a maximum-weight assignment of PEs to bank ports (Hungarian method) among
    the non-zeros whose group is ready (last issue >= L ago).  Weights favour groups close to
    their deadline (the last clock their remaining spaced chain can start) and PEs and banks that
    must work in every remaining clock.  Never creates a conflict or a hazard; may need more than
    ``T`` clocks.  Returns (colour, length)."""
    n = len(pe)
    order = np.lexsort((grp, bank, pe))
    cell = pe[order] * B + bank[order]
    first = np.flatnonzero(np.concatenate(([True], cell[1:] != cell[:-1])))
    cell_of = np.cumsum(np.concatenate(([True], cell[1:] != cell[:-1]))) - 1
    cpe, cbank = pe[order][first], bank[order][first]
    _, g = np.unique(grp[order], return_inverse=True)
    grem = np.bincount(g)
    glast = np.full(len(grem), -(1 << 40), _I)
    perem = np.bincount(pe, minlength=P).astype(float)
    brem = np.bincount(bank, minlength=B).astype(float)
    alive = np.ones(n, bool)
    out = np.full(n, -1, _I)
    jitter = noise * rng.random(n)
    t = 0
    while alive.any():
        rc = max(T - t, 1)
        ready = alive & (glast[g] + L <= t)
        slack = T - 1 - (grem[g] - 1) * L - t
        urg = np.where(
            ready, 100.0 / (1 + np.maximum(slack, 0)) + 1000.0 * (slack <= 0) + jitter, -np.inf
        )
        best = np.maximum.reduceat(urg, first)
        cand = np.flatnonzero(ready & (urg == best[cell_of]))
        _, k = np.unique(cell_of[cand], return_index=True)
        cand = cand[k]
        if len(cand):
            c = cell_of[cand]
            p, b = cpe[c], cbank[c]
            w = (
                best[c]
                + 1
                + 10 * perem[p] / rc
                + 10 * brem[b] / (ports * rc)
                + 1e4 * (perem[p] >= rc)
                + 1e4 * (brem[b] > ports * (rc - 1))
            )
            W = np.zeros((P, B * ports))
            pick = np.full((P, B * ports), -1, _I)
            for j in range(ports):
                W[p, b * ports + j] = w
                pick[p, b * ports + j] = cand
            r, cc = linear_sum_assignment(W, maximize=True)
            for e in pick[r, cc]:
                if e >= 0 and alive[e]:
                    alive[e] = False
                    out[order[e]] = t
                    glast[g[e]] = t
                    grem[g[e]] -= 1
                    perem[pe[order[e]]] -= 1
                    brem[bank[order[e]]] -= 1
        t += 1
    return out, t


def _stretch(colour, grp, T, L):
    """Insert whole idle clocks so that same-group edges are >= L apart; returns new clocks."""
    order = np.argsort(colour, kind="stable")
    bounds = np.searchsorted(colour[order], np.arange(T + 1))
    last = {}
    new_of = np.empty(T, _I)
    now = -1
    for t in range(T):
        es = order[bounds[t] : bounds[t + 1]]
        need = now + 1
        for g in grp[es].tolist():
            prev = last.get(g)
            if prev is not None and prev + L > need:
                need = prev + L
        now = need
        new_of[t] = now
        for g in grp[es].tolist():
            last[g] = now
    return new_of[colour]


def schedule_layer(
    nz,
    pe_of_group,
    bank_of,
    *,
    P: int,
    B: int,
    ports: int = 1,
    latency: int = 1,
    forwarding: bool = False,
    repair_budget: int | None = None,
) -> Schedule:
    """Schedule one tile of a layer: a conflict-free, hazard-free clock for every non-zero.

    Uses exactly ``konig`` clocks unless hazards force bubbles (reported as ``stall_cycles``).
    ``nz`` is ``(n, 3)`` triples ``(o, c, f)`` (or a boolean mask ``(O, C, F)``);
    ``pe_of_group`` is ``(O, F)``, ``bank_of`` is ``(C, F)``.  ``repair_budget`` caps the hazard
    repair moves (default: generous, proportional to the number of hazards)."""
    if P < 1 or B < 1 or ports < 1 or latency < 1:
        raise ValueError("P, B, ports and latency must be >= 1")
    t = _triples(nz)
    pe_of_group = np.asarray(pe_of_group, dtype=_I)
    bank_of = np.asarray(bank_of, dtype=_I)
    n = len(t)
    F = pe_of_group.shape[1]
    pe, bank = _loads(t, pe_of_group, bank_of, P, B)
    lb = lower_bound(t, pe_of_group, bank_of, P, B, ports, latency, forwarding)
    T = lb["konig"]
    if n == 0:
        return Schedule(np.zeros(0, _I), np.zeros(0, _I), 0, np.zeros((P, 0), _I), 0, 0)
    grp = t[:, 0] * F + t[:, 2]
    G = int(pe_of_group.size)
    row, col = _vertices(pe, bank, P, B, T)
    K = int(max(row.max(), col.max()) + 1)
    colour = _edge_colour(row, col, grp, G, T, K)
    del row, col
    cycles = T
    if not forwarding and latency > 1:
        rep = _Repair(colour, pe, bank, grp, T, P, B, ports, latency)
        nhaz = len(rep.hazards())
        if nhaz:
            if repair_budget is not None:
                budget = repair_budget
            elif lb["hazard_bound"] <= T:
                budget = 40 * nhaz + 2000
            else:  # bubbles are certain: only trim the hazards
                budget = 4 * nhaz + 100
            colour = rep.c
            left = rep.run(budget // 4)
            best = None
            if left and n * T <= 20_000_000:  # small layer: try list scheduling too
                rng = np.random.default_rng(1)
                tries = int(min(32, max(4, 40_000_000 // (n * T))))
                for i in range(tries):  # ties broken at random after the first
                    noise = 0.0 if i == 0 else (1.0, 5.0)[i % 2]
                    alt, length = _sequential(pe, bank, grp, T, P, B, ports, latency, rng, noise)
                    if best is None or length < best[1]:
                        best = (alt, length)
                    if length == T:
                        break
            if best is not None and best[1] == T:
                colour = best[0]
            elif left and rep.run(budget - budget // 4):
                colour = _stretch(rep.c, grp, T, latency)
                if best is not None and best[1] < colour.max() + 1:
                    colour = best[0]
            cycles = int(colour.max()) + 1
    program = np.full((P, cycles), -1, _I)
    program[pe, colour] = np.arange(n)
    return Schedule(colour.astype(_I), pe.astype(_I), int(cycles), program, int(cycles - T), T)


# ----------------------------------------------------------------------------- checker


def check_schedule(
    nz,
    sched: Schedule,
    pe_of_group,
    bank_of,
    *,
    P: int,
    B: int,
    ports: int,
    latency: int,
    forwarding: bool,
) -> list[str]:
    """Independent validity check of a schedule against the model's definition.

    Returns human-readable violations (empty list = valid): every non-zero issued exactly once,
    on the PE owning its group, at most one MAC per PE per clock, at most ``ports`` reads per bank
    per clock, same-group spacing ``>= latency`` (unless forwarding), consistent ``cycles`` and
    ``program``.  Shares no code with the scheduler."""
    out: list[str] = []
    trip = np.asarray(nz)
    if trip.ndim == 3 and trip.dtype == bool:
        trip = np.argwhere(trip.reshape(trip.shape[0], trip.shape[1], -1))
    trip = np.asarray(trip, dtype=np.int64).reshape(-1, 3)
    n = len(trip)
    cyc = np.asarray(sched.cycle, dtype=np.int64)
    pes = np.asarray(sched.pe, dtype=np.int64)
    if cyc.shape != (n,) or pes.shape != (n,):
        return [f"cycle/pe arrays have shapes {cyc.shape}/{pes.shape}, expected ({n},)"]

    def report(kind, items, fmt):
        items = list(items)
        if items:
            shown = "; ".join(fmt(x) for x in items[:5])
            out.append(f"{kind}: {len(items)} case(s), e.g. {shown}")

    def duplicates(*keys):
        """Index pairs (i, j), i before j in sorted order, with equal keys."""
        o = np.lexsort(keys[::-1])
        same = np.ones(len(o) - 1, bool) if len(o) > 1 else np.zeros(0, bool)
        for k in keys:
            same &= k[o][1:] == k[o][:-1]
        hit = np.flatnonzero(same)
        return o[hit], o[hit + 1]

    o_, c_, f_ = trip[:, 0], trip[:, 1], trip[:, 2]
    owner = np.asarray(pe_of_group)[o_, f_] if n else np.zeros(0, np.int64)
    bank = np.asarray(bank_of)[c_, f_] if n else np.zeros(0, np.int64)
    report(
        "wrong PE",
        np.flatnonzero(pes != owner),
        lambda i: f"nz {i} {tuple(trip[i].tolist())} on PE {pes[i]}, owner is PE {owner[i]}",
    )
    report(
        "PE out of range",
        np.flatnonzero((pes < 0) | (pes >= P)),
        lambda i: f"nz {i} on PE {pes[i]}",
    )
    report(
        "bank out of range",
        np.flatnonzero((bank < 0) | (bank >= B)),
        lambda i: f"nz {i} reads bank {bank[i]}",
    )
    report("negative cycle", np.flatnonzero(cyc < 0), lambda i: f"nz {i} at cycle {cyc[i]}")
    last = int(cyc.max()) if n else -1
    if sched.cycles != last + 1:
        out.append(f"cycles field is {sched.cycles}, but the last issue is at cycle {last}")
    a, b = duplicates(pes, cyc)
    report(
        "PE double-booked",
        zip(a, b),
        lambda ij: f"nz {ij[0]} and {ij[1]} on PE {pes[ij[0]]} at cycle {cyc[ij[0]]}",
    )
    if n:
        key = bank * (last + 2) + cyc
        u, inv, cnt = np.unique(key, return_inverse=True, return_counts=True)
        over = np.flatnonzero(cnt > ports)
        report(
            "bank conflict",
            over,
            lambda k: (
                f"bank {u[k] // (last + 2)} read {cnt[k]}x at cycle {u[k] % (last + 2)} "
                f"(ports={ports}) by nz {np.flatnonzero(inv == k).tolist()}"
            ),
        )
    if not forwarding and n:
        o = np.lexsort((cyc, f_, o_, pes))
        same = (pes[o][1:] == pes[o][:-1]) & (o_[o][1:] == o_[o][:-1]) & (f_[o][1:] == f_[o][:-1])
        close = np.flatnonzero(same & (np.diff(cyc[o]) < latency))
        report(
            "accumulator hazard",
            close,
            lambda k: (
                f"PE {pes[o[k]]} group (o={o_[o[k]]}, f={f_[o[k]]}): nz {o[k]} and "
                f"{o[k + 1]} at cycles {cyc[o[k]]} and {cyc[o[k + 1]]} "
                f"(latency {latency})"
            ),
        )
    prog = np.asarray(sched.program)
    if prog.shape != (P, sched.cycles):
        out.append(f"program has shape {prog.shape}, expected {(P, sched.cycles)}")
        return out
    listed = prog[prog >= 0]
    if listed.size and listed.max() >= n:
        out.append(f"program names non-zero {int(listed.max())}, but there are only {n}")
        return out
    counts = np.bincount(listed, minlength=n)
    report(
        "program lists a non-zero not exactly once",
        np.flatnonzero(counts != 1),
        lambda i: f"nz {i} listed {counts[i]}x",
    )
    ok = np.flatnonzero((pes >= 0) & (pes < P) & (cyc >= 0) & (cyc < sched.cycles))
    bad = ok[prog[pes[ok], cyc[ok]] != ok]
    report(
        "program disagrees with cycle/pe",
        bad,
        lambda i: f"nz {i} at PE {pes[i]} cycle {cyc[i]}, program has {prog[pes[i], cyc[i]]}",
    )
    return out

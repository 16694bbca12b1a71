"""The trained-network artifact (docs/mlp-format.md): ``network.json`` + ``arrays.npz``.

:func:`write_network` builds it atomically and byte-deterministically; :func:`load_network` is
its one reader: every field, shape, dtype and word range checked, the edge orders proved
clash-free again, the arrays' sha256 compared, each failure a :class:`NetworkFormatError`
naming the file, the field and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codesign.artifacts import (
    atomic_directory,
    need,
    read_arrays,
    read_json,
    save_arrays,
    sha256_file,
    write_json,
)
from codesign.errors import CodesignError
from codesign.mlp.connectivity import ConnectivityError, Interleaver, Junction, check_order
from codesign.mlp.fixedpoint import SIGMA_BITS, SIGMA_PRIME_BITS, TABLE_RANGE, WORD, Activation
from codesign.mlp.train import Network, Params, Schedule

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "NetworkFormatError",
    "MlpArtifact",
    "PARAM_SETS",
    "array_names",
    "formats",
    "write_network",
    "load_network",
]

FORMAT = "codesign-mlp-network"
FORMAT_VERSION = 1
_FIX = "re-run `codesign mlp train`"
# (suffix, kind): kind "order" int32 slots, "float" float64, "word" int16 within WORD
PARAM_SETS = {"init_float": "_init_float", "init_fixed": "_init", "float": "_float", "fixed": ""}
_ARRAYS = (
    ("order", "order"),
    ("w_init_float", "float"),
    ("b_init_float", "float"),
    ("w_init", "word"),
    ("b_init", "word"),
    ("w_float", "float"),
    ("b_float", "float"),
    ("w", "word"),
    ("b", "word"),
)


class NetworkFormatError(CodesignError, ValueError):
    """A network artifact that cannot be used; names the file, the field and the fix."""


@dataclass
class MlpArtifact:
    """A loaded network artifact."""

    path: Path
    meta: dict
    net: Network
    init_float: Params
    init_fixed: Params
    trained_float: Params
    trained_fixed: Params

    @property
    def schedule(self) -> Schedule:
        return Schedule(self.meta["schedule"])


def array_names(n_junctions: int) -> list[str]:
    return [f"j{i + 1}_{s}" for i in range(n_junctions) for s, _ in _ARRAYS]


def _arrays(net: Network, params: dict[str, Params]) -> dict:
    out = {}
    for i in range(len(net.junctions)):
        out[f"j{i + 1}_order"] = net.orders[i].astype(np.int32)
        for tag, sfx in PARAM_SETS.items():
            p = params[tag]
            kind = np.float64 if "float" in tag else np.int16
            out[f"j{i + 1}_w{sfx}"] = np.asarray(p.w[i]).astype(kind)
            out[f"j{i + 1}_b{sfx}"] = np.asarray(p.b[i]).astype(kind)
    return out


def write_network(out: str | Path, meta: dict, net: Network, params: dict[str, Params]) -> Path:
    """Write the artifact at ``out``: ``meta`` (everything but the arrays, see
    docs/mlp-format.md) and the four parameter sets ``params`` (keys ``init_float``,
    ``init_fixed``, ``float``, ``fixed``)."""
    with atomic_directory(out) as tmp:
        save_arrays(tmp / "arrays.npz", _arrays(net, params))
        doc = dict(meta)
        doc.update(
            {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "arrays": {"file": "arrays.npz", "sha256": sha256_file(tmp / "arrays.npz")},
            }
        )
        write_json(tmp / "network.json", doc)
    return Path(out)


def _params(arrays: dict, n: int, sfx: str) -> Params:
    return Params(
        [
            arrays[f"j{i + 1}_w{sfx}"].astype(np.float64 if "float" in sfx else np.int64)
            for i in range(n)
        ],
        [
            arrays[f"j{i + 1}_b{sfx}"].astype(np.float64 if "float" in sfx else np.int64)
            for i in range(n)
        ],
    )


def load_network(path: str | Path) -> MlpArtifact:
    """Read and check the artifact directory ``path``."""
    root = Path(path)
    jp = root / "network.json"
    if not root.is_dir():
        raise NetworkFormatError(
            f"{root}: not a directory; give the output of `codesign mlp train`"
        )
    E = NetworkFormatError
    d = read_json(jp, E, _FIX)
    if d.get("format") != FORMAT:
        raise E(f"{jp}: field 'format' must be {FORMAT!r}, got {d.get('format')!r}; {_FIX}")
    version = need(d, "version", int, jp, E)
    if version != FORMAT_VERSION:
        raise E(f"{jp}: field 'version' is {version}; this codesign reads {FORMAT_VERSION}; {_FIX}")
    layers = need(d, "layers", list, jp, E)
    if len(layers) < 2 or not all(isinstance(x, int) and not isinstance(x, bool) for x in layers):
        raise E(f"{jp}: field 'layers' must list at least two integers, got {layers!r}")
    try:
        activation = Activation(need(d, "activation", str, jp, E))
    except ValueError:
        raise E(
            f"{jp}: field 'activation' is {d['activation']!r}, not one of sigmoid/relu"
        ) from None
    try:
        Schedule(need(d, "schedule", str, jp, E))
    except ValueError:
        raise E(f"{jp}: field 'schedule' is {d['schedule']!r}, not pipelined/sequential") from None
    recorded = need(d, "formats", dict, jp, E)
    expected = formats()
    if recorded != expected:
        raise E(f"{jp}: field 'formats' is {recorded}, this codesign's trainer uses {expected}")
    js = need(d, "junctions", list, jp, E)
    if len(js) != len(layers) - 1:
        raise E(f"{jp}: field 'junctions' has {len(js)} entries for {len(layers)} layers")
    junctions = []
    for i, jd in enumerate(js):
        w = f"junctions[{i}]."
        vals = {k: need(jd, k, int, jp, E, w) for k in ("n_left", "n_right", "fo", "z")}
        if (vals["n_left"], vals["n_right"]) != (layers[i], layers[i + 1]):
            raise E(f"{jp}: field '{w}n_left/n_right' disagrees with 'layers' {layers}")
        try:
            junctions.append(Junction(**vals))
        except ConnectivityError as e:
            raise E(f"{jp}: field '{w[:-1]}': {e}") from None
        il = need(jd, "interleaver", dict, jp, E, w)
        try:
            Interleaver(need(il, "kind", str, jp, E, w + "interleaver."))
        except ValueError:
            raise E(f"{jp}: field '{w}interleaver.kind' is {il['kind']!r}, unknown") from None
    arr = need(d, "arrays", dict, jp, E)
    npz = root / need(arr, "file", str, jp, E, "arrays.")
    digest = need(arr, "sha256", str, jp, E, "arrays.")
    if npz.is_file() and sha256_file(npz) != digest:
        raise E(
            f"{npz}: sha256 differs from network.json's 'arrays.sha256' (changed or "
            f"corrupt); {_FIX}"
        )
    arrays = read_arrays(npz, array_names(len(junctions)), E, _FIX)
    for i, j in enumerate(junctions):
        for sfx, kind in _ARRAYS:
            name = f"j{i + 1}_{sfx}"
            a = arrays[name]
            n = j.edges if sfx in ("order",) or sfx.startswith("w") else j.n_right
            want = {"order": np.int32, "float": np.float64, "word": np.int16}[kind]
            if a.shape != (n,) or a.dtype != want:
                raise E(
                    f"{npz}: array '{name}' is {a.dtype} {a.shape}, expected "
                    f"{np.dtype(want)} ({n},); {_FIX}"
                )
            if kind == "float" and not np.isfinite(a).all():
                raise E(f"{npz}: array '{name}' holds NaN or infinity; {_FIX}")
            if kind == "word" and (a.min() < WORD.min or a.max() > WORD.max):
                raise E(f"{npz}: array '{name}' holds values outside the 10-bit word; {_FIX}")
        try:
            check_order(j, arrays[f"j{i + 1}_order"].astype(np.int64), f"{npz}: j{i + 1}_order")
        except ConnectivityError as e:
            raise E(f"{e}; {_FIX}") from None
    orders = tuple(arrays[f"j{i + 1}_order"].astype(np.int64) for i in range(len(junctions)))
    net = Network(tuple(junctions), orders, activation)
    n = len(junctions)
    return MlpArtifact(
        root,
        d,
        net,
        _params(arrays, n, "_init_float"),
        _params(arrays, n, "_init"),
        _params(arrays, n, "_float"),
        _params(arrays, n, ""),
    )


def formats() -> dict:
    """The number formats recorded in (and required of) every artifact."""
    return {
        "word": WORD.to_dict(),
        "pixel_bits_used": 8 - 1,
        "sigma_bits": SIGMA_BITS,
        "sigma_prime_bits": SIGMA_PRIME_BITS,
        "table_range": list(TABLE_RANGE),
        "table_entries": 1 << WORD.bits,
    }

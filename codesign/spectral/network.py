"""Network descriptions and the float model: spectral LeNet-5 (trained) and VGG16 shapes (mapped).

A network is a list of layer dicts, the same dicts that the model artifact stores:

* ``{"type": "spectral_conv", "name", "in_channels", "out_channels", "kernel" (K), "fft" (N),
  "relu": bool, "pool": int}`` — spectral OaA convolution (valid), then ReLU, then max-pool;
* ``{"type": "dense", "name", "in_features", "out_features", "relu": bool}``.

Parameters live in a flat dict: ``conv1.kernel`` (complex, O×C×N×(N/2+1)), ``conv1.bias``,
``fc1.weight`` (in×out), ``fc1.bias``.  Masks, where present, are ``<name>.mask`` booleans shaped
like the weight they gate.
"""

from __future__ import annotations

import numpy as np

from codesign.spectral.conv import (
    geometry,
    kernel_from_spatial,
    spectral_backward,
    spectral_forward,
)

__all__ = [
    "lenet5",
    "vgg16_layers",
    "layer_shapes",
    "init_params",
    "forward",
    "backward",
    "predict",
    "softmax_xent",
    "weight_key",
    "SPECTRAL",
    "DENSE",
]

SPECTRAL = "spectral_conv"
DENSE = "dense"
INPUT_SHAPE = (1, 28, 28)


def lenet5(fft: int = 8, kernel: int = 5) -> list[dict]:
    """The SPEC2 LeNet-5: spectral conv 1→6, pool, spectral conv 6→16, pool, dense 256-120-84-10."""
    return [
        {
            "type": SPECTRAL,
            "name": "conv1",
            "in_channels": 1,
            "out_channels": 6,
            "kernel": kernel,
            "fft": fft,
            "relu": True,
            "pool": 2,
        },
        {
            "type": SPECTRAL,
            "name": "conv2",
            "in_channels": 6,
            "out_channels": 16,
            "kernel": kernel,
            "fft": fft,
            "relu": True,
            "pool": 2,
        },
        {"type": DENSE, "name": "fc1", "in_features": 256, "out_features": 120, "relu": True},
        {"type": DENSE, "name": "fc2", "in_features": 120, "out_features": 84, "relu": True},
        {"type": DENSE, "name": "fc3", "in_features": 84, "out_features": 10, "relu": False},
    ]


def vgg16_layers(fft: int = 8, image: int = 224) -> list[dict]:
    """Shapes of VGG16's 13 conv layers (3×3, 'same' padding 1) for the mapping stage only."""
    plan = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
    layers, cin, size, i = [], 3, image, 0
    for p in plan:
        if p == "M":
            size //= 2
            layers[-1]["pool"] = 2
            continue
        i += 1
        layers.append(
            {
                "type": SPECTRAL,
                "name": f"conv{i}",
                "in_channels": cin,
                "out_channels": p,
                "kernel": 3,
                "fft": fft,
                "relu": True,
                "pool": 1,
                "padding": 1,
                "height": size,
                "width": size,
            }
        )
        cin = p
    return layers


def weight_key(layer: dict) -> str:
    return f"{layer['name']}.kernel" if layer["type"] == SPECTRAL else f"{layer['name']}.weight"


def layer_shapes(layers: list[dict], input_shape=INPUT_SHAPE) -> list[dict]:
    """Input/output (C, H, W) of every layer, checking that consecutive layers fit together."""
    shape = tuple(input_shape)
    out = []
    for layer in layers:
        if layer["type"] == SPECTRAL:
            C, H, W = shape
            if C != layer["in_channels"]:
                raise ValueError(
                    f"layer {layer['name']}: expects {layer['in_channels']} input "
                    f"channels, gets {C}"
                )
            pad = layer.get("padding", 0)
            g = geometry(H + 2 * pad, W + 2 * pad, layer["kernel"], layer["fft"])
            p = layer["pool"]
            nxt = (layer["out_channels"], g.out_h // p, g.out_w // p)
            out.append(
                {
                    "name": layer["name"],
                    "in": shape,
                    "conv_out": (nxt[0], g.out_h, g.out_w),
                    "out": nxt,
                    "tiles": g.tiles_h * g.tiles_w,
                    "L": g.L,
                    "bins": g.bins,
                }
            )
        else:
            n = int(np.prod(shape))
            if n != layer["in_features"]:
                raise ValueError(
                    f"layer {layer['name']}: expects {layer['in_features']} inputs, "
                    f"gets {n} (shape {shape})"
                )
            nxt = (layer["out_features"],)
            out.append({"name": layer["name"], "in": shape, "out": nxt})
        shape = nxt
    return out


def init_params(layers: list[dict], rng: np.random.Generator) -> dict:
    """He-normal spatial K×K kernels taken to the spectral domain; He-normal dense weights."""
    params = {}
    for layer in layers:
        n = layer["name"]
        if layer["type"] == SPECTRAL:
            O, C, K, N = (
                layer["out_channels"],
                layer["in_channels"],
                layer["kernel"],
                layer["fft"],
            )
            k = rng.normal(0.0, np.sqrt(2.0 / (C * K * K)), size=(O, C, K, K))
            params[f"{n}.kernel"] = kernel_from_spatial(k, N)
            params[f"{n}.bias"] = np.zeros(O)
        else:
            i, o = layer["in_features"], layer["out_features"]
            params[f"{n}.weight"] = rng.normal(0.0, np.sqrt(2.0 / i), size=(i, o))
            params[f"{n}.bias"] = np.zeros(o)
    return params


def _pool_forward(x: np.ndarray, p: int):
    B, C, H, W = x.shape
    Hp, Wp = H // p, W // p
    v = x[:, :, : Hp * p, : Wp * p].reshape(B, C, Hp, p, Wp, p).transpose(0, 1, 2, 4, 3, 5)
    v = v.reshape(B, C, Hp, Wp, p * p)
    arg = v.argmax(axis=-1)
    return np.take_along_axis(v, arg[..., None], -1)[..., 0], (x.shape, arg)


def _pool_backward(g: np.ndarray, p: int, cache):
    shape, arg = cache
    B, C, H, W = shape
    Hp, Wp = H // p, W // p
    v = np.zeros((B, C, Hp, Wp, p * p))
    np.put_along_axis(v, arg[..., None], g[..., None], -1)
    v = v.reshape(B, C, Hp, Wp, p, p).transpose(0, 1, 2, 4, 3, 5).reshape(B, C, Hp * p, Wp * p)
    dx = np.zeros(shape)
    dx[:, :, : Hp * p, : Wp * p] = v
    return dx


def forward(params: dict, layers: list[dict], x: np.ndarray):
    """Float forward pass: x (B, 1, 28, 28) in [0, 1) → logits (B, 10), caches for backward."""
    caches = []
    h = x
    for layer in layers:
        n = layer["name"]
        if layer["type"] == SPECTRAL:
            z, c = spectral_forward(h, params[f"{n}.kernel"], params[f"{n}.bias"], layer["kernel"])
            a = np.maximum(z, 0.0) if layer["relu"] else z
            pc = None
            if layer["pool"] > 1:
                a, pc = _pool_forward(a, layer["pool"])
            caches.append((c, z, pc))
        else:
            flat = h.reshape(h.shape[0], -1)
            z = flat @ params[f"{n}.weight"] + params[f"{n}.bias"]
            a = np.maximum(z, 0.0) if layer["relu"] else z
            caches.append((flat, z, h.shape))
        h = a
    return h, caches


def backward(params: dict, layers: list[dict], caches: list, dlogits: np.ndarray) -> dict:
    """Gradients of every parameter, given d(loss)/d(logits)."""
    grads = {}
    g = dlogits
    for layer, cache in zip(reversed(layers), reversed(caches)):
        n = layer["name"]
        if layer["type"] == SPECTRAL:
            c, z, pc = cache
            if layer["pool"] > 1:
                g = _pool_backward(g, layer["pool"], pc)
            if layer["relu"]:
                g = g * (z > 0)
            g, grads[f"{n}.kernel"], grads[f"{n}.bias"] = spectral_backward(
                g, params[f"{n}.kernel"], c
            )
        else:
            flat, z, in_shape = cache
            if layer["relu"]:
                g = g * (z > 0)
            grads[f"{n}.weight"] = flat.T @ g
            grads[f"{n}.bias"] = g.sum(axis=0)
            g = (g @ params[f"{n}.weight"].T).reshape(in_shape)
    return grads


def softmax_xent(logits: np.ndarray, labels: np.ndarray):
    """Mean softmax cross-entropy and its gradient w.r.t. the logits."""
    z = logits - logits.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    p = np.exp(log_p)
    n = logits.shape[0]
    loss = -np.mean(log_p[np.arange(n), labels])
    d = p.copy()
    d[np.arange(n), labels] -= 1.0
    return loss, d / n


def predict(params: dict, layers: list[dict], x: np.ndarray, batch: int = 500) -> np.ndarray:
    """Class predictions of the float model."""
    out = [
        forward(params, layers, x[i : i + batch])[0].argmax(axis=1) for i in range(0, len(x), batch)
    ]
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

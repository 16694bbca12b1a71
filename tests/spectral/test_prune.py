"""The prune stage end to end on a small real-MNIST subset."""

import numpy as np

from codesign.nn.sparsity import keep_count
from codesign.spectral.conv import live_bins, real_bins
from codesign.spectral.fxpmodel import accuracy_fixed
from codesign.spectral.network import SPECTRAL, weight_key
from codesign.spectral.prune import prune


def test_spectral_layers_are_pruned_to_exact_balanced_density(small_model):
    for i, layer in enumerate(small_model.layers):
        key = weight_key(layer)
        if layer["type"] != SPECTRAL:
            if i == len(small_model.layers) - 1:
                assert key not in small_model.masks  # the output layer stays dense
                continue
            # hidden dense layers: their largest weights, 10 % of every output's inputs
            mask, w = small_model.masks[key], small_model.params[key]
            assert (mask.sum(axis=0) == keep_count(mask.shape[0], 0.1)).all()
            assert np.all(w[~mask] == 0)
            continue
        mask = small_model.masks[key]
        per_kernel = mask.reshape(mask.shape[0] * mask.shape[1], -1).sum(axis=1)
        # balanced, within the 34 live bins of a folded 8×8 kernel: floor(0.25 · 34) = 8
        assert (per_kernel == 8).all(), "balanced: 8 of the 34 live bins in every kernel"
        assert not mask[..., ~live_bins(8)].any(), "no bin whose product irfft2 discards"
        assert small_model.metrics["layers"][layer["name"]]["density"] == 8 / 34
        w = small_model.params[key]
        assert np.all(w[~mask] == 0), "retraining kept pruned weights at zero"
        assert np.all(w[..., real_bins(8)].imag == 0), "self-conjugate bins stay real"
        assert np.count_nonzero(w[mask]) > 0.9 * mask.sum()


def test_metrics_are_measured_not_assumed(small_model, small_data):
    acc = small_model.metrics["accuracy"]
    assert set(acc) == {"dense", "admm_before_retrain", "pruned", "fixed_point"}
    # 2 epochs on 600 images is a weak model (8 of 34 bins kept), but far above chance (10%)
    assert acc["dense"] > 0.6 and acc["pruned"] > 0.5
    q = small_model.quantized()
    again = accuracy_fixed(
        q, small_model.layers, small_model.fixed_point, small_data.test_x, small_data.test_y
    )
    assert again == acc["fixed_point"]
    assert abs(acc["fixed_point"] - acc["pruned"]) <= 0.02


def test_weights_stay_inside_fixed_point_range(small_model):
    cfg = small_model.fixed_point
    for layer in small_model.layers:
        w = small_model.params[weight_key(layer)]
        fmt = cfg.conv_weight if layer["type"] == SPECTRAL else cfg.dense_weight
        lim = fmt.max / fmt.scale
        parts = [w.real, w.imag] if np.iscomplexobj(w) else [w]
        assert all(np.abs(p).max() <= lim for p in parts)


def test_per_layer_density_overrides_model_wide(small_data, small_settings):
    """fc3 pruned with its own density (ADMM: real cvxpy W-step per column); the other dense
    layers kept at dense_density 1."""
    from dataclasses import replace

    s = replace(
        small_settings,
        dense_density=1.0,
        dense_method="admm",
        layer_density={"fc3": 0.5},
        epochs=1,
        retrain_epochs=0,
        admm=replace(small_settings.admm, iterations=2),  # the masks' shape, not their quality
    )
    m = prune(small_data, s, quiet=True)
    fc3 = m.masks["fc3.weight"]
    assert (fc3.sum(axis=0) == 42).all()
    assert "fc1.weight" not in m.masks and "fc2.weight" not in m.masks
    assert m.metrics["layers"]["fc3"]["density"] == 0.5
    assert m.metrics["layers"]["conv2"]["density"] == 8 / 34
    assert m.masks["conv1.kernel"].shape == m.params["conv1.kernel"].shape


def test_unknown_layer_in_density_override_is_an_error(small_data, small_settings):
    from dataclasses import replace

    import pytest

    with pytest.raises(ValueError, match=r"unknown layers \['fc9'\]"):
        prune(small_data, replace(small_settings, layer_density={"fc9": 0.5}, epochs=1), quiet=True)

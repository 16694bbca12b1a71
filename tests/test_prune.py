"""The prune stage end to end on a small real-MNIST subset."""
import numpy as np

from codesign.fxpmodel import accuracy_fixed
from codesign.network import SPECTRAL, weight_key
from codesign.prune import prune


def test_spectral_layers_are_pruned_to_exact_balanced_density(small_model):
    for layer in small_model.layers:
        key = weight_key(layer)
        if layer["type"] != SPECTRAL:
            assert key not in small_model.masks
            continue
        mask = small_model.masks[key]
        per_kernel = mask.reshape(mask.shape[0] * mask.shape[1], -1).sum(axis=1)
        assert (per_kernel == 10).all(), "balanced: 10 of 40 bins in every kernel"
        assert mask.mean() == 0.25
        w = small_model.params[key]
        assert np.all(w[~mask] == 0), "retraining kept pruned weights at zero"
        assert np.count_nonzero(w[mask]) > 0.9 * mask.sum()


def test_metrics_are_measured_not_assumed(small_model, small_data):
    acc = small_model.metrics["accuracy"]
    assert set(acc) == {"dense", "admm_before_retrain", "pruned", "fixed_point"}
    # 2 epochs on 600 images is a weak model, but far above chance (10%)
    assert acc["dense"] > 0.6 and acc["pruned"] > 0.6
    q = small_model.quantized()
    again = accuracy_fixed(q, small_model.layers, small_model.fixed_point,
                           small_data.test_x, small_data.test_y)
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


def test_dense_layer_pruning_with_own_density(small_data, small_settings):
    from dataclasses import replace
    s = replace(small_settings, dense_density=0.5, epochs=1, retrain_epochs=0)
    m = prune(small_data, s, quiet=True)
    fc1 = m.masks["fc1.weight"]
    assert (fc1.sum(axis=0) == 128).all()
    assert m.metrics["layers"]["fc3"]["density"] == 0.5

import numpy as np
import pytest

from core.layers import Dense, ReLU
from tests.gradcheck import numerical_gradient, relative_error


def _check_layer(layer, n_in, rng):
    """Gradient check of sum(Y * R) for a random R, so every output's gradient matters."""
    params, n_out = layer.init(rng, n_in)
    params = {k: v.astype(np.float64) for k, v in params.items()}
    X = rng.standard_normal((5, n_in))  # (batch, features)
    R = rng.standard_normal((5, n_out))

    def loss(p):
        return float(np.sum(layer.forward(p, X)[0] * R))

    _, cache = layer.forward(params, X)
    dX, grads = layer.backward(params, cache, R, need_dX=True)
    # the input gradient, by treating X as a parameter
    numeric_dX = numerical_gradient(lambda p: float(np.sum(layer.forward(params, p["X"])[0] * R)), {"X": X})
    return relative_error(grads, numerical_gradient(loss, params)) if grads else 0.0, relative_error(
        {"X": dX}, numeric_dX
    )


@pytest.mark.parametrize("layer", [Dense(3), Dense(3, "he"), ReLU()], ids=repr)
def test_layer_gradients_match_central_differences(layer):
    param_error, input_error = _check_layer(layer, 4, np.random.default_rng(0))
    assert param_error < 1e-7
    assert input_error < 1e-7


def test_gradient_check_catches_a_wrong_dense_gradient():
    class Wrong(Dense):
        def backward(self, params, cache, dZ, need_dX):
            dX, grads = super().backward(params, cache, dZ, need_dX)
            return dX, {"W": grads["W"] * 1.01, "b": grads["b"]}  # 1% off

    param_error, _ = _check_layer(Wrong(3), 4, np.random.default_rng(0))
    assert param_error > 1e-3


@pytest.mark.parametrize("layer", [Dense(7), Dense(7, "he"), ReLU()], ids=repr)
def test_layers_keep_float32(layer):
    rng = np.random.default_rng(1)
    params, n_out = layer.init(rng, 6)
    assert all(v.dtype == np.float32 for v in params.values())
    X = rng.random((3, 6), dtype=np.float32)
    Y, cache = layer.forward(params, X)
    dX, grads = layer.backward(params, cache, np.ones_like(Y), need_dX=True)
    assert Y.dtype == np.float32 and Y.shape == (3, n_out)
    assert dX is not None and dX.dtype == np.float32 and dX.shape == X.shape
    assert all(grads[k].dtype == np.float32 and grads[k].shape == params[k].shape for k in grads)


def test_dense_uniform_init_is_the_seed_networks():
    params, _ = Dense(10).init(np.random.default_rng(0), 784)
    assert params["W"].shape == (10, 784) and params["b"].shape == (10, 1)
    assert params["W"].min() >= -0.5 and params["W"].max() < 0.5
    assert abs(float(params["W"].mean())) < 0.02  # U[-0.5, 0.5) has mean 0 and sd 0.29


def test_dense_skips_the_input_gradient_when_not_needed():
    params, _ = Dense(2).init(np.random.default_rng(0), 3)
    Y, cache = Dense(2).forward(params, np.ones((4, 3), np.float32))
    dX, _ = Dense(2).backward(params, cache, Y, need_dX=False)
    assert dX is None


def test_dense_rejects_bad_configuration():
    with pytest.raises(ValueError, match="n_out must be at least 1, got 0"):
        Dense(0)
    with pytest.raises(ValueError, match="init must be one of"):
        Dense(3, "zeros")

import numpy as np
import pytest

from core import model as M
from core.losses import softmax_cross_entropy
from core.optimizers import gradient_descent
from core.serialization import npz_bytes
from core.train import full_batch_descent, loss_and_gradient, pack


def _data(m=300, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, m)
    X = rng.random((m, 784), dtype=np.float32) * 0.2
    X[np.arange(m), y * 70] = 1.0  # one bright pixel per class makes it learnable
    return X, y


def test_packed_chunks_give_the_whole_batch_gradient():
    X, y = _data()
    X[:, 300:400] = 0  # blank columns, as MNIST's borders are
    X[y == 3, 500:600] = 0  # and columns blank in one class only
    net = M.seed_network()
    params = M.init(net, np.random.default_rng(0))
    Z, caches = M.forward(net, params, X)
    loss_one, dZ = softmax_cross_entropy(Z, y)
    grads_one, right_one = M.backward(net, params, caches, dZ), int(np.sum(Z.argmax(axis=1) == y))
    chunks = pack(X, y, chunk_rows=7)
    assert all(not set(range(300, 400)) & set(c.columns) for c in chunks)
    assert any(len(c.columns) < 684 for c in chunks)  # some chunk is all 3s and drops more
    assert sum(len(c.y) for c in chunks) == len(y)
    loss_many, grads_many, right_many = loss_and_gradient(net, params, chunks)
    assert loss_many == pytest.approx(loss_one, rel=1e-6)
    assert right_many == right_one
    for key in grads_one:
        np.testing.assert_allclose(grads_many[key], grads_one[key], rtol=1e-4, atol=1e-7, err_msg=key)


def test_one_step_is_w_minus_alpha_dw():
    X, y = _data(m=50)
    net = M.seed_network()
    params = M.init(net, np.random.default_rng(0))
    before = {k: v.copy() for k, v in params.items()}
    _, grads, _ = loss_and_gradient(net, params, pack(X, y))
    full_batch_descent(net, params, X, y, alpha=0.1, iterations=1)
    for key in params:
        np.testing.assert_allclose(params[key], before[key] - 0.1 * grads[key], rtol=1e-6, atol=1e-7)


def test_training_lowers_the_loss_and_reports_each_step():
    X, y = _data()
    net = M.seed_network()
    params = M.init(net, np.random.default_rng(0))
    steps = []
    full_batch_descent(net, params, X, y, 0.5, 60, lambda step, p: steps.append(step))
    assert [s.iteration for s in steps] == list(range(1, 61))
    assert steps[-1].loss < 0.5 * steps[0].loss
    assert steps[-1].accuracy > 0.8
    assert all(v.dtype == np.float32 for v in params.values())


def test_two_trainings_give_byte_identical_weights():
    X, y = _data()

    def train():
        net = M.seed_network()
        params = M.init(net, np.random.default_rng(42))
        return npz_bytes(full_batch_descent(net, params, X, y, 0.1, 20))

    assert train() == train()


def test_divergence_stops_training():
    X, y = _data()
    net = M.seed_network()
    params = M.init(net, np.random.default_rng(0))
    with pytest.raises(FloatingPointError, match="at iteration"), np.errstate(all="ignore"):
        full_batch_descent(net, params, X * 1e3, y, 1e6, 50)


def test_training_rejects_float64_inputs():
    X, y = _data(m=10)
    net = M.seed_network()
    with pytest.raises(TypeError, match="X must be float32, got float64"):
        full_batch_descent(net, M.init(net, np.random.default_rng(0)), X.astype(np.float64), y, 0.1, 1)


def test_gradient_descent_updates_in_place():
    params = {"W": np.array([[1.0, 2.0]], np.float32)}
    gradient_descent(params, {"W": np.array([[10.0, -10.0]], np.float32)}, alpha=0.1)
    np.testing.assert_array_equal(params["W"], np.array([[0.0, 3.0]], np.float32))
    assert params["W"].dtype == np.float32

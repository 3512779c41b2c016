import math
from types import SimpleNamespace

import numpy as np
import pytest

from core.optimizers import BLOCK, Optimizer, learning_rate


def _layer(*decayed, state=()):
    """What the optimizer reads of a layer: the arrays it decays, and its running state."""
    return SimpleNamespace(DECAYED=decayed, STATE=state)


def _step(name, steps=1, **options):
    """One dense layer's W and b, W decayed; returns them."""
    params = [{"W": np.array([[1.0, -2.0]], np.float32), "b": np.array([[0.5]], np.float32)}]
    grads = [{"W": np.array([[0.1, 0.2]], np.float32), "b": np.array([[-1.0]], np.float32)}]
    optimizer = Optimizer(name, **options)
    state = optimizer.init(params, [_layer("W")])
    for _ in range(steps):
        optimizer.update(params, grads, state, alpha=0.5)
    return {"W1": params[0]["W"], "b1": params[0]["b"]}


def test_gradient_descent_by_hand():
    p = _step("gd")
    np.testing.assert_allclose(p["W1"], [[1 - 0.05, -2 - 0.1]])
    np.testing.assert_allclose(p["b1"], [[0.5 + 0.5]])


def test_momentum_by_hand():
    # v1 = g, v2 = 0.9·g + g = 1.9·g; W = W0 - 0.5·(1 + 1.9)·g
    p = _step("momentum", steps=2, momentum=0.9)
    np.testing.assert_allclose(p["W1"], [[1 - 0.5 * 2.9 * 0.1, -2 - 0.5 * 2.9 * 0.2]], rtol=1e-6)


def test_adam_by_hand():
    # bias-corrected first step: m̂ = g, v̂ = g², so the step is α·g/(|g| + ε) ≈ α·sign(g)
    p = _step("adam")
    np.testing.assert_allclose(p["W1"], [[0.5, -2.5]], rtol=1e-6)
    np.testing.assert_allclose(p["b1"], [[1.0]], rtol=1e-6)
    # second step, by the textbook formula
    g = np.array([0.1, 0.2])
    m = 0.1 * g * (1 + 0.9)
    v = 0.001 * g**2 * (1 + 0.999)
    step = 0.5 * (m / (1 - 0.9**2)) / (np.sqrt(v / (1 - 0.999**2)) + 1e-8)
    second = _step("adam")["W1"][0] - _step("adam", steps=2)["W1"][0]
    np.testing.assert_allclose(second, step, rtol=1e-5)


def test_adam_on_arrays_of_several_blocks_follows_the_textbook_formula():
    # 300 x 700 values: three whole blocks of BLOCK and a partial one; three steps
    rng = np.random.default_rng(0)
    W = rng.standard_normal((300, 700)).astype(np.float32)
    params, optimizer = [{"W": W.copy()}], Optimizer("adam")
    assert W.size > 3 * BLOCK and W.size % BLOCK
    state = optimizer.init(params, [_layer("W")])
    m = v = np.zeros(W.shape)
    expected = W.astype(np.float64)
    for t in range(1, 4):
        g = rng.standard_normal(W.shape).astype(np.float32)
        optimizer.update(params, [{"W": g}], state, alpha=0.01)
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g.astype(np.float64) ** 2
        expected -= 0.01 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    np.testing.assert_allclose(params[0]["W"], expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="must be C-contiguous"):
        optimizer.update([{"W": params[0]["W"].T}], [{"W": g.T}], state, alpha=0.01)


def test_weight_decay_applies_to_weights_only():
    p = _step("gd", weight_decay=0.1)
    np.testing.assert_allclose(p["W1"], [[1 - 0.5 * (0.1 + 0.1), -2 - 0.5 * (0.2 - 0.2)]], rtol=1e-6)
    np.testing.assert_allclose(p["b1"], [[1.0]])


def test_parameters_without_gradients_are_left_alone():
    params = [{"W": np.ones((1, 1), np.float32), "mean": np.ones(1, np.float32)}]
    optimizer = Optimizer("adam")
    state = optimizer.init(params, [_layer("W", state=("mean",))])
    optimizer.update(params, [{"W": np.ones((1, 1), np.float32)}], state, 0.1)
    assert params[0]["mean"][0] == 1
    assert set(state["slots"][0]) == {"W"}  # running state keeps no optimizer buffers


def test_weight_decay_follows_what_each_layer_names_not_the_key():
    """A layer that decays nothing keeps its W undecayed; one that names b decays b."""
    params = [{"W": np.ones((1, 1), np.float32), "b": np.ones((1, 1), np.float32)} for _ in range(2)]
    zero = [{"W": np.zeros((1, 1), np.float32), "b": np.zeros((1, 1), np.float32)} for _ in range(2)]
    optimizer = Optimizer("gd", weight_decay=0.5)
    optimizer.update(params, zero, optimizer.init(params, [_layer(), _layer("b")]), alpha=1.0)
    assert [(p["W"][0, 0], p["b"][0, 0]) for p in params] == [(1.0, 1.0), (1.0, 0.5)]


def test_schedules():
    assert learning_rate(0.1, "constant", 7, 10, 1.0) == 0.1
    assert learning_rate(0.1, "cosine", 0, 10, 1.0) == pytest.approx(0.1)
    assert learning_rate(0.1, "cosine", 5, 10, 1.0) == pytest.approx(0.05)
    assert learning_rate(0.1, "exponential", 2, 10, 0.5) == pytest.approx(0.025)
    with pytest.raises(ValueError, match="schedule must be one of"):
        learning_rate(0.1, "linear", 0, 1, 1.0)


def test_bad_optimizers_are_refused():
    with pytest.raises(ValueError, match="optimizer must be one of gd, momentum, adam, found 'rmsprop'"):
        Optimizer("rmsprop")
    with pytest.raises(ValueError, match="momentum must be in"):
        Optimizer("momentum", momentum=1.0)
    assert math.isclose(Optimizer().momentum, 0.9)

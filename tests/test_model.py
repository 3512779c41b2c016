import numpy as np
import pytest

from core import model as M
from core.losses import softmax_cross_entropy
from core.parts import Workers
from tests.gradcheck import numerical_gradient, relative_error

SEED = ["dense 10", "relu", "dense 10"]


def named(net, params):
    """The parameters under their weights-file names (W1, b1, ...): the same arrays, not copies."""
    return {key: value for key, value in M.to_arrays(net, params).items() if key != M.ARCHITECTURE}


def _tiny_problem(seed=0, hidden=5, m=8):
    rng = np.random.default_rng(seed)
    net = M.build([f"dense {hidden}", "relu", "dense 10"], "uniform")
    params = [{k: v.astype(np.float64) for k, v in p.items()} for p in M.init(net, rng)]
    X = rng.random((m, 784))  # (m, features), like pixels / 255
    y = rng.integers(0, 10, m)
    return net, params, X, y


def _numeric(net, params, X, y):
    """Central differences of the loss, by weights-file name."""
    return numerical_gradient(
        lambda _: softmax_cross_entropy(M.forward(net, params, X)[0], y)[0], named(net, params)
    )


def test_whole_backward_pass_matches_central_differences():
    net, params, X, y = _tiny_problem()
    Z, caches = M.forward(net, params, X)
    _, dZ, _ = softmax_cross_entropy(Z, y)
    analytic = named(net, M.backward(net, params, caches, dZ))
    numeric = _numeric(net, params, X, y)
    assert set(analytic) == {"W1", "b1", "W2", "b2"}
    assert relative_error(analytic, numeric) < 1e-6


def test_gradient_check_fails_without_the_relu_derivative():
    """Negative control: the seed's backward pass without ⊙ ReLU′(Z1) must fail the check."""
    net, layers, X_rows, y = _tiny_problem()
    params = named(net, layers)
    X = X_rows.T  # the equations' X is (features, m)
    Z1 = params["W1"] @ X + params["b1"]
    assert (Z1 < 0).any()  # some units are off, so the mask matters
    _, dZ, _ = softmax_cross_entropy(M.forward(net, layers, X_rows)[0], y)
    dZ2 = dZ.T
    A1 = np.maximum(Z1, 0)
    dZ1 = params["W2"].T @ dZ2  # missing: * (Z1 > 0)
    wrong = {
        "W1": dZ1 @ X.T,
        "b1": dZ1.sum(1, keepdims=True),
        "W2": dZ2 @ A1.T,
        "b2": dZ2.sum(1, keepdims=True),
    }
    numeric = _numeric(net, layers, X_rows, y)
    assert relative_error(wrong, numeric) > 1e-3


def test_backward_is_the_seed_equations():
    """dZ2 = A2 − Y, dW2 = dZ2·A1ᵀ/m, db2 = ΣdZ2/m,
    dZ1 = W2ᵀ·dZ2 ⊙ ReLU′(Z1), dW1 = dZ1·Xᵀ/m, db1 = ΣdZ1/m."""
    net, layers, X_rows, y = _tiny_problem(seed=3)
    params = named(net, layers)
    X = X_rows.T  # the equations' X is (features, m)
    m = X.shape[1]
    W1, b1, W2, b2 = (params[k] for k in ("W1", "b1", "W2", "b2"))
    Z1 = W1 @ X + b1
    A1 = np.maximum(Z1, 0)
    Z2 = W2 @ A1 + b2
    A2 = np.exp(Z2) / np.exp(Z2).sum(axis=0)
    Y = np.eye(10)[:, y]
    dZ2 = A2 - Y
    dZ1 = W2.T @ dZ2 * (Z1 > 0)
    expected = {
        "W2": dZ2 @ A1.T / m,
        "b2": dZ2.sum(axis=1, keepdims=True) / m,
        "W1": dZ1 @ X.T / m,
        "b1": dZ1.sum(axis=1, keepdims=True) / m,
    }
    Z, caches = M.forward(net, layers, X_rows)
    _, dZ, _ = softmax_cross_entropy(Z, y)
    got = named(net, M.backward(net, layers, caches, dZ))
    for key, value in expected.items():
        np.testing.assert_allclose(got[key], value, rtol=1e-10, atol=1e-12, err_msg=key)


def test_seed_network_shapes_and_dtype():
    net = M.build(SEED, "uniform")
    params = named(net, M.init(net, np.random.default_rng(0)))
    assert {k: v.shape for k, v in params.items()} == {
        "W1": (10, 784),
        "b1": (10, 1),
        "W2": (10, 10),
        "b2": (10, 1),
    }
    assert all(v.dtype == np.float32 for v in params.values())
    X = np.random.default_rng(1).random((5, 784), dtype=np.float32)
    probs = M.predict_proba(net, M.from_arrays(params)[1], X, chunk_rows=2)
    assert probs.shape == (5, 10) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)


def test_chunks_scored_at_once_give_the_same_probabilities():
    net = M.build(["conv 4 3", "maxpool 2", "relu", "batchnorm", "flatten", "dense 10"])
    params = M.init(net, np.random.default_rng(0))
    X = np.random.default_rng(1).random((50, 784), dtype=np.float32)
    with Workers(lambda: 2) as workers:  # as training and scoring run them
        at_once = M.predict_proba(net, params, X, chunk_rows=8, map_chunks=workers.map)
    one_by_one = M.predict_proba(net, params, X, chunk_rows=8)
    np.testing.assert_array_equal(at_once, one_by_one)
    assert at_once.shape == (50, 10)


def test_init_is_reproducible_from_the_seed():
    net = M.build(SEED, "uniform")
    a, b, c = (named(net, M.init(net, np.random.default_rng(seed))) for seed in (7, 7, 8))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["W1"], c["W1"])


def test_weights_files_rebuild_the_model():
    net = M.build(["conv 4 3", "relu", "maxpool 2", "flatten", "dense 16", "relu", "dense 10"])
    params = M.init(net, np.random.default_rng(0))
    rebuilt, loaded = M.from_arrays(M.to_arrays(net, params))
    assert rebuilt == net and len(loaded) == len(params)
    for mine, theirs in zip(params, loaded, strict=True):
        assert mine.keys() == theirs.keys() and all(np.array_equal(mine[k], theirs[k]) for k in mine)


def test_a_convolution_absorbs_the_pooling_and_relu_after_it():
    spec = ["conv 4 3", "maxpool 2", "relu", "batchnorm", "conv 8 3", "relu", "maxpool 2", "relu", "flatten"]
    spec.append("dense 10")
    net = M.build(spec)
    assert net.spec == tuple(spec)
    assert net.parts == (
        "conv 4 3, maxpool 2, relu",
        "batchnorm",
        "conv 8 3, relu, maxpool 2",
        "relu",  # a second ReLU is not absorbed: relu(relu(z)) is fused once
        "flatten",
        "dense 10",
    )
    kinds = [type(layer).__name__ for layer in net.layers]
    assert kinds == ["Conv2D", "BatchNorm", "Conv2D", "ReLU", "Flatten", "Dense"]
    first, second = net.layers[0], net.layers[2]
    assert (first.pool, first.relu, second.pool, second.relu) == (2, True, 2, True)
    params = M.init(net, np.random.default_rng(0))
    assert [sorted(p) for p in params] == [
        ["W", "b"],
        ["beta", "gamma", "mean", "var"],
        ["W", "b"],
        [],
        [],
        ["W", "b"],
    ]
    names = ["W1", "W3", "W4", "b1", "b3", "b4", "beta2", "gamma2", "mean2", "var2"]
    assert sorted(named(net, params)) == names  # numbered among the layers with parameters
    assert [layer.DECAYED for layer in net.layers] == [("W",), (), ("W",), (), (), ("W",)]
    assert [layer.STATE for layer in net.layers] == [(), ("mean", "var"), (), (), (), ()]


def test_a_strided_convolution_is_read_from_its_spec():
    net = M.build(["conv 8 5 valid stride 2", "relu", "conv 4 3 stride 2", "flatten", "dense 10"])
    first, second = net.layers[0], net.layers[1]
    assert (first.stride, first.padding, first.relu) == (2, "valid", True)
    assert (second.stride, second.padding, second.relu) == (2, "same", False)
    assert M.init(net, np.random.default_rng(0))[3]["W"].shape == (10, 6 * 6 * 4)  # 28 -> 12 -> 6


def test_bare_mlp_weights_are_read_from_their_shapes():
    net = M.build(["dense 32", "relu", "dense 16", "relu", "dense 10"])
    bare = named(net, M.init(net, np.random.default_rng(0)))  # as the first seed networks were saved
    assert M.from_arrays(bare)[0].spec == net.spec
    with pytest.raises(ValueError, match="no 'architecture' and no W1"):
        M.from_arrays({"b1": bare["b1"]})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.pop("b2"), r"expected arrays \['W1', 'W2', 'b1', 'b2'\]"),
        (lambda p: p.update(W1=p["W1"][:, :700]), r"W1 has shape \(10, 700\), expected \(10, 784\)"),
        (lambda p: p.update(b1=p["b1"].ravel()), r"b1 has shape \(10,\), expected \(10, 1\)"),
        (lambda p: p.update(W2=p["W2"].astype(np.float64)), "W2 has dtype float64, expected float32"),
        (lambda p: p.update(W2=p["W2"][:9], b2=p["b2"][:9]), r"W2 has shape \(9, 10\), expected \(10, 10\)"),
        (  # a bare file (no architecture) read from its shapes
            lambda p: (p.pop("architecture"), p.update(W2=p["W2"][:9], b2=p["b2"][:9])),
            "the last layer must give 10 outputs",
        ),
        (lambda p: p.update(architecture=np.array(["dense 10", "tanh"])), "layer 'tanh' is not one of"),
    ],
)
def test_bad_weights_files_name_what_is_wrong(change, message):
    net = M.build(SEED, "uniform")
    params = M.to_arrays(net, M.init(net, np.random.default_rng(0)))
    change(params)
    with pytest.raises(ValueError, match=message):
        M.from_arrays(params)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (["dense 12", "relu"], r"the last layer must give 10 outputs, the specs give shape \(12,\)"),
        (["conv 8 3", "dense 10"], "Dense needs flat inputs"),
        (["conv 8 3", "maxpool 5", "flatten", "dense 10"], "28x28 does not divide into 5x5 windows"),
        (["dense 0"], "n_out must be at least 1"),
        (["dropout 1.5", "dense 10"], r"rate must be in \[0, 1\)"),
        (["dense ten"], "layer 'dense ten'"),
        (["conv 8 5 valid stride 6", "flatten", "dense 10"], "stride must be 1 to the filter size 5, got 6"),
        (["conv 8 5 valid 2", "flatten", "dense 10"], "expected conv F K \\[valid\\] \\[stride S\\]"),
        (["conv 8 5 stride", "flatten", "dense 10"], "padding must be 'same' or 'valid', got 'stride'"),
        ([], "at least one layer"),
    ],
)
def test_bad_specs_name_the_layer(spec, message):
    with pytest.raises(ValueError, match=message):
        M.build(spec)

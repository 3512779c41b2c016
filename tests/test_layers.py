import numpy as np
import pytest

from core.conv import Conv2D, MaxPool2D
from core.layers import BatchNorm, Dense, Dropout, Flatten, Mode, ReLU
from tests.gradcheck import numerical_gradient, relative_error

# (layer, input shape without the batch axis, training mode)
LAYERS = [
    (Dense(3, "uniform"), (4,), False),
    (Dense(3, "he"), (4,), False),
    (ReLU(), (4,), False),
    (Flatten(), (3, 3, 2), False),
    (Dropout(0.4), (6,), True),
    (BatchNorm(), (4,), True),
    (BatchNorm(), (4, 4, 3), True),
    (BatchNorm(), (4,), False),
    (Conv2D(3, 3), (5, 5, 2), False),
    (Conv2D(2, 3, "valid"), (5, 4, 2), False),
    (Conv2D(2, 1), (3, 3, 3), False),
    (Conv2D(3, 3, "valid", pool=2), (6, 6, 2), False),
    (Conv2D(2, 3, "same", pool=2, relu=True), (4, 6, 3), False),
    (Conv2D(2, 3, "valid", relu=True), (5, 5, 2), False),
    (Conv2D(3, 3, "valid", pool=2, relu=True), (14, 14, 1), False),  # im2col transposed
    (Conv2D(3, 3, "valid", pool=2, relu=True), (10, 10, 8), False),  # Winograd's algorithm
    (Conv2D(2, 5, "same", pool=2), (8, 8, 4), False),  # Winograd's, 5x5
    (Conv2D(3, 5, "valid"), (12, 8, 3), False),  # Winograd's, 5x5, not square
    (Conv2D(3, 3, "valid", stride=2), (7, 6, 2), False),  # the last column read by none
    (Conv2D(2, 3, "same", stride=2, relu=True), (5, 5, 3), False),
    (Conv2D(3, 5, "valid", stride=2, relu=True), (11, 11, 1), False),  # im2col transposed
    (Conv2D(2, 3, "valid", pool=2, stride=2), (9, 9, 2), False),
    (MaxPool2D(2), (4, 6, 2), False),
]
IDS = [f"{layer!r}-{'train' if train else 'infer'}" for layer, _, train in LAYERS]


def _mode(train):
    # a fresh generator with the same seed each call: dropout draws the same mask every time
    return Mode(train=train, rng=np.random.default_rng(7))


def _check_layer(layer, in_shape, train, rng=None):
    """Relative errors of the parameter and input gradients of sum(Y * R), R random."""
    rng = rng or np.random.default_rng(0)
    params, out_shape = layer.init(rng, in_shape)
    params = {k: v.astype(np.float64) for k, v in params.items()}
    X = rng.standard_normal((3, *in_shape))
    R = rng.standard_normal((3, *out_shape))

    def loss_of(p, X):
        return float(np.sum(layer.forward(p, X, _mode(train))[0] * R))

    _, cache = layer.forward(params, X, _mode(train))
    dX, grads = layer.backward(params, cache, R, need_dX=True)
    trainable = {k: params[k] for k in grads}
    numeric = numerical_gradient(lambda t: loss_of({**params, **t}, X), trainable)
    numeric_dX = numerical_gradient(lambda p: loss_of(params, p["X"]), {"X": X})
    param_error = relative_error(grads, numeric) if grads else 0.0
    return param_error, relative_error({"X": dX}, numeric_dX)


@pytest.mark.parametrize(("layer", "in_shape", "train"), LAYERS, ids=IDS)
def test_layer_gradients_match_central_differences(layer, in_shape, train):
    param_error, input_error = _check_layer(layer, in_shape, train)
    assert param_error < 1e-7
    assert input_error < 1e-7


class WrongDense(Dense):
    def backward(self, params, cache, dZ, need_dX):
        dX, grads = super().backward(params, cache, dZ, need_dX)
        return dX, {"W": grads["W"] * 1.01, "b": grads["b"]}  # 1% off


class WrongConv(Conv2D):
    def backward(self, params, cache, dZ, need_dX):
        dX, grads = super().backward(params, cache, dZ, need_dX)
        dX[:, 0, 0, :] = 0  # forgets one pixel's gradient
        return dX, grads


def test_gradient_check_catches_wrong_gradients():
    assert _check_layer(WrongDense(3), (4,), False)[0] > 1e-3
    assert _check_layer(WrongConv(2, 3), (4, 4, 1), False)[1] > 1e-3


@pytest.mark.parametrize(("layer", "in_shape", "train"), LAYERS, ids=IDS)
def test_layers_keep_float32_and_their_shapes(layer, in_shape, train):
    rng = np.random.default_rng(1)
    params, out_shape = layer.init(rng, in_shape)
    assert all(v.dtype == np.float32 for v in params.values())
    X = rng.random((2, *in_shape), dtype=np.float32)
    Y, cache = layer.forward(params, X, _mode(train))
    dX, grads = layer.backward(params, cache, np.ones_like(Y), need_dX=True)
    assert Y.dtype == np.float32 and Y.shape == (2, *out_shape)
    assert dX is not None and dX.dtype == np.float32 and dX.shape == X.shape
    assert all(grads[k].dtype == np.float32 and grads[k].shape == params[k].shape for k in grads)


def test_dense_uniform_init_is_the_seed_networks():
    params, _ = Dense(10, "uniform").init(np.random.default_rng(0), (784,))
    assert params["W"].shape == (10, 784) and params["b"].shape == (10, 1)
    assert params["W"].min() >= -0.5 and params["W"].max() < 0.5


def test_he_init_has_variance_two_over_fan_in():
    params, _ = Conv2D(64, 5).init(np.random.default_rng(0), (12, 12, 32))
    assert params["W"].var() == pytest.approx(2 / (5 * 5 * 32), rel=0.05)
    assert not params["b"].any()


def test_conv_by_hand():
    # one 2x2 filter of ones, "valid": each output is the sum of its window
    layer = Conv2D(1, 2, "valid")
    params = {"W": np.ones((1, 2, 2, 1), np.float32), "b": np.full((1, 1), 0.5, np.float32)}
    X = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)
    Y, _ = layer.forward(params, X, Mode())
    np.testing.assert_array_equal(Y[0, :, :, 0], [[0 + 1 + 3 + 4 + 0.5, 1 + 2 + 4 + 5 + 0.5], [20.5, 24.5]])


STRIDED = [("valid", 1, True, 1), ("same", 1, False, 3), ("valid", 2, True, 8)]


@pytest.mark.parametrize(("padding", "pool", "relu", "channels"), STRIDED)
def test_strided_convolution_is_every_stride_th_output_of_the_unstrided_one(padding, pool, relu, channels):
    """Stride 2: the outputs at even rows and columns of the stride-1 convolution (then pooled
    and through the ReLU), to float32's precision (8 channels take Winograd's algorithm at
    stride 1, im2col at stride 2)."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((3, 15, 15, channels)).astype(np.float32)
    params, shape = Conv2D(4, 5, padding, pool, relu, stride=2).init(rng, X.shape[1:])
    Y, _ = Conv2D(4, 5, padding, pool, relu, stride=2).forward(params, X, Mode())
    full, _ = Conv2D(4, 5, padding).forward(params, X, Mode())
    expected = full[:, ::2, ::2, :]
    if pool > 1:
        expected, _ = MaxPool2D(pool).forward({}, expected[:, : shape[0] * pool, : shape[1] * pool], Mode())
    if relu:
        expected = np.maximum(expected, 0)
    assert Y.shape[1:] == shape == expected.shape[1:]
    np.testing.assert_allclose(Y, expected, rtol=1e-5, atol=1e-5)


def test_maxpool_by_hand_sends_the_gradient_to_the_first_maximum():
    X = np.array([[1, 5, 2, 2], [3, 0, 2, 2]], np.float32).reshape(1, 2, 4, 1)
    Y, cache = MaxPool2D(2).forward({}, X, Mode())
    np.testing.assert_array_equal(Y.ravel(), [5, 2])
    dX, _ = MaxPool2D(2).backward({}, cache, np.array([10, 20], np.float32).reshape(1, 1, 2, 1), True)
    np.testing.assert_array_equal(dX.reshape(2, 4), [[0, 10, 20, 0], [0, 0, 0, 0]])


@pytest.mark.parametrize("ties", [False, True])
def test_maxpool_gradient_goes_to_the_first_maximum_of_every_window(ties):
    """A batch big enough to be split across cores, against argmax over each window's values."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 12, 12, 8)).astype(np.float32)
    if ties:
        X[7, 2:4, 4:6, 1] = 3.0  # one window all equal
        X[250, 0, 1, :] = X[250, 1, 0, :] = 9.0  # two maxima in the first window of every channel
    layer = MaxPool2D(2)
    Y, cache = layer.forward({}, X, Mode(train=True))
    dY = rng.standard_normal(Y.shape).astype(np.float32)
    dX, _ = layer.backward({}, cache, dY, True)
    windows = X.reshape(300, 6, 2, 6, 2, 8).transpose(0, 1, 3, 5, 2, 4).reshape(300, 6, 6, 8, 4)
    np.testing.assert_array_equal(Y, windows.max(axis=-1))
    first = windows.argmax(axis=-1)  # argmax takes the first of equal maxima
    expected = np.zeros_like(windows)
    np.put_along_axis(expected, first[..., np.newaxis], dY[..., np.newaxis], axis=-1)
    expected = expected.reshape(300, 6, 6, 8, 2, 2).transpose(0, 1, 4, 2, 5, 3).reshape(X.shape)
    np.testing.assert_array_equal(dX, expected)


FUSED = [
    (algorithm, padding, pool, relu, channels)
    for algorithm in ("im2col", "winograd")
    for padding in ("same", "valid")
    for pool, relu in ((1, True), (2, False), (2, True), (3, True))
    for channels in (1, 8)  # 1: im2col transposed (3 inputs < 4 to 12 outputs); Winograd needs 8
    if algorithm == "im2col" or (channels == 8 and pool != 3)  # Winograd's 4x4 tiles hold 2x2 windows
]


@pytest.mark.parametrize(("algorithm", "padding", "pool", "relu", "channels"), FUSED)
def test_fused_convolution_is_convolution_then_pooling_then_relu(
    algorithm, padding, pool, relu, channels, monkeypatch
):
    """The same outputs and gradients as the layers one after another: by im2col bit for bit
    but the weight gradients (summed in another order); by Winograd's algorithm to float32's
    precision. Ties included (relu makes many, at 0)."""
    rng = np.random.default_rng(0)
    size = 12 if padding == "same" else 14  # 12 outputs: divisible by 2 and 3
    X = rng.integers(-2, 3, (4, size, size, channels)).astype(np.float32)  # many equal values
    fused = Conv2D(4, 3, padding, pool, relu)
    if algorithm == "im2col":
        monkeypatch.setattr(Conv2D, "_winograd", lambda self, shape: False)
    conv = Conv2D(4, 3, padding)
    params, _ = conv.init(rng, X.shape[1:])
    params["b"] = rng.integers(-1, 2, params["b"].shape).astype(np.float32)
    layers = [(conv, params)]
    layers += [(MaxPool2D(pool), {})] if pool > 1 else []
    layers += [(ReLU(), {})] if relu else []
    Y, caches = X, []
    for layer, p in layers:
        Y, cache = layer.forward(p, Y, Mode())
        caches.append(cache)
    Y_fused, cache = fused.forward(params, X, Mode())
    assert cache.algorithm == algorithm
    assert algorithm == "winograd" or cache.transposed == (channels == 1)  # im2col transposed or not
    exact = algorithm == "im2col"
    close = {"rtol": 1e-5 if exact else 1e-4, "atol": 1e-4}

    def same(a, b):
        return np.testing.assert_array_equal(a, b) if exact else np.testing.assert_allclose(a, b, **close)

    same(Y_fused, Y)
    dY = rng.standard_normal(Y.shape).astype(np.float32)
    dX_fused, grads_fused = fused.backward(params, cache, dY, True)
    for (layer, p), cache in reversed(list(zip(layers, caches, strict=True))):
        dY, grads = layer.backward(p, cache, dY, True)  # the convolution's come last
    same(dX_fused, dY)
    np.testing.assert_allclose(grads_fused["W"], grads["W"], **close)
    np.testing.assert_allclose(grads_fused["b"], grads["b"], **close)


def test_dropout_is_identity_for_inference_and_keeps_the_mean_in_training():
    X = np.ones((1000, 50), np.float32)
    assert Dropout(0.5).forward({}, X, Mode())[0] is X
    Y, _ = Dropout(0.5).forward({}, X, Mode(train=True, rng=np.random.default_rng(0)))
    assert set(np.unique(Y)) == {0.0, 2.0}
    assert Y.mean() == pytest.approx(1.0, abs=0.02)
    with pytest.raises(ValueError, match="needs a random generator"):
        Dropout(0.5).forward({}, X, Mode(train=True))


def test_batchnorm_normalises_in_training_and_tracks_running_statistics():
    layer = BatchNorm(momentum=0.0)  # running statistics = the last batch's
    params, _ = layer.init(np.random.default_rng(0), (3,))
    X = np.random.default_rng(1).normal(5.0, 2.0, (500, 3)).astype(np.float32)
    Y, _ = layer.forward(params, X, Mode(train=True))
    np.testing.assert_allclose(Y.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(Y.std(axis=0), 1, atol=1e-3)
    np.testing.assert_allclose(params["mean"], X.mean(axis=0), rtol=1e-6)
    Y_inference, _ = layer.forward(params, X, Mode())
    np.testing.assert_allclose(Y_inference, Y, atol=1e-4)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Dense(0), "n_out must be at least 1, got 0"),
        (lambda: Dense(3, "zeros"), "init must be one of"),
        (lambda: Conv2D(4, 2), "'same' padding needs an odd size"),
        (lambda: Conv2D(4, 3, "full"), "padding must be 'same' or 'valid'"),
        (lambda: Conv2D(4, 3, pool=0), "pool 1 to 11, got 4, 3, 0"),
        (lambda: Conv2D(4, 3, stride=4), "stride must be 1 to the filter size 3, got 4"),
        (lambda: MaxPool2D(12), "size must be 1 to 11, got 12"),
        (lambda: Dropout(1.0), r"rate must be in \[0, 1\)"),
    ],
)
def test_layers_reject_bad_configuration(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_winograds_algorithm_is_float32_accurate_where_the_cnn_uses_it():
    """The cnn preset's second convolution (5x5, 32 -> 64 channels on 12x12) runs Winograd's
    algorithm, its first im2col; in float32 Winograd's outputs and gradients stay within 1e-4 of
    their size of the exact ones (float64)."""
    rng = np.random.default_rng(0)
    first, second = Conv2D(32, 5, "valid", 2, True), Conv2D(64, 5, "valid", 2, True)
    assert not first._winograd((8, 28, 28, 1)) and second._winograd((8, 12, 12, 32))
    params, _ = second.init(rng, (12, 12, 32))
    X = rng.standard_normal((8, 12, 12, 32)).astype(np.float32)
    dY = rng.standard_normal((8, 4, 4, 64)).astype(np.float32)
    exact = {k: v.astype(np.float64) for k, v in params.items()}
    Y, cache = second.forward(params, X, Mode())
    Y64, cache64 = second.forward(exact, X.astype(np.float64), Mode())
    assert cache.algorithm == "winograd" and Y.dtype == np.float32
    np.testing.assert_array_equal(cache.where, cache64.where)  # no maximum moved
    dX, grads = second.backward(params, cache, dY, True)
    dX64, grads64 = second.backward(exact, cache64, dY.astype(np.float64), True)
    for ours, truth in ((Y, Y64), (dX, dX64), (grads["W"], grads64["W"])):
        assert np.abs(ours - truth).max() < 1e-4 * np.abs(truth).max()

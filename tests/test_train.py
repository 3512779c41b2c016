import numpy as np
import pytest

from core import model as M
from core.augment import Augment
from core.checks import SettingError
from core.layers import Mode
from core.losses import softmax_cross_entropy
from core.optimizers import Optimizer
from core.packed import pack
from core.serialization import npz_bytes
from core.train import Schedule, fit

SEED = ["dense 10", "relu", "dense 10"]


def _seed():
    net = M.build(SEED, "uniform")
    return net, M.init(net, np.random.default_rng(0))


def _bytes(net, params):
    return npz_bytes(M.to_arrays(net, params))


def _data(m=300, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, m)
    X = rng.random((m, 784), dtype=np.float32) * 0.2
    X[np.arange(m), y * 70] = 1.0  # one bright pixel per class makes it learnable
    return X, y


def _fit(net, params, X, y, schedule, optimizer=None, augment=None, dev=None, **kwargs):
    dev = dev if dev is not None else (X[:50], y[:50])
    return fit(
        net,
        params,
        (X, y, *dev),
        schedule,
        optimizer or Optimizer("gd"),
        augment or Augment(),
        np.random.default_rng(0),
        **kwargs,
    )


@pytest.mark.parametrize(
    ("layers", "dtype"),
    [
        (SEED, np.float32),  # the seed network's own equations
        (SEED, np.float64),
        (["dense 12", "relu", "dense 8", "relu", "dense 10"], np.float32),  # layer by layer
        (["dense 12", "dense 10", "relu"], np.float32),  # no relu inside, the logits through one
    ],
)
def test_packed_rows_give_the_plain_rows_gradient(layers, dtype):
    X, y = _data()
    X[:, 300:400] = 0  # blank columns, as MNIST's borders are
    image = X.reshape(-1, 28, 28)
    image[y == 3, :, 20:] = 0  # and columns blank in one class only: their ink box ends sooner
    X = X.astype(dtype)
    net = M.build(layers, "uniform")
    params = [{k: v.astype(dtype) for k, v in p.items()} for p in M.init(net, np.random.default_rng(0))]

    def step(rows, labels):
        Z, caches = M.forward(net, params, rows, Mode(train=True, rng=np.random.default_rng(0)))
        loss, dZ, right = softmax_cross_entropy(Z, labels)
        return loss, right, M.backward(net, params, caches, dZ)

    loss_one, right_one, grads_one = step(X, y)
    packed = pack(X, chunk_rows=7)
    assert all(not set(range(300, 400)) & set(c.columns) for c in packed.chunks)
    assert min(len(c.columns) for c in packed.chunks) < 684 - 150  # a chunk of 3s drops more
    assert [c.start for c in packed.chunks] == list(range(0, len(y), 7))
    assert sorted(packed.order.tolist()) == list(range(len(y)))
    loss_many, right_many, grads_many = step(packed, y[packed.order])
    assert loss_many == pytest.approx(loss_one, rel=1e-12 if dtype == np.float64 else 1e-6)
    assert right_many == right_one
    tolerance = {"rtol": 1e-10, "atol": 1e-14} if dtype == np.float64 else {"rtol": 1e-4, "atol": 1e-7}
    for i, (one, many) in enumerate(zip(grads_one, grads_many, strict=True)):
        for key in one:
            assert many[key].dtype == dtype and many[key].shape == params[i][key].shape
            np.testing.assert_allclose(many[key], one[key], **tolerance, err_msg=f"{key} of layer {i}")


@pytest.mark.parametrize("smoothing", [0.0, 0.3])
@pytest.mark.parametrize("decay", [0.0, 0.1])
def test_one_full_batch_step_is_w_minus_alpha_dw(smoothing, decay):
    """The seed network's update, W := W - α·dW, with label smoothing and weight decay as a
    mini-batch takes them: the full batch is one batch of every row."""
    X, y = _data(m=50)
    net, params = _seed()
    before = M.copy(params)
    Z, caches = M.forward(net, params, X)
    grads = M.backward(net, params, caches, softmax_cross_entropy(Z, y, smoothing=smoothing)[1])
    schedule = Schedule(epochs=1, alpha=0.1, label_smoothing=smoothing)
    _fit(net, params, X, y, schedule, Optimizer("gd", weight_decay=decay))
    for p, b, g, layer in zip(params, before, grads, net.layers, strict=True):
        for key in p:
            step = g[key] + (decay * b[key] if key in layer.DECAYED else 0)
            np.testing.assert_allclose(p[key], b[key] - 0.1 * step, rtol=1e-5, atol=1e-6)


def test_every_train_setting_changes_full_batch_training():
    """Label smoothing, weight decay, dropout, batch norm and augmentation act on the full batch
    as on mini-batches: none of them is ignored."""
    X, y = _data(m=100)

    def train(layers=SEED, augment=None, **settings):
        net = M.build(layers, "uniform")
        params = M.init(net, np.random.default_rng(0))
        decay = settings.pop("weight_decay", 0.0)
        kept, _ = _fit(
            net,
            params,
            X,
            y,
            Schedule(epochs=3, alpha=0.1, **settings),
            Optimizer("gd", weight_decay=decay),
            augment,
        )
        return _bytes(net, kept)

    plain = train()
    assert train(label_smoothing=0.3) != plain
    assert train(weight_decay=0.1) != plain
    assert train(augment=Augment(shift=2)) != plain
    assert train(["dense 10", "relu", "dropout 0.5", "dense 10"]) != train(
        ["dense 10", "relu", "dropout 0", "dense 10"]
    )
    assert train(["dense 10", "batchnorm", "relu", "dense 10"]) != plain


def test_full_batch_training_lowers_the_loss_and_reports_each_epoch():
    X, y = _data()
    net, params = _seed()
    kept, history = _fit(net, params, X, y, Schedule(epochs=60, alpha=0.5))
    assert kept is params and [e.epoch for e in history] == list(range(1, 61))
    assert history[-1].train_loss < 0.5 * history[0].train_loss
    assert history[-1].train_accuracy > 0.8 and history[-1].dev_accuracy > 0.8
    assert all(v.dtype == np.float32 for p in params for v in p.values())


def test_mini_batches_with_every_feature_learn():
    X, y = _data(m=400)
    net = M.build(["conv 4 3", "relu", "batchnorm", "maxpool 2", "flatten", "dropout 0.1", "dense 10"])
    params = M.init(net, np.random.default_rng(0))
    schedule = Schedule(
        epochs=4, batch_size=32, alpha=0.01, schedule="cosine", keep_best=True, label_smoothing=0.1
    )
    kept, history = _fit(
        net, params, X, y, schedule, Optimizer("adam", weight_decay=1e-4), Augment(1, 5, 0.05)
    )
    assert history[-1].dev_accuracy > 0.5  # chance is 0.1
    assert [round(e.alpha, 6) for e in history] == [0.01, 0.008536, 0.005, 0.001464]
    assert all(v.dtype == np.float32 for p in kept for v in p.values())


def test_keep_best_returns_the_best_dev_epoch_and_patience_stops_early():
    X, y = _data()
    net, params = _seed()
    snapshots = []
    kept, history = _fit(
        net,
        params,
        X,
        y,
        Schedule(epochs=200, alpha=3.0, patience=5, keep_best=True),
        on_epoch=lambda e: snapshots.append(M.copy(params)),
    )
    best = max(range(len(history)), key=lambda i: (history[i].dev_accuracy, -i))
    assert len(history) == best + 1 + 5  # five epochs without a better dev accuracy, then stop
    assert _bytes(net, kept) == _bytes(net, snapshots[best])


def test_two_trainings_give_byte_identical_weights():
    X, y = _data()

    def train(batch_size):
        net = M.build(["conv 4 3", "maxpool 2", "relu", "batchnorm", "flatten", "dropout 0.2", "dense 10"])
        params = M.init(net, np.random.default_rng(42))
        schedule = Schedule(epochs=3, batch_size=batch_size, alpha=0.01)
        kept, _ = _fit(net, params, X, y, schedule, Optimizer("adam"), Augment(2, 10, 0.1))
        return _bytes(net, kept)

    assert train(64) == train(64)
    assert train(64) != train(32)


def test_parts_give_the_same_bytes_on_any_number_of_cores_and_run_to_run():
    """Each part's augmentation and dropout come from its own generator and the parts' sums are
    added in their order: neither which thread finishes first nor how many compute at once
    matters. Two parts round otherwise than one."""
    X, y = _data()

    def train(threads, cores=1):
        net = M.build(["conv 4 3", "maxpool 2", "relu", "batchnorm", "flatten", "dropout 0.2", "dense 10"])
        params = M.init(net, np.random.default_rng(42))
        schedule = Schedule(epochs=2, batch_size=64, alpha=0.01, threads=threads)
        optimizer, augment = Optimizer("adam"), Augment(2, 10, 0.1)
        kept, _ = _fit(net, params, X, y, schedule, optimizer, augment, cores=lambda: cores)
        return _bytes(net, kept)

    assert train(2, cores=1) == train(2, cores=2) == train(2, cores=2) == train(2, cores=5)
    assert train(3, cores=2) == train(3, cores=3)
    assert train(2) != train(1)


def test_a_batchs_parts_train_as_the_whole_batch():
    """Without dropout or augmentation (whose draws come from each part's own generator) a batch's
    parts give the whole batch's gradient, batch norm's included, and its running statistics:
    the same training as one thread, up to rounding. (Not with Adam: a bias before batch norm has
    a gradient of exactly 0, whose rounding errors Adam would scale up to whole steps.)"""
    X, y = _data()

    def train(threads):
        layers = [
            "conv 4 3",
            "maxpool 2",
            "relu",
            "batchnorm",
            "flatten",
            "dense 16",
            "batchnorm",
            "dense 10",
        ]
        net = M.build(layers)
        params = M.init(net, np.random.default_rng(1))
        schedule = Schedule(epochs=2, batch_size=50, alpha=0.05, threads=threads, label_smoothing=0.1)
        kept, history = _fit(net, params, X, y, schedule, Optimizer("momentum"), cores=lambda: 2)
        return kept, history

    (one, one_history), (three, three_history) = train(1), train(3)  # parts of 17, 17 and 16 rows
    for i, (p_one, p_three) in enumerate(zip(one, three, strict=True)):
        for key in p_one:
            np.testing.assert_allclose(p_three[key], p_one[key], rtol=1e-4, atol=1e-6, err_msg=f"{key}{i}")
    assert three_history[-1].train_loss == pytest.approx(one_history[-1].train_loss, rel=1e-5)
    assert three_history[-1].dev_accuracy == one_history[-1].dev_accuracy


def test_batch_norm_running_statistics_are_the_whole_batchs():
    """With two parts, the running averages move towards the statistics of the whole batch, as
    with one part."""
    X, y = _data(m=81)
    net = M.build(["dense 8", "batchnorm", "relu", "dense 10"])
    params = M.init(net, np.random.default_rng(0))
    W, b = params[0]["W"].copy(), params[0]["b"].copy()
    schedule = Schedule(epochs=1, batch_size=40, threads=2)  # the last batch: one row, one part
    after_first = []

    def on_batch(done, total):
        if not after_first:
            after_first.append(M.copy(params))

    fit(
        net,
        params,
        (X, y, X[:0], y[:0]),
        schedule,
        Optimizer("gd"),
        Augment(),
        np.random.default_rng(0),
        None,
        on_batch,
        cores=lambda: 2,
    )
    assert M.finite(params)
    order = np.random.default_rng(0).permutation(81)  # as the epoch shuffles, from the same generator
    Z = X[order[:40]] @ W.T + b.T
    norm = after_first[0][1]
    np.testing.assert_allclose(norm["mean"], 0.1 * Z.mean(axis=0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(norm["var"], 0.9 + 0.1 * Z.var(axis=0), rtol=1e-4)


def test_full_batch_chunks_on_several_cores_give_the_same_bytes():
    X, y = _data(m=3000)

    def train(cores):
        net, params = _seed()
        kept, _ = _fit(net, params, X, y, Schedule(epochs=5, alpha=0.1), cores=lambda: cores)
        return _bytes(net, kept)

    assert train(1) == train(2) == train(3)


def test_divergence_stops_training():
    X, y = _data()
    net, params = _seed()
    with pytest.raises(FloatingPointError, match="at iteration"), np.errstate(all="ignore"):
        _fit(net, params, X * 1e3, y, Schedule(epochs=50, alpha=1e6))


@pytest.mark.parametrize(
    ("spec", "schedule", "message"),
    [
        (
            ["conv 2 3", "flatten", "dense 10"],
            Schedule(epochs=1),
            "batch_size must be from 1 to 19 for convolutions",
        ),
        (
            ["conv 2 3", "flatten", "dense 10"],
            Schedule(epochs=1, batch_size=20),
            "batch_size must be from 1 to 19",
        ),
        (["dense 10"], Schedule(epochs=1, batch_size=20, threads=2), "threads must be 1 for the full batch"),
    ],
)
def test_settings_that_cannot_apply_to_the_full_batch_are_named(spec, schedule, message):
    X, y = _data(m=20)
    net = M.build(spec)
    with pytest.raises(SettingError, match=message):
        _fit(net, M.init(net, np.random.default_rng(0)), X, y, schedule)


def test_training_rejects_float64_inputs():
    X, y = _data(m=10)
    net, params = _seed()
    with pytest.raises(TypeError, match="X must be float32, got float64"):
        _fit(net, params, X.astype(np.float64), y, Schedule(epochs=1))


def test_mini_batch_divergence_names_the_epoch_or_batch():
    X, y = _data()
    net = M.build(["dense 32", "relu", "dense 10"])
    params = M.init(net, np.random.default_rng(0))
    with (
        pytest.raises(FloatingPointError, match=r"at epoch \d+|in the batch at row"),
        np.errstate(all="ignore"),
    ):
        _fit(net, params, X * 1e3, y, Schedule(epochs=20, batch_size=50, alpha=1e4), Optimizer("gd"))


@pytest.mark.parametrize(
    "spec",
    [
        ["dense 4", "relu", "dense 10"],  # the seed network's shape
        ["dense 5", "relu", "dense 3", "dense 10"],  # a dense layer without a relu inside the stack
        ["dense 6", "dense 10", "relu"],  # the logits through a relu
    ],
)
def test_the_packed_full_batch_step_passes_the_gradient_check(spec):
    """Central differences in float64 on the loss of packed rows, against their gradient."""
    from tests.gradcheck import numerical_gradient, relative_error

    rng = np.random.default_rng(5)
    y = rng.integers(0, 10, 12)
    X = rng.random((12, 784)) * (rng.random((12, 784)) < 0.2)  # sparse, as pixels are
    net = M.build(spec, "uniform")
    params = [{k: v.astype(np.float64) for k, v in p.items()} for p in M.init(net, rng)]
    packed = pack(X, chunk_rows=5)
    labels = y[packed.order]

    def loss(_):
        return softmax_cross_entropy(M.forward(net, params, packed)[0], labels)[0]

    Z, caches = M.forward(net, params, packed)
    grads = M.backward(net, params, caches, softmax_cross_entropy(Z, labels)[1])
    named = {f"{key}{i}": g[key] for i, g in enumerate(grads) for key in g}
    numeric = numerical_gradient(loss, {f"{key}{i}": p[key] for i, p in enumerate(params) for key in p})
    assert relative_error(named, numeric) < 1e-6
    broken = {**named, "W0": named["W0"] * 1.01}  # negative control: a 1% error must show
    assert relative_error(broken, numeric) > 1e-4

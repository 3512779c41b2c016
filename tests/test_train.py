import numpy as np
import pytest

from core import model as M
from core.augment import Augment
from core.losses import softmax_cross_entropy
from core.optimizers import Optimizer
from core.serialization import npz_bytes
from core.train import Schedule, fit, loss_and_gradient, pack


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
        (["dense 10", "relu", "dense 10"], np.float32),  # the seed network's own equations
        (["dense 10", "relu", "dense 10"], np.float64),
        (["dense 12", "relu", "dense 8", "relu", "dense 10"], np.float32),  # layer by layer
    ],
)
def test_packed_chunks_give_the_whole_batch_gradient(layers, dtype):
    X, y = _data()
    X[:, 300:400] = 0  # blank columns, as MNIST's borders are
    image = X.reshape(-1, 28, 28)
    image[y == 3, :, 20:] = 0  # and columns blank in one class only: their ink box ends sooner
    X = X.astype(dtype)
    net = M.build(layers, "uniform")
    params = {k: v.astype(dtype) for k, v in M.init(net, np.random.default_rng(0)).items()}
    Z, caches = M.forward(net, params, X)
    loss_one, dZ = softmax_cross_entropy(Z, y)
    grads_one, right_one = M.backward(net, params, caches, dZ), int(np.sum(Z.argmax(axis=1) == y))
    packed = pack(X, y, chunk_rows=7)
    assert all(not set(range(300, 400)) & set(c.columns) for c in packed.chunks)
    assert min(len(c.columns) for c in packed.chunks) < 684 - 150  # a chunk of 3s drops more
    assert [c.start for c in packed.chunks] == list(range(0, len(y), 7))
    assert sorted(packed.y.tolist()) == sorted(y.tolist())
    loss_many, grads_many, right_many = loss_and_gradient(net, params, packed)
    assert loss_many == pytest.approx(loss_one, rel=1e-12 if dtype == np.float64 else 1e-6)
    assert right_many == right_one
    for key in grads_one:
        assert grads_many[key].dtype == dtype and grads_many[key].shape == params[key].shape
        tolerance = {"rtol": 1e-10, "atol": 1e-14} if dtype == np.float64 else {"rtol": 1e-4, "atol": 1e-7}
        np.testing.assert_allclose(grads_many[key], grads_one[key], **tolerance, err_msg=key)


def test_ties_count_as_argmax_counts_them():
    """With all weights zero every logit ties: argmax says class 0, so only the 0s are right."""
    X, y = _data(m=100)
    net = M.seed_network()
    params = {k: np.zeros_like(v) for k, v in M.init(net, np.random.default_rng(0)).items()}
    _, _, right = loss_and_gradient(net, params, pack(X, y, chunk_rows=16))
    assert right == int(np.sum(y == 0)) > 0


def test_one_full_batch_step_is_w_minus_alpha_dw():
    X, y = _data(m=50)
    net = M.seed_network()
    params = M.init(net, np.random.default_rng(0))
    before = {k: v.copy() for k, v in params.items()}
    _, grads, _ = loss_and_gradient(net, params, pack(X, y))
    _fit(net, params, X, y, Schedule(epochs=1, alpha=0.1))
    for key in params:
        np.testing.assert_allclose(params[key], before[key] - 0.1 * grads[key], rtol=1e-6, atol=1e-7)


def test_full_batch_training_lowers_the_loss_and_reports_each_epoch():
    X, y = _data()
    net = M.seed_network()
    params = M.init(net, np.random.default_rng(0))
    kept, history = _fit(net, params, X, y, Schedule(epochs=60, alpha=0.5))
    assert kept is params and [e.epoch for e in history] == list(range(1, 61))
    assert history[-1].train_loss < 0.5 * history[0].train_loss
    assert history[-1].train_accuracy > 0.8 and history[-1].dev_accuracy > 0.8
    assert all(v.dtype == np.float32 for v in params.values())


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
    assert all(v.dtype == np.float32 for v in kept.values())


def test_keep_best_returns_the_best_dev_epoch_and_patience_stops_early():
    X, y = _data()
    net = M.seed_network()
    params = M.init(net, np.random.default_rng(0))
    snapshots = []
    kept, history = _fit(
        net,
        params,
        X,
        y,
        Schedule(epochs=200, alpha=3.0, patience=5, keep_best=True),
        on_epoch=lambda e: snapshots.append({k: v.copy() for k, v in params.items()}),
    )
    best = max(range(len(history)), key=lambda i: (history[i].dev_accuracy, -i))
    assert len(history) == best + 1 + 5  # five epochs without a better dev accuracy, then stop
    assert all(np.array_equal(kept[k], snapshots[best][k]) for k in kept)


def test_two_trainings_give_byte_identical_weights():
    X, y = _data()

    def train(batch_size):
        net = M.build(["conv 4 3", "maxpool 2", "relu", "batchnorm", "flatten", "dropout 0.2", "dense 10"])
        params = M.init(net, np.random.default_rng(42))
        schedule = Schedule(epochs=3, batch_size=batch_size, alpha=0.01)
        kept, _ = _fit(net, params, X, y, schedule, Optimizer("adam"), Augment(2, 10, 0.1))
        return npz_bytes(kept)

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
        return npz_bytes(kept)

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
    for key in one:
        np.testing.assert_allclose(three[key], one[key], rtol=1e-4, atol=1e-6, err_msg=key)
    assert three_history[-1].train_loss == pytest.approx(one_history[-1].train_loss, rel=1e-5)
    assert three_history[-1].dev_accuracy == one_history[-1].dev_accuracy


def test_batch_norm_running_statistics_are_the_whole_batchs():
    """With two parts, the running averages move towards the statistics of the whole batch, as
    with one part."""
    X, y = _data(m=81)
    net = M.build(["dense 8", "batchnorm", "relu", "dense 10"])
    params = M.init(net, np.random.default_rng(0))
    W, b = params["W1"].copy(), params["b1"].copy()
    schedule = Schedule(epochs=1, batch_size=40, threads=2)  # the last batch: one row, one part
    after_first = []

    def on_batch(done, total):
        if not after_first:
            after_first.append({k: v.copy() for k, v in params.items()})

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
    assert all(np.isfinite(value).all() for value in params.values())
    order = np.random.default_rng(0).permutation(81)  # as the epoch shuffles, from the same generator
    Z = X[order[:40]] @ W.T + b.T
    params = after_first[0]
    np.testing.assert_allclose(params["mean2"], 0.1 * Z.mean(axis=0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(params["var2"], 0.9 + 0.1 * Z.var(axis=0), rtol=1e-4)


def test_full_batch_chunks_on_several_cores_give_the_same_bytes():
    X, y = _data(m=3000)

    def train(cores):
        net = M.seed_network()
        params = M.init(net, np.random.default_rng(0))
        kept, _ = _fit(net, params, X, y, Schedule(epochs=5, alpha=0.1), cores=lambda: cores)
        return npz_bytes(kept)

    assert train(1) == train(2) == train(3)


def test_divergence_stops_training():
    X, y = _data()
    net = M.seed_network()
    params = M.init(net, np.random.default_rng(0))
    with pytest.raises(FloatingPointError, match="at iteration"), np.errstate(all="ignore"):
        _fit(net, params, X * 1e3, y, Schedule(epochs=50, alpha=1e6))


@pytest.mark.parametrize(
    ("spec", "schedule", "augment", "message"),
    [
        (["conv 2 3", "flatten", "dense 10"], Schedule(epochs=1), Augment(), "dense and relu layers only"),
        (["dense 10"], Schedule(epochs=1), Augment(shift=2), "augmentation needs mini-batches"),
        (
            ["dense 10"],
            Schedule(epochs=1, batch_size=20, threads=2),
            Augment(),
            "2 threads need mini-batches",
        ),
    ],
)
def test_full_batch_limits_are_explained(spec, schedule, augment, message):
    X, y = _data(m=20)
    net = M.build(spec)
    with pytest.raises(ValueError, match=message):
        _fit(net, M.init(net, np.random.default_rng(0)), X, y, schedule, augment=augment)


def test_training_rejects_float64_inputs():
    X, y = _data(m=10)
    net = M.seed_network()
    with pytest.raises(TypeError, match="X must be float32, got float64"):
        _fit(net, M.init(net, np.random.default_rng(0)), X.astype(np.float64), y, Schedule(epochs=1))


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
    """Central differences in float64 on the loss the packed step reports, against its gradient."""
    from tests.gradcheck import numerical_gradient, relative_error

    rng = np.random.default_rng(5)
    y = rng.integers(0, 10, 12)
    X = rng.random((12, 784)) * (rng.random((12, 784)) < 0.2)  # sparse, as pixels are
    net = M.build(spec, "uniform")
    params = {k: v.astype(np.float64) for k, v in M.init(net, rng).items()}
    packed = pack(X, y, chunk_rows=5)
    _, grads, _ = loss_and_gradient(net, params, packed)
    numeric = numerical_gradient(lambda p: loss_and_gradient(net, p, packed)[0], params)
    assert relative_error(grads, numeric) < 1e-6
    broken = {**grads, "W1": grads["W1"] * 1.01}  # negative control: a 1% error must show
    assert relative_error(broken, numeric) > 1e-4

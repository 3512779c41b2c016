import numpy as np
import pytest

from core.losses import softmax, softmax_cross_entropy
from tests.gradcheck import numerical_gradient, relative_error


def test_softmax_is_stable_for_huge_logits():
    Z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0], [0.0, 0.0, 0.0]], dtype=np.float32)
    A = softmax(Z)  # rows are examples
    assert np.all(np.isfinite(A))
    np.testing.assert_allclose(A.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(A[0], [1, 0, 0], atol=1e-6)
    np.testing.assert_allclose(A[2], [1 / 3] * 3, rtol=1e-6)


def test_cross_entropy_is_finite_for_huge_wrong_logits():
    Z = np.array([[1e4, -1e4]], dtype=np.float32)
    loss, dZ, _ = softmax_cross_entropy(Z, np.array([1]))
    assert loss == pytest.approx(2e4, rel=1e-6)  # -log softmax = 2e4 exactly, not inf
    np.testing.assert_allclose(dZ[0], [1, -1], atol=1e-6)


def test_cross_entropy_by_hand():
    # logits (0, ln 3) -> probabilities (1/4, 3/4); label 1 -> loss -ln(3/4)
    Z = np.array([[0.0, np.log(3.0)]])
    loss, dZ, right = softmax_cross_entropy(Z, np.array([1]))
    assert loss == pytest.approx(-np.log(0.75)) and right == 1
    np.testing.assert_allclose(softmax(Z)[0], [0.25, 0.75])
    np.testing.assert_allclose(dZ[0], [0.25, -0.25])  # A - Y


def test_cross_entropy_gradient_matches_central_differences():
    rng = np.random.default_rng(0)
    y = np.array([0, 2, 1, 2])
    Z = {"Z": rng.standard_normal((4, 3))}
    _, dZ, _ = softmax_cross_entropy(Z["Z"], y)
    numeric = numerical_gradient(lambda p: softmax_cross_entropy(p["Z"], y)[0], Z)
    assert relative_error({"Z": dZ}, numeric) < 1e-7


@pytest.mark.parametrize("smoothing", [0.1, 0.3])
def test_label_smoothing_is_cross_entropy_against_the_smoothed_targets(smoothing):
    rng = np.random.default_rng(1)
    y = np.array([0, 2, 1, 2, 0])
    Z = rng.standard_normal((5, 3)) * 3
    targets = np.full((5, 3), smoothing / 3) + (1 - smoothing) * np.eye(3)[y]
    log_A = np.log(softmax(Z))
    loss, dZ, _ = softmax_cross_entropy(Z, y, smoothing=smoothing)
    assert loss == pytest.approx(-np.sum(targets * log_A) / 5, rel=1e-12)
    np.testing.assert_allclose(dZ, (softmax(Z) - targets) / 5, atol=1e-15)
    numeric = numerical_gradient(lambda p: softmax_cross_entropy(p["Z"], y, smoothing=smoothing)[0], {"Z": Z})
    assert relative_error({"Z": dZ}, numeric) < 1e-7
    # a perfect, very confident model is not the minimum any more: the smoothed loss stays above
    # its entropy and grows again as the label's logit runs away
    confident = np.eye(3)[y] * 40.0
    assert (
        softmax_cross_entropy(confident, y, smoothing=smoothing)[0]
        > softmax_cross_entropy(confident / 10, y, smoothing=smoothing)[0]
    )


def test_cross_entropy_over_n_lets_chunks_add_up():
    rng = np.random.default_rng(0)
    Z, y = rng.standard_normal((6, 10)), rng.integers(0, 10, 6)
    whole, dZ, _ = softmax_cross_entropy(Z, y)
    first, dZ1, _ = softmax_cross_entropy(Z[:4], y[:4], n=6)
    second, dZ2, _ = softmax_cross_entropy(Z[4:], y[4:], n=6)
    assert first + second == pytest.approx(whole)
    np.testing.assert_allclose(np.vstack([dZ1, dZ2]), dZ)


def test_rows_right_are_counted_as_argmax_counts_them():
    rng = np.random.default_rng(2)
    Z, y = rng.standard_normal((200, 10)).astype(np.float32), rng.integers(0, 10, 200)
    Z[:20] = 0.5  # every logit tied: argmax says class 0
    Z[20:40, 3] = Z[20:40, 7] = 9.0  # two tied maxima: argmax takes 3
    assert softmax_cross_entropy(Z, y)[2] == int(np.sum(Z.argmax(axis=1) == y))
    assert softmax_cross_entropy(Z[:20], y[:20])[2] == int(np.sum(y[:20] == 0)) > 0


def test_cross_entropy_rejects_mismatched_labels():
    with pytest.raises(ValueError, match=r"labels must have shape \(3,\), got \(2,\)"):
        softmax_cross_entropy(np.zeros((3, 10)), np.array([1, 2]))


def test_neither_function_changes_its_input():
    for Z in (np.array([[0.0, 2.0]]), np.arange(12.0).reshape(4, 3), np.arange(12.0).reshape(3, 4).T):
        before = Z.copy()
        softmax(Z)
        softmax_cross_entropy(Z, np.zeros(len(Z), dtype=int))
        np.testing.assert_array_equal(Z, before)

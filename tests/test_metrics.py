import numpy as np
import pytest

from core.metrics import accuracy, confident_mistakes, confusion, log_loss, macro_f1, per_class


def test_per_class_by_hand():
    # 3 classes; class 2 is never predicted, so its precision is 0 (not a division by zero)
    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.array([0, 0, 1, 1, 1, 0])
    counts = confusion(y_true, y_pred, n_classes=3)
    np.testing.assert_array_equal(counts, [[2, 1, 0], [0, 2, 0], [1, 0, 0]])
    scores = per_class(counts)
    np.testing.assert_allclose(scores["precision"], [2 / 3, 2 / 3, 0])
    np.testing.assert_allclose(scores["recall"], [2 / 3, 1, 0])
    np.testing.assert_allclose(scores["f1"], [2 / 3, 0.8, 0])
    assert macro_f1(counts) == pytest.approx((2 / 3 + 0.8 + 0) / 3)


def test_per_class_matches_a_loop_over_classes():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 10, 500)
    y_pred = np.where(rng.random(500) < 0.7, y_true, rng.integers(0, 10, 500))
    scores = per_class(confusion(y_true, y_pred))
    for digit in range(10):
        tp = np.sum((y_pred == digit) & (y_true == digit))
        precision, recall = tp / np.sum(y_pred == digit), tp / np.sum(y_true == digit)
        assert scores["precision"][digit] == pytest.approx(precision)
        assert scores["recall"][digit] == pytest.approx(recall)
        assert scores["f1"][digit] == pytest.approx(2 * precision * recall / (precision + recall))


def test_perfect_predictions_score_one_and_a_wrong_one_less():
    y = np.arange(10).repeat(3)
    assert macro_f1(confusion(y, y)) == 1.0 and accuracy(y, y) == 1.0
    wrong = y.copy()
    wrong[0] = 1
    assert macro_f1(confusion(y, wrong)) < 1.0


def test_log_loss_by_hand():
    probs = np.array([[0.5, 0.5], [0.9, 0.1]], np.float32)
    assert log_loss(probs, np.array([0, 1])) == pytest.approx(-(np.log(0.5) + np.log(0.1)) / 2, rel=1e-6)


def test_confident_mistakes_by_hand():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.4, 0.6], [0.6, 0.4]])
    labels = np.array([1, 1, 1, 0, 1])  # rows 0, 2, 3, 4 are wrong, at 0.9, 0.7, 0.6, 0.6
    assert confident_mistakes(probs, labels, 3).tolist() == [0, 2, 3]  # a tie keeps row order
    assert confident_mistakes(probs, labels, 10).tolist() == [0, 2, 3, 4]
    assert confident_mistakes(probs, probs.argmax(axis=1), 10).tolist() == []

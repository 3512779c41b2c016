"""The seed network written plainly: NumPy float64, whole arrays, its equations as the README
writes them. The reference that bench/seed_speed.py times the project against."""

import numpy as np


def train(X, y, alpha=0.10, iterations=500, seed=0):
    """X is 784 x m (pixels / 255, float64), y is (m,) labels; returns W1, b1, W2, b2."""
    rng = np.random.default_rng(seed)
    W1 = rng.random((10, 784)) - 0.5
    b1 = rng.random((10, 1)) - 0.5
    W2 = rng.random((10, 10)) - 0.5
    b2 = rng.random((10, 1)) - 0.5
    m = X.shape[1]
    Y = np.zeros((10, m))
    Y[y, np.arange(m)] = 1
    for _ in range(iterations):
        Z1 = W1.dot(X) + b1
        A1 = np.maximum(Z1, 0)
        Z2 = W2.dot(A1) + b2
        E = np.exp(Z2 - Z2.max(axis=0))
        A2 = E / E.sum(axis=0)
        dZ2 = A2 - Y
        dW2 = dZ2.dot(A1.T) / m
        db2 = dZ2.sum(axis=1, keepdims=True) / m
        dZ1 = W2.T.dot(dZ2) * (Z1 > 0)
        dW1 = dZ1.dot(X.T) / m
        db1 = dZ1.sum(axis=1, keepdims=True) / m
        W1 -= alpha * dW1
        b1 -= alpha * db1
        W2 -= alpha * dW2
        b2 -= alpha * db2
    return W1, b1, W2, b2


def predict(params, X):
    W1, b1, W2, b2 = params
    return (W2.dot(np.maximum(W1.dot(X) + b1, 0)) + b2).argmax(axis=0)

"""Central-difference gradient checking on float64 copies."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from core.layers import Params


def numerical_gradient(loss: Callable[[Params], float], params: Params, eps: float = 1e-6) -> Params:
    grads: Params = {}
    for key, value in params.items():
        grad = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            saved = value[index]
            value[index] = saved + eps
            up = loss(params)
            value[index] = saved - eps
            down = loss(params)
            value[index] = saved
            grad[index] = (up - down) / (2 * eps)
        grads[key] = grad
    return grads


def relative_error(a: Params, b: Params) -> float:
    """||a - b|| / (||a|| + ||b||) over all parameters together."""
    assert a.keys() == b.keys(), (sorted(a), sorted(b))
    diff = np.sqrt(sum(float(np.sum((a[k] - b[k]) ** 2)) for k in a))
    size = np.sqrt(sum(float(np.sum(a[k] ** 2)) for k in a)) + np.sqrt(
        sum(float(np.sum(b[k] ** 2)) for k in b)
    )
    return float(diff / size)

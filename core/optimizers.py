"""Optimizers as update rules over parameter dicts."""

from __future__ import annotations

from core.layers import Params


def gradient_descent(params: Params, grads: Params, alpha: float) -> None:
    """W := W - α·dW for every parameter, in place."""
    for key, value in params.items():
        value -= value.dtype.type(alpha) * grads[key]

"""Optimizers and learning-rate schedules, each chosen by name from one table.

    state = optimizer.init(params, layers)
    optimizer.update(params, grads, state, alpha)   # in place

params and grads hold one dict per layer (core/model.py). Only arrays with a gradient are updated
(batch norm's running statistics have none). Weight decay adds λ·W to the gradient of the arrays
each layer names as decayed (its DECAYED: weight matrices and filters, not biases or scales); its
running state (STATE) gets no optimizer buffers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.checks import SettingError, require
from core.layers import Array, Layer, Params

# Adam's elementwise passes run over blocks of this many values, which stay in a core's cache
BLOCK = 1 << 16


@dataclass(frozen=True)
class Optimizer:
    name: str = "gd"
    momentum: float = 0.9  # momentum's μ, and Adam's β1
    beta2: float = 0.999  # Adam
    eps: float = 1e-8  # Adam
    weight_decay: float = 0.0  # λ

    def __post_init__(self) -> None:
        require(self.name in OPTIMIZERS, "optimizer", "one of " + ", ".join(OPTIMIZERS), self.name)
        require(0 <= self.momentum < 1, "momentum", "in [0, 1)", self.momentum)
        require(0 <= self.weight_decay < math.inf, "weight_decay", "0 or more", self.weight_decay)

    def init(self, params: Sequence[Params], layers: Sequence[Layer]) -> dict[str, Any]:
        """The optimizer's state: its step count, which arrays it decays, and per trained array the
        buffers its rule keeps (momentum's velocity, Adam's two moments), zeros to begin with."""
        buffers = OPTIMIZERS[self.name][0]
        return {
            "t": 0,
            "decayed": [set(layer.DECAYED) for layer in layers],
            "slots": [
                {
                    key: {b: np.zeros_like(W) for b in buffers}
                    for key, W in p.items()
                    if key not in layer.STATE
                }
                for p, layer in zip(params, layers, strict=True)
            ],
        }

    def update(
        self, params: Sequence[Params], grads: Sequence[Params], state: dict[str, Any], alpha: float
    ) -> None:
        state["t"] += 1
        rule = OPTIMIZERS[self.name][1]
        for p, g_layer, slots, decayed in zip(params, grads, state["slots"], state["decayed"], strict=True):
            for key, g in g_layer.items():
                W = p[key]
                if self.weight_decay and key in decayed:
                    g = g + W.dtype.type(self.weight_decay) * W
                rule(self, W, g, slots[key], state["t"], alpha)


def _gd(opt: Optimizer, W: Array, g: Array, slots: dict[str, Array], t: int, alpha: float) -> None:
    """W := W - α·dW"""
    W -= W.dtype.type(alpha) * g


def _momentum(opt: Optimizer, W: Array, g: Array, slots: dict[str, Array], t: int, alpha: float) -> None:
    """v := μ·v + dW; W := W - α·v"""
    v = slots["velocity"]
    v *= W.dtype.type(opt.momentum)
    v += g
    W -= W.dtype.type(alpha) * v


def _adam(opt: Optimizer, W: Array, g: Array, slots: dict[str, Array], t: int, alpha: float) -> None:
    """Adam, bias-corrected (Kingma & Ba 2015): m := β1·m + (1-β1)·g; s := β2·s + (1-β2)·g²;
    W := W - α·m̂/(√ŝ + ε), in place, with both bias corrections folded into α and ε, block by
    block (BLOCK)."""
    m, s = slots["m"], slots["v"]
    b1, b2 = opt.momentum, opt.beta2
    c1, c2, d1, d2 = (W.dtype.type(c) for c in (b1, b2, 1 - b1, 1 - b2))
    step = W.dtype.type(alpha * math.sqrt(1 - b2**t) / (1 - b1**t))
    eps = W.dtype.type(opt.eps * math.sqrt(1 - b2**t))
    scratch, denominator = np.empty(min(BLOCK, W.size), W.dtype), np.empty(min(BLOCK, W.size), W.dtype)
    if not (W.flags.c_contiguous and m.flags.c_contiguous and s.flags.c_contiguous):
        raise ValueError("Adam updates parameters in place: they must be C-contiguous arrays")
    flat = [a.reshape(-1) for a in (W, g, m, s)]  # views, but g's may be a copy
    for start in range(0, W.size, BLOCK):
        w, grad, mean, square = (a[start : start + BLOCK] for a in flat)
        work, root = scratch[: len(w)], denominator[: len(w)]
        mean *= c1
        mean += np.multiply(d1, grad, out=work)
        square *= c2
        np.multiply(d2, grad, out=work)
        square += np.multiply(work, grad, out=work)
        np.sqrt(square, out=root)
        root += eps
        np.multiply(step, mean, out=work)
        w -= np.divide(work, root, out=work)


Rule = Callable[[Optimizer, Array, Array, dict[str, Array], int, float], None]
# name: (the buffers it keeps per array, its update rule)
OPTIMIZERS: dict[str, tuple[tuple[str, ...], Rule]] = {
    "gd": ((), _gd),
    "momentum": (("velocity",), _momentum),
    "adam": (("m", "v"), _adam),
}

# name: α at a 0-based epoch, from (α, epoch, epochs, decay)
SCHEDULES: dict[str, Callable[[float, int, int, float], float]] = {
    "constant": lambda alpha, epoch, epochs, decay: alpha,
    "cosine": lambda alpha, epoch, epochs, decay: alpha * 0.5 * (1 + math.cos(math.pi * epoch / epochs)),
    "exponential": lambda alpha, epoch, epochs, decay: alpha * decay**epoch,
}


def learning_rate(alpha: float, schedule: str, epoch: int, epochs: int, decay: float) -> float:
    """α for a 0-based epoch: constant; cosine from α down to 0 over the run; or exponential,
    α·decay^epoch."""
    if schedule not in SCHEDULES:
        raise SettingError("schedule", "one of " + ", ".join(SCHEDULES), schedule)
    return SCHEDULES[schedule](alpha, epoch, epochs, decay)

"""Optimizers as init / update pairs over parameter dicts, and learning-rate schedules.

    state = optimizer.init(params)
    optimizer.update(params, grads, state, alpha)   # in place

Only parameters that have a gradient are updated (batch norm's running statistics have none).
Weight decay adds λ·W to the gradient of every weight matrix or filter bank ("W..." keys), not
to biases or batch-norm scales.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.checks import SettingError, require
from core.layers import Array, Params

OPTIMIZERS = ("gd", "momentum", "adam")
SCHEDULES = ("constant", "cosine", "exponential")
# Adam's elementwise passes run over blocks of this many values: a dozen passes over 256 kB stay
# in a core's cache, where over a whole 1.6 MB matrix each pass went to memory (mlp step 30,500
# -> 34,800 samples/s, measured; splitting across cores instead gained less, as BLAS's idle
# threads hold them)
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

    def init(self, params: Params) -> dict[str, Any]:
        zeros = {key: np.zeros_like(value) for key, value in params.items()}
        if self.name == "momentum":
            return {"velocity": zeros, "t": 0}
        if self.name == "adam":
            return {"m": zeros, "v": {key: np.zeros_like(value) for key, value in params.items()}, "t": 0}
        return {"t": 0}

    def update(self, params: Params, grads: Params, state: dict[str, Any], alpha: float) -> None:
        state["t"] += 1
        for key, g in grads.items():
            W = params[key]
            if self.weight_decay and key.startswith("W"):
                g = g + W.dtype.type(self.weight_decay) * W
            if self.name == "gd":  # W := W - α·dW
                W -= W.dtype.type(alpha) * g
            elif self.name == "momentum":  # v := μ·v + dW; W := W - α·v
                v = state["velocity"][key]
                v *= W.dtype.type(self.momentum)
                v += g
                W -= W.dtype.type(alpha) * v
            else:  # Adam, bias-corrected (Kingma & Ba 2015)
                self._adam(W, g, state["m"][key], state["v"][key], state["t"], alpha)

    def _adam(self, W: Array, g: Array, m: Array, s: Array, t: int, alpha: float) -> None:
        """m := β1·m + (1-β1)·g; s := β2·s + (1-β2)·g²; W := W - α·m̂/(√ŝ + ε), in place, with
        both bias corrections folded into α and ε, block by block (BLOCK)."""
        b1, b2 = self.momentum, self.beta2
        c1, c2, d1, d2 = (W.dtype.type(c) for c in (b1, b2, 1 - b1, 1 - b2))
        step = W.dtype.type(alpha * math.sqrt(1 - b2**t) / (1 - b1**t))
        eps = W.dtype.type(self.eps * math.sqrt(1 - b2**t))
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


def learning_rate(alpha: float, schedule: str, epoch: int, epochs: int, decay: float) -> float:
    """α for a 0-based epoch: constant; cosine from α down to 0 over the run; or exponential,
    α·decay^epoch."""
    if schedule == "constant":
        return alpha
    if schedule == "cosine":
        return alpha * 0.5 * (1 + math.cos(math.pi * epoch / epochs))
    if schedule == "exponential":
        return alpha * decay**epoch
    raise SettingError("schedule", "one of " + ", ".join(SCHEDULES), schedule)

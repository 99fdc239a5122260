"""Model solution of jacobian-layer: J = diag(sigma'(W @ x)) @ W."""
import numpy as np


def layer_jacobian(x, W, sigma):
    n = W @ x
    slope = (sigma(n + 1e-3) - sigma(n - 1e-3)) / 2e-3
    return slope[:, None] * W

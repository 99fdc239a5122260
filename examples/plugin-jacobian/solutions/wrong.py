"""Wrong on purpose: sigma'(W @ x) scales the columns instead of the rows."""
import numpy as np


def layer_jacobian(x, W, sigma):
    n = W @ x
    slope = (sigma(n + 1e-3) - sigma(n - 1e-3)) / 2e-3
    return W * slope.sum()

"""Wrong on purpose: sigma'(N) summed over the columns before the product (right only when k = 1)."""
import numpy as np


def matrix_function_backward_sum_1(X, W, sigma):
    N = X @ W
    dSdN = (sigma(N + 0.001) - sigma(N - 0.001)) / 0.002
    return dSdN.sum(axis=1, keepdims=True) * W.sum(axis=1)

"""Wrong on purpose: sigma(N) where sigma'(N) belongs."""
import numpy as np


def matrix_function_backward_1(X, W, sigma):
    return np.dot(sigma(np.dot(X, W)), W.T)

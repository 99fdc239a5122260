"""Wrong on purpose: sigma(x) * (1 + sigma(x)), a sign slip in sigma * (1 - sigma)."""
import numpy as np


def sigmoid_derivative(x):
    s = 1 / (1 + np.exp(-np.asarray(x, dtype=float)))
    return s * (1 + s)

"""Wrong on purpose: X itself instead of W.T."""


def matmul_backward_first(X, W):
    return X

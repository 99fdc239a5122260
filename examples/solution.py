"""A complete solution to the bundled bank, written the way the course writes it (also the model
solution `grader validate` checks the bank against)."""
import numpy as np


def deriv(func, input_, delta=0.001):
    """Central difference: the slope of func around every point of input_."""
    return (func(input_ + delta) - func(input_ - delta)) / (2 * delta)


def sigmoid_derivative(x):
    s = 1 / (1 + np.exp(-np.asarray(x, dtype=float)))
    return s * (1 - s)


# f(x) = (x**2 + 1)**3, split into u(x) = x**2 + 1 and f(u) = u**3
def u(x):
    return x ** 2 + 1


def du_dx(x):
    return 2 * x


def df_du(u):
    return 3 * u ** 2


def df_dx(x):
    return df_du(u(x)) * du_dx(x)


def chain_deriv_2(chain, input_range):
    f1, f2 = chain
    f1_of_x = f1(input_range)
    df1dx = deriv(f1, input_range)
    df2du = deriv(f2, f1_of_x)
    return df1dx * df2du


def chain_deriv_3(chain, input_range):
    f1, f2, f3 = chain
    f1_of_x = f1(input_range)
    f2_of_x = f2(f1_of_x)
    df3du = deriv(f3, f2_of_x)
    df2du = deriv(f2, f1_of_x)
    df1dx = deriv(f1, input_range)
    return df1dx * df2du * df3du


def multiple_inputs_add_backward(x, y, sigma):
    a = x + y
    dsda = deriv(sigma, a)
    dadx, dady = 1, 1
    return dsda * dadx, dsda * dady


def matmul_backward_first(X, W):
    return np.transpose(W, (1, 0))


def matrix_function_backward_1(X, W, sigma):
    N = np.dot(X, W)
    dSdN = deriv(sigma, N)
    dNdX = np.transpose(W, (1, 0))
    return np.dot(dSdN, dNdX)


def matrix_function_backward_sum_1(X, W, sigma):
    N = np.dot(X, W)
    S = sigma(N)
    dLdS = np.ones_like(S)
    dSdN = deriv(sigma, N)
    dLdN = dLdS * dSdN
    dNdX = np.transpose(W, (1, 0))
    return np.dot(dLdN, dNdX)

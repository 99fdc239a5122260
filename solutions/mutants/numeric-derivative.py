"""Wrong on purpose: a one-sided difference divided by 2*delta (half the derivative)."""


def deriv(func, input_, delta=0.001):
    return (func(input_ + delta) - func(input_)) / (2 * delta)

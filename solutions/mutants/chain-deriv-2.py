"""Wrong on purpose: f2's derivative taken at x instead of at f1(x)."""


def deriv(func, input_, delta=0.001):
    return (func(input_ + delta) - func(input_ - delta)) / (2 * delta)


def chain_deriv_2(chain, input_range):
    f1, f2 = chain
    return deriv(f1, input_range) * deriv(f2, input_range)

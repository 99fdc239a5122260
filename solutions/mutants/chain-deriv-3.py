"""Wrong on purpose: the middle factor f2' is taken at x instead of at f1(x)."""


def deriv(func, input_, delta=0.001):
    return (func(input_ + delta) - func(input_ - delta)) / (2 * delta)


def chain_deriv_3(chain, input_range):
    f1, f2, f3 = chain
    f2_of_x = f2(f1(input_range))
    return deriv(f3, f2_of_x) * deriv(f2, input_range) * deriv(f1, input_range)

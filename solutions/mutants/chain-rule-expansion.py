"""Wrong on purpose: df_dx multiplies df/du at x (not at u(x)) by du/dx; the other three are right."""


def u(x):
    return x ** 2 + 1


def du_dx(x):
    return 2 * x


def df_du(u):
    return 3 * u ** 2


def df_dx(x):
    return df_du(x) * du_dx(x)

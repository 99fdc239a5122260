"""Wrong on purpose: sigma(x + y) itself instead of its derivative for ds/dy."""


def multiple_inputs_add_backward(x, y, sigma):
    a = x + y
    dsda = (sigma(a + 0.001) - sigma(a - 0.001)) / 0.002
    return dsda, sigma(a)

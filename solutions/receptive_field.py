"""A stack of 1D convolutions: the length after each layer and how many input
samples one output of the last layer sees (its receptive field).

Each layer is a tuple ``(filter_size, padding, stride, dilation)``: the
arguments ``output_size`` takes after the input length. Going up one layer, a
step of one output position is a step of ``S`` positions of that layer's
input, so the distance in input samples between neighbouring outputs (the
*jump*) multiplies by each stride, and a layer adds ``D*(F - 1)`` of its own
input's positions to the field, each worth the jump so far::

    r_0 = 1, j_0 = 1;   r_l = r_(l-1) + D_l (F_l - 1) j_(l-1),   j_l = j_(l-1) S_l

Padding changes where the windows sit, not how wide they are: it does not
enter the receptive field.
"""

from .conv import output_size


def stack_output_size(n_in, layers):
    """The length of the signal after each layer of a stack.

    Parameters
    ----------
    n_in : int
        Input length L, >= 1.
    layers : sequence of tuples (filter_size, padding, stride, dilation)
        One tuple per layer, first layer first.

    Returns
    -------
    list of int, length len(layers) + 1
        ``[L, L_1, ..., L_n]``: the input length, then each layer's output
        length (stage 2's formula applied layer by layer).

    Raises
    ------
    ValueError
        When a layer's kernel does not fit in its (padded) input: the
        ``ValueError`` of ``output_size`` reaching the caller is enough;
        naming the layer in the message (1 for the first) is optional.
    """
    lengths = [n_in]
    for number, (filter_size, padding, stride, dilation) in enumerate(layers, start=1):
        try:
            lengths.append(output_size(lengths[-1], filter_size, padding, stride, dilation))
        except ValueError as error:
            raise ValueError(f"layer {number} (filter_size={filter_size}, padding={padding}, "
                             f"stride={stride}, dilation={dilation}) on an input of length "
                             f"{lengths[-1]}: {error}") from None
    return lengths


def receptive_field(layers):
    """How many consecutive input samples one output of the last layer depends on.

    Parameters
    ----------
    layers : sequence of tuples (filter_size, padding, stride, dilation)
        One tuple per layer, first layer first.

    Returns
    -------
    int
        The number of consecutive positions of the (padded) input that one
        output of the last layer reads, directly or through the layers
        below it; 1 for an empty stack.
    """
    field, jump = 1, 1  # jump: input samples between neighbouring outputs so far
    for filter_size, _padding, stride, dilation in layers:
        field += dilation * (filter_size - 1) * jump
        jump *= stride
    return field

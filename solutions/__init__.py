"""The reference solution package of the 1D-CNN course kit.

Every layer speaks one protocol: ``forward(x)``, ``backward(dout) -> dx``,
parameters ``p`` and their gradients ``dp`` as attributes (listed in
``layer.params``). Shapes are channels-first, as in PyTorch: inputs
``(N, C, L)``, convolution weights ``(C_out, C_in, F)``.
"""

from .activations import (
    ACTIVATIONS,
    ELU,
    LeakyReLU,
    PReLU,
    ReLU,
    ReLU6,
    Sigmoid,
    Softplus,
    Swish,
    Tanh,
    get_activation,
)
from .augment import add_noise, random_shift, shift_and_noise
from .conv import (
    Conv1d,
    SimpleConv1d,
    conv1d_backward_naive,
    conv1d_forward_naive,
    output_size,
    resolve_padding,
)
from .gradcheck import check_layer_gradients, numerical_gradient, rel_error
from .init import he_normal, he_uniform, init_weights, torch_default, xavier_normal, xavier_uniform
from .layer import Layer
from .layers import Dropout, Flatten, Linear
from .losses import (
    ExponentialLoss,
    HingeLoss,
    MSELoss,
    SoftmaxCrossEntropy,
    log_softmax,
    softmax,
)
from .model import MNIST1D_CNN, Scratch1dCNNClassifier
from .optim import (
    SGD,
    AdaGrad,
    Adam,
    ConstantLR,
    CosineDecay,
    ExponentialDecay,
    InverseTimeDecay,
    Momentum,
    StepDecay,
    get_optimizer,
)
from .padding import PADDING_MODES, pad1d, pad1d_backward
from .pool import AvgPool1d, MaxPool1d

__all__ = [
    "ACTIVATIONS", "ELU", "LeakyReLU", "PReLU", "ReLU", "ReLU6", "Sigmoid", "Softplus", "Swish",
    "Tanh", "get_activation",
    "add_noise", "random_shift", "shift_and_noise",
    "Conv1d", "SimpleConv1d", "conv1d_backward_naive", "conv1d_forward_naive", "output_size",
    "resolve_padding",
    "check_layer_gradients", "numerical_gradient", "rel_error",
    "he_normal", "he_uniform", "init_weights", "torch_default", "xavier_normal", "xavier_uniform",
    "Layer", "Dropout", "Flatten", "Linear",
    "ExponentialLoss", "HingeLoss", "MSELoss", "SoftmaxCrossEntropy", "log_softmax", "softmax",
    "MNIST1D_CNN", "Scratch1dCNNClassifier",
    "SGD", "AdaGrad", "Adam", "ConstantLR", "CosineDecay", "ExponentialDecay",
    "InverseTimeDecay", "Momentum", "StepDecay", "get_optimizer",
    "PADDING_MODES", "pad1d", "pad1d_backward",
    "AvgPool1d", "MaxPool1d",
]

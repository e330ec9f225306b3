"""The protocol every layer of the kit speaks.

A layer has ``forward(x)``, ``backward(dout) -> dx``, and keeps its
parameters and their gradients as attributes: a parameter ``w`` has its
gradient in ``dw``. ``params`` lists the parameter names, so an optimiser can
update any layer without knowing what it is. The class is defined in the
students' module ``course/cnn1d_layer.py``, so that student layers
and reference layers share it.
"""

from course.cnn1d_layer import Layer  # noqa: F401 - re-exported

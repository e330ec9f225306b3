"""The protocol every layer of the course speaks: ``forward(x)``,
``backward(dout) -> dx``, parameters ``p`` with gradients ``dp`` named in
``params``, and a train/eval switch (stages 1 and 3-5).

The canonical copy is ``course/cnn1d_layer.py``; the build copies it into the
stage folders that use it. Edit it there, never in a stage folder.
"""


class Layer:
    """Base class: parameter bookkeeping and the train/eval switch."""

    #: Names of the parameter attributes; the gradient of ``p`` is ``"d" + p``.
    params = ()
    #: False in evaluation mode (dropout off).
    training = True
    # What forward remembers for backward. Class attributes, so a subclass
    # need not call super().__init__().
    _cache = None

    def train(self):
        """Switch to training mode (dropout active). Returns self."""
        self.training = True
        return self

    def eval(self):
        """Switch to evaluation mode (dropout off). Returns self."""
        self.training = False
        return self

    def parameters(self):
        """Yield ``(name, value, gradient)`` for every parameter."""
        for name in self.params:
            yield name, getattr(self, name), getattr(self, "d" + name, None)

    def zero_grad(self):
        """Reset parameter gradients to zeros of the parameters' shape."""
        for name in self.params:
            setattr(self, "d" + name, getattr(self, name) * 0)

    def _require_cache(self):
        if self._cache is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward was called before forward; "
                "call forward(x) first so that the layer can remember its input"
            )
        return self._cache

    def __call__(self, x):
        return self.forward(x)

    def forward(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, dout):  # pragma: no cover - abstract
        raise NotImplementedError

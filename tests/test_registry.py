"""Model versions: train never overwrites, promote moves the default, compare gives intervals."""

from datetime import datetime, timezone

import numpy as np
import pytest

from conftest import HashingEmbedder
from cxnlp.config import Settings, default_classifier
from cxnlp.errors import InputFileError, ModelNotFoundError
from cxnlp.pipeline import ClassifierHeads, Pipeline
from cxnlp.training.evaluate import bootstrap_macro_f1_difference, predict_rows
from cxnlp.training.registry import compare_predictions, list_versions, new_version_dir, promote
from cxnlp.training.train import TrainParams, train


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory, toy_labelled_with_test):
    """Two versions trained on the same toy data with different regularisation."""
    directory = tmp_path_factory.mktemp("models")
    for C in (10.0, 0.05):
        train(toy_labelled_with_test, HashingEmbedder(), directory, TrainParams(C_pillars=C, cv=3))
    return directory


def test_each_training_run_is_a_new_version_with_its_card(models_dir, toy_labelled_with_test):
    versions = list_versions(models_dir)
    assert len(versions) == 2 and versions[0].name != versions[1].name
    digest = toy_labelled_with_test.data_hash()[:8]
    assert all(v.name.startswith("classifier-") and v.name.endswith(digest) for v in versions)
    assert set(versions[0].macro_f1) == {"all", "en", "no", "sv"}
    card = (versions[0].path / "README.md").read_text()
    for item in ("sha256", "Label counts", "scikit-learn", "Test-split metrics", "created"):
        assert item in card


def test_runs_within_one_second_get_distinct_names_that_still_end_with_the_data_hash(tmp_path):
    created = datetime(2026, 12, 7, 12, 0, 0, tzinfo=timezone.utc)
    names = []
    for _ in range(3):
        path = new_version_dir(tmp_path, "abcdef1234567890", created)
        path.mkdir()
        names.append(path.name)
    assert len(set(names)) == 3
    assert all(name.startswith("classifier-20261207T120000Z-") and name.endswith("-abcdef12") for name in names)


def test_train_refuses_to_overwrite_a_model(models_dir, toy_labelled_with_test):
    existing = list_versions(models_dir)[0].path
    with pytest.raises(InputFileError, match="never overwrites"):
        train(toy_labelled_with_test, HashingEmbedder(), models_dir, TrainParams(cv=3), output_dir=existing)


def test_promote_changes_what_settings_load_by_default(models_dir, monkeypatch):
    assert default_classifier(models_dir) == models_dir / "classifier"  # nothing promoted yet
    newest = list_versions(models_dir)[-1]
    promote(models_dir, newest.name)
    assert default_classifier(models_dir) == models_dir / newest.name
    assert [v.is_default for v in list_versions(models_dir)] == [False, True]
    with pytest.raises(ModelNotFoundError, match="no trained classifier"):
        promote(models_dir, "classifier-nope")
    monkeypatch.setattr("cxnlp.config.DEFAULT_MODELS_DIR", models_dir)
    assert Settings().classifier == str(models_dir / newest.name)


def test_paired_bootstrap_interval_brackets_the_difference():
    rng = np.random.default_rng(1)
    Y = rng.integers(0, 2, size=(300, 6))
    noisy = np.where(rng.random(Y.shape) < 0.3, 1 - Y, Y)
    same = bootstrap_macro_f1_difference(Y, noisy, noisy, n_boot=500)
    assert same["difference"] == 0 and same["ci_low"] == 0 and same["ci_high"] == 0
    better = bootstrap_macro_f1_difference(Y, noisy, Y, n_boot=500)
    assert better["macro_f1_b"] == 1.0 and 0 < better["ci_low"] < better["difference"] < better["ci_high"]
    assert better["share_b_better"] == 1.0


def test_compare_two_versions_on_the_same_rows(models_dir, toy_labelled_with_test):
    test = toy_labelled_with_test.subset("test")
    rows = [predict_rows(Pipeline(HashingEmbedder(), ClassifierHeads.load(v.path)), test)
            for v in list_versions(models_dir)]
    result = compare_predictions(*rows, n_boot=200)
    overall = result["by_language"]["all"]
    assert overall["n"] == len(test.frame)
    assert overall["difference"] == pytest.approx(overall["macro_f1_b"] - overall["macro_f1_a"], abs=1e-3)
    assert overall["ci_low"] <= overall["difference"] <= overall["ci_high"]
    assert set(result["per_pillar"]) == {"personalization", "integrity", "expectations", "resolution",
                                         "time_and_effort", "empathy"}


def test_models_cli_lists_and_promotes(models_dir, monkeypatch):
    from typer.testing import CliRunner

    from cxnlp import cli
    from cxnlp.cli import app

    monkeypatch.setattr(cli.console, "width", 250)  # one table row per line

    runner = CliRunner()
    oldest = list_versions(models_dir)[0].name
    promoted = runner.invoke(app, ["models", "promote", oldest, "--models-dir", str(models_dir)])
    assert promoted.exit_code == 0, promoted.stderr
    listed = runner.invoke(app, ["models", "list", "--models-dir", str(models_dir)])
    assert listed.exit_code == 0
    line = next(row for row in listed.stdout.splitlines() if oldest in row)
    assert line.lstrip("│ ").startswith("*")  # the promoted version is marked default
    missing = runner.invoke(app, ["models", "promote", "nope", "--models-dir", str(models_dir)])
    assert missing.exit_code == 2 and "nope: no trained classifier" in missing.stderr

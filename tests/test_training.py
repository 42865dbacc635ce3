import json

import numpy as np

from conftest import TOY_ROWS, HashingEmbedder, toy_frame
from cxnlp.pipeline import ClassifierHeads
from cxnlp.training.data import load_labelled
from cxnlp.training.evaluate import pillar_metrics
from cxnlp.training.train import TrainParams, train


def test_pillar_metrics_counts_per_pillar_and_micro():
    Y = np.array([[1, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]])
    P = np.array([[1, 0, 0, 0, 0, 0], [0, 1, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0]])
    m = pillar_metrics(Y, P)
    assert m["per_pillar"]["personalization"] == {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2}
    assert m["per_pillar"]["expectations"]["precision"] == 0.0  # predicted, never true
    assert m["micro"] == {"precision": 0.6667, "recall": 0.6667, "f1": 0.6667}
    assert m["macro_f1"] == round((0.6667 + 1.0) / 2, 4)  # only pillars with support count


def test_train_writes_a_loadable_model_with_card_and_test_metrics(tmp_path):
    path = tmp_path / "labelled.csv"
    toy_frame(3, test_copies=1).to_csv(path, index=False)
    data = load_labelled([path], allow_warnings=True)
    out = tmp_path / "model"
    card = train(data, HashingEmbedder(), tmp_path, TrainParams(cv=3), output_dir=out)
    assert card["n_train"] == 3 * len(TOY_ROWS) and card["n_test"] == len(TOY_ROWS)
    assert set(card["metrics"]) == {"all", "en", "sv", "no"}
    assert json.loads((out / "metrics.json").read_text())["data_hash"] == data.data_hash()
    assert "## Test-split metrics" in (out / "README.md").read_text()
    assert ClassifierHeads.load(out).embedder_id == "hashing-test"

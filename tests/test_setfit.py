"""SetFit-style training on a tiny randomly initialised transformer built in the test (no download)."""

import re

import numpy as np
import torch
import pytest

from conftest import TOY_ROWS
from cxnlp.training.setfit import SetFitParams, contrastive_pairs
from cxnlp.training.train import TrainParams, train


@pytest.fixture(scope="module")
def tiny_embedder(tmp_path_factory):
    """A 1-layer, 32-wide BERT with a word-level vocabulary of the toy texts, as a
    sentence-transformers directory, loaded through the project's own embedder class."""
    from sentence_transformers import SentenceTransformer, models
    from tokenizers import Tokenizer, pre_tokenizers
    from tokenizers.models import WordLevel
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    from cxnlp.embed import SentenceTransformerEmbedder

    root = tmp_path_factory.mktemp("tiny")
    words = sorted({w for text, *_ in TOY_ROWS for w in re.findall(r"\w+", text.lower())} | {"x", "xx", "xxx"})
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words])}
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]", do_lower_case=True)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(root / "bert")
    fast.save_pretrained(root / "bert")
    transformer = models.Transformer(str(root / "bert"), max_seq_length=32)
    SentenceTransformer(modules=[transformer, models.Pooling(32, "mean"), models.Normalize()]).save(str(root / "st"))
    return SentenceTransformerEmbedder(str(root / "st"), cache_dir=None)


def test_pairs_pull_same_pillar_together_and_push_disjoint_apart():
    Y = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [0, 0], [0, 0]])
    pairs = contrastive_pairs(Y, 60, seed=0)
    assert len(pairs) == 60 and {t for *_, t in pairs} == {0.0, 1.0}
    for i, j, target in pairs:
        shared = bool((Y[i] & Y[j]).any()) or not (Y[i].any() or Y[j].any())
        assert i != j and shared == (target == 1.0)


def test_setfit_training_keeps_the_winner_and_says_by_how_much(tiny_embedder, toy_labelled_with_test, tmp_path):
    before = [p.detach().clone() for p in tiny_embedder.model.parameters()]
    card = train(toy_labelled_with_test, tiny_embedder, tmp_path, TrainParams(cv=3), method="setfit",
                 setfit=SetFitParams(pairs=64, batch_size=8, learning_rate=1e-3, max_seq_length=32))
    comparison = card["method_comparison"]
    assert set(comparison["candidates"]) == {"head", "setfit"} and card["method"] == comparison["kept"]
    f1 = {name: c["macro_f1"]["all"] for name, c in comparison["candidates"].items()}
    assert comparison["margin_macro_f1"] == pytest.approx(abs(f1["setfit"] - f1["head"]), abs=1e-4)
    version = tmp_path / card["version"]
    assert (version / "embedder").is_dir() == (card["method"] == "setfit")
    assert "## Method" in (version / "README.md").read_text()
    assert all(torch.equal(a, b) for a, b in zip(before, tiny_embedder.model.parameters()))  # base untouched


def test_a_fine_tuned_embedder_gets_its_own_cache_key_from_its_tuning_record(tiny_embedder, toy_labelled, tmp_path):
    """The embedding cache is keyed by a fingerprint that reads only the head of the weights, which a
    tune with frozen word embeddings leaves as it was: the tuning record must tell the two apart."""
    import hashlib
    import json

    from cxnlp.embed import FINETUNE_RECORD, _fingerprint
    from cxnlp.training.setfit import finetune_embedder

    out = tmp_path / "st"  # the base's own directory name, as a tuned copy under models/ has
    tuned = finetune_embedder(tiny_embedder, toy_labelled, out, SetFitParams(pairs=16, batch_size=8, max_seq_length=32))
    record = json.loads((out / FINETUNE_RECORD).read_text())
    assert record["base"] == tiny_embedder.model_id
    assert record["weights_sha256"] == hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest()
    assert tuned.model_id != tiny_embedder.model_id
    (out / FINETUNE_RECORD).write_text(json.dumps({**record, "weights_sha256": "0" * 64}))
    assert _fingerprint(str(out)) != tuned.model_id.split(":")[0]  # the record is part of the key

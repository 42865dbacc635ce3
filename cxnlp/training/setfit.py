"""SetFit-style training: first fine-tune the embedder contrastively on pairs of labelled comments
(same pillar: pull together; no pillar in common: push apart), then fit the usual heads on the
fine-tuned embeddings. Uses sentence-transformers' own trainer and CosineSimilarityLoss, as the
SetFit paper does, so no extra package is needed.

The pair budget, not the data size, sets the cost of the contrastive stage; on 2 CPU cores
`scripts/bench_setfit.py` measures it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cxnlp.clean import clean_texts
from cxnlp.embed import FINETUNE_RECORD, SentenceTransformerEmbedder
from cxnlp.training.data import LabelledSet


@dataclass
class SetFitParams:
    """pairs: contrastive pairs (half similar, half dissimilar); max_seq_length: tokens per comment
    while fine-tuning; freeze_word_embeddings: leave the 250k-token vocabulary matrix (80% of the
    weights) alone, which makes each step several times cheaper and barely changes quality."""

    pairs: int = 3000
    epochs: int = 1
    batch_size: int = 16
    learning_rate: float = 2e-5
    max_seq_length: int = 64
    freeze_word_embeddings: bool = True
    seed: int = 0


def contrastive_pairs(Y: np.ndarray, n_pairs: int, seed: int = 0) -> list[tuple[int, int, float]]:
    """(i, j, target) pairs: target 1 when both comments carry the same pillar (or both none),
    0 when they share no pillar. Pillars are drawn uniformly, so rare pillars get as many pairs
    as common ones."""
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(Y[:, j] == 1) for j in range(Y.shape[1])] + [np.flatnonzero(Y.sum(axis=1) == 0)]
    groups = [g for g in groups if len(g) >= 2]
    if not groups:
        raise ValueError("contrastive fine-tuning needs at least two comments sharing a pillar")
    pairs: list[tuple[int, int, float]] = []
    while len(pairs) < n_pairs:
        members = groups[rng.integers(len(groups))]
        i, j = rng.choice(members, size=2, replace=False)
        pairs.append((int(i), int(j), 1.0))
        disjoint = np.flatnonzero((Y & Y[i]).sum(axis=1) == 0) if Y[i].any() else np.flatnonzero(Y.any(axis=1))
        if len(disjoint):
            pairs.append((int(i), int(rng.choice(disjoint)), 0.0))
    return pairs[:n_pairs]


def finetune_embedder(embedder: SentenceTransformerEmbedder, data: LabelledSet, output_dir: Path,
                      params: SetFitParams) -> SentenceTransformerEmbedder:
    """Fine-tune a copy of `embedder` on pairs from `data` and save it to `output_dir` (the base
    model is left untouched). Returns the fine-tuned embedder, sharing the base's cache settings."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments, losses

    model = copy.deepcopy(embedder.model)
    model.max_seq_length = params.max_seq_length
    if params.freeze_word_embeddings:
        model[0].auto_model.get_input_embeddings().requires_grad_(False)
    texts = clean_texts(data.frame["text"].tolist())["text"].tolist()
    pairs = contrastive_pairs(data.Y, params.pairs, params.seed)
    dataset = Dataset.from_dict({"sentence1": [texts[i] for i, _, _ in pairs],
                                 "sentence2": [texts[j] for _, j, _ in pairs],
                                 "label": [target for _, _, target in pairs]})
    prompt = (model.prompts or {}).get(embedder.prompt_name or "", None)
    with tempfile.TemporaryDirectory() as scratch:
        args = SentenceTransformerTrainingArguments(
            output_dir=scratch, num_train_epochs=params.epochs, per_device_train_batch_size=params.batch_size,
            learning_rate=params.learning_rate, warmup_steps=0.1, seed=params.seed, data_seed=params.seed,
            save_strategy="no", report_to="none", logging_steps=50, use_cpu=True, dataloader_num_workers=0,
            prompts=prompt, disable_tqdm=True,
        )
        SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset,
                                   loss=losses.CosineSimilarityLoss(model)).train()
    model.save(str(output_dir))
    with (output_dir / "model.safetensors").open("rb") as weights:
        digest = hashlib.file_digest(weights, "sha256").hexdigest()
    record = {"base": embedder.model_id, "data_hash": data.data_hash(), "params": vars(params), "weights_sha256": digest}
    (output_dir / FINETUNE_RECORD).write_text(json.dumps(record, indent=2), "utf-8")
    cache_dir = embedder.cache.path.parent if embedder.cache else None
    return SentenceTransformerEmbedder(str(output_dir), prompt_name=embedder.prompt_name,
                                       batch_size=embedder.batch_size, cache_dir=cache_dir)

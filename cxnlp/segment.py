"""Split comments into sentences and contrast clauses, so each pillar's polarity comes
from the words that speak of it ("friendly staff | but 40 minutes in the queue").

Uses spaCy blank pipelines (no model downloads): the rule-based sentencizer, then a
component that starts a new clause at a contrast word read from
`resources/contrast_words.json`. Adding a language is adding a key to that file.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Sequence

import spacy
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc

# cxnlp language code -> spaCy blank pipeline; `und` uses the multi-language pipeline.
SPACY_LANG = {"sv": "sv", "no": "nb", "en": "en", "und": "xx"}
MIN_CLAUSE_TOKENS = 1  # words needed on each side of a contrast word to split there


def load_contrast_words() -> dict[str, list[str]]:
    data = json.loads(resources.files("cxnlp.resources").joinpath("contrast_words.json").read_text("utf-8"))
    words = {lang: items for lang, items in data.items() if not lang.startswith("_")}
    words["xx"] = sorted({w for items in words.values() for w in items})
    return words


@Language.factory("cx_contrast_clauses", default_config={"words": []})
def make_contrast_clauses(nlp: Language, name: str, words: list[str]) -> "ContrastClauses":
    return ContrastClauses(nlp, words)


class ContrastClauses:
    """Pipeline component: mark a sentence start at each contrast word that has
    enough words on both sides to be a clause of its own."""

    def __init__(self, nlp: Language, words: Sequence[str]) -> None:
        self.matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
        self.matcher.add("CONTRAST", [nlp.make_doc(w) for w in words])

    def __call__(self, doc: Doc) -> Doc:
        for _, start, _end in self.matcher(doc):
            if start >= MIN_CLAUSE_TOKENS and len(doc) - start > MIN_CLAUSE_TOKENS:
                doc[start].is_sent_start = True
        return doc


class Segmenter:
    """Sentences and clauses per comment, with one blank spaCy pipeline per language."""

    def __init__(self) -> None:
        contrast = load_contrast_words()
        self._nlp: dict[str, Language] = {}
        for code in set(SPACY_LANG.values()):
            nlp = spacy.blank(code)
            nlp.add_pipe("sentencizer")
            nlp.add_pipe("cx_contrast_clauses", config={"words": contrast[code]})
            self._nlp[code] = nlp

    def split(self, texts: Sequence[str], langs: Sequence[str] | None = None) -> list[list[str]]:
        """Clauses of each text, in order; an empty text gives an empty list."""
        langs = langs or ["und"] * len(texts)
        out: list[list[str]] = [[] for _ in texts]
        by_pipeline: dict[str, list[int]] = {}
        for i, lang in enumerate(langs):
            by_pipeline.setdefault(SPACY_LANG.get(lang, "xx"), []).append(i)
        for code, idx in by_pipeline.items():
            docs = self._nlp[code].pipe((texts[i] for i in idx), batch_size=256)
            for i, doc in zip(idx, docs):
                out[i] = _clauses(doc)
        return out


def _clauses(doc: Doc) -> list[str]:
    return [span.text.strip(" ,;:-") for span in doc.sents if any(t.is_alpha or t.like_num for t in span)]

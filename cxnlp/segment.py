"""Split comments into sentences and contrast clauses, so each pillar's polarity comes
from the words that speak of it ("friendly staff | but 40 minutes in the queue").

Uses spaCy blank pipelines (no model downloads): the rule-based sentencizer, then a
component that starts a new clause at a contrast word read from
`resources/contrast_words.json`. Adding a language is adding a key to that file.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Sequence

import spacy
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc

# cxnlp language code -> spaCy blank pipeline; `und` uses the multi-language pipeline.
SPACY_LANG = {"sv": "sv", "no": "nb", "en": "en", "und": "xx"}
MIN_CLAUSE_TOKENS = 1  # words needed on each side of a contrast word to split there
CLAUSE_EDGES = " ,;:-"  # stripped from both ends of a clause


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
        # per pipeline: the marks its sentencizer ends a sentence on, and any of its contrast words (as a
        # substring of the lower-cased text), for telling a comment it keeps whole without running it
        self._splitters: dict[str, tuple[str, re.Pattern[str], re.Pattern[str]]] = {}
        for code in set(SPACY_LANG.values()):
            nlp = spacy.blank(code)
            ends = "".join(sorted(nlp.add_pipe("sentencizer").punct_chars))
            nlp.add_pipe("cx_contrast_clauses", config={"words": contrast[code]})
            self._nlp[code] = nlp
            self._splitters[code] = (ends, re.compile(f"[{re.escape(ends)}]"),
                                     re.compile("|".join(re.escape(w.lower()) for w in contrast[code]) or "(?!)"))

    def split(self, texts: Sequence[str], langs: Sequence[str] | None = None) -> list[list[str]]:
        """Clauses of each text, in order; an empty text gives an empty list."""
        langs = langs or ["und"] * len(texts)
        out: list[list[str]] = [[] for _ in texts]
        by_pipeline: dict[str, list[int]] = {}
        for i, lang in enumerate(langs):
            by_pipeline.setdefault(SPACY_LANG.get(lang, "xx"), []).append(i)
        for code, idx in by_pipeline.items():
            rest = []
            for i in idx:
                if self._one_clause(texts[i], code):
                    out[i] = [texts[i].strip(CLAUSE_EDGES)]
                else:
                    rest.append(i)
            for i, doc in zip(rest, self._nlp[code].pipe((texts[i] for i in rest), batch_size=256)):
                out[i] = _clauses(doc)
        return out

    def _one_clause(self, text: str, code: str) -> bool:
        """Whether the pipeline would keep `text` whole, told without running it (most short comments): no
        sentence-ending mark but in its trailing run, no contrast word even inside another word, and a word of
        letters only, which the clause is kept for. Every mark the sentencizer ends on is punctuation to
        spaCy, so a trailing run of them starts no sentence."""
        ends, end_mark, contrast_word = self._splitters[code]
        body = text.rstrip(ends)
        return (bool(body) and not end_mark.search(body)
                and not contrast_word.search(text.lower()) and any(word.isalpha() for word in body.split()))


def _clauses(doc: Doc) -> list[str]:
    return [span.text.strip(CLAUSE_EDGES) for span in doc.sents if any(t.is_alpha or t.like_num for t in span)]

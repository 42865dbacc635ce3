"""Detect the language of a comment: Swedish (`sv`), Norwegian (`no`), English (`en`) or `und`.

langdetect alone is unreliable on survey comments: it is random unless seeded, it
confuses Norwegian with Danish and Swedish, and a two-word comment gives it almost
nothing to go on. So its probabilities (seeded, restricted to the supported languages)
are blended with votes from a table of common words and letters per language, and the
word votes weigh more the shorter the comment.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from typing import Iterable

from langdetect import DetectorFactory, detect_langs
from langdetect.lang_detect_exception import LangDetectException

SUPPORTED = ("sv", "no", "en")
UNDETERMINED = "und"
# langdetect codes folded into a supported language: Danish reads as Norwegian here.
LANGDETECT_ALIASES = {"sv": "sv", "no": "no", "nn": "no", "da": "no", "en": "en"}
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def _load_markers() -> tuple[dict[str, dict[str, float]], dict[str, str]]:
    data = json.loads(resources.files("cxnlp.resources").joinpath("language_markers.json").read_text("utf-8"))
    owners: dict[str, list[str]] = {}
    for lang, words in data["words"].items():
        for word in words:
            owners.setdefault(word, []).append(lang)
    votes = {word: {lang: 1.0 / len(langs) for lang in langs} for word, langs in owners.items()}
    letters = {ch: lang for lang, chars in data["letters"].items() for ch in chars}
    return votes, letters


WORD_VOTES, LETTER_LANG = _load_markers()


@dataclass(frozen=True)
class LanguageGuess:
    lang: str
    confidence: float


class LanguageDetector:
    """Seeded langdetect blended with word votes; `und` below `min_confidence`.

    Parameters
    ----------
    seed: langdetect's random seed, fixed so the same text always gets the same answer.
    min_confidence: blended probability under which the answer is `und`.
    short_words: comments with fewer words than this lean on the word table.
    """

    def __init__(self, seed: int = 0, min_confidence: float = 0.4, short_words: int = 5) -> None:
        self.seed = seed
        self.min_confidence = min_confidence
        self.short_words = short_words

    def detect(self, text: str) -> LanguageGuess:
        words = _WORD.findall(text.lower())
        if not words:
            return LanguageGuess(UNDETERMINED, 0.0)
        lexical = self._word_votes(words, text.lower())
        total_votes = sum(lexical.values())
        decisive = total_votes >= 4 and max(lexical.values()) >= 0.8 * total_votes
        detector = {} if decisive else self._langdetect(text)
        if total_votes == 0 and not detector:
            return LanguageGuess(UNDETERMINED, 0.0)
        lexical_weight = 1.0 if decisive or not detector else (0.7 if len(words) < self.short_words else 0.35)
        if total_votes == 0:
            lexical_weight = 0.0
        scores = {
            lang: lexical_weight * (lexical[lang] / total_votes if total_votes else 0.0)
            + (1 - lexical_weight) * detector.get(lang, 0.0)
            for lang in SUPPORTED
        }
        lang = max(scores, key=scores.__getitem__)
        confidence = round(scores[lang], 4)
        return LanguageGuess(lang if confidence >= self.min_confidence else UNDETERMINED, confidence)

    def detect_many(self, texts: Iterable[str]) -> list[LanguageGuess]:
        return [self.detect(t) for t in texts]

    @staticmethod
    def _word_votes(words: list[str], lowered: str) -> Counter[str]:
        votes: Counter[str] = Counter()
        for word in words:
            for lang, share in WORD_VOTES.get(word, {}).items():
                votes[lang] += share
        for ch, lang in LETTER_LANG.items():
            if ch in lowered:
                votes[lang] += 1.0
        return votes

    def _langdetect(self, text: str) -> dict[str, float]:
        DetectorFactory.seed = self.seed
        try:
            found = detect_langs(text)
        except LangDetectException:
            return {}
        probs: Counter[str] = Counter()
        for item in found:
            probs[LANGDETECT_ALIASES.get(item.lang, "other")] += item.prob
        return dict(probs)

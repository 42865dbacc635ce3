"""Detect the language of a comment: Swedish (`sv`), Norwegian (`no`), English (`en`) or `und`.

langdetect alone is unreliable on survey comments: it is random unless seeded, it
confuses Norwegian with Danish and Swedish, and a two-word comment gives it almost
nothing to go on. So its probabilities (seeded, restricted to the supported languages)
are blended with votes from a table of common words and letters per language, and the
word votes weigh more on short comments and on comments typed without å/ä/ö/æ/ø.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Iterable

from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory
from langdetect.lang_detect_exception import LangDetectException
from langdetect.utils.lang_profile import LangProfile

SUPPORTED = ("sv", "no", "en")
UNDETERMINED = "und"
# langdetect profiles consulted, and the supported language each stands for: Danish
# reads as Norwegian here. Other languages are checked only on longer comments.
LANGDETECT_ALIASES = {"sv": "sv", "no": "no", "da": "no", "en": "en"}
FOREIGN_MIN_WORDS = 5
FOREIGN_MIN_PROB = 0.9
ASCII_FOLD = str.maketrans({"å": "a", "ä": "a", "ö": "o", "æ": "ae", "ø": "o"})
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def _load_markers() -> tuple[dict[str, dict[str, float]], dict[str, str]]:
    data = json.loads(resources.files("cxnlp.resources").joinpath("language_markers.json").read_text("utf-8"))
    owners: dict[str, list[str]] = {}
    for lang, words in data["words"].items():
        # respondents on foreign keyboards drop å/ä/ö/æ/ø: "varfor", "tillgang", "fornoyd"
        folded = (word.translate(ASCII_FOLD) for word in words)
        for word in dict.fromkeys([*words, *folded]):
            owners.setdefault(word, []).append(lang)
    votes = {word: {lang: 1.0 / len(langs) for lang in langs} for word, langs in owners.items()}
    letters = {ch: lang for lang, chars in data["letters"].items() for ch in chars}
    return votes, letters


WORD_VOTES, LETTER_LANG = _load_markers()
NORDIC_LETTERS = frozenset("å" + "".join(LETTER_LANG))  # what langdetect tells sv from no by


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

    def __init__(self, seed: int = 0, min_confidence: float = 0.3, short_words: int = 5) -> None:
        self.seed = seed
        self.min_confidence = min_confidence
        self.short_words = short_words
        self._nordic = _factory(seed, LANGDETECT_ALIASES)
        self._world = _factory(seed, None)

    def detect(self, text: str) -> LanguageGuess:
        lowered = text.lower()
        words = _WORD.findall(lowered)
        if not words:
            return LanguageGuess(UNDETERMINED, 0.0)
        lexical = self._word_votes(words, lowered)
        total_votes = sum(lexical.values())
        decisive = total_votes >= 4 and max(lexical.values()) >= 0.8 * total_votes
        detector = {} if decisive else self._langdetect(lowered)
        if total_votes == 0 and not detector:
            return LanguageGuess(UNDETERMINED, 0.0)
        # langdetect tells Swedish from Norwegian largely by å/ä/ö vs æ/ø; without them, trust the words more
        leans_on_words = len(words) < self.short_words or not any(ch in lowered for ch in NORDIC_LETTERS)
        lexical_weight = 1.0 if decisive or not detector else (0.7 if leans_on_words else 0.35)
        if total_votes == 0:
            lexical_weight = 0.0
        scores = {
            lang: lexical_weight * (lexical[lang] / total_votes if total_votes else 0.0)
            + (1 - lexical_weight) * detector.get(lang, 0.0)
            for lang in SUPPORTED
        }
        lang = max(scores, key=scores.__getitem__)
        confidence = round(scores[lang], 4)
        if len(words) >= FOREIGN_MIN_WORDS and not decisive and self._is_foreign(lowered):
            return LanguageGuess(UNDETERMINED, confidence)
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
        """Probabilities over the supported languages only, so short texts cannot drift to Dutch or Afrikaans."""
        best: dict[str, float] = {}
        for lang, prob in _probabilities(self._nordic, text):
            target = LANGDETECT_ALIASES[lang]  # max, not sum: Danish must not double Norwegian's weight
            best[target] = max(best.get(target, 0.0), prob)
        total = sum(best.values())
        return {lang: prob / total for lang, prob in best.items()} if total else {}

    def _is_foreign(self, text: str) -> bool:
        found = _probabilities(self._world, text)
        return bool(found) and found[0][0] not in LANGDETECT_ALIASES and found[0][1] >= FOREIGN_MIN_PROB


def _factory(seed: int, languages: dict[str, str] | None) -> DetectorFactory:
    """A private langdetect factory (the library's global one is shared and unseeded)."""
    factory = DetectorFactory()
    if languages is None:
        factory.load_profile(PROFILES_DIRECTORY)
    else:
        for index, lang in enumerate(languages):
            with open(Path(PROFILES_DIRECTORY) / lang, encoding="utf-8") as fh:
                factory.add_profile(LangProfile(**json.load(fh)), index, len(languages))
    factory.set_seed(seed)
    return factory


def _probabilities(factory: DetectorFactory, text: str) -> list[tuple[str, float]]:
    detector = factory.create()
    detector.append(text)
    try:
        return [(item.lang, item.prob) for item in detector.get_probabilities()]
    except LangDetectException:
        return []

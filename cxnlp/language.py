"""Detect the language of a comment: Swedish (`sv`), Norwegian (`no`), English (`en`) or `und`.

langdetect alone is unreliable on survey comments: it is random unless seeded, it
confuses Norwegian with Danish and Swedish, and a two-word comment gives it almost
nothing to go on. So its probabilities (seeded, restricted to the supported languages)
are blended with votes from a table of common words and letters per language, and the
word votes weigh more on short comments and on comments typed without å/ä/ö/æ/ø.

The character n-gram model is swappable. `langdetect` (the default) samples n-grams at random,
pure Python, about a millisecond a comment. `naive-bayes` reads the same langdetect profiles but
scores every n-gram of a batch of comments at once with sparse matrices, each distinct word once:
the fast tier's choice, measured against langdetect in docs/performance.md.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Iterable, Literal, Protocol, Sequence

import numpy as np
from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory
from langdetect.lang_detect_exception import LangDetectException
from langdetect.utils.lang_profile import LangProfile
from scipy.sparse import csr_matrix

from cxnlp.bags import word_bags

SUPPORTED = ("sv", "no", "en")
UNDETERMINED = "und"
# langdetect profiles consulted, and the supported language each stands for: Danish
# reads as Norwegian here. Other languages are checked only on longer comments.
LANGDETECT_ALIASES = {"sv": "sv", "no": "no", "da": "no", "en": "en"}
FOREIGN_MIN_WORDS = 5
FOREIGN_MIN_PROB = 0.9
ASCII_FOLD = str.maketrans({"å": "a", "ä": "a", "ö": "o", "æ": "ae", "ø": "o"})
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_LETTERS = re.compile(r"[^\W\d_]+")  # the words langdetect's n-grams are read from
LANGDETECT_SMOOTHING = 0.5 / 10000  # langdetect's alpha / BASE_FREQ, added to each n-gram probability
CHARACTER_MODELS = ("langdetect", "naive-bayes")


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


class CharacterModel(Protocol):
    """Probabilities of the languages of its profiles, highest first, above langdetect's 0.1 cut-off."""

    def probabilities(self, texts: Sequence[str]) -> list[list[tuple[str, float]]]: ...


class LangdetectModel:
    """langdetect itself, seeded: one text at a time, pure Python."""

    def __init__(self, seed: int, languages: Sequence[str] | None) -> None:
        self._factory = _factory(seed, languages)

    def probabilities(self, texts: Sequence[str]) -> list[list[tuple[str, float]]]:
        return [_probabilities(self._factory, text) for text in texts]


class ProfileNaiveBayes:
    """langdetect's profiles as a naive Bayes classifier over all the n-grams of a text at once.

    langdetect multiplies, for n-grams drawn at random, each language's probability by
    (smoothing + p(n-gram | language)); this adds the logarithms of the same factors for every
    n-gram of the text, so it needs no sampling and no seed. A text's n-grams are the sum of its
    words' (padded with spaces, as langdetect pads them), so each distinct word of a batch is
    scored once and the texts are one sparse product.
    """

    def __init__(self, languages: Sequence[str] | None = None, smoothing: float = LANGDETECT_SMOOTHING) -> None:
        self.languages_ = list(languages or sorted(p.name for p in Path(PROFILES_DIRECTORY).iterdir()))
        self.smoothing = smoothing
        profiles = []
        for lang in self.languages_:
            with open(Path(PROFILES_DIRECTORY) / lang, encoding="utf-8") as fh:
                profiles.append(json.load(fh))
        # langdetect's texts are lower-cased here (see LanguageDetector.detect), so upper-case n-grams never occur
        self.vocabulary_ = {g: i for i, g in enumerate(sorted({g for p in profiles for g in p["freq"]
                                                               if g == g.lower() and 1 <= len(g) <= 3}))}
        prob = np.zeros((len(self.vocabulary_), len(profiles)), dtype=np.float64)
        for j, profile in enumerate(profiles):
            for gram, freq in profile["freq"].items():
                if gram in self.vocabulary_:
                    prob[self.vocabulary_[gram], j] = freq / profile["n_words"][len(gram) - 1]
        self.log_prob_ = np.log(prob + smoothing)

    def _word_scores(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Summed log factors of each word's known n-grams, and how many it has."""
        rows: list[int] = []
        owner: list[int] = []
        for k, word in enumerate(words):
            padded = f" {word} "
            for n in (1, 2, 3):
                for start in range(len(padded) - n + 1):
                    row = self.vocabulary_.get(padded[start : start + n])
                    if row is not None:
                        rows.append(row)
                        owner.append(k)
        counts = csr_matrix((np.ones(len(rows)), (owner, rows)), shape=(len(words), len(self.vocabulary_)))
        return counts @ self.log_prob_, np.asarray(counts.sum(axis=1)).ravel()

    def probabilities(self, texts: Sequence[str]) -> list[list[tuple[str, float]]]:
        text_words, words = word_bags([_LETTERS.findall(text) for text in texts])
        word_scores, word_grams = self._word_scores(words)
        scores, grams = text_words @ word_scores, text_words @ word_grams
        scores = np.exp(scores - scores.max(axis=1, keepdims=True))
        scores /= scores.sum(axis=1, keepdims=True)
        order = np.argsort(-scores, axis=1, kind="stable")
        kept = np.take_along_axis(scores, order, axis=1) > 0.1  # the languages worth listing, most likely first
        languages = self.languages_
        return [[(languages[j], float(row[j])) for j in ranked[keep]] if n_grams else []
                for row, ranked, keep, n_grams in zip(scores, order, kept, grams)]


class LanguageDetector:
    """Character n-gram model blended with word votes; `und` below `min_confidence`.

    Parameters
    ----------
    seed: langdetect's random seed, fixed so the same text always gets the same answer.
    min_confidence: blended probability under which the answer is `und`.
    short_words: comments with fewer words than this lean on the word table.
    character_model: `naive-bayes` (langdetect's profiles, every n-gram, vectorised over a batch:
        the default, as accurate on our data and about 30 times faster) or `langdetect` (sampling, per text).
    """

    def __init__(self, seed: int = 0, min_confidence: float = 0.3, short_words: int = 5,
                 character_model: Literal["langdetect", "naive-bayes"] = "naive-bayes") -> None:
        if character_model not in CHARACTER_MODELS:
            raise ValueError(f"character_model must be one of {', '.join(CHARACTER_MODELS)}, not {character_model!r}")
        self.seed = seed
        self.min_confidence = min_confidence
        self.short_words = short_words
        self.character_model = character_model
        model = LangdetectModel if character_model == "langdetect" else (lambda seed, langs: ProfileNaiveBayes(langs))
        self._nordic: CharacterModel = model(seed, list(LANGDETECT_ALIASES))
        self._world: CharacterModel = model(seed, None)

    def detect(self, text: str) -> LanguageGuess:
        return self.detect_many([text])[0]

    def detect_many(self, texts: Iterable[str]) -> list[LanguageGuess]:
        """Word votes per text; the character model only for the texts they leave open, in one batch."""
        lowered = [t.lower() for t in texts]
        words = [_WORD.findall(t) for t in lowered]
        lexical = [self._word_votes(w, t) for w, t in zip(words, lowered)]
        decisive = [_decisive(votes) for votes in lexical]
        ask = [i for i, w in enumerate(words) if w and not decisive[i]]
        detected = dict(zip(ask, (self._supported(found) for found in self._nordic.probabilities([lowered[i] for i in ask]))))
        check = [i for i in ask if len(words[i]) >= FOREIGN_MIN_WORDS]
        foreign = {i for i, found in zip(check, self._world.probabilities([lowered[i] for i in check]))
                   if found and found[0][0] not in LANGDETECT_ALIASES and found[0][1] >= FOREIGN_MIN_PROB}
        return [self._blend(words[i], lowered[i], lexical[i], decisive[i], detected.get(i, {}), i in foreign)
                for i in range(len(lowered))]

    def _blend(self, words: list[str], lowered: str, lexical: Counter[str], decisive: bool,
               detector: dict[str, float], foreign: bool) -> LanguageGuess:
        if not words:
            return LanguageGuess(UNDETERMINED, 0.0)
        total_votes = sum(lexical.values())
        if total_votes == 0 and not detector:
            return LanguageGuess(UNDETERMINED, 0.0)
        # the character model tells Swedish from Norwegian largely by å/ä/ö vs æ/ø; without them, trust the words more
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
        if foreign:
            return LanguageGuess(UNDETERMINED, confidence)
        return LanguageGuess(lang if confidence >= self.min_confidence else UNDETERMINED, confidence)

    @staticmethod
    def _word_votes(words: list[str], lowered: str) -> Counter[str]:
        votes: Counter[str] = Counter()
        for word in words:
            if shares := WORD_VOTES.get(word):  # most words vote for no language
                for lang, share in shares.items():
                    votes[lang] += share
        for ch, lang in LETTER_LANG.items():
            if ch in lowered:
                votes[lang] += 1.0
        return votes

    @staticmethod
    def _supported(found: list[tuple[str, float]]) -> dict[str, float]:
        """Probabilities over the supported languages only, so short texts cannot drift to Dutch or Afrikaans."""
        best: dict[str, float] = {}
        for lang, prob in found:
            target = LANGDETECT_ALIASES[lang]  # max, not sum: Danish must not double Norwegian's weight
            best[target] = max(best.get(target, 0.0), prob)
        total = sum(best.values())
        return {lang: prob / total for lang, prob in best.items()} if total else {}


def _decisive(votes: Counter[str]) -> bool:
    """Enough word votes, nearly all for one language: the character model is not asked."""
    total = sum(votes.values())
    return total >= 4 and max(votes.values()) >= 0.8 * total


def _factory(seed: int, languages: Sequence[str] | None) -> DetectorFactory:
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

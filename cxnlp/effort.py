"""Effort the customer reports in their own words: how long they waited, how many times they
had to contact the company, how many steps they were put through.

Every competing tool reads "45 min i telefonkö" or "ringt fire ganger" as sentiment and
throws the numbers away; the customer-experience literature says effort and the number of
steps are what drive recommendation. So each comment gets structured values:

- `cx_wait_minutes`: the longest wait or duration the customer went through, in minutes.
  The longest rather than the sum, because the same wait is often said twice ("an hour.
  AN HOUR!") or nested ("three weeks, two hours of it on the phone"). Ranges count at their
  midpoint ("1-2 veckor" = 1.5 weeks), compound durations add up ("1 timme och 20
  minuter" = 80), a month is 30 days, a year 365.
- `cx_contacts`: how many times the customer contacted the company. Different channels
  add up ("mejlat 5 gånger och ringt 3 gånger" = 8); the same channel said twice counts
  once, at its larger count; an unspecified "contacted you 7 times" is taken as the total.
- `cx_steps`: the largest count of forms, steps, hand-offs or repeats ("fem olika
  formulär", "had to explain it again" = 2).
- `cx_effort_spans`: JSON list of every mention found, with its kind, value, text,
  character offsets in the cleaned text and polarity: `negative` when it is effort,
  `positive` when the comment praises speed ("delivered in 2 days, brilliant") or says the
  effort was spared ("didn't have to call"). Only negative mentions feed the three values;
  counts below two are left empty (one contact or one form is the baseline, not effort).

Rule-based, on spaCy blank pipelines: a component that reads numbers (digits, words,
ranges, "halvannan", "forty-five"), then `Matcher` patterns for durations, counts,
ordinals and repeats, judged by the words around them. A duration counts as a wait only
when nearby words say it was waited or spent ("väntade", "tog", "senare", "i kö", "still",
"without") and it is not promised, tenure, a warranty, a rate, a price period or the
length of something else ("a 10 h flight"); most durations in a long review are not
waits. A count needs the verb or noun it counts ("ringt", "formulär") and the customer as
its subject ("de ringde mig fyra gånger" is not effort). All words live in
`resources/effort/<lang>.json`, so a new language is a new data file.

Measured on the team's effort set (`cxnlp evaluate-effort`) and, by hand, on samples of
real reviews; the figures and where it still errs are in data/labelled/effort/README.md.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import pandas as pd
import spacy
from spacy.attrs import IS_PUNCT, IS_QUOTE, LOWER, NORM
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokenizer import Tokenizer
from spacy.tokens import Doc, Span, Token
from spacy.util import compile_infix_regex, compile_suffix_regex, filter_spans

from cxnlp.errors import InputFileError
from cxnlp.segment import load_contrast_words

EFFORT_COLUMNS: tuple[str, ...] = ("cx_wait_minutes", "cx_contacts", "cx_steps", "cx_effort_spans")
MIN_COUNT = 2  # one contact or one step is the baseline of any errand, not effort
MAX_STEPS = 30  # "338 sider" is a book, not a process
MINUTES_PER_MONTH = 43200  # tenure ("kund i 15 år") is only read from months and years
MINUTES_PER_YEAR = 525600  # "fem år senere" is a story's time, not a wait, unless the words say waited
NEGATIVE, POSITIVE = "negative", "positive"
CUE_CATEGORIES = (
    "contact_phone", "contact_email", "contact_chat", "contact_any", "contact_send", "step", "transfer",
    "negation", "need", "third_party", "first_person", "customer_object", "received", "from", "wait", "elapsed",
    "wait_noun", "now", "late", "late_short", "before", "someone", "purpose", "effort_tone", "activity", "obligation",
    "passive", "only", "within", "in", "completion", "praise", "promise", "non_wait", "tenure", "rate_before",
    "rate_after", "currency", "price_link", "unit_joiners",
)
# Which kind of effort a cue word points to, strongest first when one token matches several
# (`telefonkö` is a wait, not a phone call; `skriva in` is a step, not writing to someone).
ROLES = ("wait", "transfer", "step", "contact_send", "contact_phone", "contact_email", "contact_chat", "contact_any")
CUE_WINDOW = 6  # tokens searched for the verb or noun that says what a count is about
EVIDENCE_BEFORE, EVIDENCE_AFTER = 6, 4  # tokens searched for a word saying a duration was waited or spent
NEGATION_WINDOW = 3
SHORT_SENTENCE = 4  # tokens: "Smooth.", "Toppen!" after a duration still praise it
MINUTES_PER_DAY = 1440  # "30 minuter sen" is late; "en vecka sen" is "a week since"
# Words up to which a comment with nothing read in its detected language is read in the others. On the
# labelled effort set the readings that find something are all of 8 words or fewer; on the 21,309 public
# reviews of ../shared/eval they found 3 mentions in 865 readings, all in reviews of 94 words or more and
# none a customer's effort (English "to chat" read as Norwegian "two chats" twice, a removal job's hours once).
REREAD_MAX_WORDS = 25
_DIGITS = re.compile(r"\d+(?:[.,]\d{1,2})?")
_RANGE_SEP = re.compile(r"[-–]")
MAX_RANGE = 1000
_WORD = re.compile(r"[^\W\d_]+")
_FRACTION = re.compile(r"(\d*?)(\d)⁄(\d+)")  # NFKC turns "1½" into "11⁄2"

# Numbers and ordinals are also marked in the token's NORM, which the matcher tests natively:
# ten times faster than a Python attribute on every token of every comment.
NUMBER_NORM, ORDINAL_NORM = "<cx-number>", "<cx-ordinal>"
NUM = {"NORM": NUMBER_NORM}
for _name in ("cx_num", "cx_ordinal"):
    if not Token.has_extension(_name):
        Token.set_extension(_name, default=None)
if not Doc.has_extension("cx_effort"):
    Doc.set_extension("cx_effort", default=None)  # the mentions kept
if not Doc.has_extension("cx_effort_read"):
    Doc.set_extension("cx_effort_read", default=False)  # whether any pattern matched, kept or not


@dataclass(frozen=True)
class EffortMention:
    kind: str  # wait | contacts | steps
    value: float  # minutes for waits, a count otherwise
    text: str
    start: int  # character offsets in the text the extractor was given
    end: int
    polarity: str  # negative: the customer's effort; positive: speed praised or effort spared
    channel: str = ""  # contacts only: phone, email, chat or any

    def as_json(self) -> dict:
        out = dict(vars(self))  # the fields in order; `asdict` deep-copies, a tenth of scoring's effort time
        if self.kind != "contacts":
            del out["channel"]
        out["value"] = round(self.value, 2)
        return out


@dataclass(frozen=True)
class EffortSummary:
    wait_minutes: float | None
    contacts: int | None
    steps: int | None


NO_EFFORT = EffortSummary(None, None, None)


# ---------------------------------------------------------------- language data

OPTIONAL_KEYS: dict[str, object] = {
    "compound_numbers": {}, "half_suffixes": [], "range_connectors": [], "ordinals": {}, "ordinal_pattern": "",
    "genitive_units": {}, "unit_modifiers": [], "vague_durations": {}, "times_words": [], "times_single": {},
    "occasion_words": [], "again_words": {}, "step_phrases": {}, "count_modifiers": [], "contact_nouns": [],
    "step_nouns": [], "person_nouns": [], "person_cues": [],
}
REQUIRED_KEYS = ("spacy_lang", "numbers", "units", "cues")


def load_vocabulary(path: Path | str | Traversable) -> dict:
    """Read and check one language file; a missing key or a non-numeric value names the file."""
    path = Path(path) if isinstance(path, str) else path
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as err:
        raise InputFileError(path, f"cannot read effort vocabulary ({err}).") from err
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise InputFileError(path, f"effort vocabulary lacks key(s): {', '.join(missing)}.")
    for key, default in OPTIONAL_KEYS.items():
        data.setdefault(key, default)
    unknown = sorted(set(data["cues"]) - set(CUE_CATEGORIES))
    if unknown:
        raise InputFileError(path, f"unknown cue categories {unknown}; expected some of {', '.join(CUE_CATEGORIES)}.")
    data["cues"] = {c: data["cues"].get(c, []) for c in CUE_CATEGORIES}
    for key in ("numbers", "units", "genitive_units", "vague_durations", "times_single", "again_words",
                "step_phrases", "ordinals"):
        bad = [k for k, v in data[key].items() if not isinstance(v, (int, float)) or v <= 0 or "*" in k]
        if bad:
            raise InputFileError(path, f"{key}: keys are plain words (no *) and values positive numbers "
                                       f"(check {', '.join(bad[:5])}).")
    return data


def packaged_vocabularies() -> dict[str, Traversable]:
    """cxnlp language code -> its effort file shipped in `cxnlp/resources/effort/`."""
    folder = resources.files("cxnlp.resources").joinpath("effort")
    return {f.name.removesuffix(".json"): f for f in folder.iterdir() if f.name.endswith(".json")}


def _glob(word: str) -> str:
    return ".*".join(re.escape(part) for part in word.split("*"))


def _token_specs(nlp: Language, entry: str) -> list[dict]:
    """Matcher token patterns for one vocabulary entry: words split on spaces, `*` a wildcard."""
    specs: list[dict] = []
    for word in entry.lower().split():
        if "*" in word:
            specs.append({"LOWER": {"REGEX": f"^{_glob(word)}$"}})
        else:
            specs.extend({"LOWER": t.lower_} for t in nlp.make_doc(word))
    return specs


def _split_entries(nlp: Language, entries: Iterable[str]) -> tuple[list[str], list[str], list[list[dict]]]:
    """A vocabulary list as its one-token words, its wildcard words (as regular expressions)
    and the token patterns of its multi-token entries."""
    words, globs, phrases = [], [], []
    for entry in entries:
        if " " not in entry.strip() and "*" in entry:
            globs.append(_glob(entry.lower()))
            continue
        specs = _token_specs(nlp, entry)
        if len(specs) == 1:
            words.append(specs[0]["LOWER"])
        else:
            phrases.append(specs)
    return words, globs, phrases


def _patterns(nlp: Language, entries: Iterable[str], prefix: Sequence[dict] = ()) -> list[list[dict]]:
    """Matcher patterns for a vocabulary list. Its one-token words share one pattern (a set of
    words and one regular expression), so the matcher tests each token once per list, not once
    per word: a tenth of the time."""
    words, globs, phrases = _split_entries(nlp, entries)
    patterns = [[*prefix, *specs] for specs in phrases]
    if words:
        patterns.append([*prefix, {"LOWER": {"IN": words}}])
    if globs:
        patterns.append([*prefix, {"LOWER": {"REGEX": f"^(?:{'|'.join(globs)})$"}}])
    return patterns


class _Lexicon:
    """Which cue categories each word belongs to, for the one-word entries of the vocabulary:
    worked out once per distinct word and cached by its lower-case hash, so a doc is looked up
    without making a spaCy `Token` per word, and only multi-word entries need a matcher."""

    def __init__(self, nlp: Language, entries_by_category: Mapping[str, Iterable[str]]) -> None:
        self.exact: dict[str, set[str]] = {}
        self.globs: list[tuple[str, re.Pattern[str]]] = []
        self.phrases = PhraseMatcher(nlp.vocab, attr="LOWER")  # compares hashes in C
        self.phrase_globs = _TokenPatterns(nlp)  # multi-word entries with a wildcard word
        for category, entries in entries_by_category.items():
            words, globs, phrases = _split_entries(nlp, entries)
            for word in words:
                self.exact.setdefault(word, set()).add(category)
            if globs:
                self.globs.append((category, re.compile(f"(?:{'|'.join(globs)})")))
            plain = [p for p in phrases if all(isinstance(spec["LOWER"], str) for spec in p)]
            if plain:
                self.phrases.add(category, [Doc(nlp.vocab, words=[spec["LOWER"] for spec in p]) for p in plain])
            self.phrase_globs.add(category, [p for p in phrases if p not in plain])
        self._any_glob = re.compile("|".join(f"(?:{regex.pattern})" for _, regex in self.globs)) if self.globs else None
        self._by_key = _KeyCache(lambda key: self.categories(nlp.vocab.strings[key]))
        self._roles: dict[frozenset[str], str | None] = {}

    def categories(self, word: str) -> frozenset[str]:
        cats = set(self.exact.get(word, ()))
        if self._any_glob and self._any_glob.fullmatch(word):  # one pass rules out most words
            cats.update(category for category, regex in self.globs if regex.fullmatch(word))
        return frozenset(cats)

    def word_categories(self, lower_keys: Sequence[int]) -> list[frozenset[str]]:
        """The categories of each token's one-word entries, from the tokens' `LOWER` hashes."""
        return [self._by_key[key] for key in lower_keys]

    def role(self, categories: frozenset[str]) -> str | None:
        """The strongest role among one word's categories."""
        if categories not in self._roles:
            self._roles[categories] = min((c for c in categories if c in ROLES), key=ROLES.index, default=None)
        return self._roles[categories]

    def phrase_matches(self, doc: Doc) -> list[tuple[str, int, int]]:
        """(category, start, end) of every multi-word entry found in `doc`."""
        plain = [(doc.vocab.strings[key], start, end) for key, start, end in self.phrases(doc)] if len(self.phrases) else []
        return [*plain, *(self.phrase_globs(doc) if len(self.phrase_globs) else ())]


class _KeyCache(dict):
    """A dict that fills itself: `cache[key]` computes and keeps `compute(key)` on a miss."""

    def __init__(self, compute) -> None:
        super().__init__()
        self.compute = compute

    def __missing__(self, key):
        value = self[key] = self.compute(key)
        return value


class _TokenPatterns:
    """The part of spaCy's `Matcher` the effort rules use, tried only where a pattern can open.

    A pattern is a list of token specs: `{"NORM": value}`, `{"LOWER": value}`, `{"LOWER": {"IN":
    values}}` or `{"LOWER": {"REGEX": pattern}}`, each optionally `"OP": "*"`. Like the `Matcher`,
    every (label, start, end) that matches is returned, once, whatever its length. The `Matcher`
    makes a Python `Token` for every word of every doc and tests `IN` and `REGEX` in Python on each;
    here a doc is its arrays of LOWER and NORM hashes, and a pattern is tried only at words that can
    open it (numbers, for most)."""

    def __init__(self, nlp: Language) -> None:
        self.strings = nlp.vocab.strings
        # (label, a test per spec, the LOWER hashes the word after the first may have or None for any)
        self.patterns: list[tuple[str, list[tuple[Callable[[int, int], bool], bool]], frozenset[int] | None]] = []
        self.openers: dict[int, dict[int, list[int]]] = {LOWER: {}, NORM: {}}  # attr -> hash -> patterns
        self.open_anywhere: list[int] = []  # patterns opening with a REGEX or an optional word
        # a doc lacking every word of some spec a pattern must match cannot hold the pattern: the last such spec
        self.needed_by: dict[int, list[int]] = {}  # LOWER hash -> the patterns whose needed spec it is a word of
        self.need_no_word: list[int] = []  # patterns with no spec of plain words that must match
        self._opened: dict[tuple[int, int], tuple[int, ...]] = {}  # (LOWER, NORM) opener -> the patterns it opens

    def __len__(self) -> int:
        return len(self.patterns)

    def add(self, label: str, patterns: Iterable[Sequence[dict]]) -> None:
        for pattern in patterns:
            index = len(self.patterns)
            self.patterns.append((label, [self._test(spec) for spec in pattern], self._second_words(pattern)))
            needed = next((words for spec in reversed(pattern)
                           if not spec.get("OP") and (words := self._plain_words(spec)) is not None), None)
            if needed is None:
                self.need_no_word.append(index)
            for key in needed or ():
                self.needed_by.setdefault(key, []).append(index)
            first = pattern[0]
            value = first.get("LOWER", first.get("NORM"))
            if first.get("OP") or (isinstance(value, dict) and "IN" not in value):
                self.open_anywhere.append(index)
            else:
                openers = self.openers[LOWER if "LOWER" in first else NORM]
                for word in (value["IN"] if isinstance(value, dict) else [value]):
                    openers.setdefault(self.strings.add(word), []).append(index)
        self._opened.clear()

    def _plain_words(self, spec: dict) -> frozenset[int] | None:
        """The LOWER hashes a spec's word can have, when it is a plain word or a set of them."""
        value = spec.get("LOWER")
        if not (isinstance(value, str) or (isinstance(value, dict) and "IN" in value)):
            return None
        return frozenset(self.strings.add(word) for word in ([value] if isinstance(value, str) else value["IN"]))

    def _second_words(self, pattern: Sequence[dict]) -> frozenset[int] | None:
        """The LOWER hashes the word after a pattern's first can have, when the pattern needs a second word
        and every spec that may be it is plain words: most tries fail there ("3 av", "två och")."""
        if pattern[0].get("OP"):
            return None
        keys: set[int] = set()
        for spec in pattern[1:]:
            words = self._plain_words(spec)
            if words is None:
                return None
            keys |= words
            if not spec.get("OP"):
                return frozenset(keys)
        return None  # the pattern may end after its first word

    def _test(self, spec: dict) -> tuple[Callable[[int, int], bool], bool]:
        """(test of a word's LOWER and NORM hashes, whether it may repeat or be absent) for one spec."""
        if set(spec) - {"OP"} not in ({"LOWER"}, {"NORM"}) or spec.get("OP", "*") != "*":
            raise ValueError(f"unsupported effort token pattern {spec}")
        repeat = "OP" in spec
        if "NORM" in spec:
            norm = self.strings.add(spec["NORM"])
            return (lambda lower, token_norm: token_norm == norm), repeat
        keys = self._plain_words(spec)
        if keys is not None:
            return (lambda lower, token_norm: lower in keys), repeat
        regex, strings = re.compile(spec["LOWER"]["REGEX"]), self.strings
        return (lambda lower, token_norm: regex.search(strings[lower]) is not None), repeat

    def may_match(self, present: set[int]) -> bool:
        """False when no pattern can match a doc holding these LOWER hashes: each lacks a word it needs."""
        return bool(self.need_no_word) or not self.needed_by.keys().isdisjoint(present)

    def _possible(self, present: set[int]) -> set[int]:
        """The patterns a doc holding these LOWER hashes has the needed words of."""
        possible = set(self.need_no_word)
        for key in self.needed_by.keys() & present:
            possible.update(self.needed_by[key])
        return possible

    def __call__(self, doc: Doc) -> list[tuple[str, int, int]]:
        return self.match(doc.to_array(LOWER).tolist(), doc.to_array(NORM).tolist())

    def match(self, lowers: Sequence[int], norms: Sequence[int]) -> list[tuple[str, int, int]]:
        """The matches in a doc given as its words' LOWER and NORM hashes."""
        by_lower, by_norm, anywhere = self.openers[LOWER], self.openers[NORM], self.open_anywhere
        found: dict[tuple[str, int, int], None] = {}
        possible = self._possible(set(lowers))
        last = len(lowers) - 1
        for start, (lower, norm) in enumerate(zip(lowers, norms)):
            if not (anywhere or lower in by_lower or norm in by_norm):
                continue
            following = lowers[start + 1] if start < last else None
            key = (lower if lower in by_lower else 0, norm if norm in by_norm else 0)  # not every number's own
            opened = self._opened.get(key)
            if opened is None:
                opened = self._opened[key] = tuple(sorted({*by_lower.get(lower, ()), *by_norm.get(norm, ()), *anywhere}))
            for index in opened:
                label, tests, second = self.patterns[index]
                if index not in possible or (second is not None and following not in second):
                    continue  # the doc lacks a word the pattern needs, or the next word cannot go on with it
                for end in _ends(tests, start, lowers, norms):
                    if end > start:
                        found[label, start, end] = None
        return list(found)


def _ends(tests: Sequence[tuple[Callable[[int, int], bool], bool]], start: int, lowers: Sequence[int],
          norms: Sequence[int]) -> list[int]:
    """Every position where `tests`, matched from word `start` on, can end (all the states of the
    pattern's automaton at once: no recursion, as most patterns fail at their second word)."""
    positions = [start]
    for test, repeat in tests:
        reached = []
        for i in positions:
            if repeat:
                reached.append(i)
                while i < len(lowers) and test(lowers[i], norms[i]):
                    i += 1
                    reached.append(i)
            elif i < len(lowers) and test(lowers[i], norms[i]):
                reached.append(i + 1)
        if not reached:
            return reached
        positions = list(dict.fromkeys(reached)) if repeat else reached
    return positions


def _number_forms(vocabulary: dict) -> dict[str, float]:
    """All written numbers: the table plus compounds such as `fyrtiofem`, `forty-five`, `femogtjue`."""
    forms = {k.lower(): float(v) for k, v in vocabulary["numbers"].items()}
    compound = vocabulary["compound_numbers"]
    for tens, t in compound.get("tens", {}).items():
        forms.setdefault(tens, float(t))
        for unit, u in compound.get("units", {}).items():
            for form in compound.get("forms", []):
                forms.setdefault(form.format(tens=tens, unit=unit), float(t + u))
    return forms


# ---------------------------------------------------------------- pipeline components

@Language.factory("cx_effort_numbers", default_config={"vocabulary": {}})
def make_effort_numbers(nlp: Language, name: str, vocabulary: dict) -> "EffortNumbers":
    return EffortNumbers(nlp, vocabulary)


class EffortNumbers:
    """Marks every number with its value (`token._.cx_num`) and every ordinal
    (`token._.cx_ordinal`), merging written numbers of several tokens into one:
    "ett par", "forty-five", "två och en halv", "1 - 2" (a range counts as its midpoint)."""

    def __init__(self, nlp: Language, vocabulary: dict) -> None:
        forms = _number_forms(vocabulary)
        self.words = {k: v for k, v in forms.items() if len(nlp.make_doc(k)) == 1}
        self.phrases = {" ".join(t.lower_ for t in nlp.make_doc(k)): v for k, v in forms.items() if k not in self.words}
        self.ordinals = {k.lower(): int(v) for k, v in vocabulary["ordinals"].items()}
        self.ordinal_re = re.compile(vocabulary["ordinal_pattern"]) if vocabulary["ordinal_pattern"] else None
        self.phrase_matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
        self.phrase_matcher.add("NUMBER", [nlp.make_doc(phrase) for phrase in self.phrases])
        self.half_matcher = _TokenPatterns(nlp)
        self.half_matcher.add("HALF", [[NUM, *_token_specs(nlp, suffix)] for suffix in vocabulary["half_suffixes"]])
        self.range_matcher = _TokenPatterns(nlp)
        if vocabulary["range_connectors"]:
            self.range_matcher.add("RANGE", [[NUM, {"LOWER": {"IN": vocabulary["range_connectors"]}}, NUM]])
        self._readings = _KeyCache(lambda key: self.reading(nlp.vocab.strings[key]))

    def __call__(self, doc: Doc) -> Doc:
        numbers = 0
        lower_keys = doc.to_array(LOWER).tolist()
        for i, (value, ordinal) in enumerate(self._readings[key] for key in lower_keys):
            if value is not None:
                token = doc[i]
                token._.cx_num, token.norm_ = value, NUMBER_NORM
                numbers += 1
            elif ordinal is not None:
                token = doc[i]
                token._.cx_ordinal, token.norm_ = ordinal, ORDINAL_NORM
        present, merged = set(lower_keys), 0
        if numbers and self.half_matcher.may_match(present):  # most docs have no "halv"
            merged += self._merge(doc, [doc[s:e] for _, s, e in self.half_matcher(doc)],
                                  lambda span: span[0]._.cx_num + 0.5)
        phrases = self._merge(doc, self.phrase_matcher(doc, as_spans=True),
                              lambda span: self.phrases[" ".join(t.lower_ for t in span)])
        numbers, merged = numbers + phrases, merged + phrases
        if merged:
            present = set(doc.to_array(LOWER).tolist())
        # a range needs two numbers (counted before merging: at least) and a word between them
        if numbers >= 2 and self.range_matcher.may_match(present):
            self._merge(doc, [doc[s:e] for _, s, e in self.range_matcher(doc)],
                        lambda span: (span[0]._.cx_num + span[-1]._.cx_num) / 2)
        return doc

    @staticmethod
    def _merge(doc: Doc, matches: Sequence[Span], value_of) -> int:
        """Merge each (longest, non-overlapping) match into one number token; how many were merged."""
        spans = filter_spans(matches)
        if not spans:
            return 0
        values = [value_of(span) for span in spans]
        with doc.retokenize() as retokenizer:
            for span, value in zip(spans, values):
                retokenizer.merge(span, attrs={"NORM": NUMBER_NORM, "_": {"cx_num": value}})
        return len(spans)

    def reading(self, text: str) -> tuple[float | None, int | None]:
        """(its value if a number, its value if an ordinal) of one lower-cased word."""
        return self.value(text), self.ordinal(text)

    def value(self, text: str) -> float | None:
        if text in self.words:
            return self.words[text]
        if _DIGITS.fullmatch(text.rstrip("+")):  # "30+ min" is at least 30
            return float(text.rstrip("+").replace(",", "."))
        parts = _RANGE_SEP.split(text)
        if len(parts) == 2 and all(parts):  # "1-2", "tre-fire"; not "2024-5566", a case number
            low, high = self.value(parts[0]), self.value(parts[1])
            return (low + high) / 2 if low is not None and high is not None and low < high <= MAX_RANGE else None
        if m := _FRACTION.fullmatch(text):
            return float(m.group(1) or 0) + int(m.group(2)) / int(m.group(3))
        return None

    def ordinal(self, text: str) -> int | None:
        if text in self.ordinals:
            return self.ordinals[text]
        if self.ordinal_re and (m := self.ordinal_re.fullmatch(text)):
            return int(m.group(1))
        return None


@Language.factory("cx_effort_mentions", default_config={"vocabulary": {}})
def make_effort_mentions(nlp: Language, name: str, vocabulary: dict) -> "EffortMentions":
    return EffortMentions(nlp, vocabulary)


PHRASE_TABLES = {"VAGUE_WAIT": "vague_durations", "AGAIN": "again_words", "STEP_PHRASE": "step_phrases",
                 "TIMES_SINGLE": "times_single"}  # matcher label -> the vocabulary table of its phrases
# the vocabulary tables whose words only count after a number or an ordinal
COUNTED_TABLES = ("units", "genitive_units", "times_words", "occasion_words", "contact_nouns", "step_nouns",
                  "person_nouns")


@dataclass
class _Candidate:
    label: str
    span: Span
    value: float
    unit: float = 0.0  # minutes per unit, for waits


class EffortMentions:
    """Finds durations, counts, ordinals and repeats with `Matcher` patterns built from the
    vocabulary, then keeps those that are the customer's effort; result in `doc._.cx_effort`."""

    def __init__(self, nlp: Language, vocabulary: dict) -> None:
        self.units = {k.lower(): float(x) for k, x in vocabulary["units"].items()}
        self.genitive_units = {k.lower(): float(x) for k, x in vocabulary["genitive_units"].items()}
        self.half_suffixes = [" ".join(t.lower_ for t in nlp.make_doc(s)) for s in vocabulary["half_suffixes"]]
        unit_mods = {"LOWER": {"IN": vocabulary["unit_modifiers"]}, "OP": "*"}
        count_mods = {"LOWER": {"IN": vocabulary["count_modifiers"]}, "OP": "*"}
        self.matcher = _TokenPatterns(nlp)
        self.matcher.add("WAIT", [[NUM, unit_mods, {"LOWER": {"IN": list(self.units)}}]])
        if self.genitive_units:
            self.matcher.add("WAIT_GENITIVE", [[NUM, unit_mods, {"LOWER": {"IN": list(self.genitive_units)}}]])
        self.phrase_values: dict[str, dict[str, float]] = {}
        for label, table in PHRASE_TABLES.items():
            self.phrase_values[label] = {}
            for phrase, value in vocabulary[table].items():
                self.matcher.add(label, [_token_specs(nlp, phrase)])
                self.phrase_values[label][" ".join(t.lower_ for t in nlp.make_doc(phrase.lower()))] = float(value)
        if vocabulary["times_words"]:
            self.matcher.add("TIMES", [[NUM, {"LOWER": {"IN": vocabulary["times_words"]}}]])
        if vocabulary["occasion_words"]:
            self.matcher.add("ORDINAL", [[{"NORM": ORDINAL_NORM}, {"LOWER": {"IN": vocabulary["occasion_words"]}}]])
        for label, table in (("CONTACT_NOUN", "contact_nouns"), ("STEP_NOUN", "step_nouns"),
                             ("PERSON_NOUN", "person_nouns")):
            if vocabulary[table]:
                self.matcher.add(label, _patterns(nlp, vocabulary[table], prefix=(NUM, count_mods)))
        self.lexicon = _Lexicon(nlp, {**vocabulary["cues"], "person_cue": vocabulary["person_cues"]})

    # ------------------------------------------------------------ matching

    def __call__(self, doc: Doc) -> Doc:
        lower_keys = doc.to_array(LOWER).tolist()
        matches = self.matcher.match(lower_keys, doc.to_array(NORM).tolist())
        candidates = [self._candidate(label, doc[s:e]) for label, s, e in matches]
        doc._.cx_effort, doc._.cx_effort_read = [], bool(candidates)
        if not candidates:
            return doc
        ctx = _Context(doc, self.lexicon, lower_keys)
        # overlapping readings: the longest wins ("om och om igen" over "igen"), one per span
        longest = {(s.start, s.end) for s in filter_spans([c.span for c in candidates])}
        candidates = list({(c.span.start, c.span.end): c for c in candidates
                           if (c.span.start, c.span.end) in longest}.values())
        mentions = []
        for cand in self._join_compound_waits(sorted(candidates, key=lambda c: c.span.start), ctx):
            mention = self._judge(cand, ctx)
            if mention:
                mentions.append(mention)
        doc._.cx_effort = mentions
        return doc

    def _candidate(self, label: str, span: Span) -> _Candidate:
        if label in self.phrase_values:
            lowered = " ".join(t.lower_ for t in span)
            return _Candidate("TIMES" if label == "TIMES_SINGLE" else label, span, self.phrase_values[label][lowered])
        if label in ("WAIT", "WAIT_GENITIVE"):
            table = self.units if label == "WAIT" else self.genitive_units
            unit = table[span[-1].lower_]
            return _Candidate(label, span, span[0]._.cx_num * unit, unit)
        if label == "ORDINAL":
            return _Candidate(label, span, float(span[0]._.cx_ordinal))
        return _Candidate(label, span, span[0]._.cx_num)

    def _join_compound_waits(self, candidates: list[_Candidate], ctx: "_Context") -> list[_Candidate]:
        """'1 timme och 20 minuter' is one wait of 80 minutes; 'an hour and a half' one of 90."""
        out: list[_Candidate] = []
        for cand in candidates:
            if cand.label in ("WAIT", "WAIT_GENITIVE"):
                cand = self._add_trailing_half(cand)
            prev = out[-1] if out else None
            if (prev and prev.label == "WAIT" and cand.label in ("WAIT", "WAIT_GENITIVE") and prev.unit > cand.unit
                    and ctx.same_clause(prev.span.start, cand.span.start)
                    and all(ctx.has(i, "unit_joiners") for i in range(prev.span.end, cand.span.start))):
                joined = ctx.doc[prev.span.start : cand.span.end]
                out[-1] = _Candidate(cand.label, joined, prev.value + cand.value, cand.unit)
            else:
                out.append(cand)
        return out

    def _add_trailing_half(self, cand: _Candidate) -> _Candidate:
        doc, end = cand.span.doc, cand.span.end
        following: list[list[str]] = []  # the words of each token after the span, read as needed
        for suffix in self.half_suffixes:
            words, seen = suffix.split(), []
            for width in range(1, min(len(words), len(doc) - end) + 1):  # "en halv" may already be one number token
                if len(following) < width:
                    following.append(doc[end + width - 1].lower_.split())
                seen += following[width - 1]
                if seen == words:
                    return _Candidate(cand.label, doc[cand.span.start : end + width], cand.value + 0.5 * cand.unit,
                                      cand.unit)
        return cand

    # ------------------------------------------------------------ judging

    def _judge(self, cand: _Candidate, ctx: "_Context") -> EffortMention | None:
        if cand.label in ("WAIT", "WAIT_GENITIVE", "VAGUE_WAIT"):
            return self._judge_wait(cand, ctx)
        if cand.label in ("TIMES", "ORDINAL", "AGAIN"):
            return self._judge_count(cand, ctx)
        if cand.label == "STEP_PHRASE":
            if ctx.by_someone_else(cand.span.start, "steps") or not ctx.obliged(cand.span.start):
                return None  # "de fick börja om", "för att börja om": the company, or nobody made to
            return self._mention(cand, "steps", self._count_polarity(cand.span.start, cand.span.start, ctx))
        return self._judge_noun(cand, ctx)

    def _judge_wait(self, cand: _Candidate, ctx: "_Context") -> EffortMention | None:
        start, end = cand.span.start, cand.span.end
        if cand.label == "WAIT_GENITIVE" and not ctx.has(end, "wait_noun"):
            return None  # "2 års garanti", "30 dagars öppet köp": an attribute, not a wait
        if cand.label != "VAGUE_WAIT":
            if ctx.has(start - 1, "rate_before") or ctx.starts(end, "rate_after"):
                return None  # "varje 2 veckor", "24 hours a day"
            before = ctx.doc[start - 1].text if start else ""
            if any(ch.isdigit() for ch in before) or ctx.has(start - 1, "currency"):
                return None  # "£30 a month"
            if ctx.has(start - 1, "price_link") and ctx.has(start - 2, "currency"):
                return None  # "199 kr för 3 månader"
            if ctx.near(start, end, "non_wait", before=3, after=2) or ctx.near(start, end, "activity", before=0, after=2):
                return None  # warranty, contract, trial, product age, lifespan; "a 10 h flight"
            if (cand.value >= MINUTES_PER_MONTH and ctx.near(start, end, "tenure", before=4, after=0)
                    and not ctx.near(start, end, "need", before=CUE_WINDOW, after=0)):
                return None  # "kund i 15 år"
            if ctx.near(start, end, "promise", before=4, after=2, stop_at_punct=True):
                return None  # "lovade svar inom 24 timmar", "1-2 veckor enligt hemsidan"
        polarity = self._wait_polarity(start, end, ctx)
        if polarity == NEGATIVE and not self._waited(cand, ctx):
            return None  # "bott där i tio år", "1 h behandling": a duration, but nobody waited
        return self._mention(cand, "wait", polarity)

    def _waited(self, cand: _Candidate, ctx: "_Context") -> bool:
        """Whether the words around a duration say it was waited or spent: most durations in
        a long review are not ("bodde där i tio år", "en HLR-kurs (2h)")."""
        start, end = cand.span.start, cand.span.end
        if ctx.starts(end, "before"):
            # "nästan en timme innan någon svarade" is a wait; "två timmar innan bokad tid" a lead time
            return ctx.near(end + 1, end + 1, "someone", before=0, after=2) or ctx.near(
                start, end, "wait", before=EVIDENCE_BEFORE, after=0) or ctx.near(
                start, end, "elapsed", before=EVIDENCE_BEFORE, after=0)
        if ctx.near(start, end, "wait", before=EVIDENCE_BEFORE, after=EVIDENCE_AFTER) or ctx.near(
                start, end, "wait_noun", before=EVIDENCE_BEFORE, after=1):
            return True
        if cand.value >= MINUTES_PER_YEAR:
            return False  # "25 år senere", "fem år etter": years pass in stories; a wait of years says so
        if ctx.near(start, end, "elapsed", before=EVIDENCE_BEFORE, after=EVIDENCE_AFTER):
            return True
        if ctx.starts(end, "purpose") or ctx.starts(end, "late") or ctx.has(end, "now"):
            return True  # "fyra veckor för att flytta ett abonnemang", "40 minutes late", "for 6 weeks now"
        return cand.value < MINUTES_PER_DAY and ctx.has(end, "late_short")  # "30 minuter sen"

    def _wait_polarity(self, start: int, end: int, ctx: "_Context") -> str:
        if ctx.negated_need(start):
            return POSITIVE  # "har inte behövt vänta mer än ett par minuter"
        if ctx.has(start - 1, "only"):
            return POSITIVE  # "bara 2 minuter i kö"
        if ctx.has(start - 1, "within") or ctx.has(start - 2, "within"):
            return POSITIVE  # "svar inom en timme"
        if (ctx.in_clause(start, "wait", exclude=range(start, end)) or ctx.in_clause(start, "effort_tone")
                or ctx.negated_praise(start)):
            return NEGATIVE
        if ctx.praised(start):
            return POSITIVE
        if ctx.has(start - 1, "in") and ctx.in_clause(start, "completion"):
            return POSITIVE  # "delivered in 2 days"
        return NEGATIVE

    def _judge_count(self, cand: _Candidate, ctx: "_Context") -> EffortMention | None:
        if cand.label == "TIMES" and ctx.starts(cand.span.end, "rate_after"):
            return None  # "ringer 3 gånger i veckan" is a habit, not this errand
        cue = ctx.nearest_role(cand.span, before_only=cand.label == "AGAIN")
        if cue is None:
            return None  # "appen kraschade tre gånger": nothing the customer did
        kind, channel = ctx.kind_of(cue)
        if ctx.role(cue) != "transfer" and ctx.by_someone_else(cue, kind):
            return None  # "de ringde mig fyra gånger", "blev kontaktad flera gånger"
        if cand.label == "AGAIN" and kind == "steps" and not ctx.obliged(min(cue, cand.span.start)):
            return None  # "had to explain it again" is effort; "the app crashed again" is not the customer's
        polarity = self._count_polarity(cand.span.start, min(cue, cand.span.start), ctx)
        return self._mention(cand, kind, polarity, channel)

    def _judge_noun(self, cand: _Candidate, ctx: "_Context") -> EffortMention | None:
        span = cand.span
        if cand.label == "CONTACT_NOUN":
            if (ctx.near(span.start, span.start, "received", before=CUE_WINDOW, after=0, stop_at_punct=True)
                    or ctx.has(span.end, "from")):
                return None  # "fick fem sms från er": the company's contacts
            _, channel = ctx.kind_of(span.end - 1)
            return self._mention(cand, "contacts", self._count_polarity(span.start, span.start, ctx), channel or "any")
        if cand.label == "PERSON_NOUN" and not ctx.near(span.start, span.start, "person_cue", before=CUE_WINDOW,
                                                           after=0, stop_at_punct=True):
            return None  # "pratat med fem personer" is effort; "vi är fyra personer i hushållet" is not
        if cand.value > MAX_STEPS:
            return None
        return self._mention(cand, "steps", self._count_polarity(span.start, span.start, ctx))

    def _count_polarity(self, start: int, cue: int, ctx: "_Context") -> str:
        if ctx.negated(cue) or ctx.has(start - 1, "only"):
            return POSITIVE  # "behövde inte ringa", "bara ett samtal"
        return NEGATIVE

    @staticmethod
    def _mention(cand: _Candidate, kind: str, polarity: str, channel: str = "") -> EffortMention:
        span = cand.span
        return EffortMention(kind, cand.value, span.text, span.start_char, span.end_char, polarity, channel)


class _Context:
    """What the cue words say around each token of one doc, and the clause each token is in."""

    def __init__(self, doc: Doc, lexicon: _Lexicon, lower_keys: Sequence[int]) -> None:
        self.doc = doc
        self.words = lexicon.word_categories(lower_keys)  # one-word entries: a shared frozenset per word
        self.cues: list[frozenset[str]] = list(self.words)  # and multi-word entries over their tokens
        self.roles: dict[int, str] = {i: role for i, cats in enumerate(self.words) if cats and (role := lexicon.role(cats))}
        self.phrase_starts: set[tuple[str, int]] = set()
        rank = {i: (1, -ROLES.index(role)) for i, role in self.roles.items()}  # a longer entry's role wins
        for category, s, e in lexicon.phrase_matches(doc):
            self.phrase_starts.add((category, s))
            for i in range(s, e):
                self.cues[i] = self.cues[i] | {category}
                if category in ROLES and (e - s, -ROLES.index(category)) > rank.get(i, (0, -99)):
                    rank[i], self.roles[i] = (e - s, -ROLES.index(category)), category
        self.where: dict[str, list[int]] = {}  # category -> the tokens it is a cue on: most are on none
        for i, cats in enumerate(self.cues):
            for category in cats:
                self.where.setdefault(category, []).append(i)
        self.clause: list[range] = []  # token -> the tokens of its clause
        for sent in doc.sents:
            self.clause.extend([range(sent.start, sent.end)] * (sent.end - sent.start))

    @cached_property
    def breaks(self) -> list[bool]:
        """Per token: punctuation that ends a stretch of words; quotes do not ('sa "3 dagar"')."""
        return [punct and not quote for punct, quote in self.doc.to_array([IS_PUNCT, IS_QUOTE]).tolist()]

    def has(self, i: int, category: str) -> bool:
        return 0 <= i < len(self.doc) and category in self.cues[i]

    def starts(self, i: int, category: str) -> bool:
        return 0 <= i < len(self.doc) and (category in self.words[i] or (category, i) in self.phrase_starts)

    def role(self, i: int) -> str | None:
        return self.roles.get(i)

    def same_clause(self, i: int, j: int) -> bool:
        return j in self.clause[i]

    def in_clause(self, i: int, category: str, exclude: range = range(0)) -> bool:
        clause = self.clause[i]
        return any(j in clause and j not in exclude for j in self.where.get(category, ()))

    def _before(self, i: int, width: int, stop_at_punct: bool) -> range:
        """Up to `width` tokens before `i`, nearest first, in its clause."""
        if width <= 0:
            return range(0)
        low = max(i - width, self.clause[i].start)
        if stop_at_punct:
            for j in range(i - 1, low - 1, -1):
                if self.breaks[j]:
                    return range(i - 1, j, -1)
        return range(i - 1, low - 1, -1)

    def _after(self, end: int, width: int, stop_at_punct: bool) -> range:
        """Up to `width` tokens from `end` on, in the clause of the token just before `end`."""
        high = min(end + width, len(self.doc))
        if high <= end:
            return range(0)
        high = min(high, self.clause[max(end - 1, 0)].stop)
        if stop_at_punct:
            for j in range(end, high):
                if self.breaks[j]:
                    return range(end, j)
        return range(end, high)

    def near(self, start: int, end: int, category: str, before: int, after: int, stop_at_punct: bool = False) -> bool:
        found = self.where.get(category)
        if not found:  # the windows are not worked out for a category the doc lacks
            return False
        preceding, following = self._before(start, before, stop_at_punct), self._after(end, after, stop_at_punct)
        return any(j in preceding or j in following for j in found)

    def negated(self, i: int) -> bool:
        """A negation within a few words before `i`, in the same stretch of text."""
        found = self.where.get("negation")
        return bool(found) and _any_in(found, self._before(i, NEGATION_WINDOW, stop_at_punct=True))

    def negated_need(self, start: int) -> bool:
        """'inte behövt vänta', 'never had to wait': a negation governing a need or wait word."""
        if "negation" not in self.where or "need" not in self.where:
            return False
        window = list(self._before(start, CUE_WINDOW, stop_at_punct=True))
        return any(self.has(n, "negation") and any(self.has(w, "need") for w in window if n < w <= n + NEGATION_WINDOW)
                   for n in window)

    def praised(self, i: int) -> bool:
        """Praise in the clause, or in a short sentence right after it ("...took two minutes. Smooth.")."""
        if "praise" not in self.where:
            return False
        clause = self.clause[i]
        ends_sentence = self.doc[clause.stop - 1].text[-1] in ".!?"  # not "..., annars bra"
        following = self.clause[clause.stop] if clause.stop < len(self.doc) and ends_sentence else range(0)
        following = following if len(following) <= SHORT_SENTENCE else range(0)
        return any((j in clause or j in following) and not self.negated(j) for j in self.where["praise"])

    def negated_praise(self, i: int) -> bool:
        clause = self.clause[i]
        return any(j in clause and self.negated(j) for j in self.where.get("praise", ()))

    def nearest_role(self, span: Span, before_only: bool) -> int | None:
        """The closest verb or noun saying what a count is about, looking back first."""
        for j in self._before(span.start, CUE_WINDOW, stop_at_punct=False):
            if self.roles.get(j, "wait") != "wait":
                return j
        if before_only:
            return None
        for j in self._after(span.end, CUE_WINDOW, stop_at_punct=False):
            if self.roles.get(j, "wait") != "wait":
                return j
        return None

    def kind_of(self, i: int) -> tuple[str, str]:
        """(kind, channel) a cue token stands for; 'skicka' is a contact when the clause names
        a channel ('skickade mejl') and a step otherwise ('skicka in kvittot')."""
        role = self.roles.get(i, "")
        if role == "contact_send":
            channels = [self.roles[j] for j in self.clause[i]
                        if self.roles.get(j, "").startswith("contact_") and self.roles[j] != "contact_send"]
            return ("contacts", channels[0].removeprefix("contact_")) if channels else ("steps", "")
        if role.startswith("contact_"):
            return "contacts", role.removeprefix("contact_")
        return "steps", ""

    def obliged(self, i: int) -> bool:
        """'fick förklara', 'had to explain': the customer made to do something."""
        found = self.where.get("obligation")
        return bool(found) and _any_in(found, self._before(i, CUE_WINDOW, stop_at_punct=True))

    def by_someone_else(self, cue: int, kind: str) -> bool:
        """'ni ringde mig', 'blev kontaktad', 'you've sent the wrong item': the company acting."""
        if not any(category in self.where for category in ("third_party", "passive", "customer_object")):
            return False  # only these say so
        for j in self._before(cue, NEGATION_WINDOW, stop_at_punct=True):
            if self.has(j, "first_person"):
                return False
            if self.has(j, "third_party") or (kind == "contacts" and self.has(j, "passive")):
                return True
        return kind == "contacts" and any(self.has(j, "customer_object") for j in self._after(cue + 1, 1, True))


def _any_in(positions: Iterable[int], window: range) -> bool:
    return any(j in window for j in positions)


# ---------------------------------------------------------------- the extractor


def summarise(mentions: Sequence[EffortMention]) -> EffortSummary:
    """Per-comment values from its mentions: only the customer's effort (negative) counts."""
    effort = [m for m in mentions if m.polarity == NEGATIVE]
    waits = [m.value for m in effort if m.kind == "wait"]
    per_channel: dict[str, float] = {}
    for m in effort:
        if m.kind == "contacts":
            per_channel[m.channel] = max(per_channel.get(m.channel, 0), m.value)
    specific = sum(v for ch, v in per_channel.items() if ch != "any")
    contacts = max(specific, per_channel.get("any", 0))
    steps = max((m.value for m in effort if m.kind == "steps"), default=0)
    return EffortSummary(
        wait_minutes=round(max(waits), 1) if waits else None,
        contacts=int(contacts) if contacts >= MIN_COUNT else None,
        steps=int(steps) if steps >= MIN_COUNT else None,
    )


class EffortExtractor:
    """Structured effort mentions per comment, one blank spaCy pipeline per language.

    `vocabularies` maps a cxnlp language code to its effort file (default: the files in
    `cxnlp/resources/effort/`). A comment whose language has no file, or a short one (`REREAD_MAX_WORDS`)
    in whose own language no pattern matches though it holds a number another language knows ("Seven
    steps to change a password" detected as Norwegian, "två dygn" as Norwegian), is read in those
    languages too, and the reading that finds the most mentions is kept: short comments are where
    language detection fails most. A long one's language is sure, and read in another it gives only
    false mentions (English "to chat" as Norwegian "two chats").
    """

    def __init__(self, vocabularies: Mapping[str, Path | str | Traversable] | None = None) -> None:
        self.vocabularies = dict(vocabularies or packaged_vocabularies())
        loaded = {lang: load_vocabulary(path) for lang, path in sorted(self.vocabularies.items())}
        self._nlp = {lang: build_pipeline(vocabulary) for lang, vocabulary in loaded.items()}
        # written numbers of two and more ("en", "a", "ett" are articles in every comment), and
        # the words a count or duration hangs on: a comment is re-read in a language only if
        # it has both, so most comments are read once
        self._number_words = {lang: {w for w, v in nlp.get_pipe("cx_effort_numbers").words.items() if v >= 2}
                              for lang, nlp in self._nlp.items()}
        self._anchor_words = {lang: _anchor_words(vocabulary) for lang, vocabulary in loaded.items()}
        self._triggers = {lang: _Trigger(self._nlp[lang], vocabulary) for lang, vocabulary in loaded.items()}

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self._nlp)

    def extract(self, texts: Sequence[str], langs: Sequence[str]) -> list[list[EffortMention]]:
        """Mentions of each text, read in its language (see the class for other readings). Each distinct
        (text, language) is read once, and only if it holds a word some pattern needs (`_triggers`)."""
        if len(texts) != len(langs):
            raise ValueError(f"{len(texts)} texts but {len(langs)} languages")
        pairs = list(zip((t or "" for t in texts), langs))
        distinct = list(dict.fromkeys(pairs))
        found: dict[tuple[str, str], list[EffortMention]] = {}
        for lang, nlp in self._nlp.items():
            trigger = self._triggers[lang]
            rows = [pair for pair in distinct if pair[1] == lang and trigger(pair[0].lower())]
            for pair, doc in zip(rows, nlp.pipe(text for text, _ in rows)):
                if doc._.cx_effort_read:
                    found[pair] = doc._.cx_effort
        for text, lang in distinct:
            if (text, lang) not in found:  # nothing read in its own language
                readings = [self._nlp[other](text)._.cx_effort for other in self._other_readings(text, lang)]
                found[text, lang] = max(readings, key=len, default=[])
        return [found[pair] for pair in pairs]

    def _other_readings(self, text: str, lang: str) -> list[str]:
        if lang in self._nlp and len(text.split()) > REREAD_MAX_WORDS:
            return []  # its language is sure
        has_digit = any(ch.isdigit() for ch in text)
        words = set(_WORD.findall(text.lower()))
        return [other for other, numbers in self._number_words.items()
                if other != lang and (has_digit or words & numbers) and words & self._anchor_words[other]
                and self._triggers[other](text.lower())]

    def transform(self, texts: Sequence[str], langs: Sequence[str]) -> pd.DataFrame:
        """The `cx_*` effort columns, one row per text."""
        mentions = self.extract(texts, langs)
        summaries = [summarise(m) if m else NO_EFFORT for m in mentions]
        return pd.DataFrame({
            "cx_wait_minutes": pd.array([s.wait_minutes for s in summaries], dtype="Float64"),
            "cx_contacts": pd.array([s.contacts for s in summaries], dtype="Int64"),
            "cx_steps": pd.array([s.steps for s in summaries], dtype="Int64"),
            "cx_effort_spans": [json.dumps([m.as_json() for m in ms], ensure_ascii=False) if ms else "[]"
                                for ms in mentions],
        })


def _anchor_words(vocabulary: dict) -> set[str]:
    """Words without which no duration or count can be read in this language."""
    entries = [entry for table in (*COUNTED_TABLES, *PHRASE_TABLES.values()) for entry in vocabulary[table]]
    return {w for entry in entries for w in _WORD.findall(entry.lower().replace("*", ""))}


class _Trigger:
    """Whether a lower-cased text holds, for some pattern of one language, every word the pattern
    needs as a token; a text that does not is not worth a spaCy pass (most comments). A token is
    never glued to a letter, so each needed word is a whole run of letters of the text, or for a
    wildcard entry ("formulär*") a run that starts or ends with its fixed part. A unit, count word
    or noun only counts after a number or ordinal, so it needs a digit or a written number too
    ("last week" alone is not read)."""

    def __init__(self, nlp: Language, vocabulary: dict) -> None:
        self.counted = _WordSets(nlp, [entry for table in COUNTED_TABLES for entry in vocabulary[table]])
        self.phrases = _WordSets(nlp, [entry for table in PHRASE_TABLES.values() for entry in vocabulary[table]])
        self.number_words = {run for form in [*_number_forms(vocabulary), *vocabulary["ordinals"]]
                             for run in _WORD.findall(form.lower())}

    def __call__(self, lowered: str) -> bool:
        runs = set(_WORD.findall(lowered))
        if self.phrases.found(lowered, runs):
            return True
        may_count = not self.number_words.isdisjoint(runs) or any(ch.isdigit() for ch in lowered)
        return may_count and self.counted.found(lowered, runs)


class _WordSets:
    """Vocabulary entries as the letter runs each needs: one-word entries in one set, the others
    (several words, or a wildcard) as a set of runs plus a regular expression for the wildcards."""

    def __init__(self, nlp: Language, entries: Iterable[str]) -> None:
        self.words: set[str] = set()
        self.combinations: list[tuple[frozenset[str], re.Pattern[str] | None]] = []
        for entry in entries:
            needed, globs = set(), []
            for word in entry.lower().split():
                if "*" in word:
                    parts = word.split("*")
                    core = max(parts, key=len)
                    edge_before = r"(?<![^\W\d_])" if parts.index(core) == 0 else ""
                    edge_after = r"(?![^\W\d_])" if parts.index(core) == len(parts) - 1 else ""
                    globs.append(edge_before + re.escape(core) + edge_after)
                else:
                    needed.update(run for t in nlp.make_doc(word) for run in _WORD.findall(t.lower_))
            if len(needed) == 1 and not globs:
                self.words |= needed
            else:
                self.combinations.append((frozenset(needed), re.compile("(?=.*" + ")(?=.*".join(globs) + ")", re.S)
                                          if globs else None))

    def found(self, lowered: str, runs: set[str]) -> bool:
        return not self.words.isdisjoint(runs) or any(
            needed <= runs and (globs is None or globs.match(lowered)) for needed, globs in self.combinations)


def build_pipeline(vocabulary: dict) -> Language:
    """Blank pipeline: tokenizer that splits '45min' and '24-timmars', numbers, clauses, mentions."""
    code = vocabulary["spacy_lang"]
    nlp = spacy.blank(code)
    glued = sorted({w for w in [*vocabulary["units"], *vocabulary["genitive_units"], *vocabulary["times_words"]]
                    if w.isalpha()}, key=len, reverse=True)
    suffixes = [*nlp.Defaults.suffixes, rf"(?<=[0-9])(?:{'|'.join(map(re.escape, glued))})"]
    infixes = [*nlp.Defaults.infixes, r"(?<=[0-9])[-–](?=[^\W\d_])"]
    # one new tokenizer with both rules: setting each on the blank one reloads its ~2,000 exceptions again
    blank = nlp.tokenizer
    nlp.tokenizer = Tokenizer(nlp.vocab, rules=blank.rules, prefix_search=blank.prefix_search,
                              suffix_search=compile_suffix_regex(suffixes).search,
                              infix_finditer=compile_infix_regex(infixes).finditer,
                              token_match=blank.token_match, url_match=blank.url_match)
    nlp.add_pipe("cx_effort_numbers", config={"vocabulary": vocabulary})
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("cx_contrast_clauses", config={"words": load_contrast_words().get(code, [])})
    nlp.add_pipe("cx_effort_mentions", config={"vocabulary": vocabulary})
    return nlp

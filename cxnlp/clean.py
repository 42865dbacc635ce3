"""Normalise comment text, redact personal data, and flag survey noise.

Redaction happens here, first, so that nothing downstream (the embedding cache, the
scored output, a report quote) ever holds an e-mail address, phone number or national
identity number. Identity numbers are only redacted when their checksum is valid, so
order and invoice numbers of the same length survive.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from importlib import resources
from typing import Callable, Iterable

import pandas as pd

_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>")
_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"']+", re.IGNORECASE)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b")
_INVISIBLE = re.compile(r"[\u200b\u200c\u200e\u200f\u2060\ufeff\u00ad]")  # not U+200D, emoji need it
_WWW = re.compile(r"www\.", re.IGNORECASE)  # with "://", in every `_URL` match
_AT = re.compile("@")
# six digits with at most a space or hyphen between two: in every identity or phone number below
_SIX_DIGITS = re.compile(r"\d(?:[ -]?\d){5}")
_EDGE_PUNCT = " \t.,;:!?-–—_*'\"()[]{}/\\|"


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(digits):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _valid_personnummer(match: re.Match[str]) -> bool:
    """Swedish personnummer / samordningsnummer: a real date and a Luhn check digit."""
    digits = re.sub(r"\D", "", match.group(0))[-10:]
    month, day = int(digits[2:4]), int(digits[4:6])
    day = day - 60 if day > 60 else day  # samordningsnummer add 60 to the day
    return 1 <= month <= 12 and 1 <= day <= 31 and _luhn_ok(digits)


def _valid_fodselsnummer(match: re.Match[str]) -> bool:
    """Norwegian fødselsnummer / D-nummer: a real date and both mod-11 control digits."""
    d = [int(c) for c in re.sub(r"\D", "", match.group(0))]
    day, month = d[0] * 10 + d[1], d[2] * 10 + d[3]
    day = day - 40 if day > 40 else day  # D-nummer add 40 to the day
    month = month - 40 if month > 40 else month  # H-nummer add 40 to the month
    if not (1 <= day <= 31 and 1 <= month <= 12):
        return False
    for weights, check_pos in (((3, 7, 6, 1, 8, 9, 4, 5, 2), 9), ((5, 4, 3, 2, 7, 6, 5, 4, 3, 2), 10)):
        k = 11 - sum(w * x for w, x in zip(weights, d)) % 11
        k = 0 if k == 11 else k
        if k == 10 or k != d[check_pos]:
            return False
    return True


@dataclass(frozen=True)
class PiiRule:
    """A kind of personal data: what finds it, what confirms it, what replaces it."""

    placeholder: str
    pattern: re.Pattern[str]
    validate: Callable[[re.Match[str]], bool] | None = None
    needs: re.Pattern[str] = _SIX_DIGITS  # found in every match: a text without it is not searched


# Applied in order: identity numbers before phones, so a phone pattern never half-eats one.
PII_RULES: tuple[PiiRule, ...] = (
    PiiRule("[email]", _EMAIL, needs=_AT),
    PiiRule("[personnummer]", re.compile(r"(?<![\w-])(?:19|20)?\d{6}[-+ ]?\d{4}(?![\w-])"), _valid_personnummer),
    PiiRule("[fodselsnummer]", re.compile(r"(?<![\w-])\d{6} ?\d{5}(?![\w-])"), _valid_fodselsnummer),
    PiiRule(
        "[phone]",
        re.compile(
            r"(?<![\w+])(?:"
            r"\+\d{1,3}[ -]?(?:\(0\)[ -]?)?\d(?:[ -]?\d){6,11}"  # +46 70 123 45 67, +47 912 34 567
            r"|0\d{1,3}[ -]?\d{2,3}[ -]?\d{2}[ -]?\d{2,3}"  # 070-123 45 67, 031-12 34 56
            r"|0\d{1,3}[ -]?\d{3}[ -]?\d{3}[ -]?\d{2}"  # 08-123 456 78
            r"|0\d{1,4}[ -]?\d{3,4}[ -]?\d{3,4}"  # 0771-123 456, 020 7946 0958, 07700 900 123, 07700 900123
            r"|[2-9]\d{2} \d{2} \d{3}|[2-9]\d \d{2} \d{2} \d{2}"  # 912 34 567, 91 23 45 67
            r"|\(\d{3}\) ?\d{3}-\d{4}"  # (555) 123-4567
            r")(?!\w)"
        ),
    ),
    PiiRule(
        "[phone]",
        # a bare 8-digit Norwegian number only after a phone word, so order numbers survive
        re.compile(r"\b(?:tlf|tel|mob|mobil|telefon|telefonnummer|phone|ring meg på)[.:]? ?(?P<pii>\d{8})\b", re.I),
    ),
)


def _load_noise_phrases() -> frozenset[str]:
    text = resources.files("cxnlp.resources").joinpath("noise_phrases.txt").read_text(encoding="utf-8")
    lines = (line.strip() for line in text.splitlines())
    return frozenset(line.lower() for line in lines if line and not line.startswith("#"))


NOISE_PHRASES = _load_noise_phrases()


def _replacement(rule: PiiRule, match: re.Match[str]) -> str:
    if rule.validate is not None and not rule.validate(match):
        return match.group(0)
    if "pii" not in rule.pattern.groupindex:
        return rule.placeholder
    whole, start = match.group(0), match.start("pii") - match.start()
    return whole[:start] + rule.placeholder + whole[match.end("pii") - match.start() :]


def redact(text: str) -> str:
    """Replace personal data with placeholders such as `[email]` and `[phone]`.

    Where a rule's pattern has a group named `pii`, only that group is replaced, so the
    context word that identified it ("tlf:") stays readable. A rule is only searched for in a text
    holding what it needs: most comments have no "@", and no run of six digits.
    """
    holds: dict[re.Pattern[str], bool] = {}  # no placeholder adds what a rule needs
    for rule in PII_RULES:
        if (hit := holds.get(rule.needs)) is None:
            hit = holds[rule.needs] = rule.needs.search(text) is not None
        if hit:
            text = rule.pattern.sub(lambda m, r=rule: _replacement(r, m), text)
    return text


def clean_text(text: object) -> str:
    """Normalise one comment: HTML, Unicode (NFKC), URLs, personal data, whitespace. Emoji are kept."""
    if text is None or (isinstance(text, float) and text != text):
        return ""
    s = str(text)
    if "<" in s:
        s = _TAG.sub(" ", s)
    if "&" in s:
        s = html.unescape(s)
    s = unicodedata.normalize("NFKC", s)
    s = _INVISIBLE.sub("", s)
    if "://" in s or _WWW.search(s):
        s = _URL.sub("[url]", s)
    s = redact(s)
    return " ".join(s.split())  # runs of whitespace (what `\s` matches) made one space, none at the ends


def is_noise(cleaned: str) -> bool:
    """True for answers that say nothing: empty, punctuation only, or a known filler phrase."""
    key = " ".join(cleaned.lower().split()).strip(_EDGE_PUNCT)
    if not key:
        return True
    if key in NOISE_PHRASES:
        return True
    return not any(ch.isalnum() or unicodedata.category(ch) == "So" for ch in key)


def clean_texts(texts: Iterable[object]) -> pd.DataFrame:
    """Clean many comments: a frame with `text` (cleaned, redacted) and `noise` (bool)."""
    cleaned_of: dict[str, str] = {}  # exports repeat answers: each distinct string is cleaned once
    cleaned = []
    for t in texts:
        if isinstance(t, str) and t not in cleaned_of:
            cleaned_of[t] = clean_text(t)
        cleaned.append(cleaned_of[t] if isinstance(t, str) else clean_text(t))
    noise_of = {t: is_noise(t) for t in set(cleaned)}
    return pd.DataFrame({"text": cleaned, "noise": pd.array([noise_of[t] for t in cleaned], dtype=bool)})

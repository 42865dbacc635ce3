"""Effort extraction as an analyst reads the output: the wait, contact and step values a
comment gets, the spans behind them, and the hard cases that must stay empty."""

import json

import pandas as pd
import pytest

from cxnlp.effort import EFFORT_COLUMNS, EffortExtractor
from cxnlp.errors import InputFileError

extractor = EffortExtractor()
H, D, W = 60, 1440, 10080


def values(text: str, lang: str) -> tuple:
    row = extractor.transform([text], [lang]).iloc[0]
    return tuple(None if pd.isna(row[c]) else row[c] for c in ("cx_wait_minutes", "cx_contacts", "cx_steps"))


SWEDISH = [
    ("Jag satt 35 min i telefonkön igår", (35, None, None)),
    ("Det dröjde fyrtiofem minuter innan chatten svarade", (45, None, None)),
    ("En och en halv timme i kö, sen la de på", (90, None, None)),
    ("Återbetalningen tog 2-4 veckor", (3 * W, None, None)),
    ("Har väntat 1 timme och 15 minuter nu", (75, None, None)),
    ("Ringde om fakturan, varje gång 30+ min kö", (30, None, None)),
    ("Fick mejla fyra gånger innan någon brydde sig", (None, 4, None)),
    ("Det är tredje gången jag ringer om fakturan", (None, 3, None)),
    ("Ringde två gånger och chattade tre gånger", (None, 5, None)),
    ("Sex olika blanketter bara för att flytta", (None, None, 6)),
    ("Blev vidarekopplad fem gånger", (None, None, 5)),
    ("Fick förklara allt igen för nästa handläggare", (None, None, 2)),
    # hard cases: nothing here is the customer's effort
    ("Beställde 12 maj, kom 20 maj", (None, None, None)),
    ("Abonnemanget kostar 349 kr i månaden för 10 GB", (None, None, None)),
    ("Bra att kundtjänst har öppet 24/7", (None, None, None)),
    ("Öppet 8-17 på vardagar räcker inte", (None, None, None)),
    ("Har inte behövt ringa en enda gång", (None, None, None)),
    ("Levererat på 2 dagar, supersnabbt!", (None, None, None)),
    ("Ordernummer 45678 gäller 2 SIM-kort", (None, None, None)),
    ("Kund i 20 år, 3 års garanti på allt", (None, None, None)),
    ("Ni ringde mig fem gånger med säljsamtal", (None, None, None)),
]
NORWEGIAN = [
    ("Ventet 50 minutter i telefonkøen", (50, None, None)),
    ("Det tok halvannen uke å få svar", (1.5 * W, None, None)),
    ("Ventet tre-fire dager på en tekniker", (3.5 * D, None, None)),
    ("Ringt fem ganger uten svar", (None, 5, None)),
    ("Fjerde gang jeg skriver til dere nå", (None, 4, None)),
    ("Måtte fylle ut skjemaet på nytt", (None, None, 2)),
    ("Snakket med tre forskjellige saksbehandlere", (None, None, 3)),
    # Nynorsk
    ("Eg venta to timar i kø", (2 * H, None, None)),
    ("Har ringt dykk seks gonger utan svar", (None, 6, None)),
    ("Måtte forklare alt på nytt", (None, None, 2)),
    ("Har ikkje trunge å ringe ein einaste gong", (None, None, None)),
    # hard cases
    ("Betaler 299 kr i måneden for 20 GB", (None, None, None)),
    ("Kundeservice er åpen 24/7", (None, None, None)),
    ("Bestilte 4. juni, kom 12. juni", (None, None, None)),
    ("Pakken kom på to dager, kjempefornøyd", (None, None, None)),
    ("Ordrenummer 12345, to SIM-kort", (None, None, None)),
]
ENGLISH = [
    ("Waited forty-five minutes on hold", (45, None, None)),
    ("It took over an hour to get through", (60, None, None)),
    ("Refund took 1-2 weeks", (1.5 * W, None, None)),
    ("An hour and a half in the queue", (90, None, None)),
    ("Refund on its way for 5 weeks now", (5 * W, None, None)),
    ("Third time I write to you about this", (None, 3, None)),
    ("Called four times and emailed twice", (None, 6, None)),
    ("Had to fill in the same form three times", (None, None, 3)),
    ("Had to explain it again", (None, None, 2)),
    ("Passed between four different departments", (None, None, 4)),
    # hard cases
    ("Ordered on 2 March, arrived 9 March", (None, None, None)),
    ("£25 a month for 3 GB is too much", (None, None, None)),
    ("Support is open 24/7, nice", (None, None, None)),
    ("Didn't have to call at all", (None, None, None)),
    ("Delivered in 2 days, brilliant!", (None, None, None)),
    ("Setting up the account took three minutes. Smooth.", (None, None, None)),
    ("Order number 12345 had 2 SIM cards", (None, None, None)),
    ("Been a customer for 12 years", (None, None, None)),
    ("They rang me three times trying to sell me broadband", (None, None, None)),
]


@pytest.mark.parametrize("lang, text, expected", [
    *(("sv", *case) for case in SWEDISH), *(("no", *case) for case in NORWEGIAN), *(("en", *case) for case in ENGLISH),
])
def test_wait_contacts_and_steps_per_language(lang, text, expected):
    assert values(text, lang) == expected


@pytest.mark.parametrize("text, lang", [
    ("Vi bodde i huset i tolv år innan vi sålde", "sv"),  # a duration nobody waited
    ("Tiden avbokades tre timmar innan bokad tid", "sv"),  # a lead time
    ("Blev kontaktad flera gånger av säljare", "sv"),  # the company contacting the customer
    ("Fem år senere kom oppfølgeren", "no"),  # years passing in a story
    ("A 10 h flight with great food", "en"),  # the length of something else
    ("They had to redo the tiling twice", "en"),  # the company's rework, not the customer's steps
])
def test_durations_and_counts_that_are_not_the_customers_effort(text, lang):
    assert values(text, lang) == (None, None, None)


def test_spans_locate_each_mention_and_mark_praised_speed_positive():
    text = "Svar inom en timme, toppen! Men fakturan tog tre veckor att rätta"
    row = extractor.transform([text], ["sv"]).iloc[0]
    spans = json.loads(row["cx_effort_spans"])
    assert [(s["text"], s["polarity"]) for s in spans] == [("en timme", "positive"), ("tre veckor", "negative")]
    assert all(text[s["start"]:s["end"]] == s["text"] for s in spans)
    assert spans[1]["kind"] == "wait" and spans[1]["value"] == 3 * W
    assert row["cx_wait_minutes"] == 3 * W  # the praised hour is kept as a span but is not effort


def test_transform_has_one_row_per_text_and_empty_values_where_no_effort():
    out = extractor.transform(["", "Great staff", "Ringt 3 ganger"], ["und", "en", "no"])
    assert out.columns.tolist() == list(EFFORT_COLUMNS)
    assert out["cx_contacts"].isna().tolist() == [True, True, False]
    assert out["cx_effort_spans"].tolist()[:2] == ["[]", "[]"]


def test_undetermined_language_is_read_in_the_language_that_finds_most():
    assert values("väntat 3 timmar i kö", "und") == (3 * H, None, None)


def test_a_comment_in_the_wrong_language_is_still_read_but_its_own_rules_still_hold():
    assert values("Nere i två dygn utan info", "no") == (2 * D, None, None)  # Swedish detected as Norwegian
    assert values("Seven steps to change a password", "no") == (None, None, 7)
    assert values("Har varit kund i 15 år", "sv") == (None, None, None)  # tenure, not re-read as a wait


def test_a_long_comment_is_read_only_in_its_own_language():
    # Norwegian reads "to chat" as two chats: a review this long is surely English
    review = ("Excellent crew, cheerful and friendly, always taking the time to chat with passengers. Food was "
              "fine with regular drinks and the seats were comfortable enough for a flight of this length.")
    assert len(review.split()) > 25
    assert values(review, "en") == (None, None, None)
    # "Seven steps to change a password" detected as Norwegian is read in English too; at this length the
    # detected language is not doubted
    assert values("Seven steps to change a password, " + "which is far too many for a simple thing " * 3, "no") \
        == (None, None, None)


def test_a_new_language_is_a_new_data_file(tmp_path):
    danish = {
        "spacy_lang": "da",
        "numbers": {"en": 1, "to": 2, "tre": 3},
        "units": {"minutter": 1, "timer": 60, "dage": 1440},
        "times_words": ["gange"],
        "contact_nouns": ["opkald"],
        "cues": {"contact_phone": ["ring*", "opkald"], "wait": ["vent*"]},
    }
    path = tmp_path / "da.json"
    path.write_text(json.dumps(danish), "utf-8")
    danish_extractor = EffortExtractor({"da": path})
    out = danish_extractor.transform(["Ventede tre timer og ringede to gange"], ["da"]).iloc[0]
    assert (out["cx_wait_minutes"], out["cx_contacts"]) == (3 * H, 2)


def test_broken_vocabulary_file_is_a_clear_error_naming_it(tmp_path):
    path = tmp_path / "xx.json"
    path.write_text(json.dumps({"spacy_lang": "xx", "numbers": {}}), "utf-8")
    with pytest.raises(InputFileError, match=r"xx\.json: effort vocabulary lacks key\(s\): units, cues"):
        EffortExtractor({"xx": path})


def test_scored_output_carries_effort_columns(toy_pipeline):
    df = pd.DataFrame({"comment": ["Friendly staff but waited forty minutes in the queue", "-"]})
    out = toy_pipeline.score(df, text_col="comment")
    assert out.loc[0, "cx_wait_minutes"] == 40
    assert pd.isna(out.loc[1, "cx_wait_minutes"]) and out.loc[1, "cx_effort_spans"] == "[]"


def test_comments_skipped_without_a_spacy_pass_are_those_with_nothing_to_read():
    """Only texts holding a word some pattern needs are read with spaCy: the rest must be exactly
    the texts a full reading finds nothing in (glued units, wildcard nouns, phrases, repeats)."""
    effort_set = pd.read_csv("data/labelled/effort/effort_set.csv")
    texts = [*effort_set["text"], "Väntade 45min i kön", "Fyllde i tre formulären", "Fyra olika blanketterna",
             "Ringde om och om igen", "Called over and over", "Fire samtaler med kundesenter", "Tre telefonsamtaler",
             "Lovely shop and kind cashier", "Bra bemötande", "Väntade i en vecka", "Tredje gången jag ringer",
             "The 3rd time I called", "Ventet et par timer", "They remembered my case from last week"]
    langs = [*effort_set["lang"], "sv", "sv", "sv", "sv", "en", "no", "no", "en", "sv", "sv", "sv", "en", "no", "en"]
    read_everything = EffortExtractor()
    read_everything._triggers = {lang: (lambda lowered: True) for lang in read_everything._triggers}
    pd.testing.assert_frame_equal(extractor.transform(texts, langs), read_everything.transform(texts, langs))
    assert not any(extractor._triggers[lang](text.lower()) for text, lang in
                   [("Lovely shop and kind cashier", "en"), ("Bra bemötande", "sv"),
                    ("They remembered my case from last week", "en")])  # a unit, but no number before it


def test_token_patterns_find_what_spacys_matcher_finds():
    """The effort rules' own matcher stands in for spaCy's `Matcher` for speed: on every kind of
    token spec they use (NORM, LOWER, IN, REGEX, optional repeats) it must find the same matches."""
    import spacy
    from spacy.matcher import Matcher

    from cxnlp.effort import _TokenPatterns

    nlp = spacy.blank("sv")
    patterns = {
        "WAIT": [[{"NORM": "<n>"}, {"LOWER": {"IN": ["hela", "långa"]}, "OP": "*"}, {"LOWER": {"IN": ["timmar", "dagar"]}}]],
        "AGAIN": [[{"LOWER": "om"}, {"LOWER": "och"}, {"LOWER": "om"}, {"LOWER": "igen"}], [{"LOWER": "igen"}]],
        "FORM": [[{"NORM": "<n>"}, {"LOWER": {"REGEX": "^formulär.*$"}}]],
        "ANY": [[{"LOWER": {"REGEX": "^kö.*$"}}, {"LOWER": "i"}, {"NORM": "<n>"}, {"LOWER": "hela", "OP": "*"}]],
        "SOMETIMES": [[{"LOWER": "hela", "OP": "*"}, {"LOWER": "långa"}]],
    }
    ours, theirs = _TokenPatterns(nlp), Matcher(nlp.vocab)
    for label, specs in patterns.items():
        ours.add(label, specs)
        theirs.add(label, specs)
    texts = ["3 hela långa timmar och 2 dagar", "om och om igen , igen", "fyll i 4 formulären och 5 formulär",
             "kön i 3 hela hela", "hela hela långa", "", "inget här"]
    for text in texts:
        doc = nlp(text)
        for token in doc:
            if token.text.isdigit():
                token.norm_ = "<n>"
        expected = {(nlp.vocab.strings[key], start, end) for key, start, end in theirs(doc)}
        assert set(ours(doc)) == expected, text
        assert len(ours(doc)) == len(expected)  # each match once

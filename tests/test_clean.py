import random

import pytest

from cxnlp.clean import PII_RULES, clean_text, clean_texts, is_noise


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Ring mig på 070-123 45 67", "Ring mig på [phone]"),
        ("ring +47 912 34 567 i morgen", "ring [phone] i morgen"),
        ("mobil 912 34 567", "mobil [phone]"),
        ("tlf: 91234567", "tlf: [phone]"),
        ("mejla anna.svensson@example.se tack", "mejla [email] tack"),
        ("Mitt personnummer är 811228-9874", "Mitt personnummer är [personnummer]"),
        ("pnr 198112289874!", "pnr [personnummer]!"),
        ("fnr 15076500565 ok", "fnr [fodselsnummer] ok"),
        ("Se www.nordlink.se/hjalp eller https://x.no/a?b=1", "Se [url] eller [url]"),
        ("WWW.Nordlink.se eller HTTP://X.NO", "[url] eller [url]"),
        ("ring 031-12 34 56 eller (555) 123-4567", "ring [phone] eller [phone]"),
        ("Ring 08-123 456 78 efter lunch", "Ring [phone] efter lunch"),
        ("kundtjänst 0771-123 456 eller 020-123 456", "kundtjänst [phone] eller [phone]"),
        ("call 07700 900123 or 020 7946 0958", "call [phone] or [phone]"),
        ("ring +46 70 123 45 67\u00a0\u2003 nu", "ring [phone] nu"),
    ],
)
def test_personal_data_is_redacted(raw, expected):
    assert clean_text(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "Order 811228-9875 kom aldrig",  # personnummer shape, wrong check digit
        "ordrenummer 12345678 mangler",  # 8 digits without a phone word
        "ORD-558812 levererades 2026-05-01",
        "Faktura 15076500566",  # fødselsnummer shape, wrong control digits
        "Det kostade 1 299 kr och tog 3 dagar",
    ],
)
def test_order_numbers_dates_and_prices_survive(raw):
    assert clean_text(raw) == raw


def test_every_match_of_a_rule_holds_what_the_rule_needs_so_no_text_is_skipped_wrongly():
    # `redact` searches a rule's pattern only in texts where its `needs` is found: strings built from
    # pieces of numbers, separators and addresses find every rule's edge cases
    pieces = ["0", "1", "2", "7", "9", "19", "20", "070", "+46", "+4", "(0)", "(555)", " ", "-", "+", ".", "@", "a",
              "x.se", "tlf:", "Mobil ", "811228", "9874", "15076500565", "123", "45", "4567"]
    rng, matches = random.Random(0), 0
    for _ in range(20000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 14)))
        for rule in PII_RULES:
            for match in rule.pattern.finditer(text):
                matches += 1
                assert rule.needs.search(match.group(0)), (rule.placeholder, match.group(0))
    assert matches > 1000


def test_html_unicode_whitespace_and_emoji():
    decomposed = "Bra\u0308 service"  # 'a' + combining diaeresis
    assert clean_text(decomposed) == "Brä service"
    assert clean_text("<p>Snabbt &amp; enkelt</p>\n\n  😊👍") == "Snabbt & enkelt 😊👍"
    assert clean_text(None) == ""
    assert clean_text(float("nan")) == ""


@pytest.mark.parametrize(
    "text", ["", "-", "N/A", "...", "Inget att tillägga.", "ingen kommentar", "nothing to add", "Veit ikkje", "xxx", "Ok."]
)
def test_survey_noise_is_flagged(text):
    assert is_noise(clean_text(text))


@pytest.mark.parametrize("text", ["bra", "👍", "helt ok", "nej, inte alls nöjd", "No one called me back"])
def test_short_real_answers_are_not_noise(text):
    assert not is_noise(clean_text(text))


def test_clean_texts_keeps_row_order():
    frame = clean_texts(["-", "Bra!", None])
    assert frame["text"].tolist() == ["-", "Bra!", ""]
    assert frame["noise"].tolist() == [True, False, True]

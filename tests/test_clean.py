import pytest

from cxnlp.clean import clean_text, clean_texts, is_noise


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

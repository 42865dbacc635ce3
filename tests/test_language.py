import pytest

from cxnlp.language import LanguageDetector

DETECTORS = {model: LanguageDetector(character_model=model) for model in ("langdetect", "naive-bayes")}
both_models = pytest.mark.parametrize("detector", DETECTORS.values(), ids=DETECTORS.keys())

SHORT_COMMENTS = [
    ("Snabb leverans", "sv"),
    ("fick aldrig svar", "sv"),
    ("Jättebra bemötande i butiken, tack!", "sv"),
    ("Supportet var super nice", "sv"),
    ("Veldig fornøyd", "no"),
    ("Jeg er ikke fornøyd med kundeservice", "no"),
    ("Eg fekk ikkje svar på e-posten", "no"),  # Nynorsk
    ("Kva skjer med fakturaen min?", "no"),
    ("Great service", "en"),
    ("The staff was rude and I waited forever", "en"),
    ("I waited very long time on the phone", "en"),
]


@both_models
@pytest.mark.parametrize("text, lang", SHORT_COMMENTS)
def test_supported_languages_on_short_comments(detector, text, lang):
    assert detector.detect(text).lang == lang


@both_models
@pytest.mark.parametrize(
    "text, lang",
    [
        # few or no words of the marker table: the character model decides
        ("Leveransen försenades, förbannat irriterande", "sv"),
        ("Pakken kom frem forsinket, utrolig irriterende", "no"),
        ("The parcel was delayed three times, incredibly annoying", "en"),
        ("Selgeren glemte bestillingen, kassapersonalet derimot strålende", "no"),
    ],
)
def test_character_model_decides_when_the_word_table_is_silent(detector, text, lang):
    assert detector.detect(text).lang == lang


@both_models
def test_danish_is_reported_as_norwegian(detector):
    assert detector.detect("Jeg har ventet i to uger og ingen har svaret mig").lang == "no"


@both_models
def test_another_language_is_undetermined(detector):
    assert detector.detect("Der Kundendienst war leider überhaupt nicht erreichbar, sehr enttäuschend").lang == "und"


@both_models
@pytest.mark.parametrize("text", ["", "👍😊", "12345", "!!!"])
def test_no_words_is_undetermined(detector, text):
    guess = detector.detect(text)
    assert guess.lang == "und" and guess.confidence == 0.0


def test_detection_is_deterministic():
    text = "Bra men dyrt"
    assert len({LanguageDetector().detect(text) for _ in range(5)}) == 1


def test_naive_bayes_answers_a_text_the_same_in_any_batch():
    detector = DETECTORS["naive-bayes"]
    texts = [text for text, _ in SHORT_COMMENTS] + ["Pakken ble forsinket tre ganger", "", "12345"]
    assert detector.detect_many(texts) == [detector.detect(t) for t in texts]
    assert detector.detect_many(texts[::-1]) == detector.detect_many(texts)[::-1]


def test_unknown_character_model_is_refused():
    with pytest.raises(ValueError, match="character_model"):
        LanguageDetector(character_model="fasttext")

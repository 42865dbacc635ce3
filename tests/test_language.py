import pytest

from cxnlp.language import LanguageDetector

detector = LanguageDetector()


@pytest.mark.parametrize(
    "text, lang",
    [
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
    ],
)
def test_supported_languages_on_short_comments(text, lang):
    assert detector.detect(text).lang == lang


def test_danish_is_reported_as_norwegian():
    assert detector.detect("Jeg har ventet i to uger og ingen har svaret mig").lang == "no"


@pytest.mark.parametrize("text", ["", "👍😊", "12345", "!!!"])
def test_no_words_is_undetermined(text):
    guess = detector.detect(text)
    assert guess.lang == "und" and guess.confidence == 0.0


def test_detection_is_deterministic():
    text = "Bra men dyrt"
    assert len({LanguageDetector().detect(text) for _ in range(5)}) == 1

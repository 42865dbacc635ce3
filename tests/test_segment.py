from cxnlp.segment import Segmenter

segmenter = Segmenter()


def test_contrast_words_split_clauses_in_each_language():
    clauses = segmenter.split(
        ["Friendly staff but I waited 40 minutes",
         "Trevlig personal men 40 minuter i kön. Fick ingen hjälp!",
         "Hyggelig betjening, men det tok lang tid",
         "Good but slow"],
        ["en", "sv", "no", "en"],
    )
    assert clauses == [
        ["Friendly staff", "but I waited 40 minutes"],
        ["Trevlig personal", "men 40 minuter i kön.", "Fick ingen hjälp!"],
        ["Hyggelig betjening", "men det tok lang tid"],
        ["Good", "but slow"],
    ]


def test_leading_contrast_word_and_empty_text_do_not_split():
    assert segmenter.split(["men bra", "😊"], ["sv", "und"]) == [["men bra"], []]

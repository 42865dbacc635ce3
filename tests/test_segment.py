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


def test_comments_kept_whole_without_the_pipeline_get_the_clauses_the_pipeline_gives():
    from cxnlp.segment import SPACY_LANG, _clauses

    texts = ["Ingen ringde tillbaka som lovat 😡", "Bra !", "Bra! 😡", "ok...!?", "  Hej", "Tack.\n", "1234",
             "!!!", "a,b", "Bra osv.", "-- ok --", "Nice。Thanks", "42!", "kommentaren", "x mens y", "Hei  ", "Hei \n", "abc \t",
             "although fine", "Slow, however fine", "Fem dagar", "Väntade 3 h i kö", "Snabb leverans. Bra!"]
    for lang in ("sv", "no", "en", "und"):
        nlp = segmenter._nlp[SPACY_LANG[lang]]
        assert segmenter.split(texts, [lang] * len(texts)) == [_clauses(nlp(t)) for t in texts], lang
    assert segmenter._one_clause("Ingen ringde tillbaka som lovat 😡", "sv")  # the shortcut is taken
    assert not segmenter._one_clause("Snabb leverans. Bra!", "sv")

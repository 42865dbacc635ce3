"""The n-gram features: worked out per distinct text and per distinct word for speed, they must be
exactly what the fitted vectorizers give, or heads trained on one would read the other wrongly."""

import numpy as np
from scipy.sparse import csr_matrix, hstack

from cxnlp.features import TextFeatures

TRAIN = ["Väntade 45 minuter i kön", "Trevlig personal men lång kö", "Hyggelig betjening", "Lang kø på telefon",
         "Friendly staff but long queue", "Waited 45 minutes on hold", "kö kö kö", "Trevlig  personal"]


def _by_the_vectorizers(features: TextFeatures, texts: list[str], embeddings: np.ndarray):
    """What scikit-learn's own vectorizers, fitted on the same texts, give: the reference."""
    char, word = (vectorizer.fit(TRAIN) for vectorizer in features.vectorizers())
    return hstack([csr_matrix(embeddings), char.transform(texts), word.transform(texts)], format="csr", dtype=np.float32)


def test_features_equal_the_vectorizers_to_the_bit_with_repeats_blanks_and_spacing():
    features = TextFeatures(min_df=1).fit(TRAIN)
    texts = [*TRAIN, "", "  Trevlig\tpersonal  ", "Väntade 45 minuter i kön", "okända ord", TRAIN[0],
             "KÖ, kö; VÄNTADE—45 minuter!! i kön", "a b c i kö", "long queue long queue"]
    embeddings = np.random.default_rng(0).standard_normal((len(texts), 4)).astype(np.float32)
    embeddings[8] = 0.0
    expected = _by_the_vectorizers(features, texts, embeddings)
    got = features.transform(texts, embeddings)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got.toarray(), expected.toarray())


def test_features_of_clauses_after_their_comments_equal_the_vectorizers_with_the_word_analyses_shared():
    features = TextFeatures(min_df=1).fit(TRAIN)
    comments = ["Trevlig personal men lång kö", "Friendly staff but long queue", "Hyggelig betjening"]
    clauses = ["Trevlig personal", "men lång kö", "Friendly staff", "but long queue", "okända ord här"]
    word_grams: dict[str, list[int]] = {}
    for texts in (comments, clauses):
        embeddings = np.zeros((len(texts), 2), dtype=np.float32)
        expected = _by_the_vectorizers(features, texts, embeddings)
        np.testing.assert_array_equal(features.transform(texts, embeddings, word_grams).toarray(), expected.toarray())
    assert {"okända", "lång", "staff"} <= set(word_grams)  # each word analysed once, kept for the next call


def test_features_survive_a_save_and_load_and_score_no_texts(tmp_path):
    features = TextFeatures(min_df=1).fit(TRAIN)
    features.save(tmp_path / "features")
    loaded = TextFeatures.load(tmp_path / "features")
    texts = ["Lång kö men trevlig personal", "Waited on hold"]
    embeddings = np.ones((2, 3), dtype=np.float32)
    np.testing.assert_array_equal(loaded.transform(texts, embeddings).toarray(),
                                  _by_the_vectorizers(features, texts, embeddings).toarray())
    assert loaded.transform([], np.zeros((0, 3), dtype=np.float32)).shape == (0, 3 + features.n_ngram_features)

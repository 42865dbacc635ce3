"""Throughput and peak memory of `Pipeline.score` against plain `SentenceTransformer.encode`.

Each measurement runs in its own fresh process (so peak RSS is its own), on the same
synthetic survey comments (Swedish, Norwegian, English; mostly distinct), with the
embedding cache off so every text is really embedded.

    .venv/bin/python scripts/bench_score.py [--sizes 1000 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent

OPENINGS = {
    "sv": ["Trevlig personal", "Väntade {n} minuter i telefonkön", "Fakturan var {n} kr högre än utlovat",
           "Fick hjälp direkt i chatten", "Ingen ringde tillbaka som lovat", "Appen är krånglig",
           "Leveransen kom {n} dagar för sent", "De kom ihåg mitt ärende från förra veckan"],
    "no": ["Hyggelig betjening", "Ventet {n} minutter i telefonkø", "Regningen var {n} kr høyere enn lovet",
           "Fikk hjelp med en gang på chat", "Ingen ringte tilbake som avtalt", "Appen er tungvint",
           "Pakken kom {n} dager for sent", "Eg fekk ikkje svar på e-posten"],
    "en": ["Friendly staff", "Waited {n} minutes on hold", "The bill was {n} pounds more than promised",
           "Got help straight away in the chat", "Nobody called back as promised", "The app is a pain to use",
           "Delivery arrived {n} days late", "They remembered my case from last week"],
}
JOINERS = {"sv": [" men ", ". ", " och "], "no": [" men ", ". ", " og "], "en": [" but ", ". ", " and "]}


def synthetic_comments(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        lang = rng.choice(list(OPENINGS))
        parts = [rng.choice(OPENINGS[lang]).format(n=rng.randint(2, 180)) for _ in range(rng.choice([1, 1, 2, 3]))]
        text = parts[0]
        for part in parts[1:]:
            text += rng.choice(JOINERS[lang]) + part[0].lower() + part[1:]
        out.append(text + rng.choice(["", ".", "!", " 😡", " 👍", f" (ärende {rng.randint(1000, 99999)})"]))
    return out


def run_one(mode: str, n: int) -> dict:
    """Measured in this process: load, then time the scoring of n comments."""
    import pandas as pd

    texts = synthetic_comments(n)
    if mode == "pipeline":
        from cxnlp import Pipeline, Settings

        pipe = Pipeline.load(settings=Settings(cache_dir=None))
        start = time.perf_counter()
        pipe.score(pd.DataFrame({"comment": texts}), text_col="comment")
    else:
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(ROOT / "models" / "embedder"), device="cpu")
        start = time.perf_counter()
        model.encode(texts, prompt_name="query", batch_size=32, normalize_embeddings=True)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"mode": mode, "n": n, "seconds": round(seconds, 1), "per_second": round(n / seconds, 1),
            "peak_rss_mb": round(peak_mb)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--one", nargs=2, metavar=("MODE", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one[0], int(args.one[1]))))
        return 0
    if not (ROOT / "models" / "embedder" / "model.safetensors").is_file():
        print("models/embedder is not built; run `make run` first")
        return 2
    print(f"{'n':>6} {'mode':28} {'comments/s':>10} {'seconds':>8} {'peak RSS MB':>11}")
    for n in args.sizes:
        for mode, label in (("pipeline", "cxnlp Pipeline.score"), ("naive", "SentenceTransformer.encode")):
            result = subprocess.run([sys.executable, __file__, "--one", mode, str(n)], capture_output=True,
                                    text=True, check=True)
            r = json.loads(result.stdout.strip().splitlines()[-1])
            print(f"{n:6d} {label:28} {r['per_second']:10.1f} {r['seconds']:8.1f} {r['peak_rss_mb']:11d}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Throughput, peak memory and accuracy of `cxnlp score` per backend against plain `SentenceTransformer.encode`.

Table 1: for each size, comments/second, wall seconds, CPU seconds (all threads) and peak RSS of
the naive baseline (float32 `SentenceTransformer.encode` of the same texts, nothing else) and of
the whole scoring pipeline (cleaning, language, clauses, embedding, pillars, sentiment) with each
embedder backend, and the ratios to the baseline. On a machine shared with other work, the CPU
ratio is the steadier of the two. Each measurement runs in its own fresh process (so peak RSS is its own),
on the same synthetic survey comments (Swedish, Norwegian, English), with the embedding cache off
so every distinct text is really embedded. Loading (importing cxnlp or sentence-transformers and the
models, in a fresh process with pandas imported: what every `cxnlp score` run pays once) is printed
as `load s` and is not in the rates. The first call after loading
is the headline (a `cxnlp score` run is one call); a second call on other comments of the same size,
in the same process, is printed as `warm /s` (each later input of a back-fill or a notebook session).

Table 2: the accuracy of each backend and tier on the labelled test split, as `cxnlp evaluate` measures it.

    .venv/bin/python scripts/bench_score.py [--sizes 1000 10000] [--modes naive onnx-int8 fast fast-no-effort] [--no-accuracy]
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
MODES = ("naive", "torch", "onnx-float32", "onnx-int8", "fast", "fast-no-effort")
LABELS = {"naive": "naive SentenceTransformer.encode", "torch": "cxnlp score, torch float32",
          "onnx-float32": "cxnlp score, ONNX float32", "onnx-int8": "cxnlp score, ONNX int8 (default)",
          "fast": "cxnlp score --tier fast", "fast-no-effort": "cxnlp score --tier fast, effort off"}

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


def _live_children() -> list[int]:
    import multiprocessing

    return [child.pid for child in multiprocessing.active_children()]


def _cpu_seconds() -> float:
    """CPU time of this process, all threads, and of the scoring processes it forked (the fast tier's,
    which live on between calls, and any that ended): less disturbed than wall time when others share
    the cores."""
    own, ended = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    live = 0.0
    for pid in _live_children():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        live += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    return own.ru_utime + own.ru_stime + ended.ru_utime + ended.ru_stime + live


def _peak_rss_mb() -> int:
    """Peak resident memory of this process, or of its largest scoring process if that is larger (they
    share the loaded models with it copy-on-write, so the two do not add up)."""
    peaks_kb = [resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    for pid in _live_children():
        status = Path(f"/proc/{pid}/status").read_text()
        peaks_kb += [int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")]
    return round(max(peaks_kb) / 1024)


def _settings(mode: str):
    """The settings a mode scores with; the embedding cache off."""
    from cxnlp.config import TIERS, Settings

    if mode.startswith("fast"):
        overrides = {**TIERS["fast"], **({"effort": False} if mode == "fast-no-effort" else {})}
    else:
        overrides = {"backend": mode}
    return Settings.load(**{**overrides, "cache_dir": ""})


def run_speed(mode: str, n: int) -> dict:
    """Measured in this process: load, then time the scoring of n comments (the first call), then of
    n other comments (a warm call: what each later input of a back-fill or notebook session costs)."""
    import pandas as pd

    texts, later = synthetic_comments(n), synthetic_comments(n, seed=1)
    load_start = time.perf_counter()
    if mode == "naive":
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(ROOT / "models" / "embedder"), device="cpu")

        def run(batch: list[str]) -> None:
            model.encode(batch, prompt_name="query", batch_size=32, normalize_embeddings=True)
    else:
        from cxnlp import Pipeline

        pipe = Pipeline.load(settings=_settings(mode))

        def run(batch: list[str]) -> None:
            pipe.score(pd.DataFrame({"comment": batch}), text_col="comment")
    load = time.perf_counter() - load_start
    start, cpu_start = time.perf_counter(), _cpu_seconds()
    run(texts)
    seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu_start
    start = time.perf_counter()
    run(later)
    warm = time.perf_counter() - start
    return {"mode": mode, "n": n, "seconds": round(seconds, 3), "per_second": round(n / seconds, 1),
            "cpu_seconds": round(cpu, 3), "warm_seconds": round(warm, 3), "load_seconds": round(load, 2),
            "peak_rss_mb": _peak_rss_mb()}


def run_accuracy(mode: str) -> dict:
    """`cxnlp evaluate` on the test split with this backend."""
    from cxnlp import Pipeline
    from cxnlp.training.data import load_labelled
    from cxnlp.training.evaluate import evaluate

    labelled = load_labelled(sorted((ROOT / "data" / "labelled").glob("*.csv"))).subset("test")
    return evaluate(Pipeline.load(settings=_settings(mode)), labelled)


def _child(*args: str) -> dict:
    result = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000], help="numbers of comments")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES), help="what to measure")
    parser.add_argument("--no-accuracy", action="store_true", help="skip the accuracy table")
    parser.add_argument("--speed", nargs=2, metavar=("MODE", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--accuracy", metavar="MODE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.speed:
        print(json.dumps(run_speed(args.speed[0], int(args.speed[1]))))
        return 0
    if args.accuracy:
        print(json.dumps(run_accuracy(args.accuracy)))
        return 0
    if not (ROOT / "models" / "embedder" / "model.safetensors").is_file():
        print("models/embedder is not built; run `make run` first")
        return 2
    from cxnlp.onnx_export import cpu_summary

    print(f"cores available: {len(os.sched_getaffinity(0))}; load average at start: {os.getloadavg()[0]:.1f}")
    print(f"processor: {cpu_summary()}")
    print(f"{'n':>6} {'what':34} {'comments/s':>10} {'x naive':>7} {'seconds':>8} {'CPU s':>7} {'x naive':>7} "
          f"{'warm /s':>8} {'x naive':>7} {'peak RSS MB':>11} {'load s':>6}")
    for n in args.sizes:
        baseline = None
        for mode in args.modes:
            r = _child("--speed", mode, str(n))
            baseline = r if mode == "naive" else baseline
            ratio = f"{baseline['seconds'] / r['seconds']:7.2f}" if baseline else f"{'-':>7}"
            cpu_ratio = f"{baseline['cpu_seconds'] / r['cpu_seconds']:7.2f}" if baseline else f"{'-':>7}"
            warm_ratio = f"{baseline['warm_seconds'] / r['warm_seconds']:7.2f}" if baseline else f"{'-':>7}"
            print(f"{n:6d} {LABELS[mode]:34} {r['per_second']:10.1f} {ratio} {r['seconds']:8.2f} {r['cpu_seconds']:7.2f} "
                  f"{cpu_ratio} {n / r['warm_seconds']:8.1f} {warm_ratio} {r['peak_rss_mb']:11d} {r['load_seconds']:6.2f}", flush=True)
    if args.no_accuracy:
        return 0
    print("\nAccuracy on the test split (cxnlp evaluate), per backend and tier")
    print(f"{'what':34} {'macro-F1':>8} {'micro-F1':>8} {'sentiment':>9} {'polarity':>8}   macro-F1 sv / no / en")
    for mode in (m for m in args.modes if m not in ("naive", "fast-no-effort")):  # effort changes no label
        m = _child("--accuracy", mode)
        per_lang = " / ".join(f"{m[lang]['pillars']['macro_f1']:.3f}" for lang in ("sv", "no", "en") if lang in m)
        a = m["all"]
        print(f"{LABELS[mode]:34} {a['pillars']['macro_f1']:8.3f} {a['pillars']['micro']['f1']:8.3f} "
              f"{a['sentiment_accuracy']:9.3f} {a['polarity_accuracy']:8.3f}   {per_lang}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

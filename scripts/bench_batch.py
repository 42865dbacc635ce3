"""Rows per second and peak memory of `cxnlp batch` on a synthetic export: first run, then a re-run.

For each size, the script writes a plain CSV export of N responses (Swedish, Norwegian and
English comments from `bench_score.synthetic_comments`, 90 days of timestamps, a channel and
an NPS), a `[batch]` config with a fresh DuckDB store, and runs `cxnlp batch` twice, each time in
a fresh process so that its peak RSS is its own: the first run scores everything, the re-run
finds nothing new. Both runs publish (report over the window, Parquet snapshot). The embedding
cache is off, so every distinct text is really embedded.

    .venv/bin/python scripts/bench_batch.py [--sizes 10000 100000] [--tier default|fast] [--chunk-rows 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_score import synthetic_comments  # noqa: E402  (a sibling script, not a package)

CHANNELS = ("app", "web", "phone", "chat", "store")


def write_export(folder: Path, n: int, seed: int = 0) -> Path:
    """A semicolon CSV of n responses, written row by row so the generator itself stays small."""
    rng = random.Random(seed)
    start = datetime(2026, 8, 1)
    path = folder / "exports" / f"export_{n}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    block = 10_000
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("response_id;submitted_at;channel;nps;comment\n")
        for first in range(0, n, block):
            comments = synthetic_comments(min(block, n - first), seed=seed + first)
            for i, comment in enumerate(comments, first):
                when = start + timedelta(seconds=rng.randrange(90 * 86400))
                fh.write(f"B{i:08d};{when:%Y-%m-%dT%H:%M:%S};{rng.choice(CHANNELS)};{rng.randint(0, 10)};"
                         f"\"{comment.replace(chr(34), chr(39))}\"\n")
    return path


def write_config(folder: Path, chunk_rows: int) -> Path:
    config = folder / "cxnlp.toml"
    config.write_text(f"""[batch]
inputs = "exports"
store = "cxnlp.duckdb"
output = "out"
chunk_rows = {chunk_rows}
window_days = 90

[[batch.sources]]
name = "bench"
id = "response_id"
timestamp = "submitted_at"
rating = "nps"
segments = {{ channel = "channel" }}
comments = {{ comment = "comment" }}
""", encoding="utf-8")
    return config


def run_child(config: Path, tier: str) -> dict:
    """Inside a fresh process: one `cxnlp batch` (it prints its summary line), wall time, peak RSS."""
    from cxnlp.cli import app

    started = time.perf_counter()
    try:
        app(["batch", "--config", str(config), "--tier", tier, "--quiet"], standalone_mode=False)
    except SystemExit:
        pass
    return {"seconds": time.perf_counter() - started,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}


def measure(config: Path, tier: str) -> dict:
    env = {**os.environ, "CXNLP_CACHE_DIR": ""}
    out = subprocess.run([sys.executable, __file__, "--child", str(config), "--tier", tier],
                         capture_output=True, text=True, env=env, cwd=config.parent)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or len(lines) < 2:
        raise SystemExit(f"batch run failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    return {**json.loads(lines[-1]), "summary": json.loads(lines[-2])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000], help="responses per export")
    parser.add_argument("--tier", default="default", help="model tier (default or fast)")
    parser.add_argument("--chunk-rows", type=int, default=2000, help="rows per committed chunk")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_child(args.child, args.tier)))
        return 0
    print(f"cores: {len(os.sched_getaffinity(0))}; load average at start: {os.getloadavg()[0]:.1f}; tier {args.tier}; "
          f"chunk {args.chunk_rows} rows; embedding cache off")
    print(f"{'rows':>8} {'run':8} {'seconds':>8} {'rows/s':>8} {'publish s':>9} {'new':>8} {'skipped files':>13} "
          f"{'peak RSS MB':>11}")
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix=f"bench_batch_{n}_") as tmp:
            folder = Path(tmp)
            write_export(folder, n)
            config = write_config(folder, args.chunk_rows)
            for label in ("first", "re-run"):
                r = measure(config, args.tier)
                s = r["summary"]
                print(f"{n:8d} {label:8} {r['seconds']:8.1f} {n / r['seconds']:8.0f} {s['publish_seconds']:9.1f} "
                      f"{s['counts']['rows_new']:8d} {s['counts']['files_skipped']:13d} {r['peak_rss_mb']:11d}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

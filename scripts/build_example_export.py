"""Build data/raw/example_survey_export.csv from the team-written comment banks.

The banks (`scripts/example_export/comments_<lang>.csv`: channel, journey, pillars,
nps_band, text) hold every comment once, with the channel and journey it fits and the
score its writer would plausibly give. This script gives each a date, a response id, a
region and an NPS, and plants the story the report must find:

    app-channel comments about time and effort (negative) are rare before September 2026
    and common from then on (the new app release), while everything else stays level.

Deterministic (seeded), so the committed export can be rebuilt byte for byte:
    python scripts/build_example_export.py
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
BANKS = ROOT / "scripts" / "example_export"
OUTPUT = ROOT / "data" / "raw" / "example_survey_export.csv"
START, END = pd.Timestamp("2026-05-01"), pd.Timestamp("2026-11-16")
RELEASE = pd.Timestamp("2026-09-01")  # the app release from which the planted breakdown runs
SHARE_BEFORE_RELEASE = 0.1  # of the app time-and-effort complaints (a level share would be ~0.62)
CHANNEL_WEIGHTS = {"app": 0.24, "web": 0.18, "phone": 0.22, "chat": 0.12, "store": 0.14, "email": 0.10}
JOURNEYS = ("onboarding", "purchase", "installation", "billing", "support", "cancellation")
JOURNEY_WEIGHTS = (0.10, 0.16, 0.10, 0.22, 0.32, 0.10)
REGIONS = {
    "sv": ("Stockholm", "Göteborg", "Malmö", "Uppsala", "Umeå"),
    "no": ("Oslo", "Bergen", "Trondheim", "Stavanger", "Tromsø"),
    "en": ("Stockholm", "Göteborg", "Oslo", "Bergen", "Malmö"),
}
NPS_BANDS = {"promoter": ((9, 10), (0.45, 0.55)), "passive": ((7, 8), (0.5, 0.5)),
             "detractor": ((0, 1, 2, 3, 4, 5, 6), (0.12, 0.1, 0.14, 0.16, 0.16, 0.17, 0.15))}
EMPTY_SHARE = 0.06  # respondents who answer the score but skip the open question
BLANK_NPS_SHARE = 0.01


def load_banks(folder: Path) -> pd.DataFrame:
    frames = []
    for path in sorted(folder.glob("comments_*.csv")):
        bank = pd.read_csv(path, dtype=str, keep_default_na=False)
        bank["lang"] = path.stem.removeprefix("comments_")
        frames.append(bank)
    return pd.concat(frames, ignore_index=True)


def random_dates(rng: np.random.Generator, n: int, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    """Uniform over the days, fewer on weekends, at office-ish hours."""
    days = pd.date_range(start, end - pd.Timedelta(days=1), freq="D")
    weight = np.where(days.day_of_week >= 5, 0.5, 1.0)
    picked = rng.choice(days, size=n, p=weight / weight.sum())
    seconds = rng.integers(7 * 3600, 22 * 3600, size=n)
    return pd.Series(pd.to_datetime(picked) + pd.to_timedelta(seconds, unit="s"))


def build(seed: int = 2026) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    bank = load_banks(BANKS)
    n_empty = int(round(len(bank) * EMPTY_SHARE / (1 - EMPTY_SHARE)))
    empty = pd.DataFrame({"channel": "any", "journey": "any", "pillars": "", "text": "", "lang": rng.choice(list(REGIONS), n_empty),
                          "nps_band": rng.choice(list(NPS_BANDS), n_empty, p=(0.4, 0.3, 0.3))})
    rows = pd.concat([bank, empty], ignore_index=True)
    n = len(rows)

    channels = rows["channel"].to_numpy(dtype=object)
    free = channels == "any"
    channels[free] = rng.choice(list(CHANNEL_WEIGHTS), free.sum(), p=list(CHANNEL_WEIGHTS.values()))
    journeys = rows["journey"].to_numpy(dtype=object)
    free = journeys == "any"
    journeys[free] = rng.choice(JOURNEYS, free.sum(), p=JOURNEY_WEIGHTS)

    dates = random_dates(rng, n, START, END)
    planted = (channels == "app") & rows["pillars"].str.contains("time_and_effort:negative").to_numpy()
    before = rng.random(n) < SHARE_BEFORE_RELEASE
    dates[planted & before] = random_dates(rng, int((planted & before).sum()), START, RELEASE).to_numpy()
    dates[planted & ~before] = random_dates(rng, int((planted & ~before).sum()), RELEASE, END).to_numpy()

    nps = np.empty(n, dtype=object)
    for band, (scores, weights) in NPS_BANDS.items():
        inside = (rows["nps_band"] == band).to_numpy()
        nps[inside] = rng.choice(scores, inside.sum(), p=weights).astype(str)
    nps[rng.random(n) < BLANK_NPS_SHARE] = ""

    regions = np.array([rng.choice(REGIONS[lang]) for lang in rows["lang"]], dtype=object)
    export = pd.DataFrame({"submitted_at": dates, "channel": channels, "journey": journeys, "region": regions,
                           "nps": nps, "comment": rows["text"].to_numpy()})
    export = export.sort_values("submitted_at", kind="stable").reset_index(drop=True)
    export.insert(0, "response_id", [f"R-{200001 + i}" for i in range(n)])
    export["submitted_at"] = export["submitted_at"].dt.strftime("%Y-%m-%dT%H:%M:%S")
    return export


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    export = build(args.seed)
    # Shaped like a Nordic Excel export: UTF-8 with BOM, semicolons.
    export.to_csv(args.output, sep=";", index=False, encoding="utf-8-sig", quoting=csv.QUOTE_MINIMAL)
    app = export["channel"] == "app"
    print(f"{len(export)} responses, {(export['comment'] != '').sum()} with a comment, "
          f"{export['submitted_at'].min()[:10]} to {export['submitted_at'].max()[:10]}, {app.sum()} in the app -> {args.output}")


if __name__ == "__main__":
    main()

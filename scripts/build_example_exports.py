"""Build data/raw/exports/ from the example export: a nightly folder as three survey tools would fill it.

`cxnlp batch` (and `make run`) reads this folder with the `[batch]` table of
data/raw/cxnlp.toml. Every response of data/raw/example_survey_export.csv appears once:

    plain_2026-05-01_2026-08-31.csv     the history, May-August, in the example's own plain shape
    qualtrics_2026-09.csv, _2026-10.csv Qualtrics-style: three header rows, the tool's own columns,
                                        the comment in Q2; for ~8% of rows its last sentence in Q3
    surveymonkey_2026-11.xlsx           SurveyMonkey-style workbook: two header rows, sub-columns
    qualtrics_2026-10_corrected.csv     15 October responses exported again: a few corrected
                                        (NPS or comment), the rest unchanged (duplicates)

Ids are derived from the example's response ids, so they are stable and unique per source.
Deterministic (seeded; the workbook's zip dates are fixed), so the folder rebuilds byte for byte:
    python scripts/build_example_exports.py
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import re
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "data" / "raw" / "example_survey_export.csv"
BANKS = ROOT / "scripts" / "example_export"
OUTPUT = ROOT / "data" / "raw" / "exports"
SPLIT_SHARE = 0.08  # Qualtrics rows whose last sentence went to the "anything else" question
CORRECTED_ROWS, CORRECTED_NPS, CORRECTED_COMMENTS = 15, 2, 2
BUILT_AT = (2026, 11, 16, 2, 0, 0)  # fixed zip and document dates of the workbook
NORWEGIAN_CITIES = {"Oslo", "Bergen", "Trondheim", "Stavanger", "Tromsø"}
LAST_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=\S)")
ADDENDUM = {  # what a respondent adds when editing an answer
    "sv": "Uppdatering: ärendet är löst nu, tack.",
    "no": "Oppdatering: saken er løst nå, takk.",
    "en": "Update: it has been sorted out now, thanks.",
}
QUALTRICS_META = [  # column id, question text (row 2), ImportId JSON (row 3)
    ("StartDate", "Start Date", '{"ImportId":"startDate","timeZone":"Europe/Stockholm"}'),
    ("EndDate", "End Date", '{"ImportId":"endDate","timeZone":"Europe/Stockholm"}'),
    ("Status", "Response Type", '{"ImportId":"status"}'),
    ("IPAddress", "IP Address", '{"ImportId":"ipAddress"}'),
    ("Progress", "Progress", '{"ImportId":"progress"}'),
    ("Duration (in seconds)", "Duration (in seconds)", '{"ImportId":"duration"}'),
    ("Finished", "Finished", '{"ImportId":"finished"}'),
    ("RecordedDate", "Recorded Date", '{"ImportId":"recordedDate","timeZone":"Europe/Stockholm"}'),
    ("ResponseId", "Response ID", '{"ImportId":"_recordId"}'),
    ("DistributionChannel", "Distribution Channel", '{"ImportId":"distributionChannel"}'),
    ("UserLanguage", "User Language", '{"ImportId":"userLanguage"}'),
    ("Q1", "How likely is it that you would recommend Nordlink to a friend or colleague?", '{"ImportId":"QID1"}'),
    ("Q2", "What is the main reason for your score?", '{"ImportId":"QID2_TEXT"}'),
    ("Q3", "Is there anything else you would like to tell us?", '{"ImportId":"QID3_TEXT"}'),
    ("Q4", "Which channel did you contact us through?", '{"ImportId":"QID4"}'),
    ("Q5", "What was your errand about?", '{"ImportId":"QID5"}'),
    ("Q6", "Where do you live?", '{"ImportId":"QID6"}'),
]
SURVEYMONKEY_HEADER = [  # row 1, row 2: a blank row-1 cell continues the question to its left
    ("Respondent ID", ""), ("Collector ID", ""), ("Start Date", ""), ("End Date", ""), ("IP Address", ""),
    ("Email Address", ""), ("First Name", ""), ("Last Name", ""), ("Custom Data 1", ""),
    ("How likely is it that you would recommend Nordlink to a friend or colleague?", "Response"),
    ("What is the main reason for your score?", "Open-Ended Response"),
    ("Which channel did you contact us through?", "Response"),
    ("What was your errand about?", "Response"),
    ("Where do you live?", "Response"), ("", "Other (please specify)"),
    ("Which of our services do you use?", "Mobile"), ("", "Broadband"), ("", "TV"),
]


def comment_languages(folder: Path) -> dict[str, str]:
    """Comment text -> language, from the banks the example was built from."""
    languages = {}
    for path in sorted(folder.glob("comments_*.csv")):
        bank = pd.read_csv(path, dtype=str, keep_default_na=False)
        languages.update(dict.fromkeys(bank["text"], path.stem.removeprefix("comments_")))
    return languages


def qualtrics_id(response_id: str) -> str:
    """R_ and 15 base-62 characters, as Qualtrics writes them, derived from the example's id."""
    number = int.from_bytes(hashlib.sha256(f"qualtrics:{response_id}".encode()).digest()[:12], "big")
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    chars = []
    for _ in range(15):
        number, digit = divmod(number, 62)
        chars.append(alphabet[digit])
    return "R_" + "".join(chars)


def test_net_ips(rng: np.random.Generator, n: int) -> list[str]:
    """Addresses from the documentation ranges (RFC 5737): realistic shape, nobody's address."""
    nets = np.array(["192.0.2", "198.51.100", "203.0.113"])
    return [f"{net}.{host}" for net, host in zip(rng.choice(nets, n), rng.integers(1, 255, n))]


def split_last_sentence(rng: np.random.Generator, comments: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Move the last sentence of ~8% of the rows' comments to a second question."""
    splittable = np.flatnonzero([len(LAST_SENTENCE.findall(text.strip())) > 0 for text in comments])
    chosen = rng.choice(splittable, min(len(splittable), round(SPLIT_SHARE * len(comments))), replace=False)
    first, second = comments.copy(), pd.Series("", index=comments.index)
    for i in chosen:
        text = comments.iat[i].strip()
        cut = list(LAST_SENTENCE.finditer(text))[-1]
        first.iat[i], second.iat[i] = text[: cut.start()], text[cut.end():]
    return first, second


def qualtrics_rows(rng: np.random.Generator, month: pd.DataFrame, languages: dict[str, str]) -> pd.DataFrame:
    recorded = pd.to_datetime(month["submitted_at"])
    duration = rng.integers(35, 900, len(month))
    why, anything_else = split_last_sentence(rng, month["comment"])
    fallback = np.where(month["region"].isin(NORWEGIAN_CITIES), "no", "sv")
    language = [languages.get(text, lang) for text, lang in zip(month["comment"], fallback)]
    stamp = "%Y-%m-%d %H:%M:%S"
    return pd.DataFrame({
        "StartDate": (recorded - pd.to_timedelta(duration, unit="s")).dt.strftime(stamp),
        "EndDate": recorded.dt.strftime(stamp),
        "Status": "IP Address",
        "IPAddress": test_net_ips(rng, len(month)),
        "Progress": "100",
        "Duration (in seconds)": duration.astype(str),
        "Finished": "True",
        "RecordedDate": recorded.dt.strftime(stamp),
        "ResponseId": [qualtrics_id(rid) for rid in month["response_id"]],
        "DistributionChannel": rng.choice(["email", "anonymous"], len(month), p=(0.7, 0.3)),
        "UserLanguage": [lang.upper() for lang in language],
        "Q1": month["nps"].to_numpy(), "Q2": why.to_numpy(), "Q3": anything_else.to_numpy(),
        "Q4": month["channel"].to_numpy(), "Q5": month["journey"].to_numpy(), "Q6": month["region"].to_numpy(),
    })


def corrected_reexport(rng: np.random.Generator, october: pd.DataFrame) -> pd.DataFrame:
    """15 October responses again: two with another NPS, two with an edited comment, the rest as they were."""
    rows = october.iloc[np.sort(rng.choice(len(october), CORRECTED_ROWS, replace=False))].copy()
    rated = np.flatnonzero(rows["Q1"].ne("").to_numpy())
    new_score = rng.choice(rated, CORRECTED_NPS, replace=False)
    for i in new_score:
        old = int(rows["Q1"].iat[i])
        rows.iat[i, rows.columns.get_loc("Q1")] = str(rng.choice([score for score in range(11) if score != old]))
    commented = np.setdiff1d(np.flatnonzero(rows["Q2"].ne("").to_numpy()), new_score)
    for i in rng.choice(commented, CORRECTED_COMMENTS, replace=False):
        addendum = ADDENDUM[rows["UserLanguage"].iat[i].lower()]
        rows.iat[i, rows.columns.get_loc("Q2")] = f"{rows['Q2'].iat[i]} {addendum}"
    return rows


def write_qualtrics(rows: pd.DataFrame, path: Path) -> None:
    """Qualtrics' CSV: UTF-8 with BOM, commas, CRLF, column ids / question texts / ImportId JSON on top."""
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        for part in range(3):
            writer.writerow([meta[part] for meta in QUALTRICS_META])
        writer.writerows(rows.itertuples(index=False))


def surveymonkey_rows(rng: np.random.Generator, month: pd.DataFrame) -> list[list[object]]:
    submitted = pd.to_datetime(month["submitted_at"])
    started = submitted - pd.to_timedelta(rng.integers(40, 700, len(month)), unit="s")
    stamp = "%m/%d/%Y %I:%M:%S %p"
    services = rng.random((len(month), 3)) < (0.8, 0.5, 0.25)
    ips = test_net_ips(rng, len(month))
    collectors = rng.choice([431902217, 431902230], len(month))
    rows = []
    for i, record in enumerate(month.itertuples(index=False)):
        rows.append([
            114520000000 + int(record.response_id.removeprefix("R-")), int(collectors[i]),
            started.iat[i].strftime(stamp), submitted.iat[i].strftime(stamp), ips[i], None, None, None, None,
            int(record.nps) if record.nps else None, record.comment or None,
            record.channel, record.journey, record.region, None,
            *[label if used else None for label, used in zip(("Mobile", "Broadband", "TV"), services[i])],
        ])
    return rows


def write_surveymonkey(rows: list[list[object]], path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Sheet"
    for part in range(2):
        sheet.append([cell[part] or None for cell in SURVEYMONKEY_HEADER])
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    write_reproducible_zip(buffer.getvalue(), path)


def write_reproducible_zip(data: bytes, path: Path) -> None:
    """Re-pack the workbook with fixed entry dates and document timestamps, so a rebuild is byte-identical."""
    stamp = "%04d-%02d-%02dT%02d:%02d:%02dZ" % BUILT_AT
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            content = source.read(entry.filename)
            if entry.filename == "docProps/core.xml":
                content = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>" + stamp.encode(), content)
            target.writestr(zipfile.ZipInfo(entry.filename, BUILT_AT), content, zipfile.ZIP_DEFLATED)


def build(output: Path, seed: int = 2026) -> dict[str, int]:
    """Write the folder; returns the data rows per file."""
    rng = np.random.default_rng(seed)
    example = pd.read_csv(EXAMPLE, sep=";", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    languages = comment_languages(BANKS)
    month = example["submitted_at"].str[:7]
    output.mkdir(parents=True, exist_ok=True)
    counts = {}

    history = example[month <= "2026-08"]
    name = "plain_2026-05-01_2026-08-31.csv"
    history.to_csv(output / name, sep=";", index=False, encoding="utf-8-sig", quoting=csv.QUOTE_MINIMAL)
    counts[name] = len(history)

    for period in ("2026-09", "2026-10"):
        rows = qualtrics_rows(rng, example[month == period], languages)
        write_qualtrics(rows, output / f"qualtrics_{period}.csv")
        counts[f"qualtrics_{period}.csv"] = len(rows)
        if period == "2026-10":
            corrected = corrected_reexport(rng, rows)
            write_qualtrics(corrected, output / "qualtrics_2026-10_corrected.csv")
            counts["qualtrics_2026-10_corrected.csv"] = len(corrected)

    november = surveymonkey_rows(rng, example[month == "2026-11"])
    write_surveymonkey(november, output / "surveymonkey_2026-11.xlsx")
    counts["surveymonkey_2026-11.xlsx"] = len(november)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    for name, rows in build(args.output, args.seed).items():
        print(f"{rows:5d} rows  {args.output / name}")


if __name__ == "__main__":
    main()

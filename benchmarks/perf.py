"""python -m benchmarks.perf: perf_analyzer against a running server, on your own texts or a shipped corpus.

  make perf                                                  # `make serve`'s server, pipeline sentiment
  make perf FILE=texts.txt CONCURRENCY=1,16,64
  make perf URL=http://10.0.0.5:8000 MODEL=nli FILE=pairs.tsv
  make perf MODEL=topics LABELS=sports,politics,cooking           # a zero-shot pipeline: every text against these
  python -m benchmarks.perf --file texts.txt -- --percentile=95 --measurement-interval=10000

FILE holds one text per line (blank lines are skipped); for a pipeline converted with --pairs, either
every line is TEXT<TAB>PAIR or none is. Without FILE, 1,000 texts of a shipped corpus are sent. Each
request carries one text, as a client sending texts one by one would; Triton batches them.

For each concurrency, perf_analyzer runs once and prints its own report; the rows of its CSV reports are
written together to OUTPUT/MODEL/perf_analyzer.csv, beside input-data.json (perf_analyzer's --input-data
for the BYTES inputs). The command line printed before each run calls perf_analyzer directly with that file.
Arguments after `--` go to perf_analyzer as they are, after this command's own.
"""

import argparse
import csv
import json
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from clients.classify import DEFAULT_URLS, MODEL, Classifier, ClientError

from . import corpus, perf_analyzer

# perf_analyzer's own measurement (5 s time windows, three in a row within the stability percentage)
# with a looser percentage, which a loaded 2-core machine still meets.
MEASUREMENT = ["--measurement-mode", "time_windows", "--measurement-interval", "5000", "--stability-percentage", "20"]


class UsageError(Exception):
    """The arguments or the text file cannot be used; the message says which and where."""


@dataclass(frozen=True)
class Endpoint:
    url: str  # host:port, as perf_analyzer's -u takes it
    protocol: str  # grpc or http


def endpoint(url: str) -> Endpoint:
    """host:port is gRPC, as the client's --url takes it; http://host:port is HTTP."""
    if url.startswith("http://"):
        return Endpoint(url.removeprefix("http://"), "http")
    if "://" in url:
        raise UsageError(f"--url takes host:port (gRPC) or http://host:port (HTTP), not {url!r}")
    return Endpoint(url, "grpc")


def concurrencies(spec: str) -> list[int]:
    try:
        levels = [int(level) for level in spec.split(",")]
    except ValueError:
        raise UsageError(f"--concurrency takes whole numbers separated by commas, such as 1,8,64, not {spec!r}") from None
    if any(level < 1 for level in levels):
        raise UsageError(f"--concurrency levels must be at least 1, not {spec!r}")
    return levels


def read_texts(path: Path, takes_pairs: bool) -> tuple[list[str], list[str] | None]:
    """The file's texts, and their pairs when the pipeline takes pairs and the lines are TEXT<TAB>PAIR."""
    try:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError as error:
        raise UsageError(f"{path} is not UTF-8 text ({error.reason} at byte {error.start})") from None
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from None
    if not lines:
        raise UsageError(f"{path} holds no text")
    tabbed = [number for number, line in enumerate(lines, 1) if "\t" in line]
    if not takes_pairs or not tabbed:
        return lines, None
    if len(tabbed) < len(lines):
        untabbed = next(number for number, line in enumerate(lines, 1) if "\t" not in line)
        raise UsageError(f"{path}: some lines are TEXT<TAB>PAIR and some are not (text line {untabbed} has no tab): make them all one kind")
    texts, pairs = zip(*(line.split("\t", 1) for line in lines))
    return list(texts), list(pairs)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.perf", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default=DEFAULT_URLS["grpc"], help="gRPC host:port, or http://host:port (default: %(default)s)")
    parser.add_argument("--model", default=MODEL, metavar="NAME", help="the pipeline to load (default: %(default)s)")
    parser.add_argument("--file", type=Path, help="your texts, one per line (TEXT<TAB>PAIR for a pair pipeline)")
    parser.add_argument("--corpus", choices=sorted(corpus.CORPORA), default="varied", help="the shipped texts sent without --file (default: %(default)s)")
    parser.add_argument("--labels", type=lambda text: [label.strip() for label in text.split(",")], metavar="A,B,C",
                        help="a zero-shot pipeline's candidate labels, sent with every text")  # fmt: skip
    parser.add_argument("--concurrency", default="1,8,32", help="concurrent requests, one perf_analyzer run each (default: %(default)s)")
    parser.add_argument("--output", type=Path, default=Path("perf-results"), help="where the CSV and input data go (default: %(default)s)")
    parser.add_argument("perf_analyzer_args", nargs="*", metavar="-- PERF_ANALYZER_ARGS", help="passed to perf_analyzer as they are")
    return parser.parse_args(argv)


def _prepare(args: argparse.Namespace) -> tuple[Endpoint, list[int], dict]:
    target, levels = endpoint(args.url), concurrencies(args.concurrency)
    with Classifier(target.url, target.protocol, args.model) as pipeline:
        takes_pairs, zero_shot = pipeline.takes_pairs, pipeline.zero_shot
    if zero_shot != (args.labels is not None):
        need = "is zero-shot: give its candidate labels, LABELS=a,b,c" if zero_shot else "has fixed labels: LABELS= is for zero-shot pipelines"
        raise UsageError(f"pipeline {args.model!r} {need}")
    texts, pairs = read_texts(args.file, takes_pairs) if args.file else (corpus.generate(1000, corpus=args.corpus), None)
    return target, levels, perf_analyzer.text_input_data(texts, pairs, args.labels)


def _printable(command: list[str], env: dict[str, str]) -> str:
    return f"LD_LIBRARY_PATH={shlex.quote(env['LD_LIBRARY_PATH'])} {shlex.join(command)}"


def _run(command: list[str], env: dict[str, str], report: Path) -> list[list[str]]:
    """perf_analyzer's report streams to the terminal; its CSV's header and row, or [] when it measured nothing."""
    report.unlink(missing_ok=True)
    finished = subprocess.run(command, env=env).returncode == 0 and report.exists()
    rows = list(csv.reader(report.open(newline=""))) if finished else []
    report.unlink(missing_ok=True)
    return rows if len(rows) > 1 else []


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        target, levels, input_data = _prepare(args)
    except (UsageError, ClientError) as error:
        print(f"python -m benchmarks.perf: {error}", file=sys.stderr)
        return 2
    output = args.output / args.model
    output.mkdir(parents=True, exist_ok=True)
    data_file = output / "input-data.json"
    data_file.write_text(json.dumps(input_data, ensure_ascii=False))
    env = perf_analyzer.environment(args.output.resolve())

    header, rows, failed = None, [], []
    for level in levels:
        level_csv = output / f"perf_analyzer-c{level}.csv"
        command = perf_analyzer.command(args.model, target.url, target.protocol, level, data_file)
        command += [*MEASUREMENT, "-f", str(level_csv), *args.perf_analyzer_args]
        print(f"$ {_printable(command, env)}", flush=True)
        measured = _run(command, env, level_csv)
        if not measured:
            failed.append(level)
            continue
        header, rows = measured[0], rows + measured[1:]

    if header:
        with open(output / "perf_analyzer.csv", "w", newline="") as stream:
            csv.writer(stream).writerows([header, *rows])
        print(f"\nperf_analyzer's CSV, every concurrency: {output / 'perf_analyzer.csv'}")
    if failed:
        levels_failed = ", ".join(map(str, failed))
        print(
            f"python -m benchmarks.perf: perf_analyzer found no measurement at concurrency {levels_failed}; its report above "
            "says why. Three windows in a row must agree within 20 %: on a busy machine, pass longer windows or a "
            "looser bound after -- (make perf ARGS=\"--measurement-interval=10000 --stability-percentage=50\")",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

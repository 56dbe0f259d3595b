"""A benchmark run's results as the runner builds them and report.py reads them; results.json holds them as dicts."""

from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace


@dataclass(frozen=True)
class ModelStats:
    """One served model over a measured run, from Triton's statistics (server_stats.breakdown)."""

    requests: int
    failed: int
    average_batch: float
    queue_ms: float
    compute_ms: float


@dataclass(frozen=True)
class Row:
    """One system at one concurrency, as perf_analyzer or the HTTP load generator measured it."""

    concurrency: int
    throughput: float  # texts/s
    p50_ms: float
    p90_ms: float
    p99_ms: float
    stable: bool  # false: no three windows agreed, the last one was taken
    server: dict[str, ModelStats] | None = None  # model → its statistics, where the server's were read
    failed: int | None = None  # failed requests, where known

    def with_server(self, breakdown: dict[str, dict]) -> "Row":
        """The row with server_stats.breakdown over its run, and the failed requests that counts."""
        server = {name: ModelStats(**stats) for name, stats in breakdown.items()}
        return replace(self, server=server, failed=sum(stats.failed for stats in server.values()))

    @classmethod
    def from_dict(cls, row: dict) -> "Row":
        server = row.get("server")
        return cls(**{**row, "server": None if server is None else {name: ModelStats(**stats) for name, stats in server.items()}})

    def to_dict(self) -> dict:
        """The fields that are set, in the order the measuring tool wrote them."""
        row = {name: value for name, value in asdict(self).items() if value is not None}
        if self.server is None and "failed" in row:  # the HTTP load generator counts failures itself, before `stable`
            row["stable"] = row.pop("stable")
        return row


@dataclass(frozen=True)
class Latency:
    p50_ms: float
    p99_ms: float


@dataclass(frozen=True)
class Ceiling:
    """The in-process ceiling (ceiling.measure): texts/s per mode and batch size, the best of arrival and grouped."""

    torch_threads: int
    throughput_by_batch: dict[str, dict[int, float]]  # mode → batch size → texts/s
    best_mode: str
    best_batch: int
    best_throughput: float
    batch1: Latency

    @classmethod
    def from_dict(cls, ceiling: dict) -> "Ceiling":
        by_mode = {mode: {int(batch): value for batch, value in values.items()} for mode, values in ceiling["throughput_by_batch"].items()}
        return cls(**{**ceiling, "throughput_by_batch": by_mode, "batch1": Latency(**ceiling["batch1"])})


SYSTEM_FIELDS = ("served", "tokenizer_alone", "client_side", "served_http", "fastapi", "infinity")


@dataclass
class VariantResults:
    """One variant on one corpus (results.json); the runner fills the systems in as it measures them.

    A system left None was not measured; a peer that could not run holds the reason instead of rows.
    """

    variant: str
    corpus: str
    pipeline: str
    models: list[str]  # the ensemble, then its steps
    model: dict  # the conversion record, as conversion.json holds it
    ceiling: Ceiling
    served: list[Row] = field(default_factory=list)
    tokenizer_alone: list[Row] | None = None
    client_side: list[Row] | None = None
    served_http: list[Row] | None = None
    fastapi: list[Row] | None = None
    infinity: list[Row] | str | None = None
    seconds: float | None = None

    def rows(self, system: str) -> list[Row]:
        """A system's measured rows; none for one not measured or that could not run."""
        rows = getattr(self, system)
        return rows if isinstance(rows, list) else []

    @classmethod
    def from_dict(cls, record: dict) -> "VariantResults":
        """A record as to_dict writes it, e.g. a committed results.json."""
        systems = {name: _rows_from(record[name]) for name in SYSTEM_FIELDS if name in record}
        return cls(**{**record, "ceiling": Ceiling.from_dict(record["ceiling"]), **systems})

    def to_dict(self) -> dict:
        """results.json's record: the systems measured, each row as its measuring tool wrote it."""
        values = {entry.name: getattr(self, entry.name) for entry in fields(self)}
        return {name: _plain(value) for name, value in values.items() if value is not None}


def _rows_from(value: list[dict] | str) -> list[Row] | str:
    return value if isinstance(value, str) else [Row.from_dict(row) for row in value]


def _plain(value):
    """A field's value as JSON holds it."""
    if isinstance(value, Row):
        return value.to_dict()
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return asdict(value) if is_dataclass(value) else value


@dataclass(frozen=True)
class Conditions:
    """What a run measured on (conditions.json, and the summary's first lines)."""

    machine: str
    corpora: dict[str, str]  # corpus → its texts, in words
    concurrency: list[int]
    allocator: str
    mode: str

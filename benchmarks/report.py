"""Benchmark results → results.json, Markdown tables, and PNG plots."""

import json
import os
import platform
import statistics
from dataclasses import asdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from server import allocator

from .results import Ceiling, Conditions, Row, VariantResults

SYSTEMS = {
    "served": "Triton ensemble (perf_analyzer, gRPC)",
    "client_side": "client-side tokenization, the classifier unbatched (NAME.classifier.unbatched, perf_analyzer, gRPC)",
    "fastapi": "FastAPI + uvicorn, eager model per request (perf_analyzer, HTTP)",
    "served_http": "Triton ensemble (HTTP load generator, KServe v2 JSON)",
    "infinity": "infinity-emb 0.0.78, torch engine (HTTP load generator, /classify)",
}
GOALS = {"ceiling": 0.85, "fastapi": 2.0, "infinity": 1.0, "latency_ms": 3.0}


def conditions(corpora: dict[str, list[str]], concurrency: list[int], quick: bool) -> Conditions:
    texts = {}
    for name, corpus in corpora.items():
        words = [len(text.split()) for text in corpus]
        texts[name] = f"{len(corpus)} generated texts, {min(words)}–{max(words)} words (median {statistics.median(words):.0f})"
    return Conditions(
        machine=f"{os.cpu_count()} cores, {platform.machine()}, {platform.python_implementation()} {platform.python_version()}",
        corpora=texts,
        concurrency=concurrency,
        allocator=allocator.in_use(dict(os.environ)),
        mode="quick smoke run" if quick else "full",
    )


def at(rows: list[Row], concurrency: int) -> Row | None:
    return next((row for row in rows if row.concurrency == concurrency), None)


def targets(results: VariantResults) -> list[tuple[str, str, str]]:
    """(target, measured, verdict) rows for the figures the project promises."""
    rows, served, ceiling = [], results.served, results.ceiling

    def check(name: str, value: float, goal: float, unit: str = "×") -> None:
        rows.append((name, f"{value:.2f}{unit} (goal ≥ {goal}{unit})", "met" if value >= goal else "missed"))

    levels = [level for level in (64, 200) if at(served, level)] or [served[-1].concurrency]
    for level in levels:
        busy = at(served, level)
        check(f"served / better ceiling at c={level}", busy.throughput / ceiling.best_throughput, GOALS["ceiling"])
        fastapi = at(results.rows("fastapi"), level)
        if fastapi:
            check(f"served / FastAPI at c={level}", busy.throughput / fastapi.throughput, GOALS["fastapi"])
        ours, theirs = at(results.rows("served_http"), level), at(results.rows("infinity"), level)
        if ours and theirs:
            check(f"served / infinity-emb at c={level} (same load generator)", ours.throughput / theirs.throughput, GOALS["infinity"])
        verdict = "met" if busy.failed == 0 else "missed"
        rows.append((f"failed requests at c={level}", _failed(busy), verdict))
    single, limit = at(served, 1), ceiling.batch1.p50_ms + GOALS["latency_ms"]
    if single:
        verdict = "met" if single.p50_ms <= limit else "missed"
        goal = f"ceiling batch-1 p50 + {GOALS['latency_ms']:.0f} = {limit:.1f} ms"
        rows.append(("served p50 at c=1", f"{single.p50_ms:.1f} ms (goal ≤ {goal})", verdict))
    if results.tokenizer_alone:
        tokenizer = max(results.tokenizer_alone, key=lambda row: row.throughput)
        best_served = max(row.throughput for row in served)
        check("tokenizer alone / ensemble (best of each)", tokenizer.throughput / best_served, 10)
    return rows


def _failed(row: Row) -> str:
    return "n/a" if row.failed is None else str(row.failed)


def table(results: VariantResults) -> str:
    peers = [key for key in ("client_side", "fastapi", "served_http", "infinity") if results.rows(key)]
    header = ["concurrency", "served texts/s", "p50 ms", "p90 ms", "p99 ms", "failed"]
    header += [f"{PEER_NAMES[key]} {unit}" for key in peers for unit in ("texts/s", "p50 ms")]
    lines = ["| " + " | ".join(header) + " |", "|" + "---:|" * len(header)]
    for row in results.served:
        cells = [str(row.concurrency), *(f"{value:.1f}" for value in (row.throughput, row.p50_ms, row.p90_ms, row.p99_ms)), _failed(row)]
        for key in peers:
            peer = at(results.rows(key), row.concurrency)
            cells += ["–", "–"] if peer is None else [f"{peer.throughput:.1f}", f"{peer.p50_ms:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


PEER_NAMES = {"client_side": "client-side", "fastapi": "FastAPI", "served_http": "served (HTTP)", "infinity": "infinity-emb"}


def ceiling_table(ceiling: Ceiling) -> str:
    by_mode = ceiling.throughput_by_batch
    batches = list(next(iter(by_mode.values())))
    lines = ["| texts/s | " + " | ".join(f"batch {batch}" for batch in batches) + " |", "|---|" + "---:|" * len(batches)]
    for mode, values in by_mode.items():
        lines.append(f"| {CEILING_MODES[mode]} | " + " | ".join(f"{values[batch]:.1f}" for batch in batches) + " |")
    return "\n".join(lines)


CEILING_MODES = {
    "arrival": "arrival order, padded to each batch's longest",
    "grouped": "length-grouped (corpus sorted by length)",
    "module": "model.pt on arrival order padded to the maximum (what the server runs)",
}


def breakdown_table(results: VariantResults) -> str:
    """Per served run, each of the pipeline's models (`results.models`: the ensemble, then its steps)."""
    lines = ["| concurrency | model | requests | avg batch | queue ms | compute ms |", "|---:|---|---:|---:|---:|---:|"]
    for row in results.served:
        for model in results.models:
            stats = (row.server or {}).get(model)
            if stats:
                lines.append(
                    f"| {row.concurrency} | {model} | {stats.requests} | {stats.average_batch:.1f} "
                    f"| {stats.queue_ms:.2f} | {stats.compute_ms:.2f} |"
                )
    return "\n".join(lines)


def variant_markdown(results: VariantResults) -> str:
    ceiling, model = results.ceiling, results.model
    budget = model.get("token_budget", {})
    parts = [
        f"## {results.variant}, {results.corpus} corpus",
        f"Pipeline `{results.pipeline}` ({', '.join(f'`{name}`' for name in results.models)}); "
        f"model: `{model['source']}`" + (f", int8 ({model['quantization_accuracy_change']})" if model.get("quantize") else "")
        + (f"; token budget {budget['cpu']} on the CPU ({budget['chosen_by']})" if budget else ""),
        "",
        f"In-process ceiling ({ceiling.torch_threads} torch threads, one pass over the same texts per cell); "
        f"the better of arrival and grouped: {ceiling.best_throughput:.1f} texts/s ({ceiling.best_mode}, batch "
        f"{ceiling.best_batch}); batch-1 latency p50 {ceiling.batch1.p50_ms:.1f} ms, p99 {ceiling.batch1.p99_ms:.1f} ms.",
        "",
        ceiling_table(ceiling),
        "",
        table(results),
        "",
        "| target | measured | |",
        "|---|---|---|",
        *(f"| {name} | {value} | {verdict} |" for name, value, verdict in targets(results)),
    ]
    if isinstance(results.infinity, str):
        parts += ["", f"infinity-emb: {results.infinity}."]
    if results.tokenizer_alone:
        alone = ", ".join(f"c={row.concurrency}: {row.throughput:.0f} texts/s" for row in results.tokenizer_alone)
        parts += ["", f"Tokenizer model alone (`{results.models[1]}`): {alone}."]
    parts += ["", "Server-side breakdown of the served runs (Triton statistics):", "", breakdown_table(results)]
    return "\n".join(parts) + "\n"


def plot(results: VariantResults, folder: Path) -> list[Path]:
    paths = [folder / name for name in ("throughput.png", "latency.png", "breakdown.png")]
    systems = [key for key in SYSTEMS if results.rows(key)]
    title = f"{results.variant}, {results.corpus} corpus"

    figure, axes = plt.subplots(figsize=(8, 5))
    throughput_lines(axes, results, systems, "")
    axes.set(xlabel="concurrent requests", ylabel="texts / s", title=f"Throughput: {title}", xscale="log")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(paths[0], dpi=120)
    plt.close(figure)

    figure, axes = plt.subplots(figsize=(8, 5))
    for key in systems:
        rows = results.rows(key)
        concurrency = [r.concurrency for r in rows]
        line = axes.plot(concurrency, [r.p50_ms for r in rows], marker="o", label=f"{key} p50")[0]
        axes.plot(concurrency, [r.p99_ms for r in rows], marker="x", linestyle=":", color=line.get_color(), label=f"{key} p99")
    axes.set(xlabel="concurrent requests", ylabel="latency (ms)", title=f"Latency: {title}", xscale="log", yscale="log")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(paths[1], dpi=120)
    plt.close(figure)

    figure, axes = plt.subplots(figsize=(9, 5))
    models = results.models[1:]  # the pipeline's steps
    levels = [row.concurrency for row in results.served]
    width = 0.8 / len(models)
    for index, model in enumerate(models):
        stats = [(row.server or {}).get(model) for row in results.served]
        positions = [level + (index - 1) * width for level in range(len(levels))]
        queue = [s.queue_ms if s else 0 for s in stats]
        compute = [s.compute_ms if s else 0 for s in stats]
        axes.bar(positions, queue, width, label=f"{model} queue", alpha=0.5, color=f"C{index}")
        axes.bar(positions, compute, width, bottom=queue, label=f"{model} compute", color=f"C{index}")
    axes.set_xticks(range(len(levels)), [str(level) for level in levels])
    axes.set(xlabel="concurrent requests", ylabel="ms per request", title=f"Served: time per model, {title}")
    axes.legend(fontsize=8, ncol=3)
    figure.tight_layout()
    figure.savefig(paths[2], dpi=120)
    plt.close(figure)
    return paths


def throughput_lines(axes, results: VariantResults, systems: list[str], prefix: str) -> None:
    """Throughput against concurrency for each system, and the two in-process ceilings as lines."""
    for key in systems:
        rows = results.rows(key)
        axes.plot([r.concurrency for r in rows], [r.throughput for r in rows], marker="o", label=prefix + SYSTEMS[key])
    by_mode = results.ceiling.throughput_by_batch
    for mode, style in (("grouped", "--"), ("arrival", ":")):
        best = max(by_mode[mode].values())
        axes.axhline(best, color="black", linestyle=style, linewidth=1, label=f"{prefix}ceiling, {mode} (best batch)")


def write_variant(results: VariantResults, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(results.to_dict(), indent=2) + "\n")
    (folder / "report.md").write_text(variant_markdown(results))
    plot(results, folder)


def write_summary(all_results: list[VariantResults], folder: Path, conditions: Conditions, sections: list[str] = ()) -> None:
    lines = ["# Benchmark report", ""]
    lines += [f"- {key}: {value}" for key, value in asdict(conditions).items()]
    lines += [f"- systems: {'; '.join(f'{key}: {label}' for key, label in SYSTEMS.items())}", ""]
    primary = [results for results in all_results if results.corpus == "varied"]
    if primary:
        lines += ["Every system on the varied corpus: `varied-throughput.png`.", ""]
        plot_primary(primary, folder / "varied-throughput.png")
    for results in all_results:
        where = f"{results.variant}/{results.corpus}"
        lines += [variant_markdown(results), f"Plots: `{where}/throughput.png`, `{where}/latency.png`, `{where}/breakdown.png`", ""]
    lines += [text for section in sections for text in (section, "")]
    (folder / "report.md").write_text("\n".join(lines))
    (folder / "conditions.json").write_text(json.dumps(asdict(conditions), indent=2) + "\n")


def plot_primary(all_results: list[VariantResults], path: Path) -> None:
    """Throughput against concurrency of every system and variant on the varied corpus, one panel per variant."""
    figure, panels = plt.subplots(1, len(all_results), figsize=(6 * len(all_results), 5), squeeze=False)
    for axes, results in zip(panels[0], all_results):
        throughput_lines(axes, results, [key for key in SYSTEMS if results.rows(key)], "")
        axes.set(xlabel="concurrent requests", ylabel="texts / s", title=results.variant, xscale="log")
        axes.legend(fontsize=7)
    figure.suptitle("Throughput on the varied corpus (a few words to a few hundred tokens)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def shared_cpu_markdown(results: dict) -> str:
    """The shared-CPU conditions (benchmarks/shared_cpu.py): texts/s, and ratios to idle and to the fair share."""
    lines = [
        "## On a shared or limited CPU",
        "",
        "c=64 over gRPC for the served pipeline; model.pt on batches of 64 in a fresh process with the server's "
        "thread settings for the in-process reading. Fair share: the cores over the cores plus the busy loops, "
        "or the quota over the cores.",
        "",
        "| condition | corpus | served texts/s | served p99 ms | of idle | of fair share | in process texts/s | of idle | of fair share |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    notes = []
    for name, result in results.items():
        if isinstance(result, str):
            notes.append(f"- {name}: {result}")
            continue
        throttled = result.get("throttled_periods")
        detail = f", throttled in {throttled['throttled']} of {throttled['periods']} periods" if throttled else ""
        notes.append(f"- {name}: fair share {result['fair_share']:.2f}; server threads {result['server_threads']}{detail}")
        for corpus_name, figures in result["corpora"].items():
            served, in_process = figures["served"], figures["in_process"]
            lines.append(
                f"| {name} | {corpus_name} | {served['throughput']:.1f} | {served['p99_ms']:.0f} "
                f"| {figures['of_idle']['served']:.2f}× | {figures['of_fair_share']['served']:.2f}× "
                f"| {in_process['batch64']:.1f} | {figures['of_idle']['in_process']:.2f}× | {figures['of_fair_share']['in_process']:.2f}× |"
            )
    return "\n".join(lines + ["", *notes]) + "\n"


def plot_shared_cpu(results: dict, path: Path) -> None:
    """Served and in-process throughput per condition as a fraction of idle, with each fair share."""
    measured = {name: result for name, result in results.items() if not isinstance(result, str)}
    corpora = list(next(iter(measured.values()))["corpora"])
    figure, axes = plt.subplots(figsize=(9, 5))
    bars = [(corpus_name, system) for corpus_name in corpora for system in ("served", "in_process")]
    width = 0.8 / len(bars)
    for index, (corpus_name, system) in enumerate(bars):
        positions = [place + (index - (len(bars) - 1) / 2) * width for place in range(len(measured))]
        values = [result["corpora"][corpus_name]["of_idle"][system] for result in measured.values()]
        axes.bar(positions, values, width, label=f"{system.replace('_', ' ')}, {corpus_name}")
    for place, result in enumerate(measured.values()):
        axes.hlines(result["fair_share"], place - 0.45, place + 0.45, colors="black", linestyles="--", label="fair share" if place == 0 else None)
    axes.set_xticks(range(len(measured)), list(measured))
    axes.set(ylabel="throughput / idle", title="Throughput on a shared or limited CPU (c=64; batches of 64 in process)")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_shared_cpu(results: dict, folder: Path) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    text = shared_cpu_markdown(results)
    (folder / "report.md").write_text(text)
    plot_shared_cpu(results, folder / "shared-cpu.png")
    return text

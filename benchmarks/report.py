"""Benchmark results → results.json, Markdown tables, and PNG plots."""

import json
import os
import platform
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SYSTEMS = {
    "served": "Triton ensemble (perf_analyzer, gRPC)",
    "client_side": "client-side tokenization, classifier unbatched (perf_analyzer, gRPC)",
    "fastapi": "FastAPI + uvicorn, eager model per request (perf_analyzer, HTTP)",
}


def conditions(texts: list[str], concurrency: list[int], quick: bool) -> dict:
    words = [len(text.split()) for text in texts]
    return {
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, {platform.python_implementation()} {platform.python_version()}",
        "texts": f"{len(texts)} generated texts, {min(words)}–{max(words)} words (median {statistics.median(words):.0f})",
        "concurrency": concurrency,
        "mode": "quick smoke run" if quick else "full",
    }


def at(rows: list[dict], concurrency: int) -> dict | None:
    return next((row for row in rows if row["concurrency"] == concurrency), None)


def targets(results: dict) -> list[tuple[str, str, str]]:
    """(target, measured, verdict) rows for the figures the project promises."""
    rows, served = [], results["served"]
    top = 200 if at(served, 200) else served[-1]["concurrency"]
    busy, ceiling = at(served, top), results["ceiling"]

    def check(name: str, value: float, goal: float, unit: str = "×") -> None:
        rows.append((name, f"{value:.2f}{unit} (goal ≥ {goal}{unit})", "met" if value >= goal else "missed"))

    check(f"served / ceiling at c={top}", busy["throughput"] / ceiling["best_throughput"], 0.9)
    for peer, goal in (("fastapi", 3), ("client_side", 2)):
        if peer in results and at(results[peer], top):
            check(f"served / {peer} at c={top}", busy["throughput"] / at(results[peer], top)["throughput"], goal)
    rows.append((f"failed requests at c={top}", str(busy.get("failed", "n/a")), "met" if busy.get("failed") == 0 else "missed"))
    single, limit = at(served, 1), ceiling["batch1"]["p50_ms"] + 2
    if single:
        verdict = "met" if single["p50_ms"] <= limit else "missed"
        rows.append(("served p50 at c=1", f"{single['p50_ms']:.1f} ms (goal ≤ ceiling batch-1 p50 + 2 = {limit:.1f} ms)", verdict))
    if results.get("tokenizer_alone"):
        tokenizer = max(results["tokenizer_alone"], key=lambda row: row["throughput"])
        best_served = max(row["throughput"] for row in served)
        check("tokenizer alone / ensemble (best of each)", tokenizer["throughput"] / best_served, 10)
    return rows


def _cell(row: dict | None, key: str) -> str:
    return f"{row[key]:.1f}" if row else "–"


def table(results: dict) -> str:
    lines = [
        "| concurrency | served texts/s | p50 ms | p90 ms | p99 ms | failed | client-side texts/s | FastAPI texts/s | FastAPI p50 ms |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["served"]:
        client = at(results.get("client_side", []), row["concurrency"])
        fastapi = at(results.get("fastapi", []), row["concurrency"])
        cells = [
            str(row["concurrency"]),
            *(_cell(row, key) for key in ("throughput", "p50_ms", "p90_ms", "p99_ms")),
            str(row.get("failed", "n/a")),
            _cell(client, "throughput"),
            _cell(fastapi, "throughput"),
            _cell(fastapi, "p50_ms"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def breakdown_table(results: dict) -> str:
    lines = ["| concurrency | model | requests | avg batch | queue ms | compute ms |", "|---:|---|---:|---:|---:|---:|"]
    for row in results["served"]:
        for model in ("sentiment", "tokenizer", "classifier", "postprocess"):
            stats = row.get("server", {}).get(model)
            if stats:
                lines.append(
                    f"| {row['concurrency']} | {model} | {stats['requests']} | {stats['average_batch']:.1f} "
                    f"| {stats['queue_ms']:.2f} | {stats['compute_ms']:.2f} |"
                )
    return "\n".join(lines)


def variant_markdown(results: dict) -> str:
    ceiling, model = results["ceiling"], results["model"]
    ceiling_line = ", ".join(f"batch {batch}: {value:.1f}" for batch, value in ceiling["throughput_by_batch"].items())
    parts = [
        f"## {results['variant']}",
        f"Model: `{model['source']}`" + (f", int8 ({model['quantization_accuracy_change']})" if model.get("quantize") else ""),
        f"In-process ceiling (texts/s, {ceiling['torch_threads']} torch threads): {ceiling_line}; "
        f"batch-1 latency p50 {ceiling['batch1']['p50_ms']:.1f} ms, p99 {ceiling['batch1']['p99_ms']:.1f} ms.",
        "",
        table(results),
        "",
        "| target | measured | |",
        "|---|---|---|",
        *(f"| {name} | {value} | {verdict} |" for name, value, verdict in targets(results)),
    ]
    if results.get("tokenizer_alone"):
        alone = ", ".join(f"c={row['concurrency']}: {row['throughput']:.0f} texts/s" for row in results["tokenizer_alone"])
        parts += ["", f"Tokenizer model alone: {alone}."]
    parts += ["", "Server-side breakdown of the served runs (Triton statistics):", "", breakdown_table(results)]
    return "\n".join(parts) + "\n"


def plot(results: dict, folder: Path) -> list[Path]:
    paths = [folder / name for name in ("throughput.png", "latency.png", "breakdown.png")]
    systems = [key for key in SYSTEMS if results.get(key)]

    figure, axes = plt.subplots(figsize=(8, 5))
    for key in systems:
        rows = results[key]
        axes.plot([r["concurrency"] for r in rows], [r["throughput"] for r in rows], marker="o", label=SYSTEMS[key])
    axes.axhline(results["ceiling"]["best_throughput"], color="black", linestyle="--", label="in-process ceiling")
    axes.set(xlabel="concurrent requests", ylabel="texts / s", title=f"Throughput: {results['variant']}", xscale="log")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(paths[0], dpi=120)
    plt.close(figure)

    figure, axes = plt.subplots(figsize=(8, 5))
    for key in systems:
        rows = results[key]
        concurrency = [r["concurrency"] for r in rows]
        line = axes.plot(concurrency, [r["p50_ms"] for r in rows], marker="o", label=f"{key} p50")[0]
        axes.plot(concurrency, [r["p99_ms"] for r in rows], marker="x", linestyle=":", color=line.get_color(), label=f"{key} p99")
    axes.set(xlabel="concurrent requests", ylabel="latency (ms)", title=f"Latency: {results['variant']}", xscale="log", yscale="log")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(paths[1], dpi=120)
    plt.close(figure)

    figure, axes = plt.subplots(figsize=(9, 5))
    models = ["tokenizer", "classifier", "postprocess"]
    levels = [row["concurrency"] for row in results["served"]]
    width = 0.8 / len(models)
    for index, model in enumerate(models):
        stats = [row.get("server", {}).get(model, {}) for row in results["served"]]
        positions = [level + (index - 1) * width for level in range(len(levels))]
        queue = [s.get("queue_ms", 0) for s in stats]
        compute = [s.get("compute_ms", 0) for s in stats]
        axes.bar(positions, queue, width, label=f"{model} queue", alpha=0.5, color=f"C{index}")
        axes.bar(positions, compute, width, bottom=queue, label=f"{model} compute", color=f"C{index}")
    axes.set_xticks(range(len(levels)), [str(level) for level in levels])
    axes.set(xlabel="concurrent requests", ylabel="ms per request", title=f"Served: time per model, {results['variant']}")
    axes.legend(fontsize=8, ncol=3)
    figure.tight_layout()
    figure.savefig(paths[2], dpi=120)
    plt.close(figure)
    return paths


def write_variant(results: dict, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (folder / "report.md").write_text(variant_markdown(results))
    plot(results, folder)


def write_summary(all_results: list[dict], folder: Path, conditions: dict) -> None:
    lines = ["# Benchmark report", ""]
    lines += [f"- {key}: {value}" for key, value in conditions.items()]
    lines += [f"- systems: {'; '.join(f'{key}: {label}' for key, label in SYSTEMS.items())}", ""]
    for results in all_results:
        name = results["variant"]
        lines += [variant_markdown(results), f"Plots: `{name}/throughput.png`, `{name}/latency.png`, `{name}/breakdown.png`", ""]
    (folder / "report.md").write_text("\n".join(lines))
    (folder / "conditions.json").write_text(json.dumps(conditions, indent=2) + "\n")

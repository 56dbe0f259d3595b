"""An evaluation's figures as report.md, results.json and two plots (confusion matrix, reliability)."""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_confusion(counts: list[list[int]], labels: list[str], path: Path, title: str) -> None:
    figure, axes = plt.subplots(figsize=(1.6 * len(labels) + 2, 1.4 * len(labels) + 1.5))
    image = axes.imshow(counts, cmap="Blues")
    figure.colorbar(image, ax=axes, fraction=0.046)
    axes.set_xticks(range(len(labels)), labels)
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("gold")
    peak = max(max(row) for row in counts) or 1
    for row, values in enumerate(counts):
        for column, value in enumerate(values):
            axes.text(column, row, str(value), ha="center", va="center", color="white" if value > peak / 2 else "black")
    axes.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_reliability(calibration: dict, path: Path, title: str) -> None:
    figure, axes = plt.subplots(figsize=(5, 5))
    bins = calibration["bins"]
    axes.bar([b["low"] for b in bins], [b["accuracy"] for b in bins], width=[b["high"] - b["low"] for b in bins],
             align="edge", edgecolor="black", alpha=0.7, label="accuracy in bin")  # fmt: skip
    axes.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o", color="black", label="mean confidence")
    axes.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.set_xlabel("top probability")
    axes.set_ylabel("accuracy")
    axes.set_title(f"{title}\nECE {calibration['expected_calibration_error']:.3f}")
    axes.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def markdown(result: dict) -> str:
    scores, labels = result["scores"], result["labels"]
    lines = [
        f"## {result['name']}",
        f"{result['file']}: {scores['count']} texts scored, {len(result['rejected'])} rejected by the server; "
        f"pipeline {result['pipeline']}, served by {result['server']}.",
        "",
        f"- accuracy {scores['accuracy']:.3f}, macro-F1 {scores['macro_f1']:.3f}"
        + (f", polarity accuracy {scores['polarity']['accuracy']:.3f} on {scores['polarity']['count']} positive or negative texts"
           if scores["polarity"] else ""),  # fmt: skip
        f"- expected calibration error {scores['calibration']['expected_calibration_error']:.3f}",
    ]
    if result["agreement"]:
        agreement = result["agreement"]
        lines.append(f"- served vs eager PyTorch: labels agree on {agreement['same_label']} of {agreement['count']}, "
                     f"largest probability difference {agreement['max_abs_difference']:.2e}")  # fmt: skip
    lines += ["", "| label | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {label} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | {s['support']} |"
              for label, s in scores["per_label"].items()]  # fmt: skip
    lines += ["", "Confusion (rows gold, columns predicted):", "", "| | " + " | ".join(labels) + " |",
              "|---|" + "---:|" * len(labels)]  # fmt: skip
    lines += [f"| {label} | " + " | ".join(map(str, row)) + " |" for label, row in zip(labels, scores["confusion"])]
    if result["rejected"]:
        lines += ["", "Rejected texts (line order, first 10):", ""]
        lines += [f"- text {index}: {reason}" for index, reason in list(result["rejected"].items())[:10]]
    return "\n".join(lines) + "\n"


def write(result: dict, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    (folder / "report.md").write_text(markdown(result))
    plot_confusion(result["scores"]["confusion"], result["labels"], folder / "confusion.png", result["name"])
    plot_reliability(result["scores"]["calibration"], folder / "reliability.png", result["name"])

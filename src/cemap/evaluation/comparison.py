"""The objective comparison table: every objective's metrics over seeds, as mean ± std, in markdown.

Input: ``{objective: [one flat metric dict per seed]}`` with the names of
:mod:`cemap.evaluation.metrics` plus ``train/seconds``, ``train/epochs``, ``train/best_epoch``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from cemap.concepts import EVALUATION_SPLITS
from cemap.evaluation.metrics import DIRECTIONS

Summary = dict[str, dict[str, dict[str, float]]]

#: What each evaluation split's table is headed by.
SPLIT_TITLES = {
    "test": "test",
    "heldout_tuples": "held-out tuples — combinations never trained on",
    "heldout_pairs": "held-out pairs — a digit in a colour never trained on",
}


def comparison_summary(runs: Mapping[str, Sequence[Mapping[str, float]]]) -> Summary:
    """``{objective: {metric: {"mean", "std", "n"}}}`` over the seeds that report the metric;
    std is the sample standard deviation (0 for one seed)."""
    summary: Summary = {}
    for objective, seeds in runs.items():
        if not seeds:
            raise ValueError(
                f"objective comparison: objective {objective!r} has no runs; give it a seed."
            )
        names = sorted({name for run in seeds for name in run})
        stats = {}
        for name in names:
            values = np.array([run[name] for run in seeds if name in run], dtype=np.float64)
            std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
            stats[name] = {"mean": float(values.mean()), "std": std, "n": float(len(values))}
        summary[objective] = stats
    return summary


@dataclass(frozen=True)
class Column:
    title: str
    metric: str
    scale: float = 1.0  # 100 for percentages
    digits: int = 1
    better: str | None = "max"  # max | min | None (not ranked)


def _alignment_metric(summary: Summary) -> str | None:
    """``alignment/<distance>/mean/test``, the mean D(q_m, q_n) on test, if any objective has it."""
    names = {n for stats in summary.values() for n in stats}
    found = sorted(n for n in names if n.startswith("alignment/") and n.endswith("/mean/test"))
    return found[0] if found else None


def _coherence_columns(split: str) -> list[Column]:
    return [
        Column(f"{s}→{t}", f"coherence/{s}_to_{t}/{split}/strict", scale=100.0)
        for s, t in DIRECTIONS
    ]


def _cell(stats: Mapping[str, float] | None, column: Column, best: bool) -> str:
    if stats is None:
        return "—"
    mean, std = stats["mean"] * column.scale, stats["std"] * column.scale
    text = f"{mean:.{column.digits}f}"
    if stats["n"] > 1:  # one seed has no spread to show
        text += f" ± {std:.{column.digits}f}"
    return f"**{text}**" if best else text


def _table(summary: Summary, columns: list[Column]) -> list[str]:
    best = {}
    for column in columns:
        means = {o: s[column.metric]["mean"] for o, s in summary.items() if column.metric in s}
        if column.better and means:
            pick = max if column.better == "max" else min
            best[column.metric] = pick(means.values())
    lines = [
        "| objective | " + " | ".join(c.title for c in columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for objective, stats in summary.items():
        cells = [
            _cell(
                stats.get(c.metric),
                c,
                c.metric in stats and stats[c.metric]["mean"] == best.get(c.metric),
            )
            for c in columns
        ]
        lines.append(f"| {objective} | " + " | ".join(cells) + " |")
    return lines


def render_comparison(summary: Summary, seeds: Sequence[int], hardware: str | None = None) -> str:
    """The markdown report: strict coherence per direction on each evaluation split that any
    objective reports, then alignment, retrieval, Fréchet distance and training cost; best mean
    of each column bold."""
    alignment = _alignment_metric(summary)
    distance = alignment.split("/")[1] if alignment else "D"
    other = [
        Column(f"{distance}(q_m, q_n) test ↓", alignment, digits=2, better="min")
        if alignment
        else None,
        Column("recall@1 text→image", "retrieval/text_to_image/test/recall@1", scale=100.0),
        Column("Fréchet text→image ↓", "frechet/text_to_image/test", digits=2, better="min"),
        Column("Fréchet speech→image ↓", "frechet/speech_to_image/test", digits=2, better="min"),
        Column("training s", "train/seconds", digits=0, better=None),
        Column("epochs", "train/epochs", digits=1, better=None),
    ]
    lines = [
        "# Benchmark: the proxy-variable objective against the reference objectives",
        "",
        "Every objective trains on the same embeddings with the same encoders/decoders, "
        "optimiser, budget and early stopping, and is scored by the same judges; "
        f"seeds {', '.join(map(str, seeds))}. Cells: mean ± sample std over the seeds; "
        "the best mean of each column is bold; — = not defined for that objective "
        "(regression has no posterior).",
    ]
    if hardware:
        lines += ["", f"Hardware: {hardware}."]
    names = {n for stats in summary.values() for n in stats}
    for split in EVALUATION_SPLITS:
        columns = _coherence_columns(split)
        if any(c.metric in names for c in columns):
            title = SPLIT_TITLES.get(split, split)
            lines += ["", f"## Strict coherence, {title} (%)", "", *_table(summary, columns)]
    lines += [
        "",
        "## Alignment, retrieval, quality, cost",
        "",
        *_table(summary, [c for c in other if c is not None]),
        "",
    ]
    return "\n".join(lines)

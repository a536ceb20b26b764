"""The evaluation report: the metrics as tables, the quality bars, the figures; markdown and HTML.

Metric names follow :mod:`cemap.evaluation.metrics` (``coherence/text_to_image/test/strict``,
…). Each family becomes one table; a name outside the known families lands in "Other metrics",
and every name appears verbatim in the closing list, so nothing given is dropped.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass

from cemap.concepts import EVALUATION_SPLITS
from cemap.evaluation.metrics import DIRECTIONS, MEASURES

# family -> (section title, layout): "grid" = rows × last-part columns, "list" = one value per row.
_FAMILIES = {
    "coherence": ("Coherence (generated output judged against the prompt)", "grid"),
    "alignment": ("Alignment (mean distance between the modalities' posteriors)", "list"),
    "retrieval": ("Cross-modal retrieval", "grid"),
    "frechet": ("Fréchet distance (judge feature space; lower is better)", "list"),
    "diversity": ("Diversity (mean distance between samples of one prompt)", "list"),
    "ladder": ("Where each direction loses its points (diagnostic ladder, strict)", "ladder"),
}
# The judged rungs of the ladder in chain order, then its embedding errors (cemap.evaluation.ladder).
_LADDER_RUNGS = ("real", "autoencoder", "joint_self", "cross", "latent_readout")
_LADDER_ERRORS = ("self_mse", "cross_mse", "nearest_real", "real_nearest_real")
_FRACTIONS = ("judge", "coherence", "retrieval")

# The quality bars of docs/design.md §7: (metric name, minimum). Judge bars are checked on the
# "image" judge's rows.
QUALITY_BARS: dict[str, float] = {
    "coherence/text_to_image/test/strict": 0.985,
    "coherence/text_to_image/heldout_tuples/strict": 0.95,
    "coherence/text_to_image/heldout_pairs/strict": 0.60,
    "coherence/speech_to_image/test/strict": 0.93,
    "coherence/speech_to_image/heldout_pairs/strict": 0.50,
    "coherence/image_to_text/test/strict": 0.75,
    "coherence/text_to_speech/test/strict": 0.80,
    "coherence/image_to_speech/test/strict": 0.60,
    "coherence/speech_to_text/test/strict": 0.93,
}
JUDGE_BAR = 0.98  # image judge, every attribute, real test images


@dataclass
class _Table:
    title: str
    header: list[str]
    rows: list[list[str]]


def render_report(
    metrics: Mapping[str, float],
    judge_accuracy: Mapping[str, Mapping[str, float]] | Mapping[str, float],
    figures: Mapping[str, str],
    title: str = "CEMap evaluation report",
) -> tuple[str, str]:
    """Markdown and standalone HTML of the evaluation.

    ``metrics`` maps metric names (see :mod:`cemap.evaluation.metrics`) to values;
    ``judge_accuracy`` maps a judge (``"image"``, or ``"image/test"``) to its ``strict`` and
    per-attribute accuracy, nested or flat (``"judge/image/test/strict"``); ``figures`` maps a
    caption to an image path relative to where the report is written.
    """
    judges = _flatten_judges(judge_accuracy)
    tables = [_headline_table(metrics), _grid_table("Judge accuracy on real data", judges, "judge")]
    families: dict[str, dict[str, float]] = {f: {} for f in _FAMILIES}
    other: dict[str, float] = {}
    for name, value in metrics.items():
        family = name.split("/", 1)[0]
        (families[family] if family in families and "/" in name else other)[name] = value
    for family, (section, layout) in _FAMILIES.items():
        if families[family]:
            build = {"grid": _grid_table, "list": _list_table, "ladder": _ladder_table}[layout]
            tables.append(build(section, families[family], family))
    if other:
        tables.append(_list_table("Other metrics", other, ""))
    bars = _quality_bars(metrics, judges)
    every = _Table(
        "All metrics",
        ["name", "value"],
        [[name, f"{float(value):.6g}"] for name, value in sorted({**judges, **metrics}.items())],
    )
    return (
        _markdown(title, tables, bars, figures, every),
        _html(title, tables, bars, figures, every),
    )


def _headline_table(metrics: Mapping[str, float]) -> _Table:
    """Strict coherence, one row per direction and one column per split (evaluation splits
    first, in their order): how often all four attributes of the prompt come out right."""
    cells: dict[str, dict[str, float]] = {}
    for name, value in metrics.items():
        parts = name.split("/")
        if len(parts) == 4 and parts[0] == "coherence" and parts[3] == "strict":
            cells.setdefault(parts[1], {})[parts[2]] = value
    splits = {split for row in cells.values() for split in row}
    columns = [s for s in EVALUATION_SPLITS if s in splits] + sorted(
        splits - set(EVALUATION_SPLITS)
    )
    known = [f"{s}_to_{t}" for s, t in DIRECTIONS]
    order = [d for d in known if d in cells] + sorted(set(cells) - set(known))
    rows = [
        [d, *(_format(cells[d][c], "coherence") if c in cells[d] else "–" for c in columns)]
        for d in order
    ]
    return _Table("Strict coherence by split", ["direction", *columns], rows)


def _flatten_judges(
    judge_accuracy: Mapping[str, Mapping[str, float]] | Mapping[str, float],
) -> dict[str, float]:
    flat = {}
    for key, value in judge_accuracy.items():
        if isinstance(value, Mapping):
            flat.update({f"judge/{key}/{measure}": float(v) for measure, v in value.items()})
        else:
            flat[key if key.startswith("judge/") else f"judge/{key}"] = float(value)
    return flat


def _format(value: float, family: str) -> str:
    value = float(value)
    return f"{value:.1%}" if family in _FRACTIONS else f"{value:.4g}"


def _column_order(columns: set[str]) -> list[str]:
    known = [m for m in MEASURES if m in columns]
    recalls = sorted((c for c in columns if c.startswith("recall@")), key=_recall_k)
    return known + recalls + sorted(columns - set(known) - set(recalls))


def _recall_k(column: str) -> float:
    try:
        return float(column.split("@", 1)[1])
    except ValueError:
        return float("inf")


def _grid_table(title: str, values: Mapping[str, float], family: str) -> _Table:
    """Rows: the name between the family and the last part; columns: the last part."""
    cells: dict[str, dict[str, float]] = {}
    for name, value in values.items():
        parts = name.split("/")
        row = "/".join(parts[1:-1]) or parts[0]
        cells.setdefault(row, {})[parts[-1]] = value
    columns = _column_order({c for row in cells.values() for c in row})
    rows = [
        [row, *(_format(cells[row][c], family) if c in cells[row] else "–" for c in columns)]
        for row in sorted(cells)
    ]
    return _Table(title, ["", *columns], rows)


def _ladder_table(title: str, values: Mapping[str, float], family: str) -> _Table:
    """Rows: direction and split; columns: each rung's strict accuracy, then the embedding
    errors (normalised squared distances) of the target's joint decoder."""
    cells: dict[str, dict[str, float]] = {}
    for name, value in values.items():
        parts = name.split("/")  # ladder/<direction>/<rung>/<split>/<measure>
        if len(parts) != 5:
            continue
        _, direction, rung, split, measure = parts
        row = cells.setdefault(f"{direction} ({split})", {})
        if rung == "embedding_error":
            row[measure] = value
        elif measure == "strict":
            row[rung] = value
    columns = [*_LADDER_RUNGS, *_LADDER_ERRORS]
    rows = []
    for row in sorted(cells, key=lambda r: (r.split(" (")[1], r)):
        rendered = [
            ("–" if c not in cells[row] else _format(cells[row][c], "coherence"))
            if c in _LADDER_RUNGS
            else ("–" if c not in cells[row] else f"{cells[row][c]:.3g}")
            for c in columns
        ]
        rows.append([row, *rendered])
    return _Table(title, ["", *columns], rows)


def _list_table(title: str, values: Mapping[str, float], family: str) -> _Table:
    strip = len(family) + 1 if family else 0
    rows = [[name[strip:], _format(value, family)] for name, value in sorted(values.items())]
    return _Table(title, ["", "value"], rows)


def _quality_bars(metrics: Mapping[str, float], judges: Mapping[str, float]) -> _Table:
    rows = []
    for name, minimum in QUALITY_BARS.items():
        if name in metrics:
            rows.append(_bar_row(name, float(metrics[name]), minimum))
    for name, value in sorted(judges.items()):
        parts = name.split("/")
        if len(parts) >= 3 and parts[1] == "image" and parts[-1] in MEASURES[1:]:
            rows.append(_bar_row(name, value, JUDGE_BAR))
    return _Table("Quality bars (docs/design.md §7)", ["metric", "value", "bar", "status"], rows)


def _bar_row(name: str, value: float, minimum: float) -> list[str]:
    bar = f"{100 * minimum:.1f}".removesuffix(".0")
    return [name, f"{value:.1%}", f"≥ {bar}%", "met" if value >= minimum else "MISSED"]


def _markdown(
    title: str, tables: list[_Table], bars: _Table, figures: Mapping[str, str], every: _Table
) -> str:
    lines = [f"# {title}", ""]
    for table in [*tables, bars]:
        if table.rows:
            lines += [f"## {table.title}", "", *_markdown_table(table), ""]
    if figures:
        lines += ["## Figures", ""]
        for caption, path in figures.items():
            lines += [f"### {caption}", "", f"![{caption}]({path})", ""]
    lines += [f"## {every.title}", "", *_markdown_table(every), ""]
    return "\n".join(lines)


def _markdown_table(table: _Table) -> list[str]:
    def row(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return [row(table.header), row(["---"] * len(table.header)), *(row(r) for r in table.rows)]


_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; font-family: monospace; }
th { background: #f3f3f3; }
figure { margin: 1em 0 2em; }
img { max-width: 100%; }
.MISSED { color: #b00; font-weight: bold; }
"""


def _html(
    title: str, tables: list[_Table], bars: _Table, figures: Mapping[str, str], every: _Table
) -> str:
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
    ]
    for table in [*tables, bars]:
        if table.rows:
            parts += [f"<h2>{esc(table.title)}</h2>", _html_table(table)]
    if figures:
        parts.append("<h2>Figures</h2>")
        for caption, path in figures.items():
            parts.append(
                f'<figure><img src="{esc(path)}" alt="{esc(caption)}">'
                f"<figcaption>{esc(caption)}</figcaption></figure>"
            )
    parts += [f"<h2>{esc(every.title)}</h2>", _html_table(every), "</body></html>", ""]
    return "\n".join(parts)


def _html_table(table: _Table) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(c)}</th>" for c in table.header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{esc(c)}">{esc(c)}</td>' if c == "MISSED" else f"<td>{esc(c)}</td>"
            for c in row
        )
        + "</tr>"
        for row in table.rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

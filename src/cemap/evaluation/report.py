"""The evaluation report: the metrics as tables, the quality bars, the figures; markdown and HTML.

Metric names follow :mod:`cemap.evaluation.metrics` (``coherence/text_to_image/test/strict``,
…). The report opens with a header (which run, which environment, when, with what
configuration) and the headline table (strict coherence per direction and split); then each
family becomes one table; a name outside the known families lands in "Other metrics", and every
name appears verbatim in the closing list, so nothing given is dropped. Figures are embedded in
the HTML as data URIs, so the one file renders anywhere (a browser, MLflow's artifact viewer).

:func:`headline_table` and :func:`summary_metrics` are the numbers a reader wants first; the
MLflow run's description and ``summary/`` metrics use them too. Both read directions and splits
from the metric names they are given, so a new split or family needs no change here.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from dataclasses import dataclass

from cemap.concepts import EVALUATION_SPLITS, MODALITIES
from cemap.evaluation.metrics import DIRECTIONS, LADDER_RUNGS, MEASURES, STRICT, direction

#: A figure of the report: its path relative to the report (markdown links it) and, when known,
#: its PNG bytes (HTML embeds them; without them HTML links the path).
FigureRef = str | tuple[str, bytes | None]

# family -> (section title, layout): "grid" = rows × last-part columns, "list" = one value per row.
_FAMILIES = {
    "coherence": ("Coherence (generated output judged against the prompt)", "grid"),
    "alignment": ("Alignment (mean distance between the modalities' posteriors)", "list"),
    "retrieval": ("Cross-modal retrieval", "grid"),
    "frechet": ("Fréchet distance (judge feature space; lower is better)", "list"),
    "diversity": ("Diversity (mean distance between samples of one prompt)", "list"),
    "ladder": ("Where each direction loses its points (diagnostic ladder, strict)", "ladder"),
}
# The ladder's columns: its judged rungs (LADDER_RUNGS), then its embedding errors.
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
    "coherence/speech_to_image/unseen_voices/strict": 0.85,
    "coherence/image_to_text/test/strict": 0.75,
    "coherence/text_to_speech/test/strict": 0.80,
    "coherence/image_to_speech/test/strict": 0.60,
    "coherence/speech_to_text/test/strict": 0.93,
    "coherence/speech_to_text/unseen_voices/strict": 0.85,
}
JUDGE_BAR = 0.98  # image judge, every attribute, real test images


@dataclass
class _Table:
    title: str
    header: list[str]
    rows: list[list[str]]


def _splits_in(names: list[str]) -> list[str]:
    """The splits named in ``<family>/<direction>/<split>/…`` metric names: the evaluation
    splits first, in their order, then any other, sorted."""
    found = {name.split("/")[2] for name in names if name.count("/") >= 3}
    return [s for s in EVALUATION_SPLITS if s in found] + sorted(found - set(EVALUATION_SPLITS))


def headline_table(metrics: Mapping[str, float]) -> tuple[list[str], list[list[str]]]:
    """Strict coherence (how often all four attributes of the prompt come out right), one row
    per direction (in ``DIRECTIONS`` order, then any other) and one column per split (evaluation
    splits first, in their order): header and rows; no rows when ``metrics`` hold no coherence."""
    cells: dict[str, dict[str, float]] = {}
    for name, value in metrics.items():
        parts = name.split("/")
        if len(parts) == 4 and parts[0] == "coherence" and parts[3] == STRICT:
            cells.setdefault(parts[1], {})[parts[2]] = value
    columns = _splits_in([f"coherence/{d}/{s}/{STRICT}" for d, row in cells.items() for s in row])
    known = [direction(s, t) for s, t in DIRECTIONS]
    order = [d for d in known if d in cells] + sorted(set(cells) - set(known))
    rows = [
        [d, *(_format(cells[d][c], "coherence") if c in cells[d] else "–" for c in columns)]
        for d in order
    ]
    return ["direction", *columns], rows


def headline_markdown(metrics: Mapping[str, float]) -> str:
    """:func:`headline_table` as a markdown table, with the judges' strict accuracy below it;
    empty when there is no coherence to show."""
    header, rows = headline_table(metrics)
    if not rows:
        return ""
    lines = _markdown_table(_Table("", header, rows))
    judges = [
        f"{m} {metrics[f'judge/{m}/test/{STRICT}']:.1%}"
        for m in MODALITIES
        if f"judge/{m}/test/{STRICT}" in metrics
    ]
    if judges:
        lines += ["", "Judge accuracy (strict, real test data): " + ", ".join(judges)]
    return "\n".join(lines)


def summary_metrics(metrics: Mapping[str, float]) -> dict[str, float]:
    """The dozen numbers a reader wants first, under short names (no family prefix).

    From evaluation metrics (``/`` names as :mod:`cemap.evaluation.metrics` writes them, or
    MLflow's ``recall_at_1`` spelling): strict coherence of every direction on the first
    evaluation split, text → image strict coherence on every other split, the judges' strict
    accuracy, the mean posterior distance, text → image recall@1 and Fréchet distance; from
    embedding metrics (``embeddings/<m>/probe/mean``), each embedding's mean probe accuracy.
    Names missing from ``metrics`` are left out.
    """
    first = EVALUATION_SPLITS[0]
    names = list(metrics)
    wanted: dict[str, str] = {}
    for source, target in DIRECTIONS:
        name = direction(source, target)
        wanted[f"coherence/{name}/{first}/{STRICT}"] = f"coherence_{name}_{first}"
    for split in _splits_in([n for n in names if n.startswith("coherence/")]):
        if split != first:
            wanted[f"coherence/text_to_image/{split}/{STRICT}"] = f"coherence_text_to_image_{split}"
    for modality in MODALITIES:
        wanted[f"judge/{modality}/{first}/{STRICT}"] = f"judge_{modality}_{first}"
    for name in sorted(names):
        parts = name.split("/")
        if parts[0] == "alignment" and parts[2:] == ["mean", first]:
            wanted[name] = f"alignment_{parts[1]}_mean_{first}"
    for recall in ("recall@1", "recall_at_1"):
        wanted[f"retrieval/text_to_image/{first}/{recall}"] = f"recall_at_1_text_to_image_{first}"
    wanted[f"frechet/text_to_image/{first}"] = f"frechet_text_to_image_{first}"
    for modality in MODALITIES:
        wanted[f"embeddings/{modality}/probe/mean"] = f"probe_{modality}_embedding"
    return {short: float(metrics[name]) for name, short in wanted.items() if name in metrics}


def render_report(
    metrics: Mapping[str, float],
    judge_accuracy: Mapping[str, Mapping[str, float]] | Mapping[str, float],
    figures: Mapping[str, FigureRef],
    title: str = "CEMap evaluation report",
    header: Mapping[str, str] | None = None,
) -> tuple[str, str]:
    """Markdown and standalone HTML of the evaluation.

    ``metrics`` maps metric names (see :mod:`cemap.evaluation.metrics`) to values;
    ``judge_accuracy`` maps a judge (``"image"``, or ``"image/test"``) to its ``strict`` and
    per-attribute accuracy, nested or flat (``"judge/image/test/strict"``); ``figures`` maps a
    caption to an image path relative to where the report is written, or to ``(path, png
    bytes)`` (the HTML embeds the bytes); ``header`` (run id, environment, date,
    configuration, …) is shown first, in its order.
    """
    judges = _flatten_judges(judge_accuracy)
    head = _Table("Run", ["", ""], [[k, str(v)] for k, v in (header or {}).items()])
    tables = [head, _headline_table(metrics)]
    tables.append(_grid_table("Judge accuracy on real data", judges, "judge"))
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
    """:func:`headline_table` as the report's first metric table."""
    return _Table("Strict coherence by split", *headline_table(metrics))


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
    columns = [*LADDER_RUNGS, *_LADDER_ERRORS]
    rows = []
    for row in sorted(cells, key=lambda r: (r.split(" (")[1], r)):
        rendered = [
            ("–" if c not in cells[row] else _format(cells[row][c], "coherence"))
            if c in LADDER_RUNGS
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


def _figure_path(ref: FigureRef) -> str:
    return ref if isinstance(ref, str) else ref[0]


def _figure_src(ref: FigureRef) -> str:
    if isinstance(ref, str) or not ref[1]:
        return _figure_path(ref)
    return "data:image/png;base64," + base64.b64encode(ref[1]).decode("ascii")


def _markdown(
    title: str, tables: list[_Table], bars: _Table, figures: Mapping[str, FigureRef], every: _Table
) -> str:
    lines = [f"# {title}", ""]
    for table in [*tables, bars]:
        if table.rows:
            lines += [f"## {table.title}", "", *_markdown_table(table), ""]
    if figures:
        lines += ["## Figures", ""]
        for caption, ref in figures.items():
            lines += [f"### {caption}", "", f"![{caption}]({_figure_path(ref)})", ""]
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
figcaption { font-weight: bold; margin-bottom: 0.4em; }
img { max-width: 100%; }
table.run { width: 100%; table-layout: fixed; }
table.run td { text-align: left; overflow-wrap: anywhere; }
table.run td:first-child { width: 9em; }
.MISSED { color: #b00; font-weight: bold; }
"""


def _html(
    title: str, tables: list[_Table], bars: _Table, figures: Mapping[str, FigureRef], every: _Table
) -> str:
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
    ]
    for i, table in enumerate([*tables, bars]):
        if table.rows:
            css = "run" if i == 0 else ("headline" if i == 1 else "")
            parts += [f"<h2>{esc(table.title)}</h2>", _html_table(table, css)]
    if figures:
        parts.append("<h2>Figures</h2>")
        for caption, ref in figures.items():
            parts.append(
                f"<figure><figcaption>{esc(caption)}</figcaption>"
                f'<img src="{esc(_figure_src(ref))}" alt="{esc(caption)}"></figure>'
            )
    parts += [f"<h2>{esc(every.title)}</h2>", _html_table(every), "</body></html>", ""]
    return "\n".join(parts)


def _html_table(table: _Table, css: str = "") -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(c)}</th>" for c in table.header)
    head = f"<thead><tr>{head}</tr></thead>" if any(table.header) else ""
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{esc(c)}">{esc(c)}</td>' if c == "MISSED" else f"<td>{esc(c)}</td>"
            for c in row
        )
        + "</tr>"
        for row in table.rows
    )
    opening = f'<table class="{css}">' if css else "<table>"
    return f"{opening}{head}<tbody>{body}</tbody></table>"

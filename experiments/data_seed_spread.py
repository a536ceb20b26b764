"""The whole chain over several data seeds: how much the headline numbers move with the data.

    python experiments/data_seed_spread.py --seeds 7 42 1234 [--env base|smoke] [--out FILE]

For each seed S it runs ``kedro run --params data_generation.seed=S`` — data, embeddings,
joint model, evaluation — in a data root of its own, ``<work-dir>/seed_<S>/data``, through a
generated configuration (``<work-dir>/seed_<S>/conf``: ``conf/base`` plus an overlay env of
``conf/<env>``'s files with ``data_root`` pointing there), so the project's ``data/`` is never
written. Every other seed (embeddings, joint model, judges) stays as configured: the spread is
the data's alone. Each run logs to its own MLflow store, ``<work-dir>/mlflow.db`` (or
``--mlflow-uri``), so the spread runs neither mix with nor register models into the project's.

Then it reads each run's ``08_reporting/metrics.json`` and writes a markdown table of strict
coherence per direction × evaluation split as mean ± sample std over the seeds, followed by
every seed's own value. ``--reuse`` tabulates a seed whose metrics already exist without
running it again.

One default-size run takes about 12 min on 2 CPU cores, so three seeds take about 36 min;
``--env smoke`` checks the mechanics in about a minute per seed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import yaml

from cemap.concepts import EVALUATION_SPLITS
from cemap.evaluation.metrics import DIRECTIONS
from cemap.tracking import TRACKING_URI_VARIABLE

PROJECT_ROOT = Path(__file__).resolve().parents[1]
#: The overlay env each seed's run uses inside its generated configuration.
RUN_ENV = "seed_spread"
#: Never copied into a generated configuration.
_SECRETS = ("credentials",)


def metric(direction: tuple[str, str], split: str) -> str:
    source, target = direction
    return f"coherence/{source}_to_{target}/{split}/strict"


def _arrow(direction: tuple[str, str]) -> str:
    return f"{direction[0]}→{direction[1]}"


def spread_table(runs: Mapping[int, Mapping[str, float]], caption: str = "") -> str:
    """Markdown: strict coherence (%) per direction × evaluation split as mean ± sample std over
    the seeds of ``runs`` (``{seed: metrics.json}``), then every seed's own value."""
    if not runs:
        raise ValueError("no run to tabulate; give at least one seed.")
    seeds = list(runs)
    # A split is a column when any direction is scored on it (unseen_voices: speech sources).
    splits = [
        s
        for s in EVALUATION_SPLITS
        if any(metric(d, s) in r for d in DIRECTIONS for r in runs.values())
    ]

    def values(direction, split) -> list[float]:
        return [
            100 * runs[s][metric(direction, split)]
            for s in seeds
            if metric(direction, split) in runs[s]
        ]

    def cell(direction, split) -> str:
        found = values(direction, split)
        if not found:
            return "—"
        mean = float(np.mean(found))
        if len(found) == 1:
            return f"{mean:.1f}"
        return f"{mean:.1f} ± {float(np.std(found, ddof=1)):.1f}"

    def seed_cell(seed, direction, split) -> str:
        name = metric(direction, split)
        return f"{100 * runs[seed][name]:.1f}" if name in runs[seed] else "—"

    lines = ["# Strict coherence over data seeds (%)", ""]
    if caption:
        lines += [caption, ""]
    lines += [
        f"Seeds {', '.join(map(str, seeds))}; each cell: mean ± sample std over the seeds of "
        "the share of generated samples whose four attributes all match the prompt.",
        "",
        "| direction | " + " | ".join(splits) + " |",
        "|---|" + "---:|" * len(splits),
    ]
    for direction in DIRECTIONS:
        lines.append(
            f"| {_arrow(direction)} | " + " | ".join(cell(direction, s) for s in splits) + " |"
        )
    columns = [(split, seed) for split in splits for seed in seeds]
    lines += [
        "",
        "## Per seed (%)",
        "",
        "| direction | " + " | ".join(f"{split} seed {seed}" for split, seed in columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for direction in DIRECTIONS:
        lines.append(
            f"| {_arrow(direction)} | "
            + " | ".join(seed_cell(seed, direction, split) for split, seed in columns)
            + " |"
        )
    return "\n".join(lines) + "\n"


def write_conf(project: Path, env: str, seed_dir: Path) -> Path:
    """``seed_dir/conf``: the project's ``conf/base`` and an overlay env ``RUN_ENV`` holding
    ``conf/<env>``'s files (none for ``base``) with ``data_root`` set to ``seed_dir/data``."""
    conf = seed_dir / "conf"
    if conf.exists():
        shutil.rmtree(conf)
    shutil.copytree(project / "conf" / "base", conf / "base")
    overlay = conf / RUN_ENV
    overlay.mkdir()
    if env != "base":
        for path in sorted((project / "conf" / env).glob("*")):
            if path.is_file() and not path.name.startswith(_SECRETS):
                shutil.copy(path, overlay / path.name)
    globals_file = overlay / "globals.yml"
    settings = yaml.safe_load(globals_file.read_text()) if globals_file.exists() else None
    settings = {**(settings or {}), "data_root": str((seed_dir / "data").resolve())}
    globals_file.write_text(yaml.safe_dump(settings, sort_keys=False))
    return conf


def run_seed(
    project: Path, env: str, seed: int, seed_dir: Path, mlflow_uri: str, params: str | None
) -> Path:
    """``kedro run`` for one data seed in its own data root; the path of its metrics.json."""
    conf = write_conf(project, env, seed_dir)
    overrides = f"data_generation.seed={seed}" + (f",{params}" if params else "")
    command = [
        sys.executable,
        "-m",
        "kedro",
        "run",
        "--conf-source",
        str(conf),
        "--env",
        RUN_ENV,
        "--params",
        overrides,
    ]
    environment = {**os.environ, TRACKING_URI_VARIABLE: mlflow_uri}
    log = seed_dir / "kedro_run.log"
    started = time.perf_counter()
    print(f"seed {seed}: {' '.join(command[2:])} (log: {log})", flush=True)
    with log.open("w") as out:
        result = subprocess.run(
            command, cwd=project, env=environment, stdout=out, stderr=subprocess.STDOUT
        )
    if result.returncode != 0:
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-40:])
        raise SystemExit(f"seed {seed}: kedro run failed ({result.returncode}); see {log}:\n{tail}")
    print(f"seed {seed}: done in {time.perf_counter() - started:.0f} s", flush=True)
    return metrics_file(seed_dir)


def metrics_file(seed_dir: Path) -> Path:
    return seed_dir / "data" / "08_reporting" / "metrics.json"


def _seeds(values: Sequence[int]) -> list[int]:
    if len(set(values)) != len(values):
        raise SystemExit(f"--seeds {' '.join(map(str, values))} repeats a seed; give each once.")
    return list(values)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 42, 1234])
    parser.add_argument("--env", default="base", help="base (the default run) or smoke")
    parser.add_argument("--project", type=Path, default=PROJECT_ROOT, help="the Kedro project")
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="where each seed's conf, data and log go (default <project>/data/seed_spread/<env>)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="the markdown table (default <work-dir>/spread.md)"
    )
    parser.add_argument(
        "--mlflow-uri", default=None, help="MLflow store of the runs (default <work-dir>/mlflow.db)"
    )
    parser.add_argument(
        "--params", default=None, help="more kedro --params overrides for every seed, a=1,b=2"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="tabulate a seed whose metrics.json exists, unrun"
    )
    args = parser.parse_args(argv)

    project = args.project.resolve()
    seeds = _seeds(args.seeds)
    if not (project / "conf" / args.env).is_dir():
        envs = sorted(p.name for p in (project / "conf").iterdir() if p.is_dir())
        raise SystemExit(
            f"--env {args.env!r}: no folder conf/{args.env} in {project}; use one of {envs}."
        )
    work = (args.work_dir or project / "data" / "seed_spread" / args.env).resolve()
    out = args.out or work / "spread.md"
    mlflow_uri = args.mlflow_uri or f"sqlite:///{work / 'mlflow.db'}"
    work.mkdir(parents=True, exist_ok=True)

    runs = {}
    for seed in seeds:
        seed_dir = work / f"seed_{seed}"
        found = metrics_file(seed_dir)
        if not (args.reuse and found.is_file()):
            seed_dir.mkdir(parents=True, exist_ok=True)
            found = run_seed(project, args.env, seed, seed_dir, mlflow_uri, args.params)
        runs[seed] = json.loads(found.read_text())

    caption = f"`python experiments/data_seed_spread.py --env {args.env} --seeds {' '.join(map(str, seeds))}`"
    if args.params:
        caption += f" with `--params {args.params}`"
    caption += " — the whole chain per data seed; every model seed as configured."
    table = spread_table(runs, caption)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table)
    print(table)
    print(f"written to {out}")


if __name__ == "__main__":
    main()

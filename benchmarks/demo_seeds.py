"""The demo's targets over seeds: ``dtmem quickstart`` once per seed and settings variant.

One quickstart run is one draw: its pre-training and fine-tuning results move by 0.2-0.4
from seed to seed (docs/results.md). This runs the whole quickstart for every seed of
``--seeds`` under each variant of ``--vary`` (``field=value`` pairs of
``QuickstartSettings``, comma-separated; ``default`` for the defaults), then reports per
variant the mean over seeds, with a 95% bootstrap interval over seeds, of DT-Mem's and the
no-memory model's training-task success, LoRA's and full fine-tuning's held-out success and
the paired differences (DT-Mem - no memory, LoRA - full FT), and on how many seeds each of
the demo's targets holds (and all four) (``<out>/summary.json``, and a plot,
``<out>/demo_seeds.png``):

* DT-Mem's mean training-task success >= 0.5;
* ... and >= the no-memory model's minus 0.05;
* memory-only LoRA's held-out success > 0;
* ... and >= half of full fine-tuning's.

A run whose ``results.json`` exists is read, not rerun, so an interrupted sweep continues.

    python benchmarks/demo_seeds.py --seeds 0 1 2 3 4 \\
        --vary pretrain_schedule=constant pretrain_schedule=cosine --out runs/demo_seeds
"""

import d3rlpy_dtmem  # noqa: F401  # isort: skip  (first: registers DT-Mem, quiets old gym)
import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from d3rlpy_dtmem.app.console import route_d3rlpy_log
from d3rlpy_dtmem.app.demo_targets import MEASURES, TARGET_NAMES, check_targets, demo_measures
from d3rlpy_dtmem.app.quickstart import QuickstartSettings, run_quickstart
from d3rlpy_dtmem.evaluation.aggregate import stratified_bootstrap_ci


def parse_variant(text: str) -> dict:
    """``"pretrain_schedule=cosine,steps=4000"`` -> settings overrides (``default``: none)."""
    fields = {field.name: field for field in dataclasses.fields(QuickstartSettings)}
    overrides = {}
    for part in filter(None, text.split(",")):
        if part == "default":
            continue
        name, _, value = part.partition("=")
        if name not in fields or name in ("out", "seed"):
            raise SystemExit(f"{text!r}: {name!r} is not a QuickstartSettings field to vary")
        default = getattr(QuickstartSettings, name)
        kind = type(default) if default is not None else float
        overrides[name] = kind(value)
    return overrides


def summarize_run(results: Path) -> dict:
    """One run's measures: mean success per (model, stage) over its tasks."""
    return demo_measures(json.loads(results.read_text())["rows"])


def run(variant: str, overrides: dict, seed: int, out: Path) -> dict:
    """The run of ``variant`` at ``seed``: read if done, else run the quickstart."""
    folder = out / variant.replace("=", "-").replace(",", "_") / f"seed{seed}"
    results = folder / "results.json"
    if not results.exists():
        start = time.perf_counter()
        settings = QuickstartSettings(out=folder, seed=seed, show_progress=False, **overrides)
        with route_d3rlpy_log(str(folder), verbose=False):  # into <folder>/d3rlpy.log
            run_quickstart(settings, echo=lambda line: None)
        print(f"  {variant} seed {seed}: {time.perf_counter() - start:.0f} s", flush=True)
    return summarize_run(results)


# paired differences over seeds: (name, measure, measure it is compared with)
DIFFERENCES = (
    ("DT-Mem - no memory train", "DT-Mem train", "no memory train"),
    ("LoRA - full FT", "LoRA", "full FT"),
)


def summarize(runs: list[dict]) -> dict:
    """Mean of every measure, and of the paired differences, over seeds with its bootstrap
    interval; on how many seeds each target holds, and all of them."""
    summary = {}
    rows = {measure: [r[measure] for r in runs] for measure in MEASURES}
    for name, left, right in DIFFERENCES:
        rows[name] = [r[left] - r[right] for r in runs]
    for measure, values in rows.items():
        values = np.array(values)
        interval = stratified_bootstrap_ci(values, "mean")
        summary[measure] = {
            "mean": interval.point,
            "ci": [interval.low, interval.high],
            "runs": values.tolist(),
        }
    met = [[check.met for check in check_targets(r)] for r in runs]  # (runs, targets)
    summary["targets"] = dict(zip(TARGET_NAMES, np.sum(met, axis=0).tolist(), strict=True))
    summary["targets"]["all four"] = int(np.all(met, axis=1).sum())
    return summary


def plot(report: dict, path: Path) -> None:
    """Bars of every measure per variant (mean over seeds, bootstrap interval) and the
    seeds' own values as dots."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    width = 0.8 / len(report)
    for offset, (variant, entry) in enumerate(report.items()):
        xs = np.arange(len(MEASURES)) + offset * width
        means = [entry[m]["mean"] for m in MEASURES]
        errors = [[entry[m]["mean"] - entry[m]["ci"][0] for m in MEASURES]]
        errors.append([entry[m]["ci"][1] - entry[m]["mean"] for m in MEASURES])
        ax.bar(xs, means, width, yerr=errors, capsize=3, label=variant, alpha=0.8)
        for x, measure in zip(xs, MEASURES, strict=True):
            runs = entry[measure]["runs"]
            ax.plot([x] * len(runs), runs, "k.", markersize=4)
    ax.set_xticks(np.arange(len(MEASURES)) + width * (len(report) - 1) / 2, MEASURES)
    ax.set(ylabel="mean success over tasks", ylim=(0, 1.05))
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--vary", nargs="+", default=["default"], help="field=value[,...] each")
    parser.add_argument("--out", type=Path, default=Path("runs/demo_seeds"))
    args = parser.parse_args()
    variants = {text: parse_variant(text) for text in args.vary}
    report = {}
    for text, overrides in variants.items():
        runs = [run(text, overrides, seed, args.out) for seed in args.seeds]
        report[text] = summarize(runs) | {"seeds": args.seeds}
        print(f"{text}  ({len(runs)} seeds)")
        for measure in [*MEASURES, *(name for name, _, _ in DIFFERENCES)]:
            entry = report[text][measure]
            sign = "+" if measure not in MEASURES else ""  # differences carry their sign
            each = "/".join(f"{v:{sign}.2f}" for v in entry["runs"])
            low, high = entry["ci"]
            interval = f"[{low:{sign}.2f}, {high:{sign}.2f}]"
            print(f"  {measure:24s} {entry['mean']:{sign}.2f} {interval}  {each}")
        for name, count in report[text]["targets"].items():
            print(f"  {name:28s} {count}/{len(runs)} seeds")
    (args.out / "summary.json").write_text(json.dumps(report, indent=2))
    plot(report, args.out / "demo_seeds.png")
    print(f"wrote {args.out / 'summary.json'} and {args.out / 'demo_seeds.png'}")


if __name__ == "__main__":
    main()

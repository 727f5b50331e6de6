"""Reports: a Markdown table of final results and one plot panel per eval suite."""

from __future__ import annotations

import math
from pathlib import Path

from .evaluate import results_table
from .io import atomic_path, write_text
from .runtime import describe_wall


def plot_curves(results: dict, path) -> Path:
    """Regret (bandits) or per-episode success or return curves of every policy, one panel per suite."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    suites = results["suites"]
    cols = min(4, len(suites))
    rows = math.ceil(len(suites) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    regret = results["metric"] == "regret"
    for ax, (name, row) in zip(axes.flat, suites.items(), strict=False):
        for policy, entry in row.items():
            curve = entry["curve"]
            ax.plot(range(1, len(curve) + 1), curve, label=policy, lw=1.5)
        ax.set_title(name)
        ax.set_xlabel("step" if regret else "episode")
        ax.set_ylabel("cumulative regret" if regret else f"{results['metric']} per episode")
        if not regret:
            ax.set_xscale("log")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(suites):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(f"{results['env']}: in-context {results['metric']}")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(path)


def write_report(results: dict, md_path, png_path, title: str = "") -> tuple[Path, Path]:
    """A Markdown report (table, normalised scores in brackets) and the curves' PNG it shows."""
    md_path, png_path = Path(md_path), Path(png_path)
    lines = [f"# {title or results['env']}", "", results_table(results), ""]
    reference = results.get("reference_description", results.get("reference", "the teacher"))
    if results["metric"] == "regret":
        lines += ["Values: mean final cumulative regret over the suite's tasks; in brackets the normalised "
                  f"score, 0 = random, 1 = {reference}.", ""]
    else:
        lines += [f"Values: mean {results['metric']} of the last episode; in brackets the normalised score "
                  f"(0 = random, 1 = {reference}).", ""]
    if results.get("paper_reference"):
        lines += [f"The paper normalises against `{results['paper_reference']}`: `normalized_paper` in eval.json.", ""]
    protocol = results.get("protocol")
    if protocol:
        lines += ["Protocol: " + ", ".join(f"{k} = {v}" for k, v in protocol.items()), ""]
    for row, p in results.get("protocols", {}).items():
        how = p["action_selection"] + (f" at temperature {p['temperature']:g}" if p.get("temperature") else "")
        why = f"tuned on {p['tuned_on']} suites" if p.get("tuned_on") else (
            "the paper's protocol" if row == (protocol or {}).get("policy") else "set by hand")
        lines.append(f"- `{row}`: {how} ({why})")
    for row, b in results.get("baselines", {}).items():
        if b.get("options") or row != b.get("teacher"):
            options = "".join(f" {k}={v}" for k, v in (b.get("options") or {}).items())
            lines.append(f"- `{row}`: {b['teacher']}{options} for {b['horizon']}")
    if results.get("protocols") or results.get("baselines"):
        lines.append("")
    recipe = results.get("recipe")
    if recipe:
        shown = ", ".join(f"{k} = {v}" for k, v in recipe.items() if k != "departures")
        lines += [f"Training: {shown}.", ""]
        departures = recipe.get("departures") or []
        lines += [("Departs from the paper's recipe in: " + "; ".join(departures) + ".") if departures
                  else "The paper's training recipe (at this run's sizes and steps).", ""]
    for policy, skipped in results.get("skipped", {}).items():
        for suite, why in skipped.items():
            lines.append(f"- {policy} skipped on {suite}: {why}")
    if results.get("wall_s"):
        lines += ["", f"Wall time: {describe_wall(results['wall_s'], results.get('machine', {}))}."]
    lines += ["", f"![curves]({png_path.name})", ""]
    md = write_text(md_path, "\n".join(lines))
    png = plot_curves(results, png_path)
    return md, png

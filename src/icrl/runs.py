"""What makes a run directory finished: its results are complete.

A run is finished when ``eval.json``, ``report.md`` and ``curves.png`` all exist (they are written
in that order, so a kill between them leaves ``eval.json`` without its report: a resume then
writes the report from ``eval.json``). ``icrl run`` refuses a finished run, a sweep skips it.
"""

from __future__ import annotations

from pathlib import Path

RESULT_FILES = ("eval.json", "report.md", "curves.png")


def missing_results(run_dir) -> list[str]:
    """The result files of ``RESULT_FILES`` that ``run_dir`` lacks."""
    return [name for name in RESULT_FILES if not (Path(run_dir) / name).exists()]


def is_finished(run_dir) -> bool:
    """Whether ``run_dir`` holds all its results (``RESULT_FILES``)."""
    return not missing_results(run_dir)

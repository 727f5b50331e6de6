"""Training windows: ``seq_len`` consecutive steps of one history, at any offset.

Windows cross episode ends freely (that is where in-context improvement is visible) but never
cross from one history into the next. Every window position of every history is equally likely.
Sampling is index arithmetic on the flat arrays, so the same code serves numpy on the host and,
later, tensors held on a device.
"""

from __future__ import annotations

import numpy as np

from .history import DatasetError, HistoryDataset


class WindowSampler:
    def __init__(self, dataset: HistoryDataset, seq_len: int, seed: int | None = None):
        if seq_len < 1:
            raise DatasetError(f"seq_len must be >= 1, got {seq_len}")
        self.dataset = dataset
        self.seq_len = seq_len
        counts = np.maximum(dataset.lengths - seq_len + 1, 0)
        if counts.sum() == 0:
            raise DatasetError(
                f"no history is at least seq_len={seq_len} steps long (longest: {int(dataset.lengths.max())})"
            )
        self.window_ends = np.cumsum(counts)  # windows of history h: [window_ends[h-1], window_ends[h])
        self.rng = np.random.default_rng(seed)

    @property
    def num_windows(self) -> int:
        return int(self.window_ends[-1])

    def locate(self, window_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(history index, first flat step index) of global window ids."""
        h = np.searchsorted(self.window_ends, window_ids, side="right")
        first = np.where(h > 0, self.window_ends[h - 1], 0)
        return h, self.dataset.offsets[h] + (window_ids - first)

    def sample(self, batch_size: int) -> dict[str, np.ndarray]:
        """A batch: per-step arrays ``(batch, seq_len, ...)`` plus each window's action set."""
        ids = self.rng.integers(0, self.num_windows, size=batch_size)
        return self.windows(ids)

    def windows(self, window_ids) -> dict[str, np.ndarray]:
        h, start = self.locate(np.asarray(window_ids, dtype=np.int64))
        idx = start[:, None] + np.arange(self.seq_len)[None, :]
        ds = self.dataset
        return {
            "observations": ds.observations[idx],
            "actions": ds.actions[idx].astype(np.int64),
            "rewards": ds.rewards[idx],
            "dones": ds.dones[idx],
            "num_actions": ds.num_actions[h].astype(np.int64),
            "action_sets": ds.action_sets[h].astype(np.int64),
            "history": h,
            "start": start - ds.offsets[h],
        }

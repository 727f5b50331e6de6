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


class TensorWindowSampler:
    """The windows of ``WindowSampler``, drawn with torch on the device that holds the dataset.

    The flat arrays are copied to ``device`` once; a batch is then index arithmetic on the device
    (no DataLoader, no host-to-device copy per step). Window ids come from a torch generator, so
    every process of a distributed run can draw the same global batch and keep its own slice.
    """

    def __init__(self, dataset: HistoryDataset, seq_len: int, seed: int = 0, device="cpu", targets: bool = False):
        """``targets``: also return each step's soft targets (``(B, T, A)`` float32, as
        ``"targets"``: the teacher's distribution or the optimal-action labels); the dataset must
        hold them (``HistoryDataset.targets``)."""
        import torch

        self.torch = torch
        host = WindowSampler(dataset, seq_len)  # validates, and counts windows per history
        self.seq_len, self.device = seq_len, torch.device(device)
        self.num_windows = host.num_windows
        as_t = lambda a, dtype=None: torch.as_tensor(np.ascontiguousarray(a), device=self.device, dtype=dtype)  # noqa: E731
        self.window_ends = as_t(host.window_ends, torch.int64)
        self.offsets = as_t(dataset.offsets, torch.int64)
        obs_dtype = torch.float32 if dataset.observations.dtype == np.float32 else torch.int64
        self.observations = as_t(dataset.observations, obs_dtype)
        self.actions = as_t(dataset.actions.astype(np.int64))
        self.rewards = as_t(dataset.rewards, torch.float32)
        self.dones = as_t(dataset.dones, torch.bool)
        self.num_actions = as_t(dataset.num_actions.astype(np.int64))
        self.targets = None
        if targets:
            if dataset.targets is None:
                raise DatasetError("this dataset holds no soft targets (generate it with data.targets=policy or optimal)")
            self.targets = as_t(dataset.targets)  # float16 on the device; a batch is cast to float32
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.steps = torch.arange(seq_len, device=self.device)

    def sample_ids(self, n: int):
        return self.torch.randint(0, self.num_windows, (n,), generator=self.generator, device=self.device)

    def windows(self, ids) -> dict:
        torch = self.torch
        h = torch.searchsorted(self.window_ends, ids, right=True)
        first = torch.where(h > 0, self.window_ends[(h - 1).clamp(min=0)], torch.zeros_like(ids))
        idx = (self.offsets[h] + ids - first)[:, None] + self.steps
        batch = {"observations": self.observations[idx], "actions": self.actions[idx],
                 "rewards": self.rewards[idx], "dones": self.dones[idx], "num_actions": self.num_actions[h]}
        if self.targets is not None:
            batch["targets"] = self.targets[idx].float()
        return batch

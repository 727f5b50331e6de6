"""Learning-history datasets (HDF5) and the window sampler."""

from .history import (
    FORMAT,
    SCHEMA_VERSION,
    DatasetError,
    HistoryDataset,
    HistoryWriter,
    dataset_attrs,
    load_histories,
)
from .sampler import TensorWindowSampler, WindowSampler

__all__ = ["FORMAT", "SCHEMA_VERSION", "DatasetError", "HistoryDataset", "HistoryWriter", "TensorWindowSampler", "WindowSampler", "dataset_attrs", "load_histories"]

"""A dataset's identity, computed in one place: what made it, its default file name, and reuse.

``dataset_fingerprint(cfg)`` is how the dataset of a run config is made: every ``data`` field but
``path`` (the fields in ``LATE_DATA_FIELDS`` only when set), the environment and the generator
version. The same fingerprint

- names the default file: ``data/<name>-seed<seed>-<digest>.h5`` (``RunConfig.dataset_path``);
- is the HDF5 ``config`` attribute a generated file records (``DatasetFingerprint.record``);
- decides reuse: a file is reused when the fingerprint it records (``of_record``) equals the run's
  (``icrl.pipeline.ensure_dataset``), and a resumed run checks it in ``dataset.json`` when the
  recorded file is gone (``icrl.train``).

Torch- and h5py-free. The digest leaves the generator version out, so that files generated before
a version bump keep their names (and are then refused by the reuse check, naming the version).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

# Bumped whenever a teacher or environment changes what it generates for the same config, so
# that `icrl run` does not silently reuse a dataset made by older code.
GENERATOR_VERSION = 2

# Data fields added after datasets were first named by hash: left out of the fingerprint while
# unset, so that existing default datasets keep their names and are still recognised.
LATE_DATA_FIELDS = ("min_actions", "max_actions")


@dataclass(frozen=True)
class DatasetFingerprint:
    """How a dataset is (or was) made.

    ``made``: the ``data`` fields but ``path`` (late fields only when set) plus ``env``;
    ``generator_version``: the generating code's version (None where a record has none).
    Two datasets with equal fingerprints hold the same histories.
    """

    made: dict
    generator_version: int | None

    @property
    def digest(self) -> str:
        """8 hex digits of the SHA-256 of ``made`` as sorted JSON: the default file name's hash."""
        return hashlib.sha256(json.dumps(self.made, sort_keys=True).encode()).hexdigest()[:8]

    def record(self) -> dict:
        """What a dataset file records about how it was made (its HDF5 ``config`` attribute)."""
        return {**self.made, "generator_version": self.generator_version}

    @classmethod
    def of_record(cls, record: dict) -> DatasetFingerprint:
        """The fingerprint a file (or a ``dataset.json``) records. A ``data`` field added since the
        file was made takes its default, as the file was made with it; a recorded ``path`` (older
        files) is no part of the identity."""
        from ..config import DataConfig

        made = {k: v for k, v in record.items() if k not in ("path", "generator_version")}
        for f in dataclasses.fields(DataConfig):
            if f.name not in made and f.name != "path" and f.name not in LATE_DATA_FIELDS \
                    and f.default is not dataclasses.MISSING:
                made[f.name] = f.default
        for name in LATE_DATA_FIELDS:  # unset: left out, as dataset_fingerprint leaves it out
            if made.get(name, 0) is None:
                del made[name]
        return cls(made, record.get("generator_version"))

    def differences(self, other: DatasetFingerprint) -> str:
        """``"field: this vs other, ..."`` of the fields in which the two differ, for one-line errors."""
        mine, theirs = self.record(), other.record()
        keys = [*theirs, *(k for k in mine if k not in theirs)]
        return ", ".join(f"{k}: {mine.get(k)!r} vs {theirs.get(k)!r}" for k in keys if mine.get(k) != theirs.get(k))


def dataset_fingerprint(cfg) -> DatasetFingerprint:
    """The fingerprint of the dataset ``cfg`` (a ``RunConfig``) makes."""
    made = {k: v for k, v in dataclasses.asdict(cfg.data).items()
            if k != "path" and not (k in LATE_DATA_FIELDS and v is None)}
    return DatasetFingerprint({**made, "env": cfg.env}, GENERATOR_VERSION)

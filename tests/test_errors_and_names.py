"""Error types and names (issue 19): one error type per kind of bad input, no dead entry points."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import icrl
from icrl.config import ConfigError
from icrl.errors import IcrlError, ModelFileError, TeacherError


def test_make_teacher_names_the_bad_value_and_the_allowed_ones():
    from icrl.teachers import TEACHERS, make_teacher

    with pytest.raises(TeacherError, match=r"teacher 'sarsa' is invalid: allowed .*thompson") as err:
        make_teacher("sarsa")
    assert isinstance(err.value, IcrlError) and isinstance(err.value, ValueError)
    for name in TEACHERS:
        assert name in str(err.value)
    with pytest.raises(TeacherError, match=r"bad options for teacher 'ucb' \(beta=1\.0\)"):
        make_teacher("ucb", beta=1.0)
    with pytest.raises(TeacherError, match="epsilon must lie in"):
        make_teacher("egreedy", epsilon=2.0)
    with pytest.raises(TeacherError, match="epsilon must lie in"):  # the class itself, too
        TEACHERS["egreedy"](epsilon=2.0)


@pytest.mark.parametrize("text", ["2/2", "-1/2", "1", "a/b", "1/2/3", "0/0", ""])
def test_shard_is_checked_with_a_clear_error(text):
    from icrl.sweep import parse_shard

    with pytest.raises(ConfigError, match=re.escape(f"--shard {text!r} is invalid: allowed I/N")):
        parse_shard(text)


def test_shard_parses():
    from icrl.sweep import parse_shard

    assert parse_shard("1/4") == (1, 4)
    assert parse_shard("0/1") == (0, 1)


def test_no_assert_checks_input_in_the_library():
    src = Path(icrl.__file__).parent
    found = [f"{p.relative_to(src)}:{i}" for p in src.rglob("*.py")
             for i, line in enumerate(p.read_text().splitlines(), 1) if re.match(r"\s*assert\b", line)]
    assert not found, f"asserts in src (use an error naming the bad value): {found}"


def test_model_file_errors_are_their_own_type(tmp_path):
    from icrl.data import DatasetError
    from icrl.models.files import load_model, read_model_config

    path = tmp_path / "weights.safetensors"
    path.write_bytes(b"not a model")
    for read in (load_model, read_model_config):
        with pytest.raises(ModelFileError, match="weights.safetensors: not a readable safetensors model file") as err:
            read(path)
        assert isinstance(err.value, IcrlError) and not isinstance(err.value, DatasetError)


def test_dead_code_is_gone():
    import icrl.envs
    import icrl.train
    from icrl.models.files import load_model

    assert not hasattr(icrl.train, "train")  # the Trainer (or icrl.pipeline.train) trains
    with pytest.raises(AttributeError):
        icrl.envs.ENV_CLASSES  # noqa: B018 - the spec registry (icrl.suites.ENV_SPECS) holds the classes
    import inspect

    assert "expect" not in inspect.signature(load_model).parameters  # the trainer checks a checkpoint's config

"""The library's error base.

Every error that means "bad input" (an invalid config, a foreign or damaged file, a bad action, a
diverged run) derives from ``IcrlError``; the command line turns exactly these (and missing or
existing files) into a one-line message, while anything else is a bug and keeps its traceback.
The concrete types also derive from ``ValueError``, as they did before this base existed.
"""

from __future__ import annotations


class IcrlError(Exception):
    """Base of the errors that report bad input (configs, files, actions, options) in one line."""


class ModelFileError(IcrlError, ValueError):
    """A model file (``model.safetensors``, a checkpoint's ``step-N.safetensors`` or its trainer
    state ``step-N.pt``) that is foreign, damaged, or holds weights that do not fit its config."""


class TeacherError(IcrlError, ValueError):
    """An unknown teacher name, or options a teacher does not take (naming the bad value and what is
    allowed)."""

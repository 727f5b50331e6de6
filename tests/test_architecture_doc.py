"""``docs/architecture.md`` matches the code.

The page's conventions, each checked here:

* every backticked path under ``src/``, ``tests/`` or ``docs/`` exists (``<name>`` stands for any
  name: at least one file must match);
* every backticked dotted ``icrl.…`` name resolves (a module, or an attribute of one);
* every backticked config field ``section.field`` (``=value`` allowed) is a field of that config
  section, or an old name in ``RENAMED_FIELDS``;
* each row of the registry table names a registry (``icrl.module.NAME``) that is a mapping holding
  every entry the row lists;
* the layer diagram (the ``text`` block under "Layers") names every unit of ``src/icrl`` once, and
  every module-level import points to a unit on a lower line;
* the recipes' claims about where shipped entries live hold.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import re
from collections.abc import Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
PACKAGE = ROOT / "src" / "icrl"
TEXT = DOC.read_text(encoding="utf-8")
TICKED = re.findall(r"`([^`\n]+)`", TEXT)
FILE_SUFFIXES = {"json", "jsonl", "md", "png", "py", "h5", "yaml", "safetensors", "pt", "lock"}


def section(title: str) -> str:
    """The text of the ``##`` section whose heading starts with ``title``."""
    match = re.search(rf"^## {re.escape(title)}.*?$(.*?)(?=^## |\Z)", TEXT, flags=re.M | re.S)
    assert match, f"docs/architecture.md has no section '## {title}'"
    return match.group(1)


# -- paths -------------------------------------------------------------------------------------
PATHS = sorted({t for t in TICKED if re.match(r"^(src|tests|docs)/[\w./<>*-]+$", t)})


def test_the_page_names_the_files_it_is_about():
    for expected in ("src/icrl/models/kinds.py", "src/icrl/models/actions.py", "src/icrl/models/rules.py",
                     "src/icrl/models/layouts.py", "src/icrl/models/features.py", "src/icrl/models/state_action.py",
                     "src/icrl/suites/__init__.py", "src/icrl/teachers/__init__.py", "src/icrl/config.py"):
        assert expected in PATHS
    assert "bring-your-own-env.md" in TEXT  # linked, not repeated


@pytest.mark.parametrize("path", PATHS)
def test_every_path_the_page_names_exists(path):
    if "<" in path:
        pattern = re.sub(r"<[^>]+>", "*", path)
        assert list(ROOT.glob(pattern)), f"docs/architecture.md names {path}: nothing matches {pattern}"
    else:
        assert (ROOT / path).exists(), f"docs/architecture.md names {path}, which does not exist"


# -- dotted names ------------------------------------------------------------------------------
NAMES = sorted({t.split("(")[0] for t in TICKED if re.match(r"^icrl(\.\w+)+(\(.*\))?$", t)})


def resolve(dotted: str):
    """The module or attribute ``dotted`` names: the longest importable module prefix, then attributes."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(dotted)


@pytest.mark.parametrize("dotted", NAMES)
def test_every_icrl_name_the_page_names_resolves(dotted):
    try:
        resolve(dotted)
    except (ImportError, AttributeError) as err:
        pytest.fail(f"docs/architecture.md names {dotted}, which does not resolve: {err}")


# -- config fields -----------------------------------------------------------------------------
FIELDS = sorted({m.group(1, 2) for t in TICKED
                 if (m := re.match(r"^(data|model|train|eval)\.(\w+)(=.*)?$", t)) and m.group(2) not in FILE_SUFFIXES})


def test_the_page_names_the_context_features_field():
    assert ("model", "context_features") in FIELDS


@pytest.mark.parametrize(("section_name", "name"), FIELDS)
def test_every_config_field_the_page_names_exists(section_name, name):
    from icrl.config import RENAMED_FIELDS, SECTIONS

    fields = {f.name for f in dataclasses.fields(SECTIONS[section_name])}
    assert name in fields or name in RENAMED_FIELDS.get(section_name, {}), \
        f"docs/architecture.md names {section_name}.{name}, which is not a config field"


# -- registries --------------------------------------------------------------------------------
def registry_rows() -> list[tuple[str, list[str]]]:
    """(registry, entries the row lists) of each row of the table under "### Registries"."""
    part = section("The parts").split("### Registries", 1)[1]
    rows = []
    for line in part.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and re.fullmatch(r"`icrl(\.\w+)+\.[A-Z][A-Z_]*`", cells[0]):
            entries = [] if cells[2].startswith("(") else re.findall(r"`([^`]+)`", cells[2])
            rows.append((cells[0].strip("`"), entries))
    return rows


REGISTRIES = registry_rows()


def test_the_registry_table_names_every_registry_of_an_axis():
    names = {name for name, _ in REGISTRIES}
    assert {"icrl.suites.ENV_SPECS", "icrl.teachers.TEACHERS", "icrl.models.kinds.MODEL_KINDS",
            "icrl.models.actions.ACTION_INTERFACES", "icrl.models.rules.ACTION_RULES",
            "icrl.models.layouts.LAYOUTS", "icrl.models.features.FEATURE_BLOCKS"} <= names


@pytest.mark.parametrize(("registry", "entries"), REGISTRIES, ids=[name for name, _ in REGISTRIES])
def test_every_registry_exists_and_holds_the_entries_the_page_lists(registry, entries):
    found = resolve(registry)
    assert isinstance(found, Mapping), f"{registry} is a {type(found).__name__}, not a mapping by name"
    missing = [e for e in entries if e not in found]
    assert not missing, f"{registry} has no entries {missing} (docs/architecture.md lists them)"


def test_registered_entries_live_where_the_recipes_put_them():
    from icrl.models.actions import ACTION_INTERFACES
    from icrl.models.features import FEATURE_BLOCKS
    from icrl.models.kinds import MODEL_KINDS
    from icrl.models.layouts import LAYOUTS
    from icrl.models.rules import ACTION_RULES
    from icrl.suites import ENV_SPECS
    from icrl.teachers import TEACHERS

    for name, cls in TEACHERS.items():
        assert cls.name == name and cls.__module__.startswith("icrl.teachers."), name
    for name, spec in ENV_SPECS.items():
        assert spec.env_class.__module__.startswith(("icrl.envs.", "icrl.family")), name
        if spec.env_class.__module__.startswith("icrl.envs."):  # a native env has both presets
            for preset in (name, f"{name}-cpu"):
                assert (PACKAGE / "configs" / f"{preset}.yaml").exists(), preset
    for kind in MODEL_KINDS.values():
        assert kind.actions in ACTION_INTERFACES and kind.actions in ACTION_RULES, kind.name
    for name, cls in ACTION_INTERFACES.items():
        assert cls.rules is ACTION_RULES[name]
    for registry in (LAYOUTS, FEATURE_BLOCKS):
        for name, cls in registry.items():
            assert cls.name == name and cls.__module__.startswith("icrl.models."), name


# -- layers ------------------------------------------------------------------------------------
def diagram() -> list[list[str]]:
    """The units of each line of the layer diagram, top line first."""
    block = re.search(r"```text\n(.*?)```", section("Layers"), flags=re.S)
    assert block, "the Layers section has no ```text diagram"
    return [[u.strip() for u in line.split("|")[0].split(",")] for line in block.group(1).splitlines() if line.strip()]


def units() -> dict[str, Path]:
    """``{unit: path}``: the top-level modules and subpackages of src/icrl, and ``icrl`` (the root)."""
    out = {"icrl": PACKAGE / "__init__.py"}
    for p in PACKAGE.iterdir():
        if p.suffix == ".py" and p.name != "__init__.py":
            out[p.stem] = p
        elif p.is_dir() and any(p.glob("*.py")):
            out[p.name] = p
    return out


def module_level_imports(path: Path):
    """The relative ``from`` imports of a file executed on import (not inside functions)."""
    def walk(body):
        for node in body:
            if isinstance(node, ast.ImportFrom):
                yield node
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            else:
                for name in ("body", "orelse", "finalbody", "handlers"):
                    yield from walk(getattr(node, name, []) or [])

    return list(walk(ast.parse(path.read_text(encoding="utf-8")).body))


def unit_imports() -> dict[str, set[str]]:
    """``{unit: units its files import at module level}`` (itself left out)."""
    out: dict[str, set[str]] = {}
    for unit, where in units().items():
        files = [where] if where.is_file() else sorted(where.rglob("*.py"))
        targets: set[str] = set()
        for f in files:
            package = list(f.relative_to(PACKAGE.parent).parent.parts)  # e.g. ["icrl", "models"]
            for node in module_level_imports(f):
                if node.level == 0:
                    if node.module and node.module.split(".")[0] == "icrl":
                        parts = node.module.split(".")
                        targets.add(parts[1] if len(parts) > 1 else "icrl")
                    continue
                base = package[: len(package) - (node.level - 1)]
                names = base + node.module.split(".") if node.module else base
                if len(names) > 1:
                    targets.add(names[1])
                else:  # ``from .. import x`` in a subpackage, ``from . import x`` at the root
                    for alias in node.names:
                        sub = alias.name
                        targets.add(sub if sub in units() and sub != "icrl" else "icrl")
        out[unit] = targets - {unit}
    return out


def test_the_layer_diagram_names_every_unit_once():
    named = [u for line in diagram() for u in line]
    assert sorted(named) == sorted(set(named)), "a unit is named twice in the layer diagram"
    assert set(named) == set(units()), (f"the layer diagram and src/icrl differ: missing {sorted(set(units()) - set(named))}, "
                                        f"not in the code {sorted(set(named) - set(units()))}")


def test_module_level_imports_only_point_down_the_layer_diagram():
    level = {u: i for i, line in enumerate(diagram()) for u in line}
    wrong = [f"{u} -> {v}" for u, targets in unit_imports().items() for v in sorted(targets)
             if level.get(v, -1) <= level.get(u, -1)]
    assert not wrong, f"imports that point up or sideways in docs/architecture.md's diagram: {', '.join(wrong)}"


def test_nothing_imports_the_cli():
    assert not [u for u, targets in unit_imports().items() if "cli" in targets and u != "__main__"]

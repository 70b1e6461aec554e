"""The method table against what it describes: the scripts, the configs, Dassl's registry, the results."""

from __future__ import annotations

import ast
import inspect
import stat
import types

import pytest

from tests.conftest import REPO, requires_dassl
from tools import results
from trainers import methods
from trainers.methods import BASE2NEW, BY_NAME, FAMILIES, FEW_SHOT, GROUPS, METHODS, ZERO_SHOT


def test_every_script_is_a_methods_and_written_from_the_table():
    on_disk = {str(path.relative_to(REPO / "scripts")) for path in (REPO / "scripts").glob("*/*.sh")}
    assert on_disk == {relative for row in METHODS for relative in row.script_files}
    for row in METHODS:
        assert {f"{row.script}/{script}" for script in row.scripts} <= set(row.script_files), row.name
        for relative, script in row.script_files.items():
            path = REPO / "scripts" / relative
            fix = f"{path}: python -m trainers.methods scripts"
            assert path.read_text() == methods.script_text(row, script), fix
            assert path.stat().st_mode & stat.S_IXUSR


def test_biomedcoops_script_paths_that_differ_from_ours_run_our_scripts():
    assert BY_NAME["LPPlusPlus"].script_files["linear_probe2/few_shot.sh"] == "few_shot.sh"
    assert BY_NAME["ZeroshotCLIP"].script_files["zeroshot/zeroshot.sh"] == "zero_shot.sh"


def test_a_few_shot_script_names_its_method_and_the_zero_shot_script_its_zero_shots_go_to():
    text = (REPO / "scripts/biomedvr/few_shot.sh").read_text()
    assert "METHOD=BioMedVR\nZERO_SHOT_SCRIPT=scripts/biomedvr_zs/zero_shot.sh\n" in text
    assert text.endswith('few_shot "$@"\n')
    assert "ZERO_SHOT_SCRIPT" not in (REPO / "scripts/zeroshot/zero_shot.sh").read_text()


def test_every_method_has_the_config_of_each_protocol_and_nothing_else_is_configured():
    assert {path.name for path in (REPO / "configs/trainers").iterdir()} == set(BY_NAME)
    for row in METHODS:
        for protocol in row.protocols:
            assert row.config_file(protocol).is_file(), (row.name, protocol)
        assert (BASE2NEW in row.protocols) == row.config_file(BASE2NEW).is_file(), row.name


def test_rows_are_consistent():
    for row in METHODS:
        assert row.family in FAMILIES and row.group in GROUPS, row.name
        assert (ZERO_SHOT in row.protocols) == (row.zero_shot is None) == (row.group == "zero-shot"), row.name
        assert ZERO_SHOT not in row.protocols or row.protocols == (ZERO_SHOT,), row.name
        assert row.zero_shot is None or ZERO_SHOT in BY_NAME[row.zero_shot].protocols, row.name
        assert FEW_SHOT in row.protocols or ZERO_SHOT in row.protocols, row.name
    assert len({row.script for row in METHODS}) == len(METHODS)


def test_results_rows_follow_the_table_by_group():
    assert results.METHOD_ORDER[:4] == ("ZeroshotCLIP", "AttrVR_ZS", "BioMedVR_ZS", "LinearProbe")
    assert results.METHOD_ORDER[-4:] == ("VP", "AR", "AttrVR", "BioMedVR")
    assert sorted(results.METHOD_ORDER) == sorted(BY_NAME)


def test_an_unknown_method_lists_the_known_ones():
    with pytest.raises(methods.UnknownMethodError, match="unknown method 'Nope'; known: ZeroshotCLIP, "):
        methods.method("Nope")


@requires_dassl
def test_the_registry_holds_exactly_the_tables_trainers():
    from dassl.engine import TRAINER_REGISTRY

    methods.import_trainers()
    ours = {name for name, cls in TRAINER_REGISTRY._obj_map.items() if cls.__module__.startswith("trainers.")}
    assert ours == set(BY_NAME)
    for row in METHODS:
        assert TRAINER_REGISTRY.get(row.name).__module__ == row.module


# The families' own modules; the rest of trainers/ is shared below them (the base, encoding, data, ...).
FAMILY_MODULES = {
    "vr": {"vr", "mope", "reprogram", "attribute_bank", "losses"},
    "prompt": {"prompt_learning", "text_prompts", "prompt_losses"},
    "feature": {"feature_baselines", "features", "adapters", "cache_model", "linear_probe", "zeroshot_clip"},
}


def trainer_imports(module: str) -> set[str]:
    """The trainers.* modules that trainers/<module>.py imports."""
    tree = ast.parse((REPO / "trainers" / f"{module}.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name.split(".")[1] for name in names if name.startswith("trainers.")}


def test_families_stand_on_the_shared_modules_and_never_import_each_other():
    family_of = {module: family for family, modules in FAMILY_MODULES.items() for module in modules}
    shared = {path.stem for path in (REPO / "trainers").glob("*.py")} - set(family_of) - {"__init__"}
    for module in shared:
        assert not trainer_imports(module) & set(family_of), f"shared trainers/{module}.py imports a family"
    for module, family in family_of.items():
        others = {m for m in trainer_imports(module) if family_of.get(m, family) != family}
        assert not others, f"trainers/{module}.py ({family}) imports {others} of another family"
    for row in METHODS:
        assert family_of[row.module.split(".")[1]] == row.family, row.name


def signature(member) -> list[tuple[str, object, object]]:
    """A method's parameters: name, kind and default (annotations aside)."""
    function = getattr(member, "__func__", member)
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


@requires_dassl
def test_every_trainer_overrides_a_method_only_with_the_signature_it_overrides():
    from dassl.engine import TRAINER_REGISTRY

    methods.import_trainers()
    kinds = (types.FunctionType, classmethod, staticmethod)
    for row in METHODS:
        mro = TRAINER_REGISTRY.get(row.name).__mro__
        for index, klass in enumerate(mro):
            if not klass.__module__.startswith("trainers."):
                continue
            for name, member in vars(klass).items():
                if name.startswith("__") or not isinstance(member, kinds):
                    continue
                base = next((b for b in mro[index + 1 :] if isinstance(vars(b).get(name), kinds)), None)
                if base is not None:
                    assert signature(member) == signature(vars(base)[name]), (
                        f"{klass.__name__}.{name} overrides {base.__name__}.{name} with another signature"
                    )


def test_no_trainer_class_is_longer_than_about_200_lines():
    for path in (REPO / "trainers").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                assert node.end_lineno - node.lineno < 230, f"{path.name}: {node.name}"


@requires_dassl
def test_no_trainer_inherits_along_a_diamond():
    from dassl.engine import TRAINER_REGISTRY

    methods.import_trainers()
    for row in METHODS:
        for klass in TRAINER_REGISTRY.get(row.name).__mro__:
            ancestors = [set(base.__mro__) - {object} for base in klass.__bases__]
            shared = set.intersection(*ancestors) if len(ancestors) > 1 else set()
            assert not shared, f"{klass.__name__}'s bases share {sorted(c.__name__ for c in shared)}"

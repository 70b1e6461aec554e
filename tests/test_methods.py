"""The method table against what it describes: the scripts, the configs, Dassl's registry, the results."""

from __future__ import annotations

import stat

import pytest

from tests.conftest import REPO, requires_dassl
from tools import results
from trainers import methods
from trainers.methods import BASE2NEW, BY_NAME, FAMILIES, FEW_SHOT, GROUPS, METHODS, ZERO_SHOT


def test_every_script_folder_is_a_methods_and_holds_exactly_its_scripts():
    folders = {path.parent.name for path in (REPO / "scripts").glob("*/*.sh")}
    assert folders == {row.script for row in METHODS}
    for row in METHODS:
        folder = REPO / "scripts" / row.script
        assert sorted(path.name for path in folder.glob("*.sh")) == sorted(row.scripts), row.name
        for script in row.scripts:
            path = folder / script
            fix = f"{path}: python -m trainers.methods scripts"
            assert path.read_text() == methods.script_text(row, script), fix
            assert path.stat().st_mode & stat.S_IXUSR


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

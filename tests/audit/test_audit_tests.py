"""scripts/audit-tests.py against the real build: it passes there, and fails on each way a
registration can go wrong (the ctest entries are altered, the binaries are the real ones)."""
import copy
import importlib.util
import os
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC = importlib.util.spec_from_file_location(
    "audit_tests", os.path.join(HERE, "..", "..", "scripts", "audit-tests.py"))
audit_tests = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(audit_tests)

BUILD = os.environ.get("POS_BUILD_DIR", "")
SEMICOLON_CASE = "registration: a name with a semicolon; it stays one ctest entry"


@pytest.fixture(scope="module")
def real():
    assert BUILD and os.path.isdir(BUILD), "set POS_BUILD_DIR to a configured and built tree"
    return audit_tests.ctest_entries(BUILD), audit_tests.catch_binaries(BUILD)


def entry(entries, name):
    found = [e for e in entries if e["name"] == name]
    assert len(found) == 1, name
    return found[0]


def test_the_real_build_passes(real):
    entries, binaries = real
    assert len(binaries) >= 1
    problems, counts = audit_tests.audit(entries, binaries)
    assert problems == []
    assert all(registered == n for n, _, registered in counts.values())


def test_a_name_split_at_its_semicolon_fails(real):
    # What Catch2's own catch_discover_tests makes of the name: two entries, one per half.
    entries, binaries = real
    broken = [e for e in entries if e["name"] != SEMICOLON_CASE]
    whole = entry(entries, SEMICOLON_CASE)
    for half in SEMICOLON_CASE.split(";"):
        broken.append({"name": half, "command": [whole["command"][0], half, "--warn", "NoTests"]})
    problems, _ = audit_tests.audit(broken, binaries)
    assert any("selects no test case" in p for p in problems)
    assert any(f'"{SEMICOLON_CASE}"' in p and "run by no ctest entry" in p for p in problems)


def test_an_entry_without_the_no_tests_warning_fails(real):
    entries, binaries = real
    altered = copy.deepcopy(entries)
    e = entry(altered, SEMICOLON_CASE)
    e["command"] = [a for a in e["command"] if a not in ("--warn", "NoTests")]
    problems, _ = audit_tests.audit(altered, binaries)
    assert problems == [f'entry "{SEMICOLON_CASE}": runs pos_tests without --warn NoTests']


def test_a_missing_or_doubled_entry_fails(real):
    entries, binaries = real
    missing = [e for e in entries if e["name"] != SEMICOLON_CASE]
    problems, _ = audit_tests.audit(missing, binaries)
    assert problems == [f'test case "{SEMICOLON_CASE}" of pos_tests: run by no ctest entry']
    doubled = entries + [copy.deepcopy(entry(entries, SEMICOLON_CASE))]
    problems, _ = audit_tests.audit(doubled, binaries)
    assert problems == [f'test case "{SEMICOLON_CASE}" of pos_tests: run by 2 ctest entries']


def test_an_entry_that_selects_many_or_another_case_fails(real):
    entries, binaries = real
    altered = copy.deepcopy(entries)
    e = entry(altered, SEMICOLON_CASE)
    e["command"][1] = "[registration]"
    problems, _ = audit_tests.audit(altered, binaries)
    assert any(p.startswith(f'entry "{SEMICOLON_CASE}": selects 4 test cases') for p in problems)
    e["command"][1] = "\\~registration: a leading tilde does not exclude"
    problems, _ = audit_tests.audit(altered, binaries)
    assert any(p == f'entry "{SEMICOLON_CASE}": runs the test case "~registration: a leading '
               'tilde does not exclude"' for p in problems)


def test_a_catch_binary_that_ctest_does_not_know_fails(real):
    entries, binaries = real
    pos_tests = [b for b in binaries if os.path.basename(b) == "pos_tests"]
    assert pos_tests
    unknown = [e for e in entries
               if not e["command"] or os.path.realpath(e["command"][0]) != pos_tests[0]]
    problems, _ = audit_tests.audit(unknown, binaries)
    assert sum("run by no ctest entry" in p for p in problems) >= 50


def test_an_entry_that_selects_nothing_fails_when_run(real):
    # The runtime half of the guard: Catch2 with --warn NoTests exits non-zero on no match.
    _, binaries = real
    exe = [b for b in binaries if os.path.basename(b) == "pos_tests"][0]
    run = subprocess.run([exe, "registration: a name with a semicolon", "--warn", "NoTests"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    ok = subprocess.run([exe, "registration: a name with a semicolon\\; it stays one ctest entry",
                         "--warn", "NoTests"], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stdout

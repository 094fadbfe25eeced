#!/usr/bin/env python3
"""Checks that ctest runs every Catch2 test case of a build exactly once, by its own name.

Usage: audit-tests.py BUILD_DIR

A Catch2 binary is any executable under BUILD_DIR that embeds Catch2's identity string, whether
or not ctest knows it. For each ctest entry that runs one, the entry's own arguments are given
back to the binary with --list-test-names-only, so Catch2 itself says what the entry selects.
The audit fails (exit 1, one line per problem) when an entry selects no test case or more than
one, selects a case of another name, or lacks `--warn NoTests`; and when a test case (hidden
ones, tagged [.], aside) is selected by no entry or by several.
"""
import json
import os
import subprocess
import sys

# Catch2 v2's --libidentify text: present in every binary built with Catch2's test runner.
CATCH_MARK = b"A Catch2 test executable"
SKIP_DIRS = {"CMakeFiles", "node_modules", ".git", "artifacts"}


def ctest_entries(build):
    """The ctest entries of a build: [{"name": ..., "command": [...]}]."""
    out = subprocess.run(["ctest", "--test-dir", build, "--show-only=json-v1"],
                         check=True, capture_output=True).stdout
    return [{"name": t["name"], "command": t.get("command", [])}
            for t in json.loads(out)["tests"]]


def catch_binaries(build):
    """Real paths of the Catch2 executables under the build dir."""
    found = set()
    for root, dirs, files in os.walk(build):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        for name in files:
            path = os.path.join(root, name)
            if name.endswith((".so", ".a", ".o")) or not os.access(path, os.X_OK):
                continue
            if not os.path.isfile(path) or os.path.islink(path):
                continue
            with open(path, "rb") as f:
                if f.read(4) != b"\x7fELF":
                    continue
                if CATCH_MARK in f.read():
                    found.add(os.path.realpath(path))
    return found


def selected(exe, args=()):
    """The test case names that `exe args...` would run, as Catch2 itself lists them."""
    result = subprocess.run([exe, *args, "--list-test-names-only"], capture_output=True,
                            text=True, timeout=60)
    return [line.rstrip("\r") for line in result.stdout.split("\n") if line.strip()]


def has_no_tests_warning(args):
    for i, a in enumerate(args[:-1]):
        if a in ("--warn", "-w") and args[i + 1] == "NoTests":
            return True
    return False


def audit(entries, binaries):
    """Returns (problems, per-binary counts)."""
    problems = []
    cases = {exe: selected(exe) for exe in sorted(binaries)}
    hidden = {exe: selected(exe, ["[.]"]) for exe in cases}
    runs = {(exe, c): [] for exe, names in cases.items() for c in names}
    entry_count = {exe: 0 for exe in cases}
    for entry in entries:
        command = entry["command"]
        if not command:
            continue
        exe = os.path.realpath(command[0])
        if exe not in cases:
            continue
        entry_count[exe] += 1
        args = command[1:]
        name = entry["name"]
        if not has_no_tests_warning(args):
            problems.append(f'entry "{name}": runs {os.path.basename(exe)} without --warn NoTests')
        chosen = selected(exe, args)
        if not chosen:
            problems.append(f'entry "{name}": selects no test case of {os.path.basename(exe)}')
        elif len(chosen) > 1:
            problems.append(f'entry "{name}": selects {len(chosen)} test cases: ' +
                            "; ".join(f'"{c}"' for c in chosen[:5]))
        elif chosen[0] != name:
            problems.append(f'entry "{name}": runs the test case "{chosen[0]}"')
        for c in chosen:
            runs.setdefault((exe, c), []).append(name)
    for (exe, case), by in sorted(runs.items()):
        if case in hidden[exe]:
            continue
        if not by:
            problems.append(f'test case "{case}" of {os.path.basename(exe)}: run by no ctest entry')
        elif len(by) > 1:
            problems.append(f'test case "{case}" of {os.path.basename(exe)}: run by {len(by)} '
                            "ctest entries")
    counts = {exe: (len(cases[exe]), len(hidden[exe]), entry_count[exe]) for exe in cases}
    return problems, counts


def main(argv):
    if len(argv) != 2 or argv[1].startswith("-"):
        print("usage: audit-tests.py BUILD_DIR", file=sys.stderr)
        return 2
    build = argv[1]
    entries = ctest_entries(build)
    binaries = catch_binaries(build)
    if not binaries:
        print(f"audit-tests: no Catch2 binary under {build}", file=sys.stderr)
        return 1
    problems, counts = audit(entries, binaries)
    for exe, (n, hidden, registered) in sorted(counts.items()):
        print(f"audit-tests: {os.path.basename(exe)}: {n} test cases, {registered} ctest entries"
              + (f", {hidden} hidden (opt-in)" if hidden else ""))
    print(f"audit-tests: {len(entries)} ctest entries in all")
    for p in problems:
        print(f"audit-tests: {p}", file=sys.stderr)
    if problems:
        print(f"audit-tests: {len(problems)} problems", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/env python3
"""Checks that the CMake build builds what the Bazel build defines.

CMakeLists.txt reads the library's file lists out of the layers'
BUILD.bazel files, but the tests (cmake/GcrtTests.cmake) and the demo are
listed by hand. Every configure writes what it set up to
gcrt_bazel_manifest.txt in the build folder, one fact per line:

  library //runtime:runtime srcs runtime/check.cc
  library //runtime:runtime include_prefix gcrt/runtime
  binary //benchmarks:demo srcs benchmarks/demo.cc
  test //tests/gc:task_test srcs tests/gc/task_test.cc
  test //tests/gc:task_test env GCRT_PROCS=2
  test //tests/gc:task_test size medium

This script derives the same lines from `bazel query` and prints every line
one build has and the other lacks. A test's sources include those of the
test-only libraries under tests/ it depends on, and their copts join its
own (CMake compiles them together with the test's flags). Exits 0 when the
two agree, 1 with the differences, 2 when bazel query fails.

  tools/cmake_drift_check.py <build folder>/gcrt_bazel_manifest.txt
  tools/cmake_drift_check.py --bazel "bazel --output_base=X" <manifest>
"""

import argparse
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET

LAYERS = ["runtime", "alloc", "gc", "api"]
BINARIES = ["//benchmarks:demo"]


def query(bazel, expr):
    """The rules `expr` names, by label: {label: <rule> element}."""
    cmd = bazel + ["query", "--output=xml", expr]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        sys.stderr.write(run.stderr)
        print(f"cmake_drift_check: `{shlex.join(cmd)}` failed")
        sys.exit(2)
    root = ET.fromstring(run.stdout)
    return {r.get("name"): r for r in root.iter("rule")}


def attr_list(rule, name):
    for node in rule:
        if node.tag == "list" and node.get("name") == name:
            return [v.get("value") for v in node]
    return []


def attr_string(rule, name, default=None):
    for node in rule:
        if node.tag == "string" and node.get("name") == name:
            return node.get("value")
    return default


def attr_bool(rule, name):
    for node in rule:
        if node.tag == "boolean" and node.get("name") == name:
            return node.get("value") == "true"
    return False


def attr_dict(rule, name):
    for node in rule:
        if node.tag == "dict" and node.get("name") == name:
            return [
                (p[0].get("value"), p[1].get("value")) for p in node.iter("pair")
            ]
    return []


def path(label):
    """//tests/gc:a.cc -> tests/gc/a.cc (files of the main repository)."""
    package, _, name = label[2:].partition(":")
    return f"{package}/{name}" if package else name


def bazel_lines(bazel):
    lines = set()
    libraries = query(
        bazel, 'kind("cc_library", {})'.format(" + ".join(f"//{l}/..." for l in LAYERS))
    )
    for label, rule in libraries.items():
        if attr_bool(rule, "testonly"):
            continue
        for attr in ("srcs", "hdrs"):
            for f in attr_list(rule, attr):
                lines.add(f"library {label} {attr} {path(f)}")
        prefix = attr_string(rule, "include_prefix")
        if prefix:
            lines.add(f"library {label} include_prefix {prefix}")
    for label, rule in query(bazel, " + ".join(BINARIES)).items():
        for f in attr_list(rule, "srcs"):
            lines.add(f"binary {label} srcs {path(f)}")

    tests = query(bazel, 'kind("cc_test", //...)')
    helpers = query(bazel, 'kind("cc_library", //tests/...)')
    for label, rule in tests.items():
        srcs = list(attr_list(rule, "srcs"))
        copts = list(attr_list(rule, "copts"))
        for dep in attr_list(rule, "deps"):
            if dep in helpers:
                srcs += attr_list(helpers[dep], "srcs")
                copts += attr_list(helpers[dep], "copts")
        for f in srcs:
            lines.add(f"test {label} srcs {path(f)}")
        for c in copts:
            lines.add(f"test {label} copts {c}")
        for l in attr_list(rule, "linkopts"):
            lines.add(f"test {label} linkopts {l}")
        for k, v in attr_dict(rule, "env"):
            lines.add(f"test {label} env {k}={v}")
        # Bazel's default size (and timeout) is medium.
        lines.add(f"test {label} size {attr_string(rule, 'size', 'medium')}")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("manifest", help="gcrt_bazel_manifest.txt of a CMake build folder")
    parser.add_argument("--bazel", default="bazel", help="the bazel command to run")
    args = parser.parse_args()
    with open(args.manifest) as f:
        cmake = {line.strip() for line in f if line.strip()}
    bazel = bazel_lines(shlex.split(args.bazel))
    only_bazel = sorted(bazel - cmake)
    only_cmake = sorted(cmake - bazel)
    for line in only_bazel:
        print(f"cmake_drift_check: Bazel has, CMake lacks: {line}")
    for line in only_cmake:
        print(f"cmake_drift_check: CMake has, Bazel lacks: {line}")
    if only_bazel or only_cmake:
        print(
            "cmake_drift_check: FAILED: the CMake build differs from the Bazel "
            "build; update cmake/GcrtTests.cmake or CMakeLists.txt to match "
            "the BUILD.bazel files"
        )
        return 1
    print(f"cmake_drift_check: ok ({len(cmake)} facts agree)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

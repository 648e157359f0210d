#!/usr/bin/env bash
# gcrt from another Bazel workspace, offline, twice: tests/consumers/bazel as
# it is (local_repository), and a copy of it that takes gcrt from a release
# archive (http_archive of a tarball of the repository's files) under
# another repository name. Each builds and runs the consumer's program.
# Output bases beside the default one's, so reruns stay warm.
# Ends with "consumer_bazel: ok" or exits nonzero saying which use failed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# No bazel-* links in the consumer's folder (--symlink_prefix=/), and no
# sandbox (its debug lines would fill the CI log; the main build runs
# unsandboxed for the same reason, .bazelrc).
flags=(--symlink_prefix=/ --spawn_strategy=local --test_output=all)
base=$(bazel info output_base 2>/dev/null)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "consumer_bazel: local_repository"
(cd tests/consumers/bazel &&
  bazel --output_base="$base-consumer" test //... "${flags[@]}" &&
  bazel --output_base="$base-consumer" shutdown) ||
  { echo "consumer_bazel: FAILED: the local_repository consumer"; exit 1; }

# The archive holds what git tracks, as a release would (and nothing of
# bazel-* or build outputs); the consumer names the repository gcrt_runtime.
version=$(sed -n 's/^#define GCRT_VERSION_STRING "\(.*\)"$/\1/p' api/version.h)
git ls-files -z | tar --null -czf "$work/gcrt-$version.tar.gz" -T - \
  --transform "s,^,gcrt-$version/,"
sha256=$(sha256sum "$work/gcrt-$version.tar.gz" | cut -d' ' -f1)
mkdir "$work/consumer"
git ls-files -z tests/consumers/bazel | tar --null -cf - -T - |
  tar -xf - -C "$work/consumer" --strip-components=3
cd "$work/consumer"
sed -i 's/@gcrt\/\//@gcrt_runtime\/\//' BUILD.bazel WORKSPACE
python3 - "$work" "$version" "$sha256" <<'PY'
import re, sys
work, version, sha = sys.argv[1:]
p = "WORKSPACE"
s = open(p).read()
s, n = re.subn(r'local_repository\(\n    name = "gcrt",\n    path = "[^"]*",\n\)',
    'load("@bazel_tools//tools/build_defs/repo:http.bzl", "http_archive")\n\n'
    'http_archive(\n    name = "gcrt_runtime",\n'
    f'    sha256 = "{sha}",\n    strip_prefix = "gcrt-{version}",\n'
    f'    urls = ["file://{work}/gcrt-{version}.tar.gz"],\n)', s)
assert n == 1, "tests/consumers/bazel/WORKSPACE: no local_repository of gcrt"
open(p, "w").write(s)
PY
echo "consumer_bazel: http_archive"
(bazel --output_base="$base-consumer-archive" test //... "${flags[@]}" &&
  bazel --output_base="$base-consumer-archive" shutdown) ||
  { echo "consumer_bazel: FAILED: the http_archive consumer"; exit 1; }
cd "$root"
echo "consumer_bazel: ok"

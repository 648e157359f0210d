"""gcrt's dependencies, for the workspace that uses gcrt.

A workspace that uses gcrt as an external repository (under any name) adds
it and this one call to its WORKSPACE:

    local_repository(name = "gcrt", path = "/path/to/gcrt")
    load("@gcrt//:deps.bzl", "gcrt_dependencies")
    gcrt_dependencies()

and builds with C++20 (`build --cxxopt=-std=c++20` in its .bazelrc; gcrt's
headers stop with a static_assert that says so otherwise).

gcrt_dependencies() defines:
- @gcrt_system: Boost.Context, Boost (PFR), GoogleTest and Google Benchmark
  from the machine's /usr (Debian's packages, tools/setup.sh). The name is
  gcrt's own, so a consumer's repositories, whatever their names, neither
  collide with it nor replace it.
- Offline stand-ins for @rules_cc, @rules_java and @remote_coverage_tools,
  which Bazel 4.2.3 would otherwise download (third_party/ says what each
  holds), unless the workspace defines them itself before the call.
"""

def _stand_in_impl(rctx):
    # The repository is a copy (by symlinks) of a folder of gcrt's
    # third_party/, found through a label so that it works wherever gcrt is
    # and whatever the consumer named it.
    third_party = rctx.path(Label("//third_party:BUILD.bazel")).dirname
    for child in third_party.get_child(rctx.attr.folder).readdir():
        rctx.symlink(child, child.basename)

_stand_in = repository_rule(
    implementation = _stand_in_impl,
    attrs = {"folder": attr.string(mandatory = True)},
    local = True,
)

def gcrt_dependencies():
    """Defines the repositories gcrt's BUILD files use (see the file's doc)."""
    for name in ["rules_cc", "rules_java", "remote_coverage_tools"]:
        if not native.existing_rule(name):
            _stand_in(name = name, folder = name)
    if not native.existing_rule("gcrt_system"):
        native.new_local_repository(
            name = "gcrt_system",
            build_file = str(Label("//third_party:system.BUILD")),
            path = "/usr",
        )

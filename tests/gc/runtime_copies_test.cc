// One copy of gcrt per process: a plugin that brings a second copy (a
// program linked with libgcrt.a loading one linked with libgcrt.so) stops
// the program with a message naming both modules, instead of two heaps
// each reclaiming what only the other holds.

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <string>

#include "gcrt/gc.h"

namespace {

struct Node {
  gc::Ptr<Node> next;
};

// The plugin sits beside the test's executable (Bazel's output folder, or
// CMake's tests/gc).
std::string PluginPath() {
  char exe[PATH_MAX] = {};
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0) return "";
  std::string path(exe, static_cast<size_t>(n));
  return path.substr(0, path.rfind('/') + 1) + "second_runtime_plugin.so";
}

// Under CMake the plugin links libgcrt.so, which the message names.
TEST(RuntimeCopiesDeathTest, ASecondCopyStopsTheProgramNamingBoth) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const std::string plugin = PluginPath();
  ASSERT_EQ(access(plugin.c_str(), R_OK), 0) << plugin;
  EXPECT_DEATH(
      {
        gc::Root<Node> mine = gc::make<Node>();  // this copy starts first
        void* handle = dlopen(plugin.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (handle == nullptr) {
          std::fprintf(stderr, "dlopen: %s\n", dlerror());
          std::_Exit(3);
        }
        auto allocate = reinterpret_cast<long (*)(long)>(
            dlsym(handle, "second_runtime_allocate"));
        if (allocate == nullptr) std::_Exit(4);
        allocate(1000);
        std::_Exit(0);
      },
      "two copies of gcrt in one process: the one in .*runtime_copies_test "
      "started first, and now the one in "
      ".*(second_runtime_plugin|libgcrt)\\.so");
}

// The claim is the process's: a fork's child goes on with its parent's
// copy, and a child that execs starts afresh.
TEST(RuntimeCopiesTest, AForksChildKeepsItsParentsCopy) {
  gc::Root<Node> mine = gc::make<Node>();
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    gc::Root<Node> child = gc::make<Node>();
    child->next = mine;
    gc::collect();
    std::_Exit(child->next == mine ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

}  // namespace

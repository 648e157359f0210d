# gcrt's GoogleTest suites under CTest: every cc_test of tests/*/BUILD.bazel,
# with the sources, copts, linkopts, environment and size Bazel gives it.
# tools/cmake_drift_check.py compares this list with `bazel query` (CI's
# consumer-cmake leg runs it): a test added, dropped or changed on one side
# only fails that check.
#
# Left to Bazel: the sh_tests (the layering check, the size-class table
# check, the compile-error and docs snippet tests, the gclog and pprof
# tools on real programs). They check the sources and tools, not the
# build, and run in CI's `bazel test //...`.
#
# Each test runs as Bazel runs it: linked statically (linkstatic), with
# .bazelrc's `test --test_env` settings (read from there) plus its own env,
# its own TEST_TMPDIR, and Bazel's timeout for its size.

find_package(GTest REQUIRED)

set(GCRT_TEST_ENV "")
file(STRINGS "${PROJECT_SOURCE_DIR}/.bazelrc" bazelrc_test_env
  REGEX "^test --test_env=[^ ]+=")
foreach(line IN LISTS bazelrc_test_env)
  string(REGEX REPLACE "^test --test_env=" "" setting "${line}")
  list(APPEND GCRT_TEST_ENV "${setting}")
endforeach()
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
  "${PROJECT_SOURCE_DIR}/.bazelrc")

# gcrt_test(<label> SRCS <file>... [COPTS <flag>...] [LINKOPTS <flag>...]
#           [ENV <name>=<value>...] [SIZE <size>] [DEPS <target>...] [NO_GCRT])
# SIZE is Bazel's size (small, medium or large), medium if not given, as
# in Bazel. <label> is the Bazel label without the leading //, e.g. tests/gc:api_test;
# it names the CTest test. SRCS holds the test's sources and those of the
# test-only libraries it depends on (compiled with the same copts). DEPS:
# CMake targets it links besides gcrt and GoogleTest; NO_GCRT: the test does
# not link gcrt (toolchain_test).
function(gcrt_test label)
  cmake_parse_arguments(PARSE_ARGV 1 arg "NO_GCRT" "SIZE" "SRCS;COPTS;LINKOPTS;ENV;DEPS")
  if(NOT label MATCHES "^(tests(/[a-z_]+)?):([a-z_]+)$")
    message(FATAL_ERROR "gcrt_test: `${label}` is not a label like tests/gc:api_test")
  endif()
  set(package "${CMAKE_MATCH_1}")
  set(name "${CMAKE_MATCH_3}")
  string(REPLACE "/" "_" target "${package}_${name}")
  if(NOT arg_SIZE)
    set(arg_SIZE medium)  # Bazel's default
  endif()

  add_executable(${target} ${arg_SRCS})
  set_target_properties(${target} PROPERTIES
    OUTPUT_NAME ${name}
    RUNTIME_OUTPUT_DIRECTORY "${PROJECT_BINARY_DIR}/${package}")
  target_compile_options(${target} PRIVATE ${arg_COPTS})
  # The tests include their helpers as "tests/test_support/...".
  target_include_directories(${target} PRIVATE "${PROJECT_SOURCE_DIR}")
  if(NOT arg_NO_GCRT)
    target_link_libraries(${target} PRIVATE gcrt_static)
  endif()
  target_link_libraries(${target} PRIVATE ${arg_DEPS} ${arg_LINKOPTS} GTest::gtest_main)

  set(tmpdir "${PROJECT_BINARY_DIR}/test_tmp/${package}/${name}")
  file(MAKE_DIRECTORY "${tmpdir}")
  add_test(NAME ${label} COMMAND ${target})
  # Bazel's timeout for the size.
  if(arg_SIZE STREQUAL "small")
    set(timeout 60)
  elseif(arg_SIZE STREQUAL "medium")
    set(timeout 300)
  elseif(arg_SIZE STREQUAL "large")
    set(timeout 900)
  else()
    message(FATAL_ERROR "gcrt_test(${label}): SIZE `${arg_SIZE}` is not small, medium or large")
  endif()
  set(env ${GCRT_TEST_ENV} ${arg_ENV} "TEST_TMPDIR=${tmpdir}")
  set_tests_properties(${label} PROPERTIES
    ENVIRONMENT "${env}"
    TIMEOUT ${timeout}
    LABELS ${arg_SIZE})

  set(lines "")
  foreach(src IN LISTS arg_SRCS)
    list(APPEND lines "test //${label} srcs ${src}")
  endforeach()
  foreach(field COPTS LINKOPTS ENV)
    string(TOLOWER ${field} key)
    foreach(value IN LISTS arg_${field})
      list(APPEND lines "test //${label} ${key} ${value}")
    endforeach()
  endforeach()
  list(APPEND lines "test //${label} size ${arg_SIZE}")
  set(GCRT_MANIFEST ${GCRT_MANIFEST} ${lines} PARENT_SCOPE)
endfunction()

set(DEBUG_BUILD -DGCRT_DEBUG_LEVEL=2)
# Suites that check exact reclamation turn the debug builds' quarantine of
# reclaimed objects off (tests/gc/BUILD.bazel says why).
set(EXACT_RECLAMATION GCRT_DEBUG=quarantine=0)

gcrt_test(tests:toolchain_test SRCS tests/toolchain_test.cc
  DEPS Boost::context NO_GCRT)

foreach(name
    backtrace_test check_test env_test list_test os_mem_test processor_test
    safepoint_test)
  gcrt_test(tests/runtime:${name} SRCS tests/runtime/${name}.cc)
endforeach()

foreach(name
    cache_test central_test gc_bits_test heap_test page_cache_test
    page_heap_test page_map_test safepoint_alloc_test scavenger_test
    size_classes_test span_test special_test sweepgen_test type_table_test)
  gcrt_test(tests/alloc:${name} SRCS tests/alloc/${name}.cc)
endforeach()

foreach(name
    api_test marker_test roots_test concurrent_test errors_test weak_test
    finalizer_test cleanup_test free_test zeroing_test construction_test
    trace_rules_test handle_ops_test stack_scan_test thread_test
    watchdog_test opaque_test crosscheck_test concurrent_mark_test
    lost_object_test vector_test hash_map_test weak_map_test why_alive_test
    cycle_events_test fork_test quarantine_test system_test
    external_memory_test)
  gcrt_test(tests/gc:${name} SRCS tests/gc/${name}.cc)
endforeach()
foreach(name
    census_test collector_test heap_profile_test scavtrace_test stats_test
    reachability_test scavenger_test sweeper_test)
  gcrt_test(tests/gc:${name} SRCS tests/gc/${name}.cc ENV ${EXACT_RECLAMATION})
endforeach()
# A plugin with a copy of gcrt of its own (libgcrt.so, where the test links
# libgcrt.a), which runtime_copies_test loads from beside itself.
add_library(second_runtime_plugin MODULE tests/gc/second_runtime_plugin.cc)
set_target_properties(second_runtime_plugin PROPERTIES
  PREFIX "" SUFFIX ".so"
  LIBRARY_OUTPUT_DIRECTORY "${PROJECT_BINARY_DIR}/tests/gc")
target_link_libraries(second_runtime_plugin PRIVATE gcrt_shared)
gcrt_test(tests/gc:runtime_copies_test SRCS tests/gc/runtime_copies_test.cc
  LINKOPTS -ldl)
add_dependencies(tests_gc_runtime_copies_test second_runtime_plugin)
gcrt_test(tests/gc:task_test SRCS tests/gc/task_test.cc ENV GCRT_PROCS=2)
gcrt_test(tests/gc:task_memory_test SRCS tests/gc/task_memory_test.cc
  ENV GCRT_PROCS=2 LINKOPTS -Wl,--wrap=malloc)
gcrt_test(tests/gc:config_test SRCS tests/gc/config_test.cc LINKOPTS -lgmock)
foreach(name destructor_check_test debug_checks_test)
  gcrt_test(tests/gc:${name} SRCS tests/gc/${name}.cc COPTS ${DEBUG_BUILD})
endforeach()
gcrt_test(tests/gc:free_debug_test SRCS tests/gc/free_debug_test.cc
  COPTS ${DEBUG_BUILD} ENV ${EXACT_RECLAMATION})
gcrt_test(tests/gc:zeroing_debug_test SRCS tests/gc/zeroing_test.cc COPTS ${DEBUG_BUILD})
gcrt_test(tests/gc:quarantine_debug_test SRCS tests/gc/quarantine_test.cc
  COPTS ${DEBUG_BUILD})

gcrt_test(tests/stress:stress_test SIZE medium
  SRCS tests/stress/stress_test.cc tests/stress/model.cc)
gcrt_test(tests/stress:stress_debug_test SIZE medium COPTS ${DEBUG_BUILD}
  SRCS tests/stress/stress_test.cc tests/stress/model.cc)
gcrt_test(tests/stress:api_fuzz_test SIZE medium
  SRCS tests/stress/api_fuzz_test.cc tests/stress/api_fuzzer.cc)
gcrt_test(tests/stress:api_fuzz_debug_test SIZE medium COPTS ${DEBUG_BUILD}
  SRCS tests/stress/api_fuzz_test.cc tests/stress/api_fuzzer.cc)
foreach(name fault_test memory_limit_test)
  gcrt_test(tests/stress:${name} SIZE medium SRCS tests/stress/${name}.cc
    ENV ${EXACT_RECLAMATION})
endforeach()

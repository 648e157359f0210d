# Reads a file list (srcs, hdrs) of one cc_library out of a BUILD.bazel
# file, so that CMake builds exactly what Bazel builds from one list.
#
# The parser accepts the one shape buildifier writes for a literal list of
# strings, and nothing else:
#
#   cc_library(                  <- at column 0, closed by ")" at column 0
#       name = "runtime",
#       srcs = [                 <- or on one line: srcs = ["a.cc", "b.cc"],
#           "backtrace.cc",
#       ],
#
# Anything else inside the list (glob(), a variable, a concatenation, a
# select()) stops the configure with a message naming the file and target:
# such a list has to be literal for both builds to read it. A missing
# attribute is an empty list (a header-only library has no srcs).

# Sets <out> to the entries of <attr> of cc_library <target> in <build_file>,
# as paths relative to the BUILD file's folder.
function(gcrt_bazel_list out build_file target attr)
  file(READ "${build_file}" text)
  # One list element per line. Semicolons and square brackets mean
  # something to CMake's lists, so they travel as placeholders.
  string(REPLACE ";" "<semicolon>" text "${text}")
  string(REPLACE "[" "<lbracket>" text "${text}")
  string(REPLACE "]" "<rbracket>" text "${text}")
  string(REPLACE "\n" ";" lines "${text}")

  set(where "${build_file}: cc_library \"${target}\"")
  set(in_rule FALSE)      # inside some cc_library( ... )
  set(is_target FALSE)    # ... and it is <target>
  set(in_list FALSE)      # inside <attr> = [ ... ] spread over lines
  set(found_rule FALSE)
  set(entries "")
  set(rule_entries "")
  foreach(line IN LISTS lines)
    if(NOT in_rule)
      if(line STREQUAL "cc_library(")
        set(in_rule TRUE)
        set(is_target FALSE)
        set(rule_entries "")
      endif()
      continue()
    endif()
    if(line STREQUAL ")")
      set(in_rule FALSE)
      if(is_target)
        if(found_rule)
          message(FATAL_ERROR "${where}: defined twice.")
        endif()
        set(found_rule TRUE)
        set(entries "${rule_entries}")
      endif()
      continue()
    endif()
    if(line MATCHES "^    name = \"([^\"]*)\",$" AND CMAKE_MATCH_1 STREQUAL target)
      set(is_target TRUE)
    elseif(in_list)
      if(line STREQUAL "    <rbracket>,")
        set(in_list FALSE)
      elseif(line MATCHES "^        \"([^\"]+)\",$")
        list(APPEND rule_entries "${CMAKE_MATCH_1}")
      elseif(NOT line MATCHES "^ *#")
        message(FATAL_ERROR
          "${where}: ${attr} holds `${line}`, which CMake cannot read: "
          "keep ${attr} a literal list of file names, one per line.")
      endif()
    elseif(line STREQUAL "    ${attr} = <lbracket>")
      set(in_list TRUE)
    elseif(line MATCHES "^    ${attr} = <lbracket>(.*)<rbracket>,$")
      string(REPLACE ", " ";" items "${CMAKE_MATCH_1}")
      foreach(item IN LISTS items)
        if(NOT item MATCHES "^\"([^\"]+)\"$")
          message(FATAL_ERROR
            "${where}: ${attr} holds `${item}`, which CMake cannot read: "
            "keep ${attr} a literal list of file names.")
        endif()
        list(APPEND rule_entries "${CMAKE_MATCH_1}")
      endforeach()
    elseif(line MATCHES "^    ${attr} = ")
      message(FATAL_ERROR
        "${where}: `${line}` is not a literal list, which CMake cannot "
        "read: keep ${attr} a literal list of file names.")
    endif()
  endforeach()
  if(NOT found_rule)
    message(FATAL_ERROR
      "${where}: not found (CMakeLists.txt reads its ${attr} from there).")
  endif()
  set(${out} "${entries}" PARENT_SCOPE)
endfunction()

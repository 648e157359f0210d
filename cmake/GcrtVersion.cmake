# Reads gcrt's version from api/version.h, its one home, into
# GCRT_VERSION_MAJOR, GCRT_VERSION_MINOR, GCRT_VERSION_PATCH and
# GCRT_VERSION ("major.minor.patch"). Stops the configure if a number is
# missing or GCRT_VERSION_STRING does not spell the three numbers, so the
# library, the package files and the headers cannot disagree.

function(gcrt_read_version header)
  file(READ "${header}" text)
  foreach(part MAJOR MINOR PATCH)
    if(NOT text MATCHES "#define GCRT_VERSION_${part} ([0-9]+)")
      message(FATAL_ERROR
        "${header}: no '#define GCRT_VERSION_${part} <number>' line; "
        "CMakeLists.txt reads the version from there.")
    endif()
    set(GCRT_VERSION_${part} "${CMAKE_MATCH_1}" PARENT_SCOPE)
    set(${part} "${CMAKE_MATCH_1}")
  endforeach()
  set(version "${MAJOR}.${MINOR}.${PATCH}")
  if(NOT text MATCHES "#define GCRT_VERSION_STRING \"([^\"]*)\"")
    message(FATAL_ERROR "${header}: no '#define GCRT_VERSION_STRING \"...\"' line.")
  endif()
  if(NOT CMAKE_MATCH_1 STREQUAL version)
    message(FATAL_ERROR
      "${header}: GCRT_VERSION_STRING is \"${CMAKE_MATCH_1}\" but the numbers "
      "say ${version}; make them agree.")
  endif()
  set(GCRT_VERSION "${version}" PARENT_SCOPE)
endfunction()

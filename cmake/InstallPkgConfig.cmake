# Run by `cmake --install` (cmake/GcrtInstall.cmake): writes gcrt.pc for the
# install prefix in use and installs it at <libdir>/pkgconfig. Given
# GCRT_PC_TEMPLATE, GCRT_PC_OUTPUT, GCRT_PC_INCLUDEDIR and GCRT_PC_LIBDIR
# (relative to the prefix, or absolute), PROJECT_DESCRIPTION and
# PROJECT_VERSION, and GCRT_DEBUG_LEVEL (empty, or the checking level its
# programs must be built at too: a -D in Cflags).

# Absolute: `cmake --install --prefix relpfx` installs under the working
# directory, and a relative prefix in gcrt.pc would work from there alone.
set(GCRT_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
if(NOT IS_ABSOLUTE "${GCRT_PC_PREFIX}")
  file(REAL_PATH "${GCRT_PC_PREFIX}" GCRT_PC_PREFIX)  # from the working dir
endif()
foreach(dir GCRT_PC_INCLUDEDIR GCRT_PC_LIBDIR)
  if(NOT IS_ABSOLUTE "${${dir}}")
    set(${dir} "\${prefix}/${${dir}}")
  endif()
endforeach()
# The pkgconfig folder, from the unexpanded libdir.
string(REPLACE "\${prefix}" "${GCRT_PC_PREFIX}" pc_dir "${GCRT_PC_LIBDIR}/pkgconfig")

set(GCRT_PC_DEFINES "")
if(NOT GCRT_DEBUG_LEVEL STREQUAL "")
  set(GCRT_PC_DEFINES " -DGCRT_DEBUG_LEVEL=${GCRT_DEBUG_LEVEL}")
endif()

configure_file("${GCRT_PC_TEMPLATE}" "${GCRT_PC_OUTPUT}" @ONLY)
file(INSTALL "${GCRT_PC_OUTPUT}" DESTINATION "$ENV{DESTDIR}${pc_dir}")

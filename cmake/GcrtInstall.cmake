# `cmake --install`: the headers at include/gcrt/... (the paths programs
# include them by), libgcrt.a, libgcrt.so with its SONAME links, the CMake
# package at lib/cmake/gcrt and lib/pkgconfig/gcrt.pc.

set(GCRT_CMAKE_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/gcrt")

foreach(layer IN LISTS GCRT_LAYERS)
  foreach(header IN LISTS GCRT_HEADERS_${layer})
    get_filename_component(subdir "${header}" DIRECTORY)
    install(FILES "${layer}/${header}"
      DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/${GCRT_PREFIX_${layer}}/${subdir}"
      COMPONENT devel)
  endforeach()
endforeach()

install(TARGETS gcrt_static gcrt_shared
  EXPORT gcrtTargets
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT devel
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT runtime
    NAMELINK_COMPONENT devel)
install(EXPORT gcrtTargets
  NAMESPACE gcrt::
  DESTINATION "${GCRT_CMAKE_DIR}"
  COMPONENT devel)

configure_package_config_file(cmake/gcrtConfig.cmake.in
  "${PROJECT_BINARY_DIR}/gcrtConfig.cmake"
  INSTALL_DESTINATION "${GCRT_CMAKE_DIR}")
# 0.x: a new minor version may change the API, so find_package(gcrt 0.1)
# accepts 0.1.* only.
write_basic_package_version_file("${PROJECT_BINARY_DIR}/gcrtConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion)
install(FILES
    "${PROJECT_BINARY_DIR}/gcrtConfig.cmake"
    "${PROJECT_BINARY_DIR}/gcrtConfigVersion.cmake"
  DESTINATION "${GCRT_CMAKE_DIR}"
  COMPONENT devel)

# gcrt.pc names absolute folders, so it is written at install time, when
# the prefix is known (`cmake --install --prefix` may change it).
install(CODE "
  set(GCRT_PC_TEMPLATE \"${PROJECT_SOURCE_DIR}/cmake/gcrt.pc.in\")
  set(GCRT_PC_OUTPUT \"${PROJECT_BINARY_DIR}/gcrt.pc\")
  set(GCRT_PC_INCLUDEDIR \"${CMAKE_INSTALL_INCLUDEDIR}\")
  set(GCRT_PC_LIBDIR \"${CMAKE_INSTALL_LIBDIR}\")
  set(PROJECT_DESCRIPTION \"${PROJECT_DESCRIPTION}\")
  set(PROJECT_VERSION \"${PROJECT_VERSION}\")
  set(GCRT_DEBUG_LEVEL \"${GCRT_DEBUG_LEVEL}\")
  include(\"${PROJECT_SOURCE_DIR}/cmake/InstallPkgConfig.cmake\")
  " COMPONENT devel)

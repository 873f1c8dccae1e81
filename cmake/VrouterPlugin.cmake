# vrouter_add_module(NAME SOURCES src... [LIBRARIES lib...] [INCLUDE_DIRS dir...])
#
# Builds <NAME>.so as a vrouterd plugin: a MODULE library (linked -shared)
# with no "lib" prefix, hidden visibility (only the vr_module descriptor is
# exported, via VR_EXPORT) and no undefined references to the daemon.
# In-tree modules and third-party modules build through this same function.
#
# A third party gets it with find_package(VrouterPlugin) (package
# vrouterd-dev; VrouterPluginConfig.cmake sets the variables below and
# includes this file). Variables read, each with a default:
#   VR_API_INCLUDE_DIR     the directory holding vrouter/vr_plugin.h
#                          (default: pkg-config's includedir of vrouter-plugin)
#   VR_BUILD_MODULE_DIR    where the built .so goes (default: CMAKE_BINARY_DIR)
#   VR_MODULE_INSTALL_DIR  where `cmake --install` puts the .so; relative
#                          paths are under CMAKE_INSTALL_PREFIX (default:
#                          ${CMAKE_INSTALL_LIBDIR}/vrouter/modules, e.g.
#                          /usr/local/lib/vrouter/modules, a drop-in directory
#                          for daemon.module_path). Set it to "" for no
#                          install rule. Read when vrouter_add_module is called.
if(NOT DEFINED VR_API_INCLUDE_DIR)
  find_package(PkgConfig REQUIRED)
  pkg_get_variable(VR_API_INCLUDE_DIR vrouter-plugin includedir)
endif()
if(NOT DEFINED VR_BUILD_MODULE_DIR)
  set(VR_BUILD_MODULE_DIR "${CMAKE_BINARY_DIR}")
endif()
if(NOT DEFINED VR_MODULE_INSTALL_DIR)
  include(GNUInstallDirs)
  set(VR_MODULE_INSTALL_DIR "${CMAKE_INSTALL_LIBDIR}/vrouter/modules")
endif()

function(vrouter_add_module name)
  cmake_parse_arguments(M "" "" "SOURCES;LIBRARIES;INCLUDE_DIRS" ${ARGN})
  add_library(vrmod_${name} MODULE ${M_SOURCES})
  set_target_properties(vrmod_${name} PROPERTIES
    OUTPUT_NAME ${name}
    PREFIX ""
    C_VISIBILITY_PRESET hidden
    LIBRARY_OUTPUT_DIRECTORY ${VR_BUILD_MODULE_DIR})
  target_include_directories(vrmod_${name} PRIVATE ${VR_API_INCLUDE_DIR} ${M_INCLUDE_DIRS})
  target_link_libraries(vrmod_${name} PRIVATE ${M_LIBRARIES})
  # A module must not depend on symbols of the daemon.
  if(NOT VR_SANITIZE AND NOT VR_TSAN)
    target_link_options(vrmod_${name} PRIVATE -Wl,--no-undefined)
  endif()
  if(VR_MODULE_INSTALL_DIR)
    install(TARGETS vrmod_${name} LIBRARY DESTINATION ${VR_MODULE_INSTALL_DIR})
  endif()
endfunction()

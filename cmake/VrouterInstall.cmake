# Install rules beyond the targets (included from the top-level CMakeLists.txt).
#   component "daemon": man pages, docs, example config; with VR_PACKAGE also
#                       /etc/vrouter/vrouter.conf and the systemd unit
#   component "dev":    the SDK: headers, vrouter-plugin.pc, the CMake package
#                       config (find_package(VrouterPlugin)), PLUGIN_ABI.md and
#                       the example out-of-tree module
include(CMakePackageConfigHelpers)

# The plugin ABI version, read from the header it is defined in.
file(STRINGS ${CMAKE_SOURCE_DIR}/api/vrouter/vr_abi.h vr_abi_lines REGEX "^#define VR_ABI_(MAJOR|MINOR) ")
foreach(line ${vr_abi_lines})
  if(line MATCHES "^#define (VR_ABI_MAJOR|VR_ABI_MINOR) ([0-9]+)")
    set(${CMAKE_MATCH_1} ${CMAKE_MATCH_2})
  endif()
endforeach()

# ---- SDK (dev)
set(VR_SDK_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/VrouterPlugin)
install(DIRECTORY api/vrouter DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev)
configure_package_config_file(cmake/VrouterPluginConfig.cmake.in
  ${CMAKE_BINARY_DIR}/sdk/VrouterPluginConfig.cmake
  INSTALL_DESTINATION ${VR_SDK_CMAKE_DIR}
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR VR_MODULE_INSTALL_DIR)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/sdk/VrouterPluginConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES cmake/VrouterPlugin.cmake
  ${CMAKE_BINARY_DIR}/sdk/VrouterPluginConfig.cmake
  ${CMAKE_BINARY_DIR}/sdk/VrouterPluginConfigVersion.cmake
  DESTINATION ${VR_SDK_CMAKE_DIR} COMPONENT dev)
# vrouter-plugin.pc names absolute paths under the prefix the install really
# uses (`cmake --install --prefix P` included), so it is written at install time.
set(VR_PC_PREFIX "@VR_PC_PREFIX@")
configure_file(cmake/vrouter-plugin.pc.in ${CMAKE_BINARY_DIR}/sdk/vrouter-plugin.pc.tmpl @ONLY)
install(CODE "
  set(VR_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  configure_file(\"${CMAKE_BINARY_DIR}/sdk/vrouter-plugin.pc.tmpl\" \"${CMAKE_BINARY_DIR}/sdk/pc/vrouter-plugin.pc\" @ONLY)
  " COMPONENT dev)
install(FILES ${CMAKE_BINARY_DIR}/sdk/pc/vrouter-plugin.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)
set(VR_DOC_DEV_DIR ${CMAKE_INSTALL_DATAROOTDIR}/doc/vrouterd-dev)
install(FILES docs/PLUGIN_ABI.md DESTINATION ${VR_DOC_DEV_DIR} COMPONENT dev)
install(DIRECTORY examples/outbound-hello DESTINATION ${VR_DOC_DEV_DIR}/examples COMPONENT dev)

# ---- man pages (daemon), gzip -9n as Debian policy wants them
set(vr_man_gz "")
file(GLOB vr_man_pages ${CMAKE_SOURCE_DIR}/docs/man/*.[1-8])
foreach(page ${vr_man_pages})
  get_filename_component(name ${page} NAME)
  string(REGEX MATCH "[1-8]$" section ${name})
  set(gz ${CMAKE_BINARY_DIR}/man/${name}.gz)
  add_custom_command(OUTPUT ${gz}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
    COMMAND sh -c "gzip -9n -c '${page}' > '${gz}'"
    DEPENDS ${page} VERBATIM)
  list(APPEND vr_man_gz ${gz})
  install(FILES ${gz} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section} COMPONENT daemon)
endforeach()
add_custom_target(vr_man_pages ALL DEPENDS ${vr_man_gz})

# ---- docs and config (daemon)
set(VR_DOC_DIR ${CMAKE_INSTALL_DATAROOTDIR}/doc/vrouterd)
file(GLOB vr_user_docs ${CMAKE_SOURCE_DIR}/docs/*.md)
list(REMOVE_ITEM vr_user_docs ${CMAKE_SOURCE_DIR}/docs/PLUGIN_ABI.md)
install(FILES README.md ${vr_user_docs} DESTINATION ${VR_DOC_DIR} COMPONENT daemon)
install(FILES conf.d/vrouter.conf DESTINATION ${VR_DOC_DIR}/examples COMPONENT daemon)

if(VR_PACKAGE)
  if(NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr")
    message(FATAL_ERROR "VR_PACKAGE=ON needs -DCMAKE_INSTALL_PREFIX=/usr (the unit runs /usr/sbin/vrouterd)")
  endif()
  # Absolute destinations: cpack stages them under DESTDIR (CPACK_SET_DESTDIR).
  install(FILES conf.d/vrouter-packaged.conf DESTINATION /etc/vrouter RENAME vrouter.conf
    COMPONENT daemon)  # postinst makes it root:vrouterd 0640
  install(FILES packaging/systemd/vrouterd.service DESTINATION /lib/systemd/system COMPONENT daemon)
  install(FILES packaging/debian/copyright DESTINATION ${VR_DOC_DIR} COMPONENT daemon)
  install(FILES packaging/debian/copyright DESTINATION ${VR_DOC_DEV_DIR} COMPONENT dev)
  add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/debian/changelog.Debian.gz
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/debian
    COMMAND sh -c "gzip -9n -c '${CMAKE_SOURCE_DIR}/packaging/debian/changelog' > '${CMAKE_BINARY_DIR}/debian/changelog.Debian.gz'"
    DEPENDS packaging/debian/changelog VERBATIM)
  add_custom_target(vr_deb_changelog ALL DEPENDS ${CMAKE_BINARY_DIR}/debian/changelog.Debian.gz)
  install(FILES ${CMAKE_BINARY_DIR}/debian/changelog.Debian.gz DESTINATION ${VR_DOC_DIR} COMPONENT daemon)
  install(FILES ${CMAKE_BINARY_DIR}/debian/changelog.Debian.gz DESTINATION ${VR_DOC_DEV_DIR} COMPONENT dev)
else()
  install(FILES conf.d/vrouter.conf DESTINATION ${CMAKE_INSTALL_SYSCONFDIR} RENAME vrouter.conf.example
    COMPONENT daemon)
endif()

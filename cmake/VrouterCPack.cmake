# Debian packages, one per install component (`./run.sh package`, or
# `cpack -G DEB` in a build configured with -DVR_PACKAGE=ON
# -DCMAKE_INSTALL_PREFIX=/usr): vrouterd (component daemon) and
# vrouterd-dev (component dev). docs/PACKAGING.md describes them.
set(CPACK_PACKAGE_NAME vrouterd)
set(CPACK_PACKAGE_VENDOR "vrouterd developers")
set(CPACK_PACKAGE_CONTACT "vrouterd developers <vrouterd@example.org>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
# Install with DESTDIR, so absolute destinations (/etc, /lib/systemd) and the
# install-time vrouter-plugin.pc see the real prefix.
set(CPACK_SET_DESTDIR ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_COMPONENTS_ALL daemon dev)

set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://example.org/vrouterd")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)

set(CPACK_DEBIAN_DAEMON_PACKAGE_NAME vrouterd)
set(CPACK_DEBIAN_DAEMON_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_DAEMON_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_DAEMON_PACKAGE_RECOMMENDS "nftables, iproute2")
set(CPACK_COMPONENT_DAEMON_DESCRIPTION "transparent-proxy router daemon (TPROXY, modules, hot reload)
vrouterd takes the TCP and UDP flows a Linux gateway captures with TPROXY
(TCP also with REDIRECT) and decides per connection or UDP session where it
leaves: directly (with its own address, interface or firewall mark), through
SOCKS5, through WireGuard, or spread over several uplinks. Routing rules
match addresses, ports and the domain read from the client's own first bytes
(TLS SNI, HTTP Host, QUIC, DNS). A reload swaps the config atomically.
.
This package holds the daemon, its modules, vrouterctl, vrouter-check and a
hardened systemd unit that runs it as the system user vrouterd with three
network capabilities. The service is not enabled on install.")
set(CPACK_DEBIAN_DAEMON_PACKAGE_CONTROL_EXTRA
  ${CMAKE_SOURCE_DIR}/packaging/debian/conffiles
  ${CMAKE_SOURCE_DIR}/packaging/debian/postinst
  ${CMAKE_SOURCE_DIR}/packaging/debian/prerm
  ${CMAKE_SOURCE_DIR}/packaging/debian/postrm)

set(CPACK_DEBIAN_DEV_PACKAGE_NAME vrouterd-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "pkg-config | pkgconf")
set(CPACK_DEBIAN_DEV_PACKAGE_SUGGESTS "vrouterd (>= ${PROJECT_VERSION}), cmake")
set(CPACK_COMPONENT_DEV_DESCRIPTION "plugin SDK for vrouterd modules
The headers of the vrouterd plugin ABI (sniffers, outbounds, installers),
vrouter-plugin.pc for pkg-config, a CMake package config for
find_package(VrouterPlugin) with vrouter_add_module(), the ABI
documentation, and an example out-of-tree outbound module with a Makefile
and a CMakeLists.txt.")

include(CPack)

/*
 * vrouterd plugin ABI, version 1: the one header a module includes.
 * See vr_abi.h for the version rules, the changelog and the threading
 * contract.
 */
#ifndef VROUTER_VR_PLUGIN_H
#define VROUTER_VR_PLUGIN_H

#include <vrouter/vr_abi.h>
#include <vrouter/vr_flow.h>
#include <vrouter/vr_host.h>
#include <vrouter/vr_installer.h>
#include <vrouter/vr_outbound.h>
#include <vrouter/vr_sniffer.h>

#endif

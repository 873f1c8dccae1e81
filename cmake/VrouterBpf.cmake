# eBPF programs of the core (core/bpf/*.bpf.c): compiled with clang -target
# bpf against a vmlinux.h dumped from the build machine's BTF (CO-RE: field
# offsets are relocated by libbpf at load time on the running kernel), then
# turned into libbpf skeletons with `bpftool gen skeleton`.
#
# VR_BPF=AUTO (default) builds them when clang, bpftool, libbpf and BTF are
# all found, and says which one is missing otherwise; ON makes a missing one
# an error; OFF leaves them out. Without them the daemon still builds, and
# the options that need BPF (relay = "sockmap", xdp, capture_cgroup) refuse
# to load with a message saying this build has no BPF support.
set(VR_BPF AUTO CACHE STRING "Build the eBPF data path: AUTO, ON or OFF")
set_property(CACHE VR_BPF PROPERTY STRINGS AUTO ON OFF)

set(VR_HAVE_BPF OFF)
if(NOT VR_BPF STREQUAL "OFF")
  set(vr_bpf_missing "")
  find_program(VR_BPF_CLANG NAMES clang clang-16 clang-15 clang-14)
  find_program(VR_BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin)
  pkg_check_modules(LIBBPF IMPORTED_TARGET libbpf)
  if(NOT VR_BPF_CLANG)
    list(APPEND vr_bpf_missing "clang (apt-get install clang)")
  endif()
  if(NOT VR_BPFTOOL)
    list(APPEND vr_bpf_missing "bpftool (apt-get install bpftool)")
  endif()
  if(NOT LIBBPF_FOUND)
    list(APPEND vr_bpf_missing "libbpf (apt-get install libbpf-dev)")
  endif()
  set(VR_BPF_BTF "/sys/kernel/btf/vmlinux" CACHE FILEPATH "BTF of the kernel to build CO-RE programs against")
  if(NOT EXISTS "${VR_BPF_BTF}")
    list(APPEND vr_bpf_missing "kernel BTF at ${VR_BPF_BTF} (CONFIG_DEBUG_INFO_BTF)")
  endif()
  if(vr_bpf_missing)
    string(REPLACE ";" ", " vr_bpf_missing_text "${vr_bpf_missing}")
    if(VR_BPF STREQUAL "ON")
      message(FATAL_ERROR "VR_BPF=ON but missing: ${vr_bpf_missing_text}")
    endif()
    message(STATUS "eBPF data path: OFF (missing: ${vr_bpf_missing_text})")
  else()
    set(VR_HAVE_BPF ON)
    message(STATUS "eBPF data path: ON (${VR_BPF_CLANG}, ${VR_BPFTOOL}, libbpf ${LIBBPF_VERSION})")
  endif()
endif()

if(VR_HAVE_BPF)
  set(VR_BPF_GEN_DIR "${CMAKE_BINARY_DIR}/bpf")
  file(MAKE_DIRECTORY "${VR_BPF_GEN_DIR}")
  # At configure time: a custom command's output is visible only to its own
  # directory, and the programs are built in core/.
  execute_process(COMMAND ${VR_BPFTOOL} btf dump file ${VR_BPF_BTF} format c
    OUTPUT_FILE "${VR_BPF_GEN_DIR}/vmlinux.h" RESULT_VARIABLE vr_btf_rc)
  if(NOT vr_btf_rc EQUAL 0)
    message(FATAL_ERROR "bpftool btf dump ${VR_BPF_BTF} failed (${vr_btf_rc}); configure with -DVR_BPF=OFF to build without eBPF")
  endif()
  if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|amd64")
    set(VR_BPF_ARCH x86)
  elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
    set(VR_BPF_ARCH arm64)
  else()
    set(VR_BPF_ARCH ${CMAKE_SYSTEM_PROCESSOR})
  endif()
endif()

# vr_bpf_skeleton(<target> <name> <source.bpf.c>): builds <name>.bpf.o and
# <name>.skel.h (struct <name>_bpf, <name>_bpf__open() ...) and makes <target>
# depend on it with the generated directory on its include path.
function(vr_bpf_skeleton target name src)
  if(NOT VR_HAVE_BPF)
    return()
  endif()
  set(obj "${VR_BPF_GEN_DIR}/${name}.bpf.o")
  set(skel "${VR_BPF_GEN_DIR}/${name}.skel.h")
  add_custom_command(OUTPUT "${obj}"
    COMMAND ${VR_BPF_CLANG} -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_${VR_BPF_ARCH}
            -I${VR_BPF_GEN_DIR} -I${CMAKE_SOURCE_DIR}/core/bpf -c ${src} -o ${obj}
    DEPENDS ${src}
    IMPLICIT_DEPENDS C ${src}
    COMMENT "BPF ${name}"
    VERBATIM)
  add_custom_command(OUTPUT "${skel}"
    COMMAND ${VR_BPFTOOL} gen skeleton ${obj} name ${name}_bpf > ${skel}
    DEPENDS "${obj}"
    COMMENT "BPF skeleton ${name}"
    VERBATIM)
  add_custom_target(vr_bpf_${name} DEPENDS "${skel}")
  add_dependencies(${target} vr_bpf_${name})
  target_include_directories(${target} PUBLIC "${VR_BPF_GEN_DIR}")
endfunction()

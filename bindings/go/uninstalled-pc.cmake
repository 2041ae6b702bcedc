# Writes xsvc-uninstalled.pc for building the Go binding against a build
# tree (pkg-config prefers it to xsvc.pc when both are on PKG_CONFIG_PATH).
#   cmake -DOUT=<file> -DLIBDIR=<dir of libxsvc.so> -DINCLUDEDIR=<include>
#         -DVERSION=<x.y.z> -P uninstalled-pc.cmake
# Go's build cache does not look at headers outside the package: the
# header's hash in Cflags makes a changed xsvc.h rebuild the binding.
file(SHA256 "${INCLUDEDIR}/xsvc.h" header_hash)
string(SUBSTRING "${header_hash}" 0 16 header_hash)
set(content "Name: xsvc
Description: xsvc (build tree, uninstalled)
Version: ${VERSION}
Libs: -L${LIBDIR} -lxsvc
Cflags: -I${INCLUDEDIR} -DXSVC_HEADER_HASH=${header_hash}
")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT old STREQUAL content)
  file(WRITE "${OUT}" "${content}")
endif()

# oneDNN's Winograd convolution (cpp/mrcnn/model/onednn.cpp).
#   MRCNN_WITH_DNNL: the system oneDNN 2.x (Debian 12: libdnnl-dev) is found and can live beside
#   torch's; mrcnn_core is compiled with MRCNN_WITH_DNNL and links it. Otherwise 3x3 convolutions
#   go to torch::conv2d. oneDNN 3 dropped these Winograd kernels and is not used.
set(MRCNN_DNNL "AUTO" CACHE STRING "Winograd convolutions through the system oneDNN 2.x: AUTO, ON or OFF")

set(MRCNN_WITH_DNNL OFF)
if(NOT MRCNN_DNNL STREQUAL "OFF")
  find_path(MRCNN_DNNL_INCLUDE_DIR oneapi/dnnl/dnnl.hpp)
  find_library(MRCNN_DNNL_LIBRARY dnnl)
  set(_why "")
  if(NOT MRCNN_DNNL_INCLUDE_DIR OR NOT MRCNN_DNNL_LIBRARY)
    set(_why "oneDNN headers or library not found (Debian: libdnnl-dev)")
  else()
    file(STRINGS "${MRCNN_DNNL_INCLUDE_DIR}/oneapi/dnnl/dnnl_version.h" _major REGEX "#define DNNL_VERSION_MAJOR")
    file(STRINGS "${MRCNN_DNNL_INCLUDE_DIR}/oneapi/dnnl/dnnl_config.h" _runtime REGEX "#define DNNL_CPU_RUNTIME ")
    string(REGEX MATCH "[0-9]+" _major "${_major}")
    if(NOT _major STREQUAL "2")
      set(_why "oneDNN ${_major}.x found, the Winograd path needs 2.x")
    elseif(NOT _runtime MATCHES "DNNL_RUNTIME_OMP")
      set(_why "oneDNN is not built with OpenMP (torch's threads would not apply)")
    elseif(MRCNN_DNNL STREQUAL "AUTO")
      # Debian's torch links this very library. A pip torch bundles its own oneDNN (3.x); that one
      # must keep its symbols to itself, and torch's OpenMP runtime must be the libgomp.so.1 that
      # oneDNN was built against, or the two libraries would not share threads.
      set(_needed "")
      set(_exported "")
      if(CMAKE_OBJDUMP AND EXISTS "${MRCNN_TORCH_CPU_LIBRARY}")
        execute_process(COMMAND "${CMAKE_OBJDUMP}" -p "${MRCNN_TORCH_CPU_LIBRARY}"
                        OUTPUT_VARIABLE _needed ERROR_QUIET)
      endif()
      if(CMAKE_NM AND EXISTS "${MRCNN_TORCH_CPU_LIBRARY}")
        execute_process(COMMAND "${CMAKE_NM}" -D --defined-only "${MRCNN_TORCH_CPU_LIBRARY}"
                        COMMAND grep -c " T dnnl_primitive_create"
                        OUTPUT_VARIABLE _exported ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
      endif()
      if(_needed MATCHES "NEEDED +libdnnl\\.so")
        # the same library torch uses
      elseif(_exported AND NOT _exported STREQUAL "0")
        set(_why "torch exports oneDNN symbols of its own version (MRCNN_DNNL=ON to use the system one anyway)")
      elseif(NOT _needed MATCHES "NEEDED +libgomp\\.so\\.1")
        set(_why "torch's OpenMP runtime is not libgomp.so.1, the one the system oneDNN uses")
      endif()
    endif()
  endif()
  if(_why STREQUAL "")
    set(MRCNN_WITH_DNNL ON)
    # A pip torch ships oneDNN 3's headers in its include directory, which the compiler would find
    # first; the 2.x headers are reached through a directory of our own, searched before torch's.
    set(_dnnl_headers "${CMAKE_BINARY_DIR}/onednn2-include")
    file(MAKE_DIRECTORY "${_dnnl_headers}")
    file(CREATE_LINK "${MRCNN_DNNL_INCLUDE_DIR}/oneapi" "${_dnnl_headers}/oneapi" SYMBOLIC)
    set_property(SOURCE "${CMAKE_SOURCE_DIR}/cpp/mrcnn/model/onednn.cpp" APPEND PROPERTY INCLUDE_DIRECTORIES "${_dnnl_headers}")
    target_link_libraries(mrcnn_core PUBLIC "${MRCNN_DNNL_LIBRARY}")
    target_compile_definitions(mrcnn_core PRIVATE MRCNN_WITH_DNNL)
  elseif(MRCNN_DNNL STREQUAL "ON")
    message(FATAL_ERROR "mrcnn: MRCNN_DNNL=ON but ${_why}")
  else()
    message(STATUS "mrcnn: Winograd convolutions off: ${_why}")
  endif()
endif()

# CUDA kernels.
#   MRCNN_WITH_CUDA: the kernels are compiled into mrcnn_core and register their CUDA backends.
#   Otherwise, with MRCNN_CUDA_CHECK, the same .cu files are compiled (not linked) by the target
#   mrcnn_cuda_check, so CUDA errors fail a CPU-only build.
#
# GPU architectures: TORCH_CUDA_ARCH_LIST (environment or CMake variable, torch's format:
# "7.5;8.0;8.6+PTX" or "7.5 8.0 8.6+PTX"), else MRCNN_CUDA_ARCHS in the same format. "+PTX" adds
# the architecture's PTX, which the driver compiles for GPUs newer than the list.
include(CheckLanguage)

set(MRCNN_CUDA_ARCHS "7.5;8.0;8.6;8.9;9.0+PTX" CACHE STRING
    "GPU architectures (torch's TORCH_CUDA_ARCH_LIST format), used when TORCH_CUDA_ARCH_LIST is not set")

set(MRCNN_WITH_CUDA OFF)
set(_cuda_wanted OFF)
if(MRCNN_CUDA STREQUAL "ON")
  if(NOT MRCNN_TORCH_CUDA)
    message(FATAL_ERROR "mrcnn: MRCNN_CUDA=1, but torch ${MRCNN_TORCH_VERSION} is a CPU build. "
                        "Install a CUDA build of torch (pip install torch) or build with MRCNN_CUDA=0.")
  endif()
  set(_cuda_wanted ON)
elseif(MRCNN_CUDA STREQUAL "AUTO" AND MRCNN_TORCH_CUDA)
  set(_cuda_wanted ON)
endif()

set(_check OFF)
if(NOT MRCNN_CUDA STREQUAL "OFF" OR MRCNN_CUDA_CHECK STREQUAL "ON")
  check_language(CUDA)   # sets CMAKE_CUDA_COMPILER when nvcc works
endif()
if(_cuda_wanted AND NOT CMAKE_CUDA_COMPILER)
  if(MRCNN_CUDA STREQUAL "ON")
    message(FATAL_ERROR "mrcnn: MRCNN_CUDA=1, but no working nvcc was found (torch was built with CUDA "
                        "${MRCNN_TORCH_CUDA}). Put the CUDA toolkit's bin/ on PATH or set CUDACXX, or build "
                        "with MRCNN_CUDA=0 (CPU only).")
  endif()
  message(WARNING "mrcnn: torch has CUDA ${MRCNN_TORCH_CUDA} but no nvcc was found: building the CPU "
                  "kernels only. Install the CUDA toolkit (nvcc) for the GPU kernels, or set MRCNN_CUDA=0 "
                  "to silence this.")
  set(_cuda_wanted OFF)
endif()
set(MRCNN_WITH_CUDA ${_cuda_wanted})
if(NOT MRCNN_WITH_CUDA AND CMAKE_CUDA_COMPILER)
  if(MRCNN_CUDA_CHECK STREQUAL "ON" OR (MRCNN_CUDA_CHECK STREQUAL "AUTO" AND MRCNN_BUILD_TESTS))
    set(_check ON)
  endif()
endif()

if(MRCNN_WITH_CUDA OR _check)
  # torch's list format -> CMake's CUDA_ARCHITECTURES ("8.6" -> 86-real, "9.0+PTX" -> 90)
  if(DEFINED TORCH_CUDA_ARCH_LIST)
    set(_arch_source "TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST}")
    set(_torch_archs "${TORCH_CUDA_ARCH_LIST}")
  elseif(DEFINED ENV{TORCH_CUDA_ARCH_LIST} AND NOT "$ENV{TORCH_CUDA_ARCH_LIST}" STREQUAL "")
    set(_arch_source "TORCH_CUDA_ARCH_LIST=$ENV{TORCH_CUDA_ARCH_LIST} (environment)")
    set(_torch_archs "$ENV{TORCH_CUDA_ARCH_LIST}")
  else()
    set(_arch_source "MRCNN_CUDA_ARCHS=${MRCNN_CUDA_ARCHS}")
    set(_torch_archs "${MRCNN_CUDA_ARCHS}")
  endif()
  string(REPLACE " " ";" _torch_archs "${_torch_archs}")
  set(_cmake_archs "")
  set(MRCNN_CUDA_ARCH_NAMES "")
  foreach(a IN LISTS _torch_archs)
    if(a STREQUAL "")
      continue()
    endif()
    if(NOT a MATCHES "^([0-9]+)\\.([0-9]+)([af]?)(\\+PTX)?$")
      message(FATAL_ERROR "mrcnn: '${a}' in ${_arch_source} is not an architecture like 8.6 or 9.0+PTX")
    endif()
    set(_n "${CMAKE_MATCH_1}${CMAKE_MATCH_2}${CMAKE_MATCH_3}")
    if(CMAKE_MATCH_4)
      list(APPEND _cmake_archs "${_n}")
      list(APPEND MRCNN_CUDA_ARCH_NAMES "sm_${_n}" "compute_${_n}")
    else()
      list(APPEND _cmake_archs "${_n}-real")
      list(APPEND MRCNN_CUDA_ARCH_NAMES "sm_${_n}")
    endif()
  endforeach()
  if(NOT _cmake_archs)
    message(FATAL_ERROR "mrcnn: ${_arch_source} names no GPU architecture")
  endif()
  set(CMAKE_CUDA_ARCHITECTURES ${_cmake_archs})
  enable_language(CUDA)
  set(CMAKE_CUDA_STANDARD 20)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  set(_cuda_flags --expt-relaxed-constexpr --expt-extended-lambda)
  message(STATUS "mrcnn: CUDA ${CMAKE_CUDA_COMPILER_VERSION} for ${MRCNN_CUDA_ARCH_NAMES} (${_arch_source})")
endif()

if(MRCNN_WITH_CUDA)
  find_package(CUDAToolkit REQUIRED)
  # A toolkit without the math libraries' headers (cusparse.h, cublas_v2.h, which torch's CUDA headers
  # include): use the ones pip installed with torch (site-packages/nvidia/*/include).
  set(_wheel_cuda_includes "")
  if(NOT EXISTS "${CUDAToolkit_INCLUDE_DIRS}/cusparse.h")
    get_filename_component(_site "${MRCNN_TORCH_DIR}" DIRECTORY)
    file(GLOB _wheel_cuda_includes LIST_DIRECTORIES true "${_site}/nvidia/*/include")
    if(NOT _wheel_cuda_includes)
      message(FATAL_ERROR "mrcnn: the CUDA toolkit at ${CUDAToolkit_INCLUDE_DIRS} has no cusparse.h, which "
                          "torch's CUDA headers need; install the toolkit's libraries (e.g. cuda-libraries-dev) "
                          "or build with MRCNN_CUDA=0")
    endif()
    foreach(d IN LISTS _wheel_cuda_includes)
      target_include_directories(mrcnn_core SYSTEM PRIVATE "$<$<COMPILE_LANGUAGE:CUDA>:${d}>")
    endforeach()
  endif()
  mrcnn_torch_library(MRCNN_C10_CUDA_LIBRARY c10_cuda)
  mrcnn_torch_library(MRCNN_TORCH_CUDA_LIBRARY torch_cuda)
  target_sources(mrcnn_core PRIVATE ${MRCNN_CUDA_SOURCES})
  string(REPLACE ";" " " _arch_list "${MRCNN_CUDA_ARCH_NAMES}")
  target_compile_definitions(mrcnn_core PUBLIC MRCNN_WITH_CUDA=1 MRCNN_CUDA_ARCH_LIST="${_arch_list}")
  target_compile_options(mrcnn_core PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:${_cuda_flags}>)
  target_link_libraries(mrcnn_core PUBLIC ${MRCNN_TORCH_CUDA_LIBRARY} ${MRCNN_C10_CUDA_LIBRARY} CUDA::cudart)
  set_source_files_properties(${MRCNN_CUDA_SOURCES} PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
  set_property(TARGET mrcnn_core PROPERTY CUDA_ARCHITECTURES ${CMAKE_CUDA_ARCHITECTURES})
elseif(_check AND MRCNN_CUDA_SOURCES)
  # Compile-only: objects are never linked, so a torch without CUDA libraries is fine. A CPU
  # torch does not ship c10's generated CUDA macro header; the fallback definitions in
  # c10/cuda/CUDAMacros.h are the ones a shared-library build uses.
  add_library(mrcnn_cuda_check OBJECT ${MRCNN_CUDA_SOURCES})
  target_include_directories(mrcnn_cuda_check PRIVATE "${CMAKE_SOURCE_DIR}/cpp" ${MRCNN_TORCH_INCLUDE_DIRS})
  if(NOT MRCNN_TORCH_CUDA)
    target_compile_definitions(mrcnn_cuda_check PRIVATE C10_CUDA_NO_CMAKE_CONFIGURE_FILE)
  endif()
  target_compile_options(mrcnn_cuda_check PRIVATE ${_cuda_flags})
  set_property(TARGET mrcnn_cuda_check PROPERTY CUDA_ARCHITECTURES ${CMAKE_CUDA_ARCHITECTURES})
  message(STATUS "mrcnn: compile-only check of ${CMAKE_CUDA_COMPILER} on the .cu files")
endif()

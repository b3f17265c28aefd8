# CUDA kernels.
#   MRCNN_WITH_CUDA: the kernels are compiled into mrcnn_core and register their CUDA backends.
#   Otherwise, with MRCNN_CUDA_CHECK, the same .cu files are compiled (not linked) for
#   MRCNN_CUDA_ARCHS by the target mrcnn_cuda_check, so CUDA errors fail a CPU-only build.
include(CheckLanguage)
check_language(CUDA)   # sets CMAKE_CUDA_COMPILER when nvcc works

set(MRCNN_WITH_CUDA OFF)
if(MRCNN_CUDA STREQUAL "ON")
  if(NOT MRCNN_TORCH_HAS_CUDA OR NOT CMAKE_CUDA_COMPILER)
    message(FATAL_ERROR "mrcnn: MRCNN_CUDA=1 needs torch built with CUDA (has: ${MRCNN_TORCH_HAS_CUDA}) "
                        "and nvcc (found: '${CMAKE_CUDA_COMPILER}')")
  endif()
  set(MRCNN_WITH_CUDA ON)
elseif(MRCNN_CUDA STREQUAL "AUTO" AND MRCNN_TORCH_HAS_CUDA AND CMAKE_CUDA_COMPILER)
  set(MRCNN_WITH_CUDA ON)
endif()

set(_check OFF)
if(NOT MRCNN_WITH_CUDA AND CMAKE_CUDA_COMPILER)
  if(MRCNN_CUDA_CHECK STREQUAL "ON" OR (MRCNN_CUDA_CHECK STREQUAL "AUTO" AND MRCNN_BUILD_TESTS))
    set(_check ON)
  endif()
endif()

if(MRCNN_WITH_CUDA OR _check)
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES ${MRCNN_CUDA_ARCHS})
  endif()
  enable_language(CUDA)
  set(CMAKE_CUDA_STANDARD 17)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  set(_cuda_flags --expt-relaxed-constexpr --expt-extended-lambda)
endif()

if(MRCNN_WITH_CUDA)
  target_sources(mrcnn_core PRIVATE ${MRCNN_CUDA_SOURCES})
  string(REPLACE ";" " " _arch_list "${CMAKE_CUDA_ARCHITECTURES}")
  target_compile_definitions(mrcnn_core PUBLIC MRCNN_WITH_CUDA=1 MRCNN_CUDA_ARCH_LIST="${_arch_list}")
  target_compile_options(mrcnn_core PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:${_cuda_flags}>)
  set_source_files_properties(${MRCNN_CUDA_SOURCES} PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
  set_property(TARGET mrcnn_core PROPERTY CUDA_ARCHITECTURES ${CMAKE_CUDA_ARCHITECTURES})
elseif(_check AND MRCNN_CUDA_SOURCES)
  # Compile-only: objects are never linked, so a torch without CUDA libraries is fine.
  # Debian's CPU torch does not ship c10's generated CUDA macro header; the fallback
  # definitions in c10/cuda/CUDAMacros.h are the ones a shared-library build uses.
  add_library(mrcnn_cuda_check OBJECT ${MRCNN_CUDA_SOURCES})
  target_include_directories(mrcnn_cuda_check PRIVATE "${CMAKE_SOURCE_DIR}/cpp" ${TORCH_INCLUDE_DIRS})
  target_compile_definitions(mrcnn_cuda_check PRIVATE C10_CUDA_NO_CMAKE_CONFIGURE_FILE)
  target_compile_options(mrcnn_cuda_check PRIVATE ${_cuda_flags})
  set_property(TARGET mrcnn_cuda_check PROPERTY CUDA_ARCHITECTURES ${CMAKE_CUDA_ARCHITECTURES})
  message(STATUS "mrcnn: compile-only check of ${CMAKE_CUDA_COMPILER} on the .cu files for sm ${CMAKE_CUDA_ARCHITECTURES}")
endif()

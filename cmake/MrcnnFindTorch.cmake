# Finds the Python interpreter and the torch it imports (a pip wheel: CPU or CUDA build), and
# describes that torch as the imported target mrcnn::torch from its installed files: headers,
# libraries and the C++ ABI flag, the way torch.utils.cpp_extension builds extensions.
#
# torch's own CMake package (TorchConfig.cmake) is not used. For a CUDA wheel it requires a CUDA
# toolkit even when no CUDA code is built, and it replaces CMAKE_CUDA_ARCHITECTURES with -gencode
# flags of its own (with no GPU visible, a list nvcc 13 rejects). MrcnnCuda.cmake chooses the
# architectures instead.
#
# Sets: Python3_* (Interpreter, Development.Module), target mrcnn::torch, MRCNN_TORCH_VERSION,
#       MRCNN_TORCH_DIR, MRCNN_TORCH_LIB_DIR, MRCNN_TORCH_INCLUDE_DIRS, MRCNN_TORCH_CXX11_ABI,
#       MRCNN_TORCH_CUDA (the CUDA version torch was built with, empty for a CPU build),
#       MRCNN_TORCH_PYTHON_LIBRARY, MRCNN_TORCH_PYBIND11_DEFINITIONS.

if(MRCNN_PYTHON_EXECUTABLE)
  set(Python3_EXECUTABLE "${MRCNN_PYTHON_EXECUTABLE}")
endif()
find_package(Python3 REQUIRED COMPONENTS Interpreter Development.Module)

set(_mrcnn_torch_query [=[
import os, sys
import torch
print(torch.__version__)
print(os.path.realpath(os.path.dirname(torch.__file__)))  # one path however torch was linked in
print(torch.version.cuda or "-")
print(int(torch._C._GLIBCXX_USE_CXX11_ABI))
for name in ("_PYBIND11_COMPILER_TYPE", "_PYBIND11_STDLIB", "_PYBIND11_BUILD_ABI"):
    print(getattr(torch._C, name, "") or "-")
]=])
execute_process(
  COMMAND "${Python3_EXECUTABLE}" -c "${_mrcnn_torch_query}"
  OUTPUT_VARIABLE _torch_info
  ERROR_VARIABLE _torch_error
  RESULT_VARIABLE _torch_rc
  OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT _torch_rc EQUAL 0)
  message(FATAL_ERROR
    "mrcnn: '${Python3_EXECUTABLE}' cannot import torch:\n${_torch_error}\n"
    "mrcnn builds against the PyTorch already installed for this interpreter. Install it first "
    "(pip install torch), then install mrcnn with pip's build isolation off, so the build sees it:\n"
    "  pip install --no-build-isolation <this folder or git URL>")
endif()
string(REPLACE "\n" ";" _torch_info "${_torch_info}")
list(GET _torch_info 0 MRCNN_TORCH_VERSION)
list(GET _torch_info 1 MRCNN_TORCH_DIR)
list(GET _torch_info 2 MRCNN_TORCH_CUDA)
list(GET _torch_info 3 MRCNN_TORCH_CXX11_ABI)
list(GET _torch_info 4 _pybind11_compiler)
list(GET _torch_info 5 _pybind11_stdlib)
list(GET _torch_info 6 _pybind11_abi)
foreach(v MRCNN_TORCH_CUDA _pybind11_compiler _pybind11_stdlib _pybind11_abi)
  if(${v} STREQUAL "-")
    set(${v} "")
  endif()
endforeach()

string(REGEX MATCH "^[0-9]+\\.[0-9]+" _torch_minor "${MRCNN_TORCH_VERSION}")
if(_torch_minor VERSION_LESS 2.4)
  message(FATAL_ERROR "mrcnn: torch ${MRCNN_TORCH_VERSION} is too old; mrcnn supports torch 2.4 and newer "
                      "(pip install -U torch)")
endif()

set(MRCNN_TORCH_LIB_DIR "${MRCNN_TORCH_DIR}/lib")
set(MRCNN_TORCH_INCLUDE_DIRS "${MRCNN_TORCH_DIR}/include" "${MRCNN_TORCH_DIR}/include/torch/csrc/api/include")
if(NOT EXISTS "${MRCNN_TORCH_DIR}/include/torch/torch.h" AND NOT EXISTS "${MRCNN_TORCH_DIR}/include/torch/csrc/api/include/torch/torch.h")
  message(FATAL_ERROR "mrcnn: torch ${MRCNN_TORCH_VERSION} at ${MRCNN_TORCH_DIR} has no C++ headers "
                      "(a torch without include/). Install PyTorch from pip: pip install torch")
endif()

# mrcnn_torch_library(<var> <name>): lib<name>.so of this torch, or a clear stop
function(mrcnn_torch_library var name)
  find_library(${var} ${name} PATHS "${MRCNN_TORCH_LIB_DIR}" NO_DEFAULT_PATH)
  if(NOT ${var})
    message(FATAL_ERROR "mrcnn: lib${name}.so not found in ${MRCNN_TORCH_LIB_DIR} "
                        "(torch ${MRCNN_TORCH_VERSION}, CUDA '${MRCNN_TORCH_CUDA}')")
  endif()
endfunction()
mrcnn_torch_library(MRCNN_C10_LIBRARY c10)
mrcnn_torch_library(MRCNN_TORCH_CPU_LIBRARY torch_cpu)
mrcnn_torch_library(MRCNN_TORCH_LIBRARY torch)
mrcnn_torch_library(MRCNN_TORCH_PYTHON_LIBRARY torch_python)

add_library(mrcnn_torch INTERFACE)
add_library(mrcnn::torch ALIAS mrcnn_torch)
target_include_directories(mrcnn_torch SYSTEM INTERFACE ${MRCNN_TORCH_INCLUDE_DIRS})
target_link_libraries(mrcnn_torch INTERFACE ${MRCNN_TORCH_LIBRARY} ${MRCNN_TORCH_CPU_LIBRARY} ${MRCNN_C10_LIBRARY})
# Every object we link, the torch-free codecs included, must use torch's std::string ABI.
add_compile_definitions(_GLIBCXX_USE_CXX11_ABI=${MRCNN_TORCH_CXX11_ABI})

# pybind11: torch bundles the headers it was built with (include/pybind11); the module must use
# those and declare the same internals ABI, or pybind11 types do not pass between torch and us.
set(MRCNN_TORCH_PYBIND11_DEFINITIONS "")
if(_pybind11_compiler)
  list(APPEND MRCNN_TORCH_PYBIND11_DEFINITIONS PYBIND11_COMPILER_TYPE="${_pybind11_compiler}")
endif()
if(_pybind11_stdlib)
  list(APPEND MRCNN_TORCH_PYBIND11_DEFINITIONS PYBIND11_STDLIB="${_pybind11_stdlib}")
endif()
if(_pybind11_abi)
  list(APPEND MRCNN_TORCH_PYBIND11_DEFINITIONS PYBIND11_BUILD_ABI="${_pybind11_abi}")
endif()

message(STATUS "mrcnn: python ${Python3_EXECUTABLE} (${Python3_VERSION}), torch ${MRCNN_TORCH_VERSION} "
               "at ${MRCNN_TORCH_DIR}, CUDA '${MRCNN_TORCH_CUDA}', cxx11 abi ${MRCNN_TORCH_CXX11_ABI}")

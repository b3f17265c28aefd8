# Finds the Python interpreter, the torch it imports, LibTorch's CMake package and torch_python.
#
# Sets: Python3_* (Interpreter, Development.Module), TORCH_LIBRARIES, TORCH_CXX_FLAGS,
#       TORCH_PYTHON_LIBRARY, MRCNN_TORCH_HAS_CUDA (torch was built with CUDA).

if(MRCNN_PYTHON_EXECUTABLE)
  set(Python3_EXECUTABLE "${MRCNN_PYTHON_EXECUTABLE}")
endif()
find_package(Python3 REQUIRED COMPONENTS Interpreter Development.Module)

execute_process(
  COMMAND "${Python3_EXECUTABLE}" -c
    "import os, torch; print(torch.utils.cmake_prefix_path); print(os.path.join(os.path.dirname(torch.__file__), 'lib')); print(int(torch.version.cuda is not None)); print(torch.__version__)"
  OUTPUT_VARIABLE _torch_info
  RESULT_VARIABLE _torch_rc
  OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT _torch_rc EQUAL 0)
  message(FATAL_ERROR "mrcnn: '${Python3_EXECUTABLE}' cannot import torch. Install PyTorch for this "
                      "interpreter first (Debian: apt-get install python3-torch libtorch-dev).")
endif()
string(REPLACE "\n" ";" _torch_info "${_torch_info}")
list(GET _torch_info 0 _torch_cmake_prefix)
list(GET _torch_info 1 _torch_lib_dir)
list(GET _torch_info 2 MRCNN_TORCH_HAS_CUDA)
list(GET _torch_info 3 MRCNN_TORCH_PY_VERSION)

# pip wheels ship their CMake package under torch/share/cmake; Debian's libtorch-dev puts it in
# the system CMake path, which find_package searches anyway.
if(EXISTS "${_torch_cmake_prefix}")
  list(PREPEND CMAKE_PREFIX_PATH "${_torch_cmake_prefix}")
endif()

if(NOT MRCNN_TORCH_HAS_CUDA)
  # A CPU torch: keep Caffe2's CMake from looking for a CUDA toolkit it will not use.
  set(USE_CUDA OFF CACHE BOOL "" FORCE)
endif()
find_package(Torch REQUIRED)

find_library(TORCH_PYTHON_LIBRARY torch_python
  HINTS "${_torch_lib_dir}" "${TORCH_INSTALL_PREFIX}/lib"
  REQUIRED)

# pybind11 headers: torch's wheel bundles them in its include directory; otherwise use the
# installed pybind11 (Debian's pybind11-dev, or `pip install pybind11`).
execute_process(
  COMMAND "${Python3_EXECUTABLE}" -c "import pybind11; print(pybind11.get_cmake_dir())"
  OUTPUT_VARIABLE _pybind11_dir RESULT_VARIABLE _pybind11_rc OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(_pybind11_rc EQUAL 0)
  list(APPEND CMAKE_PREFIX_PATH "${_pybind11_dir}")
endif()
find_package(pybind11 CONFIG QUIET)

message(STATUS "mrcnn: python ${Python3_EXECUTABLE} (${Python3_VERSION}), torch ${MRCNN_TORCH_PY_VERSION}, "
               "torch CUDA ${MRCNN_TORCH_HAS_CUDA}, torch_python ${TORCH_PYTHON_LIBRARY}")

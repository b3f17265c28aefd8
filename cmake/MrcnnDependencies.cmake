# The C++ libraries besides torch, each found or stopped with a message that names the package
# providing it (Debian/Ubuntu and Colab: apt-get; conda-forge as the alternative).
if(NOT MRCNN_OPENCV)
  set(OpenCV_LIBS "")
  set(OpenCV_INCLUDE_DIRS "")
  set(OpenCV_VERSION "none")
  return()
endif()
find_package(OpenCV QUIET COMPONENTS core imgproc imgcodecs)
if(NOT OpenCV_FOUND)
  message(FATAL_ERROR
    "mrcnn: OpenCV's C++ library (core, imgproc, imgcodecs) was not found. It decodes images in the "
    "C++ data loader. pip's opencv-python does not include the C++ headers; install them with\n"
    "  apt-get install libopencv-dev          (Debian, Ubuntu, Colab)\n"
    "or point CMake at another build with OpenCV_DIR=<dir holding OpenCVConfig.cmake>. Without it, "
    "MRCNN_OPENCV=0 builds the network, training from Python datasets and evaluation, but not the "
    "C++ image decoding, the photometric augmentations or mask polygons.")
endif()

# A torch built with the pre-C++11 std::string ABI (pip wheels before 2.7) cannot share std::string
# with an OpenCV built with the new one (every distribution's since GCC 5): the link would fail with
# undefined cv::imread symbols, or worse, load and crash. Stop here with the fix.
if(MRCNN_TORCH_CXX11_ABI STREQUAL "0")
  set(_opencv_new_abi "")
  find_library(_mrcnn_imgcodecs opencv_imgcodecs HINTS ${OpenCV_INSTALL_PATH}/lib ${OpenCV_LIB_PATH})
  if(_mrcnn_imgcodecs AND CMAKE_NM)
    execute_process(COMMAND "${CMAKE_NM}" -D --defined-only "${_mrcnn_imgcodecs}"
                    COMMAND grep -c "imread.*__cxx11"
                    OUTPUT_VARIABLE _opencv_new_abi ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
  endif()
  if(_opencv_new_abi AND NOT _opencv_new_abi STREQUAL "0")
    message(FATAL_ERROR
      "mrcnn: torch ${MRCNN_TORCH_VERSION} uses the old C++ ABI (_GLIBCXX_USE_CXX11_ABI=0) but OpenCV "
      "${OpenCV_VERSION} (${_mrcnn_imgcodecs}) uses the new one; the two cannot be linked together. "
      "Install a torch built with the new ABI (pip install \"torch>=2.7\"), or point OpenCV_DIR at an "
      "OpenCV built with -D_GLIBCXX_USE_CXX11_ABI=0.")
  endif()
endif()

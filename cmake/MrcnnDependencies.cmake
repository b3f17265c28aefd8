# The C++ libraries besides torch, each found or stopped with a message that names the package
# providing it (Debian/Ubuntu and Colab: apt-get; conda-forge as the alternative).
find_package(OpenCV QUIET COMPONENTS core imgproc imgcodecs)
if(NOT OpenCV_FOUND)
  message(FATAL_ERROR
    "mrcnn: OpenCV's C++ library (core, imgproc, imgcodecs) was not found. It decodes images in the "
    "C++ data loader. pip's opencv-python does not include the C++ headers; install them with\n"
    "  apt-get install libopencv-dev          (Debian, Ubuntu, Colab)\n"
    "or point CMake at another build with OpenCV_DIR=<dir holding OpenCVConfig.cmake>.")
endif()

find_package(nlohmann_json 3 QUIET)
if(NOT nlohmann_json_FOUND)
  message(FATAL_ERROR
    "mrcnn: nlohmann-json 3 (header-only C++ JSON) was not found. Install it with\n"
    "  apt-get install nlohmann-json3-dev     (Debian, Ubuntu, Colab)\n"
    "or set nlohmann_json_DIR=<dir holding nlohmann_jsonConfig.cmake>.")
endif()

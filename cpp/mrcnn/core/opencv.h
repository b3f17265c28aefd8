// Whether this build has OpenCV's C++ library, and the error raised by what needs it when not.
//
// OpenCV decodes image and mask files in C++, runs the photometric augmentations and traces mask
// outlines (polygons). A build configured with MRCNN_OPENCV=OFF (a machine without OpenCV's C++
// headers, such as the lent GPU machine) leaves those out: the network, the ops, training from
// Python datasets and evaluation work; the parts that need OpenCV raise naming themselves.
#pragma once

#include <stdexcept>
#include <string>

#ifndef MRCNN_WITH_OPENCV
#define MRCNN_WITH_OPENCV 1
#endif

namespace mrcnn::core {

constexpr bool kWithOpenCV = MRCNN_WITH_OPENCV != 0;

[[noreturn]] inline void needs_opencv(const std::string& what) {
  throw std::runtime_error(what + " needs OpenCV's C++ library, which this build of mrcnn leaves out "
                           "(MRCNN_OPENCV=0): install libopencv-dev and rebuild");
}

}  // namespace mrcnn::core

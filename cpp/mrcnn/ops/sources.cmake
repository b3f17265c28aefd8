list(APPEND MRCNN_CORE_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/nms.cpp
  ${CMAKE_CURRENT_LIST_DIR}/roi_align.cpp
  ${CMAKE_CURRENT_LIST_DIR}/multiscale_roi_align.cpp
  ${CMAKE_CURRENT_LIST_DIR}/box_coder.cpp
  ${CMAKE_CURRENT_LIST_DIR}/anchors.cpp
  ${CMAKE_CURRENT_LIST_DIR}/paste_masks.cpp
  ${CMAKE_CURRENT_LIST_DIR}/cpu/nms_kernel.cpp
  ${CMAKE_CURRENT_LIST_DIR}/cpu/roi_align_kernel.cpp
  ${CMAKE_CURRENT_LIST_DIR}/cpu/paste_masks_kernel.cpp
  ${CMAKE_CURRENT_LIST_DIR}/autograd/roi_align_kernel.cpp
  ${CMAKE_CURRENT_LIST_DIR}/autocast/roi_align_kernel.cpp
  ${CMAKE_CURRENT_LIST_DIR}/autocast/nms_kernel.cpp)
list(APPEND MRCNN_CUDA_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/cuda/nms_kernel.cu
  ${CMAKE_CURRENT_LIST_DIR}/cuda/roi_align_kernel.cu
  ${CMAKE_CURRENT_LIST_DIR}/cuda/paste_masks_kernel.cu)

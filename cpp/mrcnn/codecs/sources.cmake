list(APPEND MRCNN_CODEC_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/rle.cpp
  ${CMAKE_CURRENT_LIST_DIR}/polygon.cpp
  ${CMAKE_CURRENT_LIST_DIR}/json_reader.cpp
  ${CMAKE_CURRENT_LIST_DIR}/coco_segmentation.cpp
  ${CMAKE_CURRENT_LIST_DIR}/kaggle_rle.cpp)

list(APPEND MRCNN_CORE_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/config.cpp
  ${CMAKE_CURRENT_LIST_DIR}/layers.cpp
  ${CMAKE_CURRENT_LIST_DIR}/backbone.cpp
  ${CMAKE_CURRENT_LIST_DIR}/transform.cpp
  ${CMAKE_CURRENT_LIST_DIR}/sampling.cpp
  ${CMAKE_CURRENT_LIST_DIR}/rpn.cpp
  ${CMAKE_CURRENT_LIST_DIR}/roi_heads.cpp
  ${CMAKE_CURRENT_LIST_DIR}/mask_rcnn.cpp
  ${CMAKE_CURRENT_LIST_DIR}/onednn.cpp
  ${CMAKE_CURRENT_LIST_DIR}/weights.cpp
  ${CMAKE_CURRENT_LIST_DIR}/checkpoint.cpp)

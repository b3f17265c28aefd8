list(APPEND MRCNN_CORE_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/build_info.cpp
  ${CMAKE_CURRENT_LIST_DIR}/cpu_allocator.cpp)

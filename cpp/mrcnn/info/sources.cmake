# What the build holds (versions, devices, threads): above every other area, which it reports on.
list(APPEND MRCNN_CORE_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/build_info.cpp)

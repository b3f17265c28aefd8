# The bottom layer. Its torch-free part (the thread pool) goes into the torch-free library with
# the codecs; the rest into the torch core.
list(APPEND MRCNN_CODEC_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/parallel.cpp)
list(APPEND MRCNN_CORE_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/cpu_allocator.cpp)

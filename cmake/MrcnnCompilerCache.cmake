# Use ccache when it is installed. The sloppiness settings let ccache reuse objects
# built with a precompiled header (torch's headers are ~20 s per translation unit).
find_program(MRCNN_CCACHE ccache)
if(MRCNN_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(_ccache_env
    "CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime"
    "CCACHE_BASEDIR=${CMAKE_SOURCE_DIR}"
    "CCACHE_NOHASHDIR=1")
  set(CMAKE_CXX_COMPILER_LAUNCHER "${CMAKE_COMMAND};-E;env;${_ccache_env};${MRCNN_CCACHE}")
  set(CMAKE_CUDA_COMPILER_LAUNCHER "${CMAKE_COMMAND};-E;env;${_ccache_env};${MRCNN_CCACHE}")
  message(STATUS "mrcnn: compiler cache ${MRCNN_CCACHE}")
endif()

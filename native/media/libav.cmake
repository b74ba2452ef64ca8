# In-process video decoding (native/media/libav_decoder.*): FFmpeg's libavformat,
# libavcodec and libavutil, dlopen'ed at run time by the sonames of the headers
# found here (never linked: the addon loads and works without them, and the
# LeRobot frame source then runs the ffmpeg CLI). Included by the addon's
# CMakeLists.txt and by native/tests.
#
#   FEAT2GO_LIBAV  AUTO|ON|OFF (option or environment variable)
#     AUTO  compiled in when the headers are found (Debian: libavformat-dev
#           libavcodec-dev libavutil-dev), else compiled out: decoding reports
#           "built without libav headers"
#     ON    the headers are required; OFF: compiled out
set(FEAT2GO_LIBAV "AUTO" CACHE STRING "In-process video decoding with FFmpeg's libraries (AUTO, ON, OFF)")
if(DEFINED ENV{FEAT2GO_LIBAV})
  set(FEAT2GO_LIBAV "$ENV{FEAT2GO_LIBAV}")
endif()
set(FEAT2GO_HAS_LIBAV OFF)
set(FEAT2GO_LIBAV_INCLUDE_DIRS "")
if(NOT FEAT2GO_LIBAV STREQUAL "OFF")
  find_path(FEAT2GO_AVFORMAT_INCLUDE libavformat/avformat.h PATH_SUFFIXES ffmpeg)
  find_path(FEAT2GO_AVCODEC_INCLUDE libavcodec/avcodec.h PATH_SUFFIXES ffmpeg)
  find_path(FEAT2GO_AVUTIL_INCLUDE libavutil/avutil.h PATH_SUFFIXES ffmpeg)
  if(FEAT2GO_AVFORMAT_INCLUDE AND FEAT2GO_AVCODEC_INCLUDE AND FEAT2GO_AVUTIL_INCLUDE)
    set(FEAT2GO_HAS_LIBAV ON)
    set(FEAT2GO_LIBAV_INCLUDE_DIRS ${FEAT2GO_AVFORMAT_INCLUDE} ${FEAT2GO_AVCODEC_INCLUDE} ${FEAT2GO_AVUTIL_INCLUDE})
    list(REMOVE_DUPLICATES FEAT2GO_LIBAV_INCLUDE_DIRS)
    message(STATUS "feat2go: libav headers found (${FEAT2GO_LIBAV_INCLUDE_DIRS}): in-process video decoding compiled in")
  elseif(FEAT2GO_LIBAV STREQUAL "ON")
    message(FATAL_ERROR "FEAT2GO_LIBAV=ON but the libav headers were not found (Debian: apt-get install libavformat-dev libavcodec-dev libavutil-dev)")
  else()
    message(STATUS "feat2go: libav headers not found: in-process video decoding compiled out (the ffmpeg CLI decodes)")
  endif()
endif()

# Adds the decoder to `target` (its headers' include folders and FEAT2GO_HAVE_LIBAV
# when found; dlopen's library, never FFmpeg's).
function(feat2go_libav_sources target)
  set(_src ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/libav_decoder.cc)
  target_sources(${target} PRIVATE ${_src})
  if(FEAT2GO_HAS_LIBAV)
    set_property(SOURCE ${_src} TARGET_DIRECTORY ${target} APPEND PROPERTY COMPILE_DEFINITIONS FEAT2GO_HAVE_LIBAV=1)
    set_property(SOURCE ${_src} TARGET_DIRECTORY ${target} APPEND PROPERTY INCLUDE_DIRECTORIES ${FEAT2GO_LIBAV_INCLUDE_DIRS})
    target_link_libraries(${target} PRIVATE ${CMAKE_DL_LIBS})
  endif()
endfunction()

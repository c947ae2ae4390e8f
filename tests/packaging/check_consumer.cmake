# Builds and runs tests/packaging/consumer against tapegrad.
#   -DMODE=install      : cmake --install BUILD_DIR into a fresh prefix, then find_package
#   -DMODE=subdirectory : add_subdirectory(SOURCE_DIR)
foreach(var MODE SOURCE_DIR BUILD_DIR WORK_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_consumer.cmake needs -D${var}=...")
  endif()
endforeach()

function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGV}\n${out}\n${err}")
  endif()
  message(STATUS "${out}")
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
set(consumer_build ${WORK_DIR}/consumer-build)
if(MODE STREQUAL "install")
  set(prefix ${WORK_DIR}/prefix)
  run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
  if(EXISTS ${BUILD_DIR}/cli AND NOT EXISTS ${prefix}/bin/tapegrad)
    message(FATAL_ERROR "cmake --install did not install the tapegrad command line to ${prefix}/bin")
  endif()
  # The installed libraries are shared and link OpenBLAS, libxsmm, OpenSSL and libgvc
  # privately: the package must not ask for them (or for PLplot). The consumer is
  # configured with OpenSSL and pkg-config (through which the others are found) made
  # unfindable, and the exported targets must not name them.
  file(GLOB exported ${prefix}/lib*/cmake/tapegrad/*.cmake)
  foreach(file ${exported})
    file(READ ${file} text)
    string(REGEX REPLACE "#[^\n]*" "" text "${text}")  # what CMake reads, not the comments
    string(REGEX MATCH "OpenSSL|PkgConfig|gvc|plplot|openblas|xsmm" named "${text}")
    if(named)
      message(FATAL_ERROR "${file} names '${named}': a consumer would need its development package")
    endif()
  endforeach()
  set(ENV{PKG_CONFIG_LIBDIR} ${WORK_DIR}/no-pkg-config)
  run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/packaging/consumer -B ${consumer_build}
      -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release
      -DCMAKE_DISABLE_FIND_PACKAGE_OpenSSL=ON -DCMAKE_DISABLE_FIND_PACKAGE_PkgConfig=ON)
elseif(MODE STREQUAL "subdirectory")
  # The library is compiled again here: unoptimised and without debug information,
  # which halves the time (the test is about the build wiring, not speed).
  run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/packaging/consumer -B ${consumer_build}
      -DTAPEGRAD_SOURCE=${SOURCE_DIR} -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O0)
else()
  message(FATAL_ERROR "unknown MODE ${MODE}")
endif()
run(${CMAKE_COMMAND} --build ${consumer_build} -j 2)
run(${consumer_build}/consumer)

# A wrong-way include does not compile. Run by ctest (tests/CMakeLists.txt):
# builds the target layer_<name>, one source that includes HEADER, and checks
# that the compiler stopped for want of that very header (EXPECT=missing), or
# that it compiled (EXPECT=found, the control: the check is not vacuous).
cmake_minimum_required(VERSION 3.20)
foreach(var BUILD_DIR TARGET HEADER EXPECT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_layers.cmake needs -D${var}=...")
  endif()
endforeach()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR} --target ${TARGET}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
set(log "${out}\n${err}")
string(REGEX MATCH "tapegrad/${HEADER}'?:? (No such file or directory|file not found)" not_found "${log}")
if(EXPECT STREQUAL "missing")
  if(rc EQUAL 0)
    message(FATAL_ERROR "${TARGET} compiled although it includes tapegrad/${HEADER} from a layer below it")
  elseif(NOT not_found)
    message(FATAL_ERROR "${TARGET} failed, but not for want of tapegrad/${HEADER}:\n${log}")
  endif()
elseif(NOT rc EQUAL 0)
  message(FATAL_ERROR "${TARGET} should compile (it includes tapegrad/${HEADER} from a layer above it):\n${log}")
endif()

# Runs tools/fixtures/check_torch_load.py with Debian's /usr/bin/python3, and
# fails with a clear message when that python or its torch is missing.
#   cmake -DSCRIPT=... -DOUT_DIR=... -P run_torch_check.cmake
set(python /usr/bin/python3)
if(NOT EXISTS ${python})
  message(FATAL_ERROR "torch_loads_tapegrad_checkpoint needs ${python} with torch "
                      "(Debian: apt-get install python3-torch, or bash tools/install-deps.sh)")
endif()
execute_process(COMMAND ${python} -c "import torch" RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "torch_loads_tapegrad_checkpoint: ${python} cannot import torch "
                      "(Debian: apt-get install python3-torch, or bash tools/install-deps.sh):\n${err}")
endif()
execute_process(COMMAND ${python} ${SCRIPT} ${OUT_DIR} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message(STATUS "${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "check_torch_load.py failed (${rc})")
endif()

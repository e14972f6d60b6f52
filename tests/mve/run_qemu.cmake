# Runs one Cortex-M55 program on QEMU and checks its exit status (CTest's command for the MVE tests):
#
#   cmake -DQEMU=qemu-system-arm -DTIMEOUT=timeout -DELF=prog.elf [-DARGS="a b"] [-DEXPECTED_STATUS=0]
#         -P tests/mve/run_qemu.cmake
#
# runs `timeout 60 qemu-system-arm -M mps3-an547 -nographic -semihosting-config enable=on,target=native
# -kernel prog.elf [-append ARGS]` with standard input from /dev/null: under a terminal, QEMU's -nographic console
# would otherwise wait for the terminal (timeout runs it in the background) until the timeout. The program's
# output passes through; semihosting makes its exit status QEMU's. Status 222 is a fault, 124 a timeout.
cmake_minimum_required(VERSION 3.22)  # policies of this version in script mode (quoted if() arguments)
foreach(var QEMU TIMEOUT ELF)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_qemu.cmake: -D${var}=... is missing")
  endif()
endforeach()
if(NOT DEFINED EXPECTED_STATUS)
  set(EXPECTED_STATUS 0)
endif()
if(NOT EXISTS "${ELF}")
  message(FATAL_ERROR "run_qemu.cmake: ${ELF} does not exist (is the approxnn_mve_programs sub-build built?)")
endif()
set(command "${TIMEOUT}" 60 "${QEMU}" -M mps3-an547 -nographic -semihosting-config enable=on,target=native
            -kernel "${ELF}")
if(DEFINED ARGS AND NOT ARGS STREQUAL "")
  list(APPEND command -append "${ARGS}")
endif()
execute_process(COMMAND ${command} INPUT_FILE /dev/null RESULT_VARIABLE status)
if(NOT status STREQUAL "${EXPECTED_STATUS}")
  if(status STREQUAL "124")
    set(meaning " (timed out after 60 s)")
  elseif(status STREQUAL "222")
    set(meaning " (the program took a fault, see the fault report above)")
  else()
    set(meaning "")
  endif()
  message(FATAL_ERROR "${ELF} exited with status ${status}${meaning}; expected ${EXPECTED_STATUS}")
endif()

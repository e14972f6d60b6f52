# Cortex-M55 (MVE) programs that run on QEMU's mps3-an547 board. Include this file from a project configured with
# cmake/arm/toolchain-cortex-m55.cmake (and C enabled); approxnn's host build reaches it through the sub-build of
# tests/mve/.
#
#   approxnn_add_mve_program(<name> SOURCES <file>... [LIBRARIES <target>...])
#
# builds <name>.elf with the start-up code (startup.c, crt.c) and the linker script (mps3_an547.ld), and writes a
# disassembly <name>.lst beside it (arm-none-eabi-objdump -d -m armv8.1-m.main, with MVE mnemonics). Run:
#
#   timeout 60 qemu-system-arm -M mps3-an547 -nographic -semihosting-config enable=on,target=native \
#     -kernel <name>.elf [-append "arguments for main"]
#
# QEMU's exit status is the program's (exit(main())); a fault exits with 222 (APPROXNN_ARM_FAULT_STATUS).

include_guard(GLOBAL)

set(APPROXNN_ARM_DIR "${CMAKE_CURRENT_LIST_DIR}")

add_library(approxnn_arm_runtime OBJECT "${APPROXNN_ARM_DIR}/startup.c" "${APPROXNN_ARM_DIR}/crt.c")
target_include_directories(approxnn_arm_runtime PUBLIC "${APPROXNN_ARM_DIR}")
target_compile_options(approxnn_arm_runtime PRIVATE -std=c11 -Wall -Wextra -Wpedantic)

function(approxnn_add_mve_program name)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "" "SOURCES;LIBRARIES")
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "approxnn_add_mve_program(${name}): no SOURCES")
  endif()
  add_executable(${name} ${ARG_SOURCES} $<TARGET_OBJECTS:approxnn_arm_runtime>)
  set_target_properties(${name} PROPERTIES SUFFIX ".elf"
                        LINK_DEPENDS "${APPROXNN_ARM_DIR}/mps3_an547.ld")
  target_include_directories(${name} PRIVATE "${APPROXNN_ARM_DIR}")
  target_link_options(${name} PRIVATE "-T${APPROXNN_ARM_DIR}/mps3_an547.ld"
                      "-Wl,-Map=$<TARGET_FILE_DIR:${name}>/${name}.map")
  if(ARG_LIBRARIES)
    target_link_libraries(${name} PRIVATE ${ARG_LIBRARIES})
  endif()
  if(CMAKE_OBJDUMP)
    add_custom_command(TARGET ${name} POST_BUILD
      COMMAND "${CMAKE_OBJDUMP}" -d -C -m armv8.1-m.main "$<TARGET_FILE:${name}>"
              > "$<TARGET_FILE_DIR:${name}>/${name}.lst"
      VERBATIM)
  endif()
endfunction()

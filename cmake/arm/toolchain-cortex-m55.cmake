# CMake toolchain file: bare-metal Arm Cortex-M55 (Armv8.1-M Mainline with MVE / Helium and FP), Debian's
# arm-none-eabi-gcc 12 with newlib. Programs run on QEMU's mps3-an547 board (see cmake/arm/mve.cmake).
#
#   cmake -S tests/mve/target -B build-mve-target -G Ninja \
#         -DCMAKE_TOOLCHAIN_FILE=cmake/arm/toolchain-cortex-m55.cmake
#
# Only the cross build uses this file; approxnn's host build is never configured with it.

set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR cortex-m55)

set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_CXX_COMPILER arm-none-eabi-g++)
set(CMAKE_ASM_COMPILER arm-none-eabi-gcc)
set(CMAKE_OBJDUMP arm-none-eabi-objdump CACHE FILEPATH "objdump for the target")
set(CMAKE_NM arm-none-eabi-nm CACHE FILEPATH "nm for the target")

# Compiler checks link nothing (there is no start-up code until a program adds it).
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

# -Wno-psabi: GCC notes an ABI change for vector arguments of MVE types; that is not a problem here.
set(_approxnn_arm_cpu_flags "-mcpu=cortex-m55 -mfloat-abi=hard -mthumb")
set(CMAKE_C_FLAGS_INIT "${_approxnn_arm_cpu_flags} -ffunction-sections -fdata-sections -Wno-psabi")
set(CMAKE_CXX_FLAGS_INIT "${_approxnn_arm_cpu_flags} -ffunction-sections -fdata-sections -Wno-psabi")
set(CMAKE_ASM_FLAGS_INIT "${_approxnn_arm_cpu_flags}")
# -O2 in every configuration (CMake's own Release default would add -O3); cached here so that CMake keeps them.
foreach(_lang C CXX ASM)
  set(CMAKE_${_lang}_FLAGS_RELEASE "-O2 -DNDEBUG" CACHE STRING "Flags for Release builds of the Cortex-M55 programs")
  set(CMAKE_${_lang}_FLAGS_RELWITHDEBINFO "-O2 -g -DNDEBUG" CACHE STRING "Flags for RelWithDebInfo builds")
  set(CMAKE_${_lang}_FLAGS_MINSIZEREL "-Os -DNDEBUG" CACHE STRING "Flags for MinSizeRel builds")
  set(CMAKE_${_lang}_FLAGS_DEBUG "-O2 -g" CACHE STRING "Debug flags (-O2 too: the code read is the code run)")
endforeach()
# rdimon: newlib's semihosting system calls (stdout/stderr and exit status reach the host through QEMU).
set(CMAKE_EXE_LINKER_FLAGS_INIT "--specs=rdimon.specs -Wl,--gc-sections")

# Never pick up the host's headers, libraries or packages.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

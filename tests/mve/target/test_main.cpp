// doctest's main for the Cortex-M55 test program (QEMU mps3-an547). The configuration macros come from the build
// (tests/mve/target/CMakeLists.txt): DOCTEST_CONFIG_NO_POSIX_SIGNALS, DOCTEST_CONFIG_NO_MULTITHREADING and, with
// -fno-exceptions, DOCTEST_CONFIG_NO_EXCEPTIONS. Command-line arguments reach doctest through QEMU's -append.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

// Probes for the test harness itself (tests/mve/run_qemu.cmake checks their exit status):
//   probe_status <status>   exits with <status>: QEMU must exit with it (a failing guest fails its test)
//   probe_status fault      reads unmapped memory: the fault handler must end QEMU with status 222
//   probe_status args a "b c"  exits with 40 + argc (4 here): arguments arrive through -append
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

int main(int argc, char** argv) {
    if (argc < 2) return 100;
    if (std::strcmp(argv[1], "fault") == 0) {
        std::printf("probe: reading unmapped memory\n");
        return static_cast<int>(*reinterpret_cast<volatile const std::uint32_t*>(0x21400000U));
    }
    if (std::strcmp(argv[1], "args") == 0) {
        for (int i = 0; i < argc; ++i) std::printf("probe: argv[%d] = '%s'\n", i, argv[i]);
        return 40 + argc;
    }
    return std::atoi(argv[1]);
}

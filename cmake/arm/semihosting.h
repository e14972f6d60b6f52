/* Arm semihosting calls used by approxnn's Cortex-M55 test programs (QEMU: -semihosting-config enable=on).
 * Operation numbers and parameter blocks follow Arm's "Semihosting for AArch32 and AArch64" specification;
 * on M-profile the call is BKPT 0xAB with the operation in r0 and the parameter in r1. */
#ifndef APPROXNN_ARM_SEMIHOSTING_H
#define APPROXNN_ARM_SEMIHOSTING_H

#include <stdint.h>

/* Exit status of a program that took a fault (HardFault, MemManage, BusFault, UsageFault, SecureFault, NMI or an
 * unexpected interrupt): QEMU exits with it, so the test fails with a recognisable status. */
#define APPROXNN_ARM_FAULT_STATUS 222

#define APPROXNN_SYS_WRITE0 0x04
#define APPROXNN_SYS_GET_CMDLINE 0x15
#define APPROXNN_SYS_EXIT_EXTENDED 0x20
#define APPROXNN_ADP_STOPPED_APPLICATION_EXIT 0x20026

static inline uint32_t approxnn_semihosting_call(uint32_t operation, const volatile void* parameter) {
    register uint32_t r0 __asm__("r0") = operation;
    register const volatile void* r1 __asm__("r1") = parameter;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

/* Writes a NUL-terminated string to the host's debug console. */
static inline void approxnn_semihosting_write0(const char* text) {
    (void)approxnn_semihosting_call(APPROXNN_SYS_WRITE0, text);
}

/* Ends the program; QEMU exits with `status`. */
static inline __attribute__((noreturn)) void approxnn_semihosting_exit(uint32_t status) {
    const volatile uint32_t block[2] = {APPROXNN_ADP_STOPPED_APPLICATION_EXIT, status};
    for (;;) (void)approxnn_semihosting_call(APPROXNN_SYS_EXIT_EXTENDED, block);
}

#endif

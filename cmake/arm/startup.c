/* Start-up code for approxnn's Cortex-M55 test programs on QEMU's mps3-an547 board (see mps3_an547.ld).
 *
 * The core resets in Secure state with VTOR = 0 and takes the initial stack pointer and the reset vector from the
 * table below, which the linker script places at address 0 (ITCM). The reset handler
 *   1. enables CP10/CP11 (FPU and MVE) in CPACR: until then the first floating-point or MVE instruction faults,
 *      so the handler is written without C code that the compiler could vectorise;
 *   2. points VTOR at the table, sets the stack limit (MSPLIM) so an overflow faults instead of corrupting data,
 *      and enables the divide-by-zero trap;
 *   3. continues in approxnn_arm_start (crt.c).
 * Every other exception ends the program through semihosting SYS_EXIT_EXTENDED with the status
 * APPROXNN_ARM_FAULT_STATUS after printing the faulting PC and the fault status registers, so a crash fails the
 * test that ran the program instead of hanging until its timeout. */

#include <stdint.h>

#include "semihosting.h"

extern uint32_t __stack_top[];   /* linker script: initial main stack pointer (top of DTCM) */
extern uint32_t __stack_limit[]; /* linker script: lowest address of the main stack */

void approxnn_arm_start(void) __attribute__((noreturn));
void approxnn_reset_handler(void) __attribute__((naked, noreturn));
void approxnn_fault_handler(void) __attribute__((naked, noreturn));
void approxnn_fault_report(const uint32_t* frame, uint32_t exc_return) __attribute__((noreturn, used));

/* Initial SP, reset, then NMI, HardFault, MemManage, BusFault, UsageFault, SecureFault, 4 reserved, SVCall,
 * DebugMonitor, reserved, PendSV, SysTick, and 16 external interrupts (none is enabled). */
#define APPROXNN_ARM_VECTOR_COUNT 32
__attribute__((section(".vectors"), used)) void (*const approxnn_vectors[APPROXNN_ARM_VECTOR_COUNT])(void) = {
    (void (*)(void))(uintptr_t)__stack_top,
    approxnn_reset_handler,
#define APPROXNN_FAULT4 approxnn_fault_handler, approxnn_fault_handler, approxnn_fault_handler, approxnn_fault_handler
    approxnn_fault_handler, approxnn_fault_handler,                   /* NMI, HardFault */
    APPROXNN_FAULT4, APPROXNN_FAULT4, APPROXNN_FAULT4, APPROXNN_FAULT4, /* the other 14 system exceptions, */
    APPROXNN_FAULT4, APPROXNN_FAULT4, APPROXNN_FAULT4,                  /* then the 16 interrupts */
#undef APPROXNN_FAULT4
};

void approxnn_reset_handler(void) {
    __asm__ volatile(
        "ldr   r0, =0xE000ED88      \n" /* CPACR: full access to CP10 and CP11 (FPU, MVE) */
        "ldr   r1, [r0]             \n"
        "orr   r1, r1, #(0xF << 20) \n"
        "str   r1, [r0]             \n"
        "ldr   r0, =0xE000ED08      \n" /* VTOR */
        "ldr   r1, =approxnn_vectors\n"
        "str   r1, [r0]             \n"
        "ldr   r0, =0xE000ED14      \n" /* CCR: trap integer division by zero */
        "ldr   r1, [r0]             \n"
        "orr   r1, r1, #(1 << 4)    \n"
        "str   r1, [r0]             \n"
        "dsb                        \n"
        "isb                        \n"
        "ldr   r0, =__stack_limit   \n"
        "msr   msplim, r0           \n"
        "ldr   r0, =__stack_top     \n"
        "msr   msp, r0              \n"
        "b     approxnn_arm_start   \n"
        ".ltorg                     \n");
}

/* Passes the stacked exception frame (MSP or PSP, by EXC_RETURN bit 2) and EXC_RETURN to the report. A stack
 * overflow leaves no usable frame; the report then shows whatever it finds, and still exits. */
void approxnn_fault_handler(void) {
    __asm__ volatile(
        "tst   lr, #4               \n"
        "ite   eq                   \n"
        "mrseq r0, msp              \n"
        "mrsne r0, psp              \n"
        "mov   r1, lr               \n"
        "ldr   r2, =__stack_top     \n" /* a fresh stack for the report */
        "msr   msp, r2              \n"
        "ldr   r2, =__stack_limit   \n"
        "msr   msplim, r2           \n"
        "b     approxnn_fault_report\n"
        ".ltorg                     \n");
}

static char* approxnn_put_hex(char* out, uint32_t value) {
    static const char digits[] = "0123456789abcdef";
    *out++ = '0';
    *out++ = 'x';
    for (int shift = 28; shift >= 0; shift -= 4) *out++ = digits[(value >> shift) & 0xFu];
    return out;
}

static char* approxnn_put_text(char* out, const char* text) {
    while (*text != '\0') *out++ = *text++;
    return out;
}

void approxnn_fault_report(const uint32_t* frame, uint32_t exc_return) {
    volatile const uint32_t* const icsr = (volatile const uint32_t*)0xE000ED04u;
    volatile const uint32_t* const cfsr = (volatile const uint32_t*)0xE000ED28u;
    volatile const uint32_t* const hfsr = (volatile const uint32_t*)0xE000ED2Cu;
    static char message[200];
    char* out = approxnn_put_text(message, "\napproxnn: fault (exception ");
    out = approxnn_put_hex(out, *icsr & 0x1FFu);
    out = approxnn_put_text(out, ") pc ");
    out = approxnn_put_hex(out, frame[6]);
    out = approxnn_put_text(out, " lr ");
    out = approxnn_put_hex(out, frame[5]);
    out = approxnn_put_text(out, " cfsr ");
    out = approxnn_put_hex(out, *cfsr);
    out = approxnn_put_text(out, " hfsr ");
    out = approxnn_put_hex(out, *hfsr);
    out = approxnn_put_text(out, " exc_return ");
    out = approxnn_put_hex(out, exc_return);
    out = approxnn_put_text(out, "\n");
    *out = '\0';
    approxnn_semihosting_write0(message);
    approxnn_semihosting_exit(APPROXNN_ARM_FAULT_STATUS);
}

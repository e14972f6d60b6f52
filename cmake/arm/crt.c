/* C run-time start for approxnn's Cortex-M55 test programs: what newlib's rdimon start code would do, but with the
 * heap taken from the linker script (QEMU's SYS_HEAPINFO reports a heap in ITCM, where malloc then fails).
 *   zero .bss -> heap bounds -> semihosting file handles -> static constructors -> command line -> exit(main()).
 * Also the system-call stubs newlib and libstdc++ need beyond rdimon: _sbrk (heap) and getentropy. */

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "semihosting.h"

extern char __bss_start__[];  /* linker script */
extern char __bss_end__[];
extern char __heap_start__[];
extern char __heap_end__[];
extern unsigned int __heap_limit; /* rdimon's own heap bound (used by its _sbrk, which ours replaces) */

extern void initialise_monitor_handles(void);
extern void __libc_init_array(void);
extern int main(int argc, char** argv);

void approxnn_arm_start(void) __attribute__((noreturn));
void* _sbrk(ptrdiff_t increment);
int getentropy(void* buffer, size_t length);

static char* approxnn_heap_break;

/* The heap lies between __heap_start__ and __heap_end__ (DDR); its position relative to the stack is irrelevant. */
void* _sbrk(ptrdiff_t increment) {
    char* const previous = approxnn_heap_break;
    if (increment > __heap_end__ - previous || increment < __heap_start__ - previous) {
        errno = ENOMEM;
        return (void*)-1;
    }
    approxnn_heap_break = previous + increment;
    return previous;
}

/* Deterministic, NOT random: the emulated board has no entropy source, and the test programs must run the same
 * way every time. libstdc++'s std::random_device reaches this. */
int getentropy(void* buffer, size_t length) {
    uint32_t state = 0x2545F491u;
    unsigned char* out = (unsigned char*)buffer;
    for (size_t i = 0; i < length; ++i) {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        out[i] = (unsigned char)state;
    }
    return 0;
}

#define APPROXNN_ARM_MAX_ARGS 64
static char approxnn_command_line[2048];
static char* approxnn_argv[APPROXNN_ARM_MAX_ARGS + 1];

/* Splits the semihosting command line ("program args...", from QEMU's -kernel and -append) at blanks; double
 * quotes group words ("a b" is one argument, the quotes are removed). */
static int approxnn_split_command_line(void) {
    struct {
        char* buffer;
        uint32_t length;
    } volatile block = {approxnn_command_line, sizeof approxnn_command_line - 1};
    if (approxnn_semihosting_call(APPROXNN_SYS_GET_CMDLINE, &block) != 0) {
        static char program_name[] = "program";
        approxnn_argv[0] = program_name;
        return 1;
    }
    approxnn_command_line[block.length] = '\0';
    int argc = 0;
    char* in = approxnn_command_line;
    while (argc < APPROXNN_ARM_MAX_ARGS) {
        while (*in == ' ' || *in == '\t' || *in == '\n') ++in;
        if (*in == '\0') break;
        char* out = in;
        approxnn_argv[argc++] = out;
        int quoted = 0;
        while (*in != '\0' && (quoted || (*in != ' ' && *in != '\t' && *in != '\n'))) {
            if (*in == '"') {
                quoted = !quoted;
                ++in;
            } else {
                *out++ = *in++;
            }
        }
        if (*in != '\0') ++in;
        *out = '\0';
    }
    approxnn_argv[argc] = NULL;
    return argc;
}

void approxnn_arm_start(void) {
    memset(__bss_start__, 0, (size_t)(__bss_end__ - __bss_start__));
    approxnn_heap_break = __heap_start__;
    __heap_limit = (unsigned int)(uintptr_t)__heap_end__;
    initialise_monitor_handles();
    __libc_init_array();
    const int argc = approxnn_split_command_line();
    exit(main(argc, approxnn_argv));
}

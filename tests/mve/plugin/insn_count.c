/* QEMU TCG plugin: counts executed guest instructions, deterministically.
 *
 *   qemu-system-arm ... -plugin path/to/libapproxnn_insn_count.so[,marker=0xADDR] -d plugin [-D file.log]
 *
 * Each translation block gets an inline "add its instruction count" operation, executed whenever the block runs
 * (QEMU runs one vCPU here, so the plain counter is exact). At exit the plugin logs "insns <total>". With
 * marker=ADDR it also logs "marker <count so far>" each time a block starting at ADDR runs: a guest that calls a
 * do-nothing function at ADDR around a region gets that region's instruction count as the difference of two
 * consecutive markers. Output goes to QEMU's log (-d plugin; -D names a file).
 *
 * Debian ships no qemu-plugin.h, so the few entry points used are declared here from QEMU's plugin API (stable
 * ABI, version 1 in QEMU 7.2); a plugin exports qemu_plugin_version and qemu_plugin_install. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))
typedef uint64_t qemu_plugin_id_t;
struct qemu_info_t;
struct qemu_plugin_tb;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 = 0 };
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS = 0 };
void qemu_plugin_outs(const char* text);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb* tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb* tb);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb* tb, enum qemu_plugin_op op, void* ptr,
                                              uint64_t imm);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb* tb, void (*cb)(unsigned int vcpu, void* udata),
                                          enum qemu_plugin_cb_flags flags, void* udata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id,
                                           void (*cb)(qemu_plugin_id_t id, struct qemu_plugin_tb* tb));
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, void (*cb)(qemu_plugin_id_t id, void* udata), void* udata);

QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;

static uint64_t executed;  /* instructions of every block run so far */
static uint64_t marker = UINT64_MAX;

static void log_count(const char* label) {
    char line[64];
    snprintf(line, sizeof line, "%s %" PRIu64 "\n", label, executed);
    qemu_plugin_outs(line);
}

static void on_marker(unsigned int vcpu, void* udata) {
    (void)vcpu;
    (void)udata;
    log_count("marker");
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb* tb) {
    (void)id;
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &executed, qemu_plugin_tb_n_insns(tb));
    if ((qemu_plugin_tb_vaddr(tb) | 1u) == (marker | 1u)) {  /* Thumb symbols carry bit 0 */
        qemu_plugin_register_vcpu_tb_exec_cb(tb, on_marker, QEMU_PLUGIN_CB_NO_REGS, NULL);
    }
}

static void on_qemu_exit(qemu_plugin_id_t id, void* udata) {
    (void)id;
    (void)udata;
    log_count("insns");
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const struct qemu_info_t* info, int argc,
                                           char** argv);
int qemu_plugin_install(qemu_plugin_id_t id, const struct qemu_info_t* info, int argc, char** argv) {
    (void)info;
    for (int i = 0; i < argc; ++i) {
        if (strncmp(argv[i], "marker=", 7) != 0) {
            fprintf(stderr, "approxnn insn_count plugin: unknown argument '%s' (expected marker=ADDRESS)\n", argv[i]);
            return 1;
        }
        marker = strtoull(argv[i] + 7, NULL, 0);
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_qemu_exit, NULL);
    return 0;
}

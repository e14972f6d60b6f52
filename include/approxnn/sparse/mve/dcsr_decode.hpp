#pragma once
// In-register decoding of dCSR rows with Arm MVE (Cortex-M55), as in docs/dcsr.md (dcsr-format.md §6, §8): the row
// walk shared by the MVE SpMV and SpMM kernels.
//
// For a row with n stored elements and slope s (n = floor(N/R) + row_offsets[r], s = (C + n/2) / n), the 16 lane
// offsets of group k are ramp + d with
// - ramp = [0, 1, …, 15]·s (VIDUP, then VMUL by s, once per row);
// - d = the group's residual nibbles, the upper half (even global group: VSHR by 4) or the lower half (odd group:
//   VAND with 0x0F) of its 16-byte block, with one predicated VORR of 16 << i per set bit i of the group's 4-bit
//   bitmap, predicated by the next uint16 mask used directly as the MVE byte-lane predicate (VMSR P0).
// The lane column is B_k + offset with B_0 = m_0 and B_k = B_{k−1} + 16·s + m_k; offsets never exceed 255.
//
// A kernel runs one row as one asm statement (APPROXNN_MVE_ROW_WALK below) and supplies what happens to each
// decoded group. Why assembly: the jump on the bitmaps. GCC 12 lowers a C++ switch on a bitmap with a bound check
// even when every value has a case (three more instructions per jump), never turns a loop holding a jump table
// into a low-overhead (dls/le) loop, and spills the decoder's constants and pointers around it (docs/dcsr.md,
// "Cortex-M55", has the measured counts of the intrinsics versions). Written here, a pair of full groups (one nibble
// block, one bitmap byte) costs 19 instructions plus 4 per extension plane; see the walk for the sequence.
//
// Only on targets with MVE (see approxnn/sparse/mve/config.hpp); elsewhere this header declares nothing.

#include "approxnn/sparse/mve/config.hpp"

#if APPROXNN_MVE

#include <arm_mve.h>

#include <cstdint>

#include "approxnn/sparse/dcsr_layout.hpp"
#include "approxnn/sparse/dcsr_view.hpp"

namespace approxnn::sparse::mve::detail {

#define APPROXNN_MVE_ALWAYS_INLINE inline __attribute__((always_inline))

/// The slope (C + n/2) / n of a non-empty row in 32-bit arithmetic (C <= INT32_MAX and n < 2^32 in a valid view,
/// so C + n/2 < 2^32): one udiv, not the 64-bit library division of the portable dcsr_slope().
APPROXNN_MVE_ALWAYS_INLINE std::uint32_t row_slope(std::uint32_t columns, std::uint32_t count) noexcept {
    return (columns + count / 2) / count;
}

// ---------------------------------------------------------------------------------------------------------------
// The jump on the bitmaps (assembly text).
//
// Operands: %[t] a scratch core register, %[m] the mask pointer (advanced past the masks used), %[b] the bitmap
// (a byte or a nibble); the vector constants 16, 32, 64 (the values of bit-planes 4, 5, 6) are given as register
// text; plane 7 (128, rare) adds a scalar (VADD.I8 Qd, Qn, Rm) instead. The "inline" bitmaps 0, 1, 3 and 7 (no
// plane, or the lowest one, two or three: the bitmaps of random and of pruned matrices, ~99 % of the groups) have
// their own straight-line case; every other bitmap takes the generic path, one bit test per plane. Labels carry
// %= (unique per asm statement) and a prefix per dispatch.

/// One extension plane from a vector constant (register text c): the next mask predicates one VORR of register q.
#define APPROXNN_MVE_PLANE_Q(q, c) "ldrh %[t], [%[m]], #2\n\tvmsr p0, %[t]\n\tvpst\n\tvorrt " q ", " q ", " c "\n\t"
/// Plane 7 from a scalar: VADD equals VORR on these lanes (the bit is clear).
#define APPROXNN_MVE_PLANE_128(q) \
    "ldrh %[t], [%[m]], #2\n\tvmsr p0, %[t]\n\tmov %[t], #128\n\tvpst\n\tvaddt.i8 " q ", " q ", %[t]\n\t"
#define APPROXNN_MVE_PLANES_0(q, c16, c32, c64) ""
#define APPROXNN_MVE_PLANES_1(q, c16, c32, c64) APPROXNN_MVE_PLANE_Q(q, c16)
#define APPROXNN_MVE_PLANES_3(q, c16, c32, c64) APPROXNN_MVE_PLANE_Q(q, c16) APPROXNN_MVE_PLANE_Q(q, c32)
#define APPROXNN_MVE_PLANES_7(q, c16, c32, c64) \
    APPROXNN_MVE_PLANE_Q(q, c16) APPROXNN_MVE_PLANE_Q(q, c32) APPROXNN_MVE_PLANE_Q(q, c64)
/// Any bitmap held in bits (31 − shift0) … (31 − shift3) of %[b]: one bit test per plane, masks in plane order.
#define APPROXNN_MVE_PLANES_ANY(q, c16, c32, c64, shift0, shift1, shift2, shift3)       \
    "lsls %[t], %[b], #" shift0 "\n\tbpl 1f\n\t" APPROXNN_MVE_PLANE_Q(q, c16) "1:\n\t" \
    "lsls %[t], %[b], #" shift1 "\n\tbpl 1f\n\t" APPROXNN_MVE_PLANE_Q(q, c32) "1:\n\t" \
    "lsls %[t], %[b], #" shift2 "\n\tbpl 1f\n\t" APPROXNN_MVE_PLANE_Q(q, c64) "1:\n\t" \
    "lsls %[t], %[b], #" shift3 "\n\tbpl 1f\n\t" APPROXNN_MVE_PLANE_128(q) "1:\n\t"

// The label part of a bitmap in the jump tables: the inline bitmaps name their own case, the others the generic one.
#define APPROXNN_MVE_NIB_0 "0"
#define APPROXNN_MVE_NIB_1 "1"
#define APPROXNN_MVE_NIB_2 "g"
#define APPROXNN_MVE_NIB_3 "3"
#define APPROXNN_MVE_NIB_4 "g"
#define APPROXNN_MVE_NIB_5 "g"
#define APPROXNN_MVE_NIB_6 "g"
#define APPROXNN_MVE_NIB_7 "7"
#define APPROXNN_MVE_NIB_8 "g"
#define APPROXNN_MVE_NIB_9 "g"
#define APPROXNN_MVE_NIB_10 "g"
#define APPROXNN_MVE_NIB_11 "g"
#define APPROXNN_MVE_NIB_12 "g"
#define APPROXNN_MVE_NIB_13 "g"
#define APPROXNN_MVE_NIB_14 "g"
#define APPROXNN_MVE_NIB_15 "g"

/// The pair dispatch's table entry of byte 16·h + l (a TBH offset in halfwords from the table start).
#define APPROXNN_MVE_PAIR_ENTRY(p, h, l) "(." p APPROXNN_MVE_NIB_##h APPROXNN_MVE_NIB_##l "%=-." p "t%=)/2"
/// One line of the table: the 16 bytes whose upper nibble is h.
#define APPROXNN_MVE_PAIR_ROW(p, h)                                                                                  \
    ".hword " APPROXNN_MVE_PAIR_ENTRY(p, h, 0) "," APPROXNN_MVE_PAIR_ENTRY(p, h, 1) "," APPROXNN_MVE_PAIR_ENTRY(     \
        p, h, 2) "," APPROXNN_MVE_PAIR_ENTRY(p, h, 3) "," APPROXNN_MVE_PAIR_ENTRY(p, h, 4) ","                        \
        APPROXNN_MVE_PAIR_ENTRY(p, h, 5) "," APPROXNN_MVE_PAIR_ENTRY(p, h, 6) "," APPROXNN_MVE_PAIR_ENTRY(p, h, 7) "," \
        APPROXNN_MVE_PAIR_ENTRY(p, h, 8) "," APPROXNN_MVE_PAIR_ENTRY(p, h, 9) "," APPROXNN_MVE_PAIR_ENTRY(           \
            p, h, 10) "," APPROXNN_MVE_PAIR_ENTRY(p, h, 11) "," APPROXNN_MVE_PAIR_ENTRY(p, h, 12) ","                 \
        APPROXNN_MVE_PAIR_ENTRY(p, h, 13) "," APPROXNN_MVE_PAIR_ENTRY(p, h, 14) "," APPROXNN_MVE_PAIR_ENTRY(          \
            p, h, 15) "\n\t"
/// The case of the inline bitmaps h (even group) and l (odd group), ending with the asm text `next`.
#define APPROXNN_MVE_PAIR_CASE(p, h, l, hi, lo, c16, c32, c64, next) \
    "." p #h #l "%=:\n\t" APPROXNN_MVE_PLANES_##h(hi, c16, c32, c64) APPROXNN_MVE_PLANES_##l(lo, c16, c32, c64) next

/// The extension planes of both groups of a block: registers hi (even group) and lo (odd group) hold their nibbles,
/// %[b] the block's bitmap byte (even group's bitmap in the upper nibble). One TBH on the byte (a 256-entry table:
/// 512 bytes), then the planes of both groups, masks consumed in stream order. Each inline case ends with the asm
/// text `next` (its own copy of what follows the dispatch: no branch back); the generic path ends at label
/// .<p>j%=, where the most common byte (0x33: planes 4 and 5 in both groups), placed last, also arrives.
#define APPROXNN_MVE_PAIR_DISPATCH(p, hi, lo, c16, c32, c64, next)                                                   \
    "tbh [pc, %[b], lsl #1]\n"                                                                                       \
    "." p "t%=:\n\t" APPROXNN_MVE_PAIR_ROW(p, 0) APPROXNN_MVE_PAIR_ROW(p, 1) APPROXNN_MVE_PAIR_ROW(p, 2)             \
        APPROXNN_MVE_PAIR_ROW(p, 3) APPROXNN_MVE_PAIR_ROW(p, 4) APPROXNN_MVE_PAIR_ROW(p, 5)                          \
            APPROXNN_MVE_PAIR_ROW(p, 6) APPROXNN_MVE_PAIR_ROW(p, 7) APPROXNN_MVE_PAIR_ROW(p, 8)                      \
                APPROXNN_MVE_PAIR_ROW(p, 9) APPROXNN_MVE_PAIR_ROW(p, 10) APPROXNN_MVE_PAIR_ROW(p, 11)                \
                    APPROXNN_MVE_PAIR_ROW(p, 12) APPROXNN_MVE_PAIR_ROW(p, 13) APPROXNN_MVE_PAIR_ROW(p, 14)           \
                        APPROXNN_MVE_PAIR_ROW(p, 15)                                                                 \
    APPROXNN_MVE_PAIR_CASE(p, 0, 0, hi, lo, c16, c32, c64, next)                                                     \
    APPROXNN_MVE_PAIR_CASE(p, 0, 1, hi, lo, c16, c32, c64, next)                                                     \
    APPROXNN_MVE_PAIR_CASE(p, 0, 3, hi, lo, c16, c32, c64, next)                                                     \
    APPROXNN_MVE_PAIR_CASE(p, 0, 7, hi, lo, c16, c32, c64, next)                                                     \
    APPROXNN_MVE_PAIR_CASE(p, 1, 0, hi, lo, c16, c32, c64, next)                                                     \
    APPROXNN_MVE_PAIR_CASE(p, 1, 1, hi, lo, c16, c32, c64, next)                                                     \
    APPROXNN_MVE_PAIR_CASE(p, 1, 3, hi, lo, c16, c32, c64, next)                                                     \
    APPROXNN_MVE_PAIR_CASE(p, 1, 7, hi, lo, c16, c32, c64, next)                                                     \
    APPROXNN_MVE_PAIR_CASE(p, 3, 0, hi, lo, c16, c32, c64, next)                                                     \
    APPROXNN_MVE_PAIR_CASE(p, 3, 1, hi, lo, c16, c32, c64, next)                                                     \
    APPROXNN_MVE_PAIR_CASE(p, 3, 7, hi, lo, c16, c32, c64, next)                                                     \
    APPROXNN_MVE_PAIR_CASE(p, 7, 0, hi, lo, c16, c32, c64, next)                                                     \
    APPROXNN_MVE_PAIR_CASE(p, 7, 1, hi, lo, c16, c32, c64, next)                                                     \
    APPROXNN_MVE_PAIR_CASE(p, 7, 3, hi, lo, c16, c32, c64, next)                                                     \
    APPROXNN_MVE_PAIR_CASE(p, 7, 7, hi, lo, c16, c32, c64, next)                                                     \
    "." p "gg%=:\n." p "g0%=:\n." p "g1%=:\n." p "g3%=:\n." p "g7%=:\n." p "0g%=:\n." p "1g%=:\n." p "3g%=:\n." p   \
    "7g%=:\n\t" APPROXNN_MVE_PLANES_ANY(hi, c16, c32, c64, "27", "26", "25", "24")                                 \
        APPROXNN_MVE_PLANES_ANY(lo, c16, c32, c64, "31", "30", "29", "28") "b ." p "j%=\n"                           \
    "." p "33%=:\n\t" APPROXNN_MVE_PLANES_3(hi, c16, c32, c64) APPROXNN_MVE_PLANES_3(lo, c16, c32, c64) "." p        \
    "j%=:\n\t"

/// The extension planes of one group: register q holds its nibbles, %[b] its 4-bit bitmap. One TBB (16 entries;
/// bitmap 0 jumps straight to the end), then the planes; ends at label .<p>j%=.
#define APPROXNN_MVE_GROUP_DISPATCH(p, q, c16, c32, c64)                                                            \
    "tbb [pc, %[b]]\n"                                                                                              \
    "." p "t%=:\n\t"                                                                                                \
    ".byte (." p "j%=-." p "t%=)/2,(." p "1%=-." p "t%=)/2,(." p "g%=-." p "t%=)/2,(." p "3%=-." p "t%=)/2,(." p  \
    "g%=-." p "t%=)/2,(." p "g%=-." p "t%=)/2,(." p "g%=-." p "t%=)/2,(." p "7%=-." p "t%=)/2\n\t"                  \
    ".byte (." p "g%=-." p "t%=)/2,(." p "g%=-." p "t%=)/2,(." p "g%=-." p "t%=)/2,(." p "g%=-." p "t%=)/2,(." p  \
    "g%=-." p "t%=)/2,(." p "g%=-." p "t%=)/2,(." p "g%=-." p "t%=)/2,(." p "g%=-." p "t%=)/2\n"                   \
    "." p "1%=:\n\t" APPROXNN_MVE_PLANES_1(q, c16, c32, c64) "b ." p "j%=\n"                                        \
    "." p "3%=:\n\t" APPROXNN_MVE_PLANES_3(q, c16, c32, c64) "b ." p "j%=\n"                                        \
    "." p "7%=:\n\t" APPROXNN_MVE_PLANES_7(q, c16, c32, c64) "b ." p "j%=\n"                                        \
    "." p "g%=:\n\t" APPROXNN_MVE_PLANES_ANY(q, c16, c32, c64, "31", "30", "29", "28") "." p "j%=:\n\t"

// ---------------------------------------------------------------------------------------------------------------
// One row of a kernel as one asm statement: the walk over the row's groups, shared by SpMV and the SpMM decode.
//
// Registers: q0 the ramp [0..15]·s, q1 the 0x0F mask, q2 / q3 / q7 the plane values 16 / 32 / 64 (made per row:
// VMOV.I8), q4 / q5 the offsets (ramp + residuals) of the even / odd group of a block, q6 free for the kernel;
// %[base] the running B_k (on entry: B_{−1} + 16·s, e.g. the address of x; B_k stays an integer, it can lie below
// x), %[step] the slope on entry, then 16·s; %[n] the row's n > 0 on entry, then n − 1 (minus 16 when its first
// group was taken alone); %[t] on entry the previous row's %[n] on exit (16 before the first row: a row starts in
// the lower half of a block when bit 4 is clear), then scratch; %[b] scratch (an even register: VIDUP);
// %[blk], %[bmp], %[m], %[min] the four index streams, advanced past the row; lr counts the pairs.
//
// The kernel gives three pieces of asm text: full_q4 / full_q5 consume a full group whose offsets are in q4 / q5
// (%[base] = B_k), `last` the row's last group (offsets in q5, %[base] = B_k, (%[n] mod 16) + 1 active lanes).
// The walk: the row set-up; the row's first group alone when it starts in the lower half of a block; the pairs of
// full groups in one low-overhead loop — per pair VLDRB of the block, LDRB of the bitmap byte, VSHR and VAND, one
// TBH, the planes, two VADD of the ramp, one LDRH of both minimums (unaligned: allowed on Armv8-M unless
// CCR.UNALIGN_TRP is set), SXTAB and ADD per B_k, the kernel's work, LE — then the row's last full group and its
// last group. Empty rows never enter the walk.

/// B_k of the next group from one minimum byte of %[b] (the low byte, or with ", ror #8" the next one):
/// base += m_k + 16·s.
#define APPROXNN_MVE_ROW_BASE(rotate) "sxtab %[base], %[base], %[b]" rotate "\n\tadd %[base], %[base], %[step]\n\t"

/// The rest of a pair in the loop, after the planes: the ramp, both B_k (one LDRH for both minimums), the kernel's
/// work, LE.
#define APPROXNN_MVE_PAIR_REST(full_q4, full_q5)                                                                   \
    "vadd.i8 q4, q4, q0\n\t"                                                                                        \
    "vadd.i8 q5, q5, q0\n\t"                                                                                        \
    "ldrh %[b], [%[min]], #2\n\t" APPROXNN_MVE_ROW_BASE("") full_q4 APPROXNN_MVE_ROW_BASE(", ror #8") full_q5     \
    "le lr, 9b\n\t"

#define APPROXNN_MVE_ROW_WALK(full_q4, full_q5, last)                                                               \
    /* constants; ramp = [0..15]·s; step = 16·s; base −= 16·s (so that B_0 = base + m_0); n − 1 */                 \
    "vmov.i8 q1, #15\n\t"                                                                                           \
    "vmov.i8 q2, #16\n\t"                                                                                           \
    "vmov.i8 q3, #32\n\t"                                                                                           \
    "vmov.i8 q7, #64\n\t"                                                                                           \
    "movs %[b], #0\n\t"                                                                                             \
    "vidup.u8 q0, %[b], #1\n\t"                                                                                     \
    "vmul.i8 q0, q0, %[step]\n\t"                                                                                   \
    "lsls %[step], %[step], #4\n\t"                                                                                 \
    "subs %[base], %[base], %[step]\n\t"                                                                            \
    "subs %[n], %[n], #1\n\t"                                                                                       \
    /* the row starts in the lower half of a block: take its first group alone */                                  \
    "tst %[t], #16\n\t"                                                                                             \
    "bne 2f\n\t"                                                                                                    \
    "vldrb.u8 q5, [%[blk]], #16\n\t"                                                                                \
    "ldrb %[b], [%[bmp]], #1\n\t"                                                                                   \
    "vand q5, q5, q1\n\t"                                                                                           \
    "and %[b], %[b], #15\n\t" APPROXNN_MVE_GROUP_DISPATCH("Lo", "q5", "q2", "q3", "q7")                            \
    "vadd.i8 q5, q5, q0\n\t"                                                                                        \
    "ldrsb %[b], [%[min]], #1\n\t" APPROXNN_MVE_ROW_BASE("")                                                        \
    "subs %[n], %[n], #16\n\t" /* one full group fewer; negative: it was the row's only group */                  \
    "bmi 7f\n\t" full_q5                                                                                            \
    /* the pairs of full groups: one low-overhead loop */                                                          \
    "2:\n\t"                                                                                                        \
    "lsrs %[b], %[n], #5\n\t"                                                                                       \
    "beq 3f\n\t"                                                                                                    \
    "dls lr, %[b]\n"                                                                                                \
    "9:\n\t"                                                                                                        \
    "vldrb.u8 q5, [%[blk]], #16\n\t"                                                                                \
    "ldrb %[b], [%[bmp]], #1\n\t"                                                                                   \
    "vshr.u8 q4, q5, #4\n\t"                                                                                        \
    "vand q5, q5, q1\n\t" APPROXNN_MVE_PAIR_DISPATCH("Lq", "q4", "q5", "q2", "q3", "q7",                           \
                                                     APPROXNN_MVE_PAIR_REST(full_q4, full_q5) "b 3f\n")            \
        APPROXNN_MVE_PAIR_REST(full_q4, full_q5)                                                                    \
    /* an odd number of full groups left: the last one and the row's last group share the next block */           \
    "3:\n\t"                                                                                                        \
    "tst %[n], #16\n\t"                                                                                             \
    "beq 5f\n\t"                                                                                                    \
    "vldrb.u8 q4, [%[blk]], #16\n\t"                                                                                \
    "ldrb %[b], [%[bmp]], #1\n\t"                                                                                   \
    "vand q5, q4, q1\n\t"                                                                                           \
    "vshr.u8 q4, q4, #4\n\t"                                                                                        \
    "lsrs %[b], %[b], #4\n\t" APPROXNN_MVE_GROUP_DISPATCH("Lh", "q4", "q2", "q3", "q7")                            \
    "ldrb %[b], [%[bmp], #-1]\n\t"                                                                                  \
    "and %[b], %[b], #15\n\t" APPROXNN_MVE_GROUP_DISPATCH("Ll", "q5", "q2", "q3", "q7")                            \
    "vadd.i8 q4, q4, q0\n\t"                                                                                        \
    "vadd.i8 q5, q5, q0\n\t"                                                                                        \
    "ldrh %[b], [%[min]], #2\n\t" APPROXNN_MVE_ROW_BASE("") full_q4 APPROXNN_MVE_ROW_BASE(", ror #8")               \
    "b 7f\n"                                                                                                        \
    /* an even number: the row's last group is the upper half of the next block, whose lower half starts the      \
       next row (the block stays) */                                                                               \
    "5:\n\t"                                                                                                        \
    "vldrb.u8 q5, [%[blk]]\n\t"                                                                                     \
    "ldrb %[b], [%[bmp]]\n\t"                                                                                       \
    "vshr.u8 q5, q5, #4\n\t"                                                                                        \
    "lsrs %[b], %[b], #4\n\t" APPROXNN_MVE_GROUP_DISPATCH("Le", "q5", "q2", "q3", "q7")                            \
    "vadd.i8 q5, q5, q0\n\t"                                                                                        \
    "ldrsb %[b], [%[min]], #1\n\t" APPROXNN_MVE_ROW_BASE("")                                                        \
    /* the row's last group */                                                                                     \
    "7:\n\t" last

/// The clobbers of a row walk.
#define APPROXNN_MVE_ROW_WALK_CLOBBERS "lr", "memory", "cc", "p0", "q0", "q1", "q2", "q3", "q4", "q5", "q6", "q7"

/// Gathers x[base + offsets[j]] for the active lanes of p (zero in the others); base is an address as an integer
/// (B_k can lie below x: only base + offset >= x is ever dereferenced, which pointer arithmetic could not express
/// without undefined behaviour).
APPROXNN_MVE_ALWAYS_INLINE int8x16_t gather(std::uintptr_t base, uint8x16_t offsets, mve_pred16_t p) noexcept {
    return vldrbq_gather_offset_z_s8(reinterpret_cast<const std::int8_t*>(base), offsets, p);
}

/// Gathers x[base + offsets[j]] for all 16 lanes.
APPROXNN_MVE_ALWAYS_INLINE int8x16_t gather(std::uintptr_t base, uint8x16_t offsets) noexcept {
    return vldrbq_gather_offset_s8(reinterpret_cast<const std::int8_t*>(base), offsets);
}

/// The sum of `count` > 0 int8 weights (the row sum an input zero point needs).
APPROXNN_MVE_ALWAYS_INLINE std::int32_t weight_sum(const std::int8_t* v, std::uint32_t count) noexcept {
    std::int32_t sum = 0;
    for (std::uint32_t n = (count - 1) / dcsr_lanes; n != 0; --n, v += dcsr_lanes) sum = vaddvaq_s8(sum, vld1q_s8(v));
    return vaddvaq_s8(sum, vldrbq_z_s8(v, vctp8q((count - 1) % dcsr_lanes + 1)));
}

/// acc − zero_point·sum modulo 2^32 (the input zero point, applied through the row sum of the weights).
APPROXNN_MVE_ALWAYS_INLINE std::int32_t subtract_zero_point(std::int32_t acc, std::int32_t zero_point,
                                                            std::int32_t sum) noexcept {
    return static_cast<std::int32_t>(static_cast<std::uint32_t>(acc) -
                                     static_cast<std::uint32_t>(zero_point) * static_cast<std::uint32_t>(sum));
}

}  // namespace approxnn::sparse::mve::detail

#endif  // APPROXNN_MVE

#pragma once
// Function target attributes of the x86 dCSR kernels, and tables they share. The kernels are compiled for their
// instruction set through __attribute__((target(...))), never through the translation unit's -march, so the
// library does not require -march=native; the front ends (dcsr_kernels.hpp, dense_baseline.hpp) check the CPU once
// per call, at the entry point, and fall back to a portable path.

#include <array>
#include <cstdint>

#include "approxnn/sparse/dcsr_layout.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define APPROXNN_DCSR_X86 1
#define APPROXNN_DCSR_TARGET_AVX2 __attribute__((target("avx2,fma,bmi,bmi2,popcnt")))
#define APPROXNN_DCSR_TARGET_AVX512 \
    __attribute__((target("avx2,bmi,bmi2,popcnt,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi,gfni")))
#define APPROXNN_DCSR_TARGET_VNNI \
    __attribute__((target("avx2,bmi,bmi2,popcnt,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))
#else
#define APPROXNN_DCSR_X86 0
#endif

namespace approxnn::sparse::x86 {

/// ramps[s][j] = s·j for the slopes of valid non-empty rows (s <= 17, so s·15 <= 255): the per-row lane ramp.
inline constexpr std::array<std::array<std::uint8_t, dcsr_lanes>, dcsr_max_slope + 1> dcsr_ramps = [] {
    std::array<std::array<std::uint8_t, dcsr_lanes>, dcsr_max_slope + 1> t{};
    for (std::uint32_t s = 0; s <= dcsr_max_slope; ++s) {
        for (std::uint32_t j = 0; j < dcsr_lanes; ++j) t[s][j] = static_cast<std::uint8_t>(s * j);
    }
    return t;
}();

/// Shuffle controls that move a group's packed bitmasks (uint16, bit-planes in increasing order, only the planes its
/// bitmap announces) into the rows of a GF(2) bit matrix: byte 3 − i of qword 0 takes the low byte of bit-plane
/// i's mask, byte 3 − i of qword 1 its high byte; absent planes give zero rows. With the one-hot lane selectors
/// (1 << (j % 8)) as data, gf2p8affineqb then yields, in each lane j, the extension bits 4..7 of the residual.
inline constexpr std::array<std::array<std::uint8_t, 16>, 16> dcsr_mask_slots = [] {
    std::array<std::array<std::uint8_t, 16>, 16> t{};
    for (std::uint32_t bitmap = 0; bitmap < 16; ++bitmap) {
        for (auto& byte : t[bitmap]) byte = 0x80;
        std::uint32_t rank = 0;
        for (std::uint32_t i = 0; i < 4; ++i) {
            if (((bitmap >> i) & 1U) == 0) continue;
            t[bitmap][3 - i] = static_cast<std::uint8_t>(2 * rank);
            t[bitmap][8 + 3 - i] = static_cast<std::uint8_t>(2 * rank + 1);
            ++rank;
        }
    }
    return t;
}();

/// The same for a PAIR of groups 2p, 2p+1 sharing a bitmap byte: entry [byte] is 32 bytes, the first 16 for the even
/// group (the byte's upper nibble), the last 16 for the odd group (its lower nibble, whose masks follow the even
/// group's in the stream); both index one 16-byte copy of the pair's packed masks (vpshufb works per 128-bit lane).
inline constexpr std::array<std::array<std::uint8_t, 32>, 256> dcsr_pair_mask_slots = [] {
    std::array<std::array<std::uint8_t, 32>, 256> t{};
    for (std::uint32_t byte = 0; byte < 256; ++byte) {
        for (auto& b : t[byte]) b = 0x80;
        std::uint32_t rank = 0;
        for (std::uint32_t half = 0; half < 2; ++half) {
            const std::uint32_t bitmap = half == 0 ? byte >> 4 : byte & 0xFU;
            for (std::uint32_t i = 0; i < 4; ++i) {
                if (((bitmap >> i) & 1U) == 0) continue;
                t[byte][16 * half + 3 - i] = static_cast<std::uint8_t>(2 * rank);
                t[byte][16 * half + 8 + 3 - i] = static_cast<std::uint8_t>(2 * rank + 1);
                ++rank;
            }
        }
    }
    return t;
}();

/// GF(2) matrices (one per qword, stored twice for a 16-byte load) selecting the upper nibble (even group, [0]) or
/// the lower nibble (odd group, [1]) of each byte into bits 0..3.
alignas(16) inline constexpr std::uint64_t dcsr_nibble_matrices[2][2] = {
    {0x1020408000000000ULL, 0x1020408000000000ULL}, {0x0102040800000000ULL, 0x0102040800000000ULL}};

}  // namespace approxnn::sparse::x86

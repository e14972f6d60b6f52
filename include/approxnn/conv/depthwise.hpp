#pragma once
// Depthwise convolution (one input channel per group; channel multiplier out_channels / in_channels), with kernels
// of its own: lowering each channel onto a GEMM with M = 1 and K = kernel_h * kernel_w wastes the GEMM kernels.
//
//   exact multipliers   vectorised across channels (NHWC keeps them contiguous): int32 sums of int16 products;
//   anything else       lookups vectorised along the output row: the input is copied into padded channel planes
//                       once, and 64 output pixels of one channel share each tap's weight, hence one product table
//                       (two vpermb byte planes, AVX-512 VBMI; one table row per tap in the portable kernel).
// Both equal reference_conv2d bit for bit (padding takes the activation zero point's code, as there). Called by
// conv2d, which has checked the shapes.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "approxnn/core/cpu_features.hpp"
#include "approxnn/core/output_stage.hpp"
#include "approxnn/core/parallel.hpp"
#include "approxnn/gemm/kernels/avx512_vbmi.hpp"
#include "approxnn/gemm/matrix.hpp"
#include "approxnn/gemm/plan.hpp"

namespace approxnn::conv::depthwise {

/// Geometry of a depthwise layer (validated by the caller).
struct geometry {
    std::size_t batch, height, width, channels, multiplier;  // input NHWC; out_channels = channels * multiplier
    std::size_t kernel_h, kernel_w;
    std::size_t stride_h, stride_w, dilation_h, dilation_w;
    std::size_t pad_top, pad_left, pad_bottom, pad_right;
    std::size_t out_h, out_w;

    [[nodiscard]] std::size_t out_channels() const noexcept { return channels * multiplier; }
    [[nodiscard]] std::size_t taps() const noexcept { return kernel_h * kernel_w; }
};

#if APPROXNN_HAS_X86_KERNELS
/// Sums over taps of table lookups for 64 consecutive outputs: tap t reads 64 codes at first + offsets[t] (every
/// `stride`-th code, stride 1 or 2; even_index: the 64 bytes 0, 2, .., 126) and looks them up in the two 256-byte planes at planes[t] (value = low + 256 *
/// high); the 64 int32 sums go to out. At most 256 taps (16-bit sums).
APPROXNN_TARGET_VBMI inline void lookup_row(const std::uint8_t* first, const std::size_t* offsets,
                                            const std::uint8_t* const* planes, std::size_t taps, std::size_t stride,
                                            const std::uint8_t* even_index, std::int32_t* out) noexcept {
    const __m512i even = _mm512_loadu_si512(even_index);
    __m512i wl = _mm512_setzero_si512(), hl = _mm512_setzero_si512();
    __m512i wh = _mm512_setzero_si512(), hh = _mm512_setzero_si512();
    for (std::size_t t = 0; t < taps; ++t) {
        const std::uint8_t* row = first + offsets[t];
        const __m512i x = stride == 1 ? _mm512_loadu_si512(row)
                                      : _mm512_permutex2var_epi8(_mm512_loadu_si512(row), even,
                                                                 _mm512_loadu_si512(row + 64));
        const __mmask64 bit6 = _mm512_movepi8_mask(_mm512_add_epi8(x, x));
        const __mmask64 bit7 = _mm512_movepi8_mask(x);
        const __mmask64 bit67 = _kand_mask64(bit6, bit7);
        const __m512i lo = gemm::kernels::vbmi_lookup(x, planes[t], bit6, bit7, bit67);
        const __m512i hi = gemm::kernels::vbmi_lookup(x, planes[t] + 256, bit6, bit7, bit67);
        wl = _mm512_add_epi16(wl, lo);
        hl = _mm512_add_epi16(hl, _mm512_srli_epi16(lo, 8));
        wh = _mm512_add_epi16(wh, hi);
        hh = _mm512_add_epi16(hh, _mm512_srli_epi16(hi, 8));
    }
    // Word i holds outputs 2i (even byte sums) and 2i + 1 (odd byte sums). (Full-mask maskz forms avoid g++ 12's
    // false -Wmaybe-uninitialized on the unmasked intrinsics.)
    const __m512i zero = _mm512_setzero_si512();
    const __mmask16 all = 0xFFFF;
    const __m512i even_lo = _mm512_sub_epi16(wl, _mm512_slli_epi16(hl, 8));
    const __m512i even_hi = _mm512_sub_epi16(wh, _mm512_slli_epi16(hh, 8));
    // 32-bit values of words 0-3 (unpacklo) and 4-7 (unpackhi) of every 128-bit lane.
    const __m512i e0 = _mm512_add_epi32(_mm512_unpacklo_epi16(even_lo, zero),
                                        _mm512_maskz_slli_epi32(all, _mm512_unpacklo_epi16(even_hi, zero), 8));
    const __m512i e1 = _mm512_add_epi32(_mm512_unpackhi_epi16(even_lo, zero),
                                        _mm512_maskz_slli_epi32(all, _mm512_unpackhi_epi16(even_hi, zero), 8));
    const __m512i o0 = _mm512_add_epi32(_mm512_unpacklo_epi16(hl, zero),
                                        _mm512_maskz_slli_epi32(all, _mm512_unpacklo_epi16(hh, zero), 8));
    const __m512i o1 = _mm512_add_epi32(_mm512_unpackhi_epi16(hl, zero),
                                        _mm512_maskz_slli_epi32(all, _mm512_unpackhi_epi16(hh, zero), 8));
    // Interleave even and odd: lane L of a0 holds outputs 16L + 0..3, of a1 16L + 4..7, of b0 16L + 8..11,
    // of b1 16L + 12..15.
    const __m512i a0 = _mm512_maskz_unpacklo_epi32(all, e0, o0);
    const __m512i a1 = _mm512_maskz_unpackhi_epi32(all, e0, o0);
    const __m512i b0 = _mm512_maskz_unpacklo_epi32(all, e1, o1);
    const __m512i b1 = _mm512_maskz_unpackhi_epi32(all, e1, o1);
    alignas(64) std::int32_t parts[4][16];
    _mm512_store_si512(parts[0], a0);
    _mm512_store_si512(parts[1], a1);
    _mm512_store_si512(parts[2], b0);
    _mm512_store_si512(parts[3], b1);
    for (int lane = 0; lane < 4; ++lane) {
        for (int part = 0; part < 4; ++part) {
            std::memcpy(out + 16 * lane + 4 * part, &parts[part][4 * lane], 16);
        }
    }
}
#endif

namespace detail {

inline std::vector<std::uint8_t>& plane_scratch() {
    thread_local std::vector<std::uint8_t> buffer;
    return buffer;
}

}  // namespace detail

/// Exact multipliers: out = sum over taps of a * w, vectorised across channels.
template <class T, class Out, class Pipeline>
void exact(const geometry& g, const T* input, const T* filters, Out* output, const Pipeline& pipeline,
           const gemm::gemm_options& options) {
    const std::size_t oc = g.out_channels();
    const std::int32_t za = options.activation_zero_point;
    const std::int32_t zw = options.weight_zero_point;
    const auto depth = static_cast<std::int32_t>(g.taps());
    // Weights tap-major, [tap][out channel], as int32; their per-channel sums for the zero points.
    std::vector<std::int32_t> weights(g.taps() * oc);
    std::vector<std::int32_t> row_term(oc, 0);
    std::vector<std::size_t> source(oc);  // input channel of output channel o
    for (std::size_t o = 0; o < oc; ++o) source[o] = o / g.multiplier;
    for (std::size_t o = 0; o < oc; ++o) {
        std::int32_t sum = 0;
        for (std::size_t t = 0; t < g.taps(); ++t) {
            weights[t * oc + o] = filters[o * g.taps() + t];
            sum += filters[o * g.taps() + t];
        }
        row_term[o] = -za * sum + depth * za * zw;
    }
    parallel_for(g.batch * g.out_h, options.threads, [&](std::size_t task) {
        const std::size_t b = task / g.out_h;
        const std::size_t y = task % g.out_h;
        std::vector<std::int32_t> acc(oc);
        std::vector<std::int32_t> activation_sum(oc);
        std::vector<std::int32_t> codes(oc);
        for (std::size_t x = 0; x < g.out_w; ++x) {
            std::fill(acc.begin(), acc.end(), 0);
            std::fill(activation_sum.begin(), activation_sum.end(), 0);
            for (std::size_t i = 0; i < g.kernel_h; ++i) {
                const auto iy = static_cast<std::ptrdiff_t>(y * g.stride_h + i * g.dilation_h) -
                                static_cast<std::ptrdiff_t>(g.pad_top);
                for (std::size_t j = 0; j < g.kernel_w; ++j) {
                    const auto ix = static_cast<std::ptrdiff_t>(x * g.stride_w + j * g.dilation_w) -
                                    static_cast<std::ptrdiff_t>(g.pad_left);
                    const bool inside = iy >= 0 && ix >= 0 && iy < static_cast<std::ptrdiff_t>(g.height) &&
                                        ix < static_cast<std::ptrdiff_t>(g.width);
                    const T* pixel = inside ? input + ((b * g.height + static_cast<std::size_t>(iy)) * g.width +
                                                       static_cast<std::size_t>(ix)) * g.channels
                                            : nullptr;
                    if (pixel == nullptr) {
                        std::fill(codes.begin(), codes.end(), za);
                    } else if (g.multiplier == 1) {
                        for (std::size_t o = 0; o < oc; ++o) codes[o] = pixel[o];
                    } else {
                        for (std::size_t o = 0; o < oc; ++o) codes[o] = pixel[source[o]];
                    }
                    const std::int32_t* w = weights.data() + (i * g.kernel_w + j) * oc;
                    for (std::size_t o = 0; o < oc; ++o) {
                        acc[o] += codes[o] * w[o];
                        activation_sum[o] += codes[o];
                    }
                }
            }
            Out* out = output + ((b * g.out_h + y) * g.out_w + x) * oc;
            for (std::size_t o = 0; o < oc; ++o) {
                const auto total = static_cast<std::int32_t>(static_cast<std::uint32_t>(acc[o]) +
                                                             static_cast<std::uint32_t>(row_term[o]) -
                                                             static_cast<std::uint32_t>(zw * activation_sum[o]));
                out[o] = apply_output_stages(total, o + options.channel_offset, pipeline);
            }
        }
    });
}

/// Any multiplier: table lookups along output rows, on padded channel planes.
template <class T, class Out, class Pipeline>
void lookup(const gemm::multiplier_plan& plan, const geometry& g, const T* input, const T* filters, Out* output,
            const Pipeline& pipeline, const gemm::gemm_options& options, bool use_vbmi) {
    const std::size_t oc = g.out_channels();
    const std::size_t taps = g.taps();
    const std::int32_t za = options.activation_zero_point;
    const std::int32_t zw = options.weight_zero_point;
    const bool is_signed = plan.is_signed();
    const auto value = [is_signed](std::uint8_t code) {
        return is_signed ? static_cast<std::int32_t>(static_cast<std::int8_t>(code)) : static_cast<std::int32_t>(code);
    };
    // Padded planes per (image, channel): rows of plane_w codes with slack for 128-byte vector reads.
    const std::size_t plane_h = g.height + g.pad_top + g.pad_bottom;
    const std::size_t plane_w = (g.width + g.pad_left + g.pad_right + 128 + 63) / 64 * 64;
    const std::size_t plane_size = plane_h * plane_w;
    std::vector<std::uint8_t>& planes = detail::plane_scratch();
    if (planes.size() < g.batch * g.channels * plane_size) planes.resize(g.batch * g.channels * plane_size);
    const auto* codes_in = reinterpret_cast<const std::uint8_t*>(input);
    // One plane row (of every channel) per task: the padding code za, then the input row's pixels.
    // Both passes split their rows over the threads the same way (parallel_for's schedule): a thread reads mostly
    // plane rows that it filled itself, and fills rows whose lines are still in its cache from the previous call.
    parallel_for(g.batch * plane_h, options.threads, [&, plane_size, plane_w](std::size_t task) {
        // Locals: stores through uint8_t pointers may alias the captured sizes, which g++ would reload per byte.
        const std::size_t channels = g.channels;
        const std::size_t width = g.width;
        const std::size_t b = task / plane_h;
        const std::size_t py = task % plane_h;
        std::uint8_t* row = planes.data() + b * channels * plane_size + py * plane_w;
        if (py < g.pad_top || py - g.pad_top >= g.height) {
            for (std::size_t c = 0; c < channels; ++c) std::memset(row + c * plane_size, za, plane_w);
            return;
        }
        for (std::size_t c = 0; c < channels; ++c) {
            std::memset(row + c * plane_size, za, g.pad_left);
            std::memset(row + c * plane_size + g.pad_left + width, za, plane_w - g.pad_left - width);
        }
        const std::uint8_t* pixels = codes_in + (b * g.height + (py - g.pad_top)) * width * channels;
        // Channel by channel: contiguous writes into each plane row, strided reads from the (cached) input row.
        for (std::size_t c = 0; c < channels; ++c) {
            std::uint8_t* dst = row + c * plane_size + g.pad_left;
            for (std::size_t x = 0; x < width; ++x) dst[x] = pixels[x * channels + c];
        }
    });
    const auto* weight_codes = reinterpret_cast<const std::uint8_t*>(filters);
    const std::int32_t base = plan.plane_base();
    const bool vbmi = use_vbmi && plan.table_planes() != nullptr && g.stride_w <= 2 && taps <= 256;
    std::vector<std::size_t> offsets(taps);
    for (std::size_t i = 0; i < g.kernel_h; ++i) {
        for (std::size_t j = 0; j < g.kernel_w; ++j) offsets[i * g.kernel_w + j] = i * g.dilation_h * plane_w + j * g.dilation_w;
    }
    // Tasks are blocks of output rows (all channels): threads write disjoint rows, never the same cache lines.
    constexpr std::size_t rows_per_task = 4;
    const std::size_t row_blocks = (g.out_h + rows_per_task - 1) / rows_per_task;
    parallel_for(g.batch * row_blocks, options.threads, [&](std::size_t task) {
        const std::size_t b = task / row_blocks;
        const std::size_t y0 = (task % row_blocks) * rows_per_task;
        const std::size_t y1 = std::min(g.out_h, y0 + rows_per_task);
        std::vector<const std::uint8_t*> tables(taps);
#if APPROXNN_HAS_X86_KERNELS
        alignas(64) static constexpr std::uint8_t even_index[64] = {
            0,  2,  4,  6,  8,  10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34, 36, 38, 40, 42,
            44, 46, 48, 50, 52, 54, 56, 58, 60, 62, 64, 66, 68, 70, 72, 74, 76, 78, 80, 82, 84, 86,
            88, 90, 92, 94, 96, 98, 100, 102, 104, 106, 108, 110, 112, 114, 116, 118, 120, 122, 124, 126};
#endif
        std::int32_t sums[64];
        for (std::size_t o = 0; o < oc; ++o) {
            const std::size_t c = o / g.multiplier;
            const std::uint8_t* plane = planes.data() + (b * g.channels + c) * plane_size;
            const std::uint8_t* w = weight_codes + o * taps;
            std::int32_t weight_sum = 0;
            for (std::size_t t = 0; t < taps; ++t) weight_sum += value(w[t]);
            const std::int32_t row_term = -za * weight_sum + static_cast<std::int32_t>(taps) * za * zw +
                                          (vbmi ? static_cast<std::int32_t>(taps) * base : 0);
            if (vbmi) {
                for (std::size_t t = 0; t < taps; ++t) tables[t] = plan.table_planes() + std::size_t{w[t]} * 512;
            }
            for (std::size_t y = y0; y < y1; ++y) {
                for (std::size_t x0 = 0; x0 < g.out_w; x0 += 64) {
                    const std::size_t count = std::min<std::size_t>(64, g.out_w - x0);
                    const std::uint8_t* first = plane + y * g.stride_h * plane_w + x0 * g.stride_w;
#if APPROXNN_HAS_X86_KERNELS
                    if (vbmi) {
                        lookup_row(first, offsets.data(), tables.data(), taps, g.stride_w, even_index, sums);
                    } else
#endif
                    {
                        std::fill(sums, sums + count, 0);
                        for (std::size_t t = 0; t < taps; ++t) {
                            const std::int32_t* row = plan.products_by_weight() + std::size_t{w[t]} * 256;
                            const std::uint8_t* codes = first + offsets[t];
                            for (std::size_t n = 0; n < count; ++n) sums[n] += row[codes[n * g.stride_w]];
                        }
                    }
                    Out* out = output + ((b * g.out_h + y) * g.out_w + x0) * oc + o;
                    for (std::size_t n = 0; n < count; ++n) {
                        std::int32_t acc = static_cast<std::int32_t>(static_cast<std::uint32_t>(sums[n]) +
                                                                     static_cast<std::uint32_t>(row_term));
                        if (zw != 0) {
                            std::int32_t activation_sum = 0;
                            for (std::size_t t = 0; t < taps; ++t) {
                                activation_sum += value(first[offsets[t] + n * g.stride_w]);
                            }
                            acc = static_cast<std::int32_t>(static_cast<std::uint32_t>(acc) -
                                                            static_cast<std::uint32_t>(zw * activation_sum));
                        }
                        out[n * oc] = apply_output_stages(acc, o + options.channel_offset, pipeline);
                    }
                }
            }
        }
    });
}

}  // namespace approxnn::conv::depthwise

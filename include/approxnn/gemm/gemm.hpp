#pragma once
// GEMM with an approximate multiplier: out = pipeline(sum_k M(activation, weight)), bit-exact with reference_gemm.
//
//   weights      M x K  (output channel m, reduction index k)        operand codes, int8 or uint8
//   activations  K x N  (any strides: K x N row-major or N x K)      same operand type
//   out          M x N  of the pipeline's output type (int32 without stages)
//
// The kernel path is chosen once per call from the multiplier and the CPU (gemm_options::path and ::isa force one):
//   exact        exact multipliers: int8 dot products (AVX-512 VNNI vpdpbusd; xsimd otherwise);
//   decomposed   array designs (column/operand truncation, BAM, perforation): the exact kernel on r expanded terms;
//   error_plane  errors within [-128, 127]: the exact kernel plus one byte-plane lookup (VNNI + VBMI);
//   table        anything: byte-permute lookups of the product table (AVX-512 VBMI; scalar lookups otherwise).
// Output tiles are spread over gemm_options::threads threads (all cores by default). Bad shapes, operand types that
// do not match the multiplier, and paths the multiplier does not allow throw approxnn::error subclasses naming the
// values. Accumulators are int32: sums of K products must fit, as in any int8 GEMM.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "approxnn/core/cpu_features.hpp"
#include "approxnn/core/error.hpp"
#include "approxnn/core/output_stage.hpp"
#include "approxnn/core/parallel.hpp"
#include "approxnn/gemm/kernels/avx512_pack.hpp"
#include "approxnn/gemm/kernels/avx512_vbmi.hpp"
#include "approxnn/gemm/kernels/avx512_vnni.hpp"
#include "approxnn/gemm/kernels/portable.hpp"
#include "approxnn/gemm/matrix.hpp"
#include "approxnn/gemm/plan.hpp"
#include "approxnn/gemm/reference.hpp"
#include "approxnn/multipliers/families/exact.hpp"
#include "approxnn/multipliers/multiplier.hpp"

namespace approxnn::gemm {

namespace detail {

/// The path and instruction set one call runs on.
struct resolved_path {
    kernel_path path = kernel_path::reference;
    bool vnni = false;  ///< AVX-512 VNNI kernels for dot products
    bool vbmi = false;  ///< AVX-512 VBMI kernels for lookups
};

inline resolved_path resolve_path(const multiplier_plan& plan, const gemm_options& options) {
    const cpu_features& cpu = host_cpu();
    resolved_path r;
    const bool native = options.isa == instruction_set::automatic;
    r.vbmi = native && cpu.has_vbmi_kernels();
    r.vnni = native && cpu.has_vnni_kernels() && r.vbmi;  // the VNNI panel packing uses VBMI byte permutes
    kernel_path p = options.path;
    if (p == kernel_path::automatic) {
        if (plan.is_exact()) {
            p = kernel_path::exact;
        } else if (plan.decomposition_terms() > 0) {
            p = kernel_path::decomposed;
        } else if (plan.error_plane() != nullptr && r.vnni && r.vbmi) {
            p = kernel_path::error_plane;
        } else {
            p = kernel_path::table;
        }
    }
    const auto unavailable = [&](const std::string& why) {
        throw parameter_error("gemm: the " + std::string(to_string(p)) + " path is not available for multiplier '" +
                              plan.name() + "': " + why);
    };
    if (p == kernel_path::exact && !plan.is_exact()) unavailable("it is not exact");
    if (p == kernel_path::decomposed && plan.decomposition_terms() == 0) {
        unavailable("it is not a design that keeps a subset of the partial-product array");
    }
    if (p == kernel_path::error_plane && plan.error_plane() == nullptr) {
        unavailable("some error M(a, w) - a*w lies outside [-128, 127]");
    }
    if (p == kernel_path::table && plan.table_planes() == nullptr) r.vbmi = false;  // products span > 16 bits
    if (p == kernel_path::error_plane && !(r.vnni && r.vbmi)) r.vnni = r.vbmi = false;
    r.path = p;
    return r;
}

template <class T>
T* scratch(std::vector<T>& buffer, std::size_t size) {
    if (buffer.size() < size) buffer.resize(size);
    return buffer.data();
}

/// Per-thread buffers, reused from call to call.
struct thread_scratch {
    std::vector<std::uint8_t> codes;              // activation codes of a panel, when they must be copied
    std::vector<const std::uint8_t*> rows;        // pointers to the code rows of a panel
    std::vector<std::uint8_t> packed;             // VNNI panel
    std::vector<std::int32_t> words;              // portable dot panel
    std::vector<std::int32_t> raw;                // raw sums of the tile
    std::vector<std::int32_t> extra;              // second raw tile (error plane) or kernel tile
    std::vector<std::int32_t> column_correction;  // per column of the tile
};

inline thread_scratch& local_scratch() {
    thread_local thread_scratch s;
    return s;
}

/// The plan of the exact multiplier of a signedness (its identity decomposition serves the error-plane path).
inline const multiplier_plan& exact_plan(signedness s) {
    return s == signedness::signed_operands ? multiplier_plan::of<multipliers::exact<std::int8_t>>()
                                            : multiplier_plan::of<multipliers::exact<std::uint8_t>>();
}

constexpr std::size_t round_up(std::size_t x, std::size_t m) noexcept { return (x + m - 1) / m * m; }

/// a + b in int32 with wraparound (the kernels' arithmetic).
constexpr std::int32_t wrap_add(std::int32_t a, std::int64_t b) noexcept {
    return static_cast<std::int32_t>(static_cast<std::uint32_t>(a) + static_cast<std::uint32_t>(b));
}

/// Everything one call needs, prepared before the output tiles are spread over threads.
template <class Out, class Pipeline>
class gemm_call {
public:
    gemm_call(const multiplier_plan& plan, resolved_path path, matrix_view<const std::uint8_t> weights,
              matrix_view<const std::uint8_t> activations, matrix_view<Out> out, const Pipeline& pipeline,
              const gemm_options& options)
        : plan_(plan),
          path_(path),
          w_(weights),
          x_(activations),
          out_(out),
          pipeline_(pipeline),
          options_(options),
          m_(weights.rows),
          n_(activations.cols),
          k_(weights.cols),
          signed_(plan.is_signed()) {
        allocate();
    }

    /// Columns per tile.
    [[nodiscard]] std::size_t panel_width() const noexcept {
        switch (path_.path) {
            case kernel_path::table:
            case kernel_path::error_plane:
                return path_.vbmi ? kernels::vbmi_panel_width : kernels::portable_panel_width;
            case kernel_path::exact:
            case kernel_path::decomposed:
                // Two VNNI panels per tile: a tile then reads whole 64-byte lines of K x N activations.
                return path_.vnni ? 2 * kernels::vnni_panel_width : kernels::portable_panel_width;
            default:
                return kernels::portable_panel_width;
        }
    }

    void run() {
        const std::size_t width = panel_width();
        const std::size_t panels = (n_ + width - 1) / width;
        unsigned threads = options_.threads == 0 ? hardware_threads() : options_.threads;
        threads = std::min(threads, parallel_capacity());
        const unsigned preparing_threads = threads;
        // Below about 4 M products (tens of microseconds) a second thread costs about what it saves.
        if (m_ * n_ * k_ * std::max<std::size_t>(terms_, 1) < (std::size_t{1} << 22)) threads = 1;
        if (threads > 1 && m_ >= n_ && m_ >= 16 * std::size_t{threads}) {
            // At least as many weight rows as activation columns: each thread takes one block of rows, prepares
            // those weights itself (they stay in its cache instead of crossing from the caller's) and runs every
            // panel against them. Every thread packs every activation panel, which costs less than moving the
            // weights here.
            const std::size_t rows_per_block = round_up((m_ + threads - 1) / threads, 8);
            const std::size_t blocks = (m_ + rows_per_block - 1) / rows_per_block;
            parallel_for(blocks, threads, [&](std::size_t block) {
                const std::size_t m0 = block * rows_per_block;
                const std::size_t m1 = std::min(m_, m0 + rows_per_block);
                for (std::size_t m = m0; m < m1; ++m) prepare_row(m);
                for (std::size_t n0 = 0; n0 < n_; n0 += width) run_tile(n0, std::min(width, n_ - n0), m0, m1);
            });
            return;
        }
        prepare_rows(preparing_threads);
        std::size_t chunks = 1;  // row chunks per panel, when the panels alone cannot keep every thread busy
        if (threads > 1 && panels < 2 * std::size_t{threads}) {
            chunks = std::min((2 * std::size_t{threads} + panels - 1) / panels, (m_ + 7) / 8);
        }
        const std::size_t rows_per_chunk = round_up((m_ + chunks - 1) / chunks, 8);
        chunks = (m_ + rows_per_chunk - 1) / rows_per_chunk;
        // Each thread takes a contiguous run of tiles, the same one at every call of the same shape
        // (parallel_for's schedule): its prefetchers walk its own part of the activations, and the output lines it
        // writes are still in its cache from the previous call instead of in another core's.
        const std::size_t tiles = panels * chunks;
        parallel_for(tiles, threads, [&](std::size_t tile) {
            const std::size_t panel = tile / chunks;
            const std::size_t m0 = (tile % chunks) * rows_per_chunk;
            const std::size_t n0 = panel * width;
            run_tile(n0, std::min(width, n_ - n0), m0, std::min(m_, m0 + rows_per_chunk));
        });
    }

private:
    [[nodiscard]] int value(std::uint8_t code) const noexcept {
        return signed_ ? static_cast<int>(static_cast<std::int8_t>(code)) : static_cast<int>(code);
    }

    [[nodiscard]] bool dot_on_vnni() const noexcept {
        return (path_.path == kernel_path::exact || path_.path == kernel_path::decomposed ||
                path_.path == kernel_path::error_plane) &&
               path_.vnni;
    }

    // Storage for the weights in the layout of the chosen kernel and for the per-row corrections.
    void allocate() {
        const kernel_path p = path_.path;
        row_correction_.assign(m_, 0);
        const bool lookups = p == kernel_path::table || p == kernel_path::error_plane || p == kernel_path::reference;
        if (lookups) {
            codes_lda_ = std::max<std::size_t>(k_, 1);
            codes_.resize(m_ * codes_lda_);
        }
        if (p == kernel_path::exact || p == kernel_path::decomposed || p == kernel_path::error_plane) {
            factor_plan_ = p == kernel_path::error_plane ? &exact_plan(plan_.operand_signedness()) : &plan_;
            terms_ = static_cast<std::size_t>(factor_plan_->decomposition_terms());
            if (path_.vnni) {
                // Term-major, each term padded to a multiple of 4 rows (see kernels/avx512_pack.hpp); prepare_row
                // writes every byte.
                dot_lda_ = std::max<std::size_t>(terms_ * round_up(k_, 4), 4);
                dot_s8_ = std::make_unique_for_overwrite<std::int8_t[]>(m_ * dot_lda_);
            } else {
                dot_lda_ = std::max<std::size_t>(k_ * terms_, 1);  // portable layout: t * K + k
                dot_i32_.assign(m_ * dot_lda_, 0);
            }
        }
    }

    // Every row of the weights in the kernel's layout, on up to `threads` threads.
    void prepare_rows(unsigned threads) {
        // Rows are independent: large weight matrices are prepared by every thread.
        constexpr std::size_t rows_per_task = 64;
        const std::size_t tasks = (m_ + rows_per_task - 1) / rows_per_task;
        if (m_ * k_ * std::max<std::size_t>(terms_, 1) < (std::size_t{1} << 18)) threads = 1;
        parallel_for(tasks, threads, [&](std::size_t task) {
            const std::size_t end = std::min(m_, (task + 1) * rows_per_task);
            for (std::size_t m = task * rows_per_task; m < end; ++m) prepare_row(m);
        });
    }

    // Row m of the weights in the layout of the chosen kernel, and its correction.
    void prepare_row(std::size_t m) {
        const kernel_path p = path_.path;
        const auto depth = static_cast<std::int64_t>(k_);
        std::int64_t correction = 0;
        if (options_.activation_zero_point != 0) {
            const std::int64_t za = options_.activation_zero_point;
            const std::int64_t zw = options_.weight_zero_point;
            std::int64_t sum = 0;
            for (std::size_t k = 0; k < k_; ++k) sum += value(w_(m, k));
            correction += -za * sum + depth * za * zw;
        }
        if (!codes_.empty()) {
            if (w_.col_stride == 1 && k_ > 0) {
                std::memcpy(codes_.data() + m * codes_lda_, &w_(m, 0), k_);
            } else {
                for (std::size_t k = 0; k < k_; ++k) codes_[m * codes_lda_ + k] = w_(m, k);
            }
        }
        if (p == kernel_path::table && path_.vbmi) correction += depth * plan_.plane_base();
        if (p == kernel_path::error_plane && path_.vbmi) correction += -128 * depth;
        if (dot_s8_) {
            const multiplier_plan& dot = *factor_plan_;
            const std::size_t padded = round_up(k_, 4);
            std::int8_t* row = dot_s8_.get() + m * dot_lda_;
            for (std::size_t t = 0; t < terms_; ++t) std::memset(row + t * padded + k_, 0, padded - k_);
            if (dot_lda_ > terms_ * padded) std::memset(row + terms_ * padded, 0, dot_lda_ - terms_ * padded);
            std::int64_t sum = 0;  // of the true weight factors (used for signed operands)
            if (terms_ == 1 && dot.is_exact() && w_.col_stride == 1 && k_ > 0) {
                // Exact: s8 weights as they are; u8 weights shifted by -128 (the top bit flipped).
                const std::uint8_t* codes = &w_(m, 0);
                if (signed_) {
                    std::memcpy(row, codes, k_);
                    std::int32_t row_sum = 0;
                    for (std::size_t k = 0; k < k_; ++k) row_sum += static_cast<std::int8_t>(codes[k]);
                    sum = row_sum;
                } else {
                    for (std::size_t k = 0; k < k_; ++k) row[k] = static_cast<std::int8_t>(codes[k] ^ 0x80U);
                }
            } else {
                for (std::size_t t = 0; t < terms_; ++t) {
                    const std::int8_t* table = dot.weight_factors_s8() + t * 256;
                    if (w_.col_stride == 1 && k_ > 0) {
                        // The s8 table holds the true factors for signed operands (the sum is used only then).
                        sum += kernels::vnni_expand_weights(&w_(m, 0), k_, table, row + t * padded);
                        continue;
                    }
                    const std::int16_t* table_true = dot.weight_factors() + t * 256;
                    for (std::size_t k = 0; k < k_; ++k) {
                        const std::uint8_t code = w_(m, k);
                        row[t * padded + k] = table[code];
                        sum += table_true[code];
                    }
                }
            }
            // u8 activations carry +128 for signed operands: subtract 128 * sum_k' g.
            if (signed_) correction += -128 * sum;
        }
        if (!dot_i32_.empty()) {
            const std::int16_t* g = factor_plan_->weight_factors();
            for (std::size_t t = 0; t < terms_; ++t) {
                for (std::size_t k = 0; k < k_; ++k) dot_i32_[m * dot_lda_ + t * k_ + k] = g[t * 256 + w_(m, k)];
            }
        }
        row_correction_[m] = wrap_add(0, correction);
    }

    // Pointers to the K code rows of columns [n0, n0 + width), each with `panel` readable codes (zero past width).
    const std::uint8_t* const* code_rows(std::size_t n0, std::size_t width, std::size_t panel) {
        thread_scratch& s = local_scratch();
        const std::uint8_t** rows = scratch(s.rows, std::max<std::size_t>(k_, 1));
        if (x_.col_stride == 1 && n0 + panel <= n_) {
            for (std::size_t k = 0; k < k_; ++k) rows[k] = &x_(k, n0);
            return rows;
        }
        std::uint8_t* codes = scratch(s.codes, std::max<std::size_t>(k_, 1) * panel);
        for (std::size_t k = 0; k < k_; ++k) {
            std::uint8_t* row = codes + k * panel;
            if (x_.col_stride == 1) {
                std::memcpy(row, &x_(k, n0), width);
            } else {
                for (std::size_t n = 0; n < width; ++n) row[n] = x_(k, n0 + n);
            }
            std::memset(row + width, 0, panel - width);
            rows[k] = row;
        }
        return rows;
    }

#if APPROXNN_HAS_X86_KERNELS
    // Exact sums (before the per-row correction) of columns [n0, n0 + width <= 32) into raw; the unsigned
    // correction is added to column_correction.
    void vnni_dot(std::size_t n0, std::size_t width, std::size_t m0, std::size_t m1, std::int32_t* raw,
                  std::size_t ldr, std::int32_t* column_correction) {
        thread_scratch& s = local_scratch();
        const std::size_t k4 = dot_lda_ / 4;
        std::uint8_t* packed = scratch(s.packed, k4 * 128);
        alignas(64) std::int32_t sums[kernels::vnni_panel_width];
        const bool identity = terms_ == 1 && factor_plan_->is_exact();
        const std::uint8_t flip = signed_ ? 0x80 : 0x00;
        if (x_.row_stride == 1 && x_.col_stride > 0) {
            // N x K activations: each column's codes are contiguous; gather them 4 at a time.
            kernels::vnni_pack_panel_columns(&x_(0, n0), static_cast<std::size_t>(x_.col_stride), width, k_, terms_,
                                             factor_plan_->activation_factors_u8(), identity, flip, packed, sums);
        } else {
            const std::uint8_t* const* rows = code_rows(n0, width, kernels::vnni_panel_width);
            kernels::vnni_pack_panel(rows, k_, terms_, factor_plan_->activation_factors_u8(), identity, flip, k4,
                                     packed, sums);
        }
        kernels::vnni_dot_panel(dot_s8_.get() + m0 * dot_lda_, dot_lda_, m1 - m0, packed, k4, raw, ldr);
        if (!signed_) {
            for (std::size_t n = 0; n < width; ++n) column_correction[n] = wrap_add(column_correction[n], 128 * std::int64_t{sums[n]});
        }
    }

    // Sums of plane lookups of columns [n0, n0 + width <= 128) into raw (accumulating).
    template <int Planes>
    void vbmi_lookup(const std::uint8_t* planes, std::size_t plane_stride, std::size_t n0, std::size_t width,
                     std::size_t m0, std::size_t m1, std::int32_t* raw, std::size_t ldr) {
        constexpr std::size_t panel = kernels::vbmi_panel_width;
        const std::uint8_t* const* rows = code_rows(n0, width, panel);
        // Rows are equally spaced both in x and in the scratch copy.
        const std::size_t ldb = k_ > 1 ? static_cast<std::size_t>(rows[1] - rows[0]) : panel;
        for (std::size_t k0 = 0; k0 < k_; k0 += kernels::vbmi_flush_interval) {
            const std::size_t chunk = std::min(kernels::vbmi_flush_interval, k_ - k0);
            kernels::vbmi_lookup_panel<Planes>(codes_.data() + m0 * codes_lda_ + k0, codes_lda_, m1 - m0, rows[k0], ldb,
                                               chunk, planes, plane_stride, raw, ldr);
        }
    }
#endif

    void portable_dot(std::size_t n0, std::size_t width, std::size_t m0, std::size_t m1, std::int32_t* raw,
                      std::size_t ldr) {
        thread_scratch& s = local_scratch();
        constexpr std::size_t panel = kernels::portable_panel_width;
        std::int32_t* b = scratch(s.words, dot_lda_ * panel);
        const std::int16_t* f = factor_plan_->activation_factors();
        std::fill(b, b + dot_lda_ * panel, 0);
        for (std::size_t t = 0; t < terms_; ++t) {
            for (std::size_t k = 0; k < k_; ++k) {
                std::int32_t* row = b + (t * k_ + k) * panel;
                for (std::size_t n = 0; n < width; ++n) row[n] = f[t * 256 + x_(k, n0 + n)];
            }
        }
        kernels::portable_dot_panel(dot_i32_.data() + m0 * dot_lda_, dot_lda_, m1 - m0, b, k_ * terms_, raw, ldr);
    }

    void portable_lookup(const std::int32_t* table, std::size_t n0, std::size_t width, std::size_t m0,
                         std::size_t m1, std::int32_t* raw, std::size_t ldr) {
        thread_scratch& s = local_scratch();
        constexpr std::size_t panel = kernels::portable_panel_width;
        std::uint8_t* b = scratch(s.codes, std::max<std::size_t>(k_, 1) * panel);
        for (std::size_t k = 0; k < k_; ++k) {
            for (std::size_t n = 0; n < panel; ++n) b[k * panel + n] = n < width ? x_(k, n0 + n) : 0;
        }
        kernels::portable_lookup_panel(codes_.data() + m0 * codes_lda_, codes_lda_, m1 - m0, b, k_, table, raw, ldr);
    }

    // Raw sums of the tile into raw (ldr = panel width); column corrections into column_correction.
    void products(std::size_t n0, std::size_t width, std::size_t m0, std::size_t m1, std::int32_t* raw,
                  std::size_t ldr, std::int32_t* column_correction) {
        switch (path_.path) {
            case kernel_path::reference:
                for (std::size_t m = m0; m < m1; ++m) {
                    for (std::size_t n = 0; n < width; ++n) {
                        std::int64_t sum = 0;
                        for (std::size_t k = 0; k < k_; ++k) sum += plan_.product(x_(k, n0 + n), w_(m, k));
                        raw[(m - m0) * ldr + n] = wrap_add(0, sum);
                    }
                }
                return;
            case kernel_path::exact:
            case kernel_path::decomposed:
#if APPROXNN_HAS_X86_KERNELS
                if (path_.vnni) {
                    for (std::size_t c = 0; c < width; c += kernels::vnni_panel_width) {
                        vnni_dot(n0 + c, std::min(kernels::vnni_panel_width, width - c), m0, m1, raw + c, ldr,
                                 column_correction + c);
                    }
                    return;
                }
#endif
                portable_dot(n0, width, m0, m1, raw, ldr);
                return;
            case kernel_path::table:
#if APPROXNN_HAS_X86_KERNELS
                if (path_.vbmi) {
                    std::fill(raw, raw + (m1 - m0) * ldr, 0);
                    vbmi_lookup<2>(plan_.table_planes(), 512, n0, width, m0, m1, raw, ldr);
                    return;
                }
#endif
                portable_lookup(plan_.products_by_weight(), n0, width, m0, m1, raw, ldr);
                return;
            case kernel_path::error_plane: {
                std::int32_t* errors = scratch(local_scratch().extra, (m1 - m0) * ldr);
#if APPROXNN_HAS_X86_KERNELS
                if (path_.vbmi) {
                    for (std::size_t c = 0; c < width; c += kernels::vnni_panel_width) {
                        vnni_dot(n0 + c, std::min(kernels::vnni_panel_width, width - c), m0, m1, raw + c, ldr,
                                 column_correction + c);
                    }
                    std::fill(errors, errors + (m1 - m0) * ldr, 0);
                    vbmi_lookup<1>(plan_.error_plane(), 256, n0, width, m0, m1, errors, ldr);
                } else
#endif
                {
                    portable_dot(n0, width, m0, m1, raw, ldr);
                    portable_lookup(plan_.errors_by_weight(), n0, width, m0, m1, errors, ldr);
                }
                for (std::size_t i = 0; i < (m1 - m0) * ldr; ++i) raw[i] = wrap_add(raw[i], errors[i]);
                return;
            }
            case kernel_path::automatic:
                break;
        }
    }

    void run_tile(std::size_t n0, std::size_t width, std::size_t m0, std::size_t m1) {
        if (m0 >= m1 || width == 0) return;
        thread_scratch& s = local_scratch();
        const std::size_t ldr = panel_width();
        std::int32_t* raw = scratch(s.raw, (m1 - m0) * ldr);
        std::int32_t* column_correction = scratch(s.column_correction, ldr);
        std::fill(column_correction, column_correction + ldr, 0);
        if (k_ == 0) {
            std::fill(raw, raw + (m1 - m0) * ldr, 0);
        } else {
            products(n0, width, m0, m1, raw, ldr, column_correction);
        }
        if (options_.weight_zero_point != 0) {
            const std::int64_t zw = options_.weight_zero_point;
            for (std::size_t n = 0; n < width; ++n) {
                std::int64_t sum = 0;
                for (std::size_t k = 0; k < k_; ++k) sum += value(x_(k, n0 + n));
                column_correction[n] = wrap_add(column_correction[n], -zw * sum);
            }
        }
        for (std::size_t m = m0; m < m1; ++m) {
            const auto row = static_cast<std::uint32_t>(row_correction_[m]);
            const std::int32_t* r = raw + (m - m0) * ldr;
            if (out_.col_stride == 1) {
                Out* o = &out_(m, n0);
                for (std::size_t n = 0; n < width; ++n) {
                    const auto acc = static_cast<std::int32_t>(static_cast<std::uint32_t>(r[n]) + row +
                                                               static_cast<std::uint32_t>(column_correction[n]));
                    o[n] = apply_output_stages(acc, m + options_.channel_offset, pipeline_);
                }
            } else {
                for (std::size_t n = 0; n < width; ++n) {
                    const auto acc = static_cast<std::int32_t>(static_cast<std::uint32_t>(r[n]) + row +
                                                               static_cast<std::uint32_t>(column_correction[n]));
                    out_(m, n0 + n) = apply_output_stages(acc, m + options_.channel_offset, pipeline_);
                }
            }
        }
    }

    const multiplier_plan& plan_;
    resolved_path path_;
    matrix_view<const std::uint8_t> w_;
    matrix_view<const std::uint8_t> x_;
    matrix_view<Out> out_;
    const Pipeline& pipeline_;
    const gemm_options& options_;
    std::size_t m_, n_, k_;
    bool signed_;

    std::vector<std::int32_t> row_correction_;  // added to every sum of row m
    std::vector<std::uint8_t> codes_;          // weight codes [m][k] (lookup paths)
    std::size_t codes_lda_ = 0;
    const multiplier_plan* factor_plan_ = nullptr;  // the decomposition the dot paths use
    std::size_t terms_ = 0;
    std::size_t dot_lda_ = 0;
    std::unique_ptr<std::int8_t[]> dot_s8_;  // expanded weight factors, VNNI (biased s8)
    std::vector<std::int32_t> dot_i32_;  // expanded weight factors, portable (true values)
};

template <class T>
matrix_view<const std::uint8_t> as_bytes(matrix_view<const T> v) noexcept {
    return {reinterpret_cast<const std::uint8_t*>(v.data), v.rows, v.cols, v.row_stride, v.col_stride};
}

template <class A, class B, class C>
void check_shapes(const char* who, const matrix_view<A>& weights, const matrix_view<B>& activations,
                  const matrix_view<C>& out) {
    if (weights.cols != activations.rows || weights.rows != out.rows || activations.cols != out.cols) {
        throw shape_error(std::string(who) + ": weights " + std::to_string(weights.rows) + "x" +
                          std::to_string(weights.cols) + ", activations " + std::to_string(activations.rows) + "x" +
                          std::to_string(activations.cols) + " and output " + std::to_string(out.rows) + "x" +
                          std::to_string(out.cols) + " do not form (M x K)(K x N) = (M x N)");
    }
    const auto missing = [&](const char* name, bool empty, const void* data) {
        if (!empty && data == nullptr) throw parameter_error(std::string(who) + ": the " + name + " data is null");
    };
    missing("weights", weights.rows * weights.cols == 0, weights.data);
    missing("activations", activations.rows * activations.cols == 0, activations.data);
    missing("output", out.rows * out.cols == 0, out.data);
}

}  // namespace detail

/// GEMM through a prepared multiplier (any table, design or policy): see the top of this header.
/// T must be int8_t for a signed multiplier and uint8_t for an unsigned one.
template <operand_code T, class Pipeline = std::tuple<>>
void gemm(const multiplier_plan& plan, matrix_view<const T> weights, matrix_view<const T> activations,
          matrix_view<pipeline_output_t<Pipeline>> out, const Pipeline& pipeline = {},
          const gemm_options& options = {}) {
    detail::check_shapes("gemm", weights, activations, out);
    if (plan.is_signed() != std::is_signed_v<T>) {
        throw parameter_error("gemm: multiplier '" + plan.name() + "' has " +
                              std::string(to_string(plan.operand_signedness())) + " operands, the matrices hold " +
                              (std::is_signed_v<T> ? "int8" : "uint8") + " codes");
    }
    const detail::resolved_path path = detail::resolve_path(plan, options);
    if (out.rows == 0 || out.cols == 0) return;
    detail::gemm_call<pipeline_output_t<Pipeline>, Pipeline> call(plan, path, detail::as_bytes(weights),
                                                                  detail::as_bytes(activations), out, pipeline, options);
    call.run();
}

/// GEMM with multiplier policy M (reference path: M::multiply itself; others: the plan of M).
template <multiplier M, class Pipeline = std::tuple<>>
void gemm(matrix_view<const operand_t<M>> weights, matrix_view<const operand_t<M>> activations,
          matrix_view<pipeline_output_t<Pipeline>> out, const Pipeline& pipeline = {},
          const gemm_options& options = {}) {
    if (options.path == kernel_path::reference) {
        detail::check_shapes("gemm", weights, activations, out);
        reference_gemm<M>(weights, activations, out, pipeline, options);
        return;
    }
    gemm(multiplier_plan::of<M>(), weights, activations, out, pipeline, options);
}

/// The path gemm() takes for this plan and options (throws like gemm() for a forced path that is not available).
inline kernel_path chosen_path(const multiplier_plan& plan, const gemm_options& options = {}) {
    return detail::resolve_path(plan, options).path;
}

}  // namespace approxnn::gemm

#pragma once
// multiplier_plan: a multiplier prepared for the GEMM kernels, built once and reused by every call.
//
// From any multiplier (a policy type, a table_multiplier, or a design_instance) the plan derives what each kernel
// path needs, and which paths are possible:
//   - the product table in [activation][weight] order (reference and portable kernels);
//   - byte planes for vpermb lookups: per weight w, 256 low bytes and 256 high bytes of (M(a, w) - base), when every
//     product lies within 65 535 of the smallest (base); the table path;
//   - an error plane when every error M(a, w) - a*w lies in [-128, 127]: per weight w, 256 bytes of e + 128;
//   - a decomposition into r exact byte products, sum_t f_t(a) * g_t(w), for array designs (partial_product_array
//     without constant): factor tables per term, plain and biased for vpdpbusd (u8 activations x s8 weights).
// Copies share the prepared data.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "approxnn/multipliers/families.hpp"
#include "approxnn/multipliers/multiplier.hpp"
#include "approxnn/multipliers/partial_product_array.hpp"
#include "approxnn/multipliers/table.hpp"

namespace approxnn::gemm {

class multiplier_plan {
public:
    /// A plan for any table (no decomposition).
    explicit multiplier_plan(const multipliers::table_multiplier& table) : multiplier_plan(table, std::nullopt) {}

    /// A plan for a closed-form design chosen at run time (with its decomposition when it is an array design).
    explicit multiplier_plan(const multipliers::design_instance& design)
        : multiplier_plan(design.table(), design.partial_products()) {}

    /// The plan of policy M, built on first use and shared afterwards.
    template <multiplier M>
    static const multiplier_plan& of() {
        static const multiplier_plan plan = [] {
            std::optional<multipliers::partial_product_array> design;
            if constexpr (requires { M::partial_products; }) {
                if (M::weight_operand == operand_position::second) design = M::partial_products;
            }
            return multiplier_plan(multipliers::table_multiplier::from_policy<M>(), design);
        }();
        return plan;
    }

    [[nodiscard]] const std::string& name() const noexcept { return data_->name; }
    [[nodiscard]] signedness operand_signedness() const noexcept { return data_->sign; }
    [[nodiscard]] bool is_signed() const noexcept { return data_->sign == signedness::signed_operands; }
    [[nodiscard]] bool is_exact() const noexcept { return data_->exact; }

    /// M(activation, weight) by raw codes.
    [[nodiscard]] std::int32_t product(std::uint8_t activation, std::uint8_t weight) const noexcept {
        return data_->by_weight[std::size_t{weight} * 256 + activation];
    }
    /// Products laid out [weight * 256 + activation] by raw codes (one weight's row is contiguous).
    [[nodiscard]] const std::int32_t* products_by_weight() const noexcept { return data_->by_weight.data(); }

    /// Byte planes for the table path, or null when the products span more than 16 bits.
    /// Weight w's planes: [w * 512, w * 512 + 256) low bytes, then 256 high bytes, of M(a, w) - plane_base().
    [[nodiscard]] const std::uint8_t* table_planes() const noexcept {
        return data_->planes.empty() ? nullptr : data_->planes.data();
    }
    [[nodiscard]] std::int32_t plane_base() const noexcept { return data_->base; }

    /// The error plane [w * 256 + a] = M(a, w) - a*w + 128, or null when an error leaves [-128, 127].
    [[nodiscard]] const std::uint8_t* error_plane() const noexcept {
        return data_->error_plane.empty() ? nullptr : data_->error_plane.data();
    }
    /// Errors [w * 256 + a] = M(a, w) - a*w (for the portable error-plane kernel), or null like error_plane().
    [[nodiscard]] const std::int32_t* errors_by_weight() const noexcept {
        return data_->errors_by_weight.empty() ? nullptr : data_->errors_by_weight.data();
    }

    /// Number of exact byte products r of the decomposition (0: none; 1 for exact multipliers: a * w).
    [[nodiscard]] int decomposition_terms() const noexcept { return data_->terms; }
    /// Factor f_t of activation code a: activation_factors()[t * 256 + a]; true values.
    [[nodiscard]] const std::int16_t* activation_factors() const noexcept { return data_->fa.data(); }
    /// Factor g_t of weight code w: weight_factors()[t * 256 + w]; true values.
    [[nodiscard]] const std::int16_t* weight_factors() const noexcept { return data_->fw.data(); }
    /// Factors biased for vpdpbusd (see dot_operand_bias): u8 activations, s8 weights; [t * 256 + code].
    [[nodiscard]] const std::uint8_t* activation_factors_u8() const noexcept { return data_->fa_u8.data(); }
    [[nodiscard]] const std::int8_t* weight_factors_s8() const noexcept { return data_->fw_s8.data(); }

private:
    struct prepared {
        std::string name;
        signedness sign = signedness::unsigned_operands;
        bool exact = false;
        std::vector<std::int32_t> by_weight;
        std::vector<std::uint8_t> planes;
        std::int32_t base = 0;
        std::vector<std::uint8_t> error_plane;
        std::vector<std::int32_t> errors_by_weight;
        int terms = 0;
        std::vector<std::int16_t> fa, fw;
        std::vector<std::uint8_t> fa_u8;
        std::vector<std::int8_t> fw_s8;
    };

    multiplier_plan(const multipliers::table_multiplier& any_order,
                    std::optional<multipliers::partial_product_array> design) {
        const multipliers::table_multiplier table = any_order.in_activation_weight_order();
        auto p = std::make_shared<prepared>();
        p->name = table.name();
        p->sign = table.operand_signedness();
        p->exact = table.is_exact();
        p->by_weight.resize(256 * 256);
        std::int32_t lo = table.multiply(0, 0);
        std::int32_t hi = lo;
        bool error_fits = true;
        for (int w = 0; w < 256; ++w) {
            for (int a = 0; a < 256; ++a) {
                const std::int32_t m = table.multiply(a, w);
                p->by_weight[static_cast<std::size_t>(w * 256 + a)] = m;
                lo = std::min(lo, m);
                hi = std::max(hi, m);
                const std::int64_t e = std::int64_t{m} - std::int64_t{value(a, p->sign)} * value(w, p->sign);
                error_fits = error_fits && e >= -128 && e <= 127;
            }
        }
        if (std::int64_t{hi} - lo <= 65535) {
            p->base = lo;
            p->planes.resize(256 * 512);
            for (std::size_t w = 0; w < 256; ++w) {
                for (std::size_t a = 0; a < 256; ++a) {
                    const auto stored = static_cast<std::uint32_t>(p->by_weight[w * 256 + a] - lo);
                    p->planes[w * 512 + a] = static_cast<std::uint8_t>(stored & 0xFFU);
                    p->planes[w * 512 + 256 + a] = static_cast<std::uint8_t>(stored >> 8);
                }
            }
        }
        if (error_fits) {
            p->error_plane.resize(256 * 256);
            p->errors_by_weight.resize(256 * 256);
            for (int w = 0; w < 256; ++w) {
                for (int a = 0; a < 256; ++a) {
                    const auto i = static_cast<std::size_t>(w * 256 + a);
                    const std::int32_t e = p->by_weight[i] - value(a, p->sign) * value(w, p->sign);
                    p->errors_by_weight[i] = e;
                    p->error_plane[i] = static_cast<std::uint8_t>(e + 128);
                }
            }
        }
        // Exact multipliers decompose trivially (one term, a * w): the exact path runs on the same dot kernels.
        if (p->exact) design = multipliers::partial_product_array{};
        if (design && design->constant == 0) prepare_decomposition(*p, multipliers::decompose(*design));
        data_ = std::move(p);
    }

    static int value(int code, signedness s) noexcept {
        return multipliers::operand_value(static_cast<std::uint8_t>(code), s);
    }

    // Factor tables of sum_t (a & mask_t) * (w & bits_t) on magnitudes, with sign-magnitude signs for int8; kept only
    // when they reproduce every product.
    static void prepare_decomposition(prepared& p, const multipliers::array_decomposition& d) {
        const bool is_signed = p.sign == signedness::signed_operands;
        const auto factor = [is_signed](int code, std::uint32_t mask) {
            const int v = value(code, is_signed ? signedness::signed_operands : signedness::unsigned_operands);
            const int magnitude = static_cast<int>(static_cast<std::uint32_t>(v < 0 ? -v : v) & mask);
            return static_cast<std::int16_t>(v < 0 ? -magnitude : magnitude);
        };
        const auto r = static_cast<std::size_t>(d.count);
        std::vector<std::int16_t> fa(r * 256);
        std::vector<std::int16_t> fw(r * 256);
        for (std::size_t t = 0; t < r; ++t) {
            for (int code = 0; code < 256; ++code) {
                fa[t * 256 + static_cast<std::size_t>(code)] = factor(code, d.terms[t].activation_mask);
                fw[t * 256 + static_cast<std::size_t>(code)] = factor(code, d.terms[t].weight_bits);
            }
        }
        for (std::size_t w = 0; w < 256; ++w) {
            for (std::size_t a = 0; a < 256; ++a) {
                std::int32_t sum = 0;
                for (std::size_t t = 0; t < r; ++t) sum += fa[t * 256 + a] * fw[t * 256 + w];
                if (sum != p.by_weight[w * 256 + a]) return;
            }
        }
        for (const std::int16_t f : fa) {
            if (is_signed ? (f < -128 || f > 127) : (f < 0 || f > 255)) return;
        }
        for (const std::int16_t g : fw) {
            if (is_signed ? (g < -128 || g > 127) : (g < 0 || g > 255)) return;
        }
        p.terms = d.count;
        p.fa = std::move(fa);
        p.fw = std::move(fw);
        p.fa_u8.resize(r * 256);
        p.fw_s8.resize(r * 256);
        for (std::size_t i = 0; i < r * 256; ++i) {
            p.fa_u8[i] = static_cast<std::uint8_t>(is_signed ? p.fa[i] + 128 : p.fa[i]);
            p.fw_s8[i] = static_cast<std::int8_t>(is_signed ? p.fw[i] : p.fw[i] - 128);
        }
    }

    std::shared_ptr<const prepared> data_;
};

}  // namespace approxnn::gemm

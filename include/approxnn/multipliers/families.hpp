#pragma once
// All closed-form design families, and their type-erased, run-time form.
//
// The policy types (column_truncation<std::uint8_t, 4>, drum<std::int8_t, 6>, ...) are the compile-time API.
// design_instance is the same design chosen at run time (from a name such as "drum_s8_k6" or from a family and
// parameter values); it produces the same products, from the same definitions.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/multipliers/closed_form.hpp"
#include "approxnn/multipliers/families/broken_array.hpp"
#include "approxnn/multipliers/families/column_truncation.hpp"
#include "approxnn/multipliers/families/drum.hpp"
#include "approxnn/multipliers/families/exact.hpp"
#include "approxnn/multipliers/families/kulkarni.hpp"
#include "approxnn/multipliers/families/logarithmic.hpp"
#include "approxnn/multipliers/families/operand_truncation.hpp"
#include "approxnn/multipliers/families/perforation.hpp"
#include "approxnn/multipliers/families/roba.hpp"
#include "approxnn/multipliers/partial_product_array.hpp"
#include "approxnn/multipliers/table.hpp"

namespace approxnn::multipliers {

/// A design family with type-erased entry points; parameter values are passed in the order of `parameters`.
struct family_info {
    std::string_view name;
    std::span<const parameter_spec> parameters;
    std::string_view constraint;  ///< cross-parameter constraint, empty when there is none
    /// Throws parameter_error unless the values are valid (count, ranges, constraint).
    void (*check)(std::span<const int> values);
    /// The unsigned core for a, b in [0, 255]; values must be valid.
    std::uint32_t (*core)(std::uint32_t a, std::uint32_t b, std::span<const int> values) noexcept;
    bool (*is_exact)(std::span<const int> values) noexcept;
    /// For designs that keep a subset of the partial-product array: writes it to `out` and returns true.
    bool (*partial_products)(std::span<const int> values, partial_product_array& out) noexcept;
    double (*relative_power)(std::span<const int> values) noexcept;
};

namespace detail {
template <design_family F>
family_parameters<F> to_parameters(std::span<const int> values) noexcept {
    family_parameters<F> p{};
    for (std::size_t i = 0; i < p.size() && i < values.size(); ++i) p[i] = values[i];
    return p;
}

template <design_family F>
constexpr family_info make_family_info() noexcept {
    std::string_view constraint;
    if constexpr (requires { F::constraint; }) constraint = F::constraint;
    return family_info{
        F::name,
        std::span<const parameter_spec>(F::parameter_specs),
        constraint,
        [](std::span<const int> values) {
            if (values.size() != F::parameter_specs.size()) {
                throw parameter_error(std::string(F::name) + ": expected " +
                                      std::to_string(F::parameter_specs.size()) + " parameter value(s), got " +
                                      std::to_string(values.size()));
            }
            check_parameters<F>(to_parameters<F>(values));
        },
        [](std::uint32_t a, std::uint32_t b, std::span<const int> values) noexcept {
            return F::multiply(a, b, to_parameters<F>(values));
        },
        [](std::span<const int> values) noexcept { return F::is_exact(to_parameters<F>(values)); },
        [](std::span<const int> values, partial_product_array& out) noexcept {
            if constexpr (requires { F::array(to_parameters<F>(values)); }) {
                out = F::array(to_parameters<F>(values));
                return true;
            } else {
                (void)values;
                (void)out;
                return false;
            }
        },
        [](std::span<const int> values) noexcept { return static_cast<double>(F::relative_power(to_parameters<F>(values))); },
    };
}

inline constexpr std::array<family_info, 11> design_family_registry{
    make_family_info<exact_family>(),
    make_family_info<column_truncation_family>(),
    make_family_info<column_truncation_corrected_family>(),
    make_family_info<operand_truncation_family>(),
    make_family_info<broken_array_family>(),
    make_family_info<perforation_family>(),
    make_family_info<drum_family>(),
    make_family_info<mitchell_family>(),
    make_family_info<mbm_family>(),
    make_family_info<kulkarni_family>(),
    make_family_info<roba_family>(),
};
}  // namespace detail

/// Every closed-form design family approxnn defines.
inline std::span<const family_info> design_families() noexcept { return detail::design_family_registry; }

/// The family called `name`; throws not_found_error listing the known families otherwise.
inline const family_info& find_design_family(std::string_view name) {
    for (const family_info& f : design_families()) {
        if (f.name == name) return f;
    }
    std::string known;
    for (const family_info& f : design_families()) known += (known.empty() ? "" : ", ") + std::string(f.name);
    throw not_found_error("unknown multiplier family '" + std::string(name) + "' (known: " + known + ")");
}

/// One closed-form design chosen at run time: a family, parameter values and the operand signedness.
class design_instance {
public:
    /// Throws parameter_error when the values do not fit the family.
    design_instance(const family_info& family, signedness operand_signedness, std::vector<int> values)
        : family_(&family), signedness_(operand_signedness), values_(std::move(values)) {
        family_->check(values_);
    }

    /// Throws not_found_error for an unknown family, parameter_error for invalid values.
    design_instance(std::string_view family_name, signedness operand_signedness, std::vector<int> values)
        : design_instance(find_design_family(family_name), operand_signedness, std::move(values)) {}

    /// The instance named like the policy types name themselves: "<family>_<u8|s8>[_<parameter><value>]...",
    /// e.g. "drum_s8_k6" or "broken_array_u8_h2_v6". Throws not_found_error or parameter_error naming the problem.
    static design_instance parse(std::string_view name) {
        const family_info* best = nullptr;
        for (const family_info& f : design_families()) {
            if (name.size() > f.name.size() && name.substr(0, f.name.size()) == f.name &&
                name[f.name.size()] == '_' && (best == nullptr || f.name.size() > best->name.size())) {
                best = &f;
            }
        }
        if (best == nullptr) {
            std::string known;
            for (const family_info& f : design_families()) known += (known.empty() ? "" : ", ") + std::string(f.name);
            throw not_found_error("'" + std::string(name) + "' does not start with a known multiplier family (" +
                                  known + ") followed by _u8 or _s8");
        }
        std::vector<std::string_view> tokens;
        std::string_view rest = name.substr(best->name.size() + 1);
        while (true) {
            const std::size_t cut = rest.find('_');
            tokens.push_back(rest.substr(0, cut));
            if (cut == std::string_view::npos) break;
            rest = rest.substr(cut + 1);
        }
        signedness s{};
        if (tokens[0] == "u8") {
            s = signedness::unsigned_operands;
        } else if (tokens[0] == "s8") {
            s = signedness::signed_operands;
        } else {
            throw parameter_error("'" + std::string(name) + "': expected u8 or s8 after '" + std::string(best->name) +
                                  "_', got '" + std::string(tokens[0]) + "'");
        }
        if (tokens.size() - 1 != best->parameters.size()) {
            throw parameter_error("'" + std::string(name) + "': family " + std::string(best->name) + " takes " +
                                  std::to_string(best->parameters.size()) + " parameter(s), the name gives " +
                                  std::to_string(tokens.size() - 1));
        }
        std::vector<int> values;
        for (std::size_t i = 0; i < best->parameters.size(); ++i) {
            const std::string_view token = tokens[i + 1];
            const std::string_view expected = best->parameters[i].name;
            const std::string_view digits = token.substr(std::min(expected.size(), token.size()));
            const bool numeric = !digits.empty() && digits.size() <= 6 &&
                                 std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
            if (token.substr(0, expected.size()) != expected || !numeric) {
                throw parameter_error("'" + std::string(name) + "': expected parameter " + std::string(expected) +
                                      " followed by its value, got '" + std::string(token) + "'");
            }
            values.push_back(std::stoi(std::string(digits)));
        }
        return design_instance(*best, s, std::move(values));
    }

    [[nodiscard]] const family_info& family() const noexcept { return *family_; }
    [[nodiscard]] signedness operand_signedness() const noexcept { return signedness_; }
    [[nodiscard]] std::span<const int> values() const noexcept { return values_; }

    [[nodiscard]] std::vector<parameter> parameters() const {
        std::vector<parameter> result;
        for (std::size_t i = 0; i < values_.size(); ++i) result.push_back({family_->parameters[i].name, values_[i]});
        return result;
    }

    [[nodiscard]] std::string name() const {
        const std::vector<parameter> p = parameters();
        return instance_name(family_->name, signedness_, p);
    }

    /// M(first, second) for operand values (or raw bytes; taken modulo 256), weight second.
    [[nodiscard]] std::int32_t multiply(int first, int second) const noexcept {
        const auto core = [this](std::uint32_t x, std::uint32_t y) noexcept { return family_->core(x, y, values_); };
        if (signedness_ == signedness::signed_operands) {
            return sign_magnitude_product(static_cast<std::int8_t>(first), static_cast<std::int8_t>(second), core);
        }
        return sign_magnitude_product(static_cast<std::uint8_t>(first), static_cast<std::uint8_t>(second), core);
    }

    [[nodiscard]] table_multiplier table() const {
        std::vector<std::int32_t> products(table_entries);
        for (int first = 0; first < 256; ++first) {
            for (int second = 0; second < 256; ++second) {
                products[static_cast<std::size_t>(first * 256 + second)] = multiply(first, second);
            }
        }
        return table_multiplier(signedness_, operand_position::second, products, name());
    }

    [[nodiscard]] bool is_exact() const noexcept { return family_->is_exact(values_); }

    /// The partial-product array of designs that keep a subset of it (column/operand truncation, BAM, perforation).
    [[nodiscard]] std::optional<partial_product_array> partial_products() const noexcept {
        partial_product_array d;
        if (!family_->partial_products(values_, d)) return std::nullopt;
        return d;
    }

    /// The design's power estimate relative to the exact multiplier (see power_model.hpp).
    [[nodiscard]] double relative_power() const noexcept { return family_->relative_power(values_); }

private:
    const family_info* family_;
    signedness signedness_;
    std::vector<int> values_;
};

}  // namespace approxnn::multipliers

#pragma once
// The run-time table multiplier: any 8x8 multiplier as its 256 x 256 product table.
//
// Layout: products()[first * 256 + second], where first and second are the raw bytes of the operand codes
// (two's complement for signed tables), first being the first argument of multiply(). Which argument is the
// weight is explicit (weight_operand()); the usual convention is [activation][weight], i.e. the weight second.
// Copies share the immutable product storage.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include "approxnn/core/error.hpp"
#include "approxnn/multipliers/multiplier.hpp"

namespace approxnn::multipliers {

/// A synthesised power figure that travels with a table, e.g. {0.391, "EvoApproxLib mul8u_1JFF, PDK45_PWR"}.
struct synthesised_power {
    double milliwatts = 0.0;
    std::string source;
    friend bool operator==(const synthesised_power&, const synthesised_power&) = default;
};

/// Number of entries of a product table.
inline constexpr std::size_t table_entries = 256 * 256;

/// The operand value of a raw code byte: -128..127 for signed tables, 0..255 for unsigned ones.
constexpr int operand_value(std::uint8_t code, signedness s) noexcept {
    return s == signedness::signed_operands ? static_cast<int>(static_cast<std::int8_t>(code)) : static_cast<int>(code);
}

class table_multiplier {
public:
    using product_type = std::int32_t;
    using storage = std::array<product_type, table_entries>;

    /// A table from products indexed [first * 256 + second] by raw operand bytes.
    /// Throws shape_error unless products has exactly 65 536 entries.
    table_multiplier(signedness operand_signedness, operand_position weight, std::span<const product_type> products,
                     std::string name = "table")
        : signedness_(operand_signedness), weight_(weight), name_(std::move(name)) {
        if (products.size() != table_entries) {
            throw shape_error("table multiplier '" + name_ + "': expected 65536 products (256 x 256), got " +
                              std::to_string(products.size()));
        }
        auto data = std::make_shared<storage>();
        std::copy(products.begin(), products.end(), data->begin());
        products_ = std::move(data);
    }

    /// The table of policy M (name, signedness and weight position taken from M).
    template <multiplier M>
    static table_multiplier from_policy() {
        static_assert(sizeof(product_t<M>) <= sizeof(product_type), "approxnn: product type wider than int32");
        auto data = std::make_shared<storage>();
        for (int first = 0; first < 256; ++first) {
            for (int second = 0; second < 256; ++second) {
                (*data)[static_cast<std::size_t>(first * 256 + second)] = static_cast<product_type>(
                    M::multiply(static_cast<operand_t<M>>(first), static_cast<operand_t<M>>(second)));
            }
        }
        return table_multiplier(signedness_of<M>, M::weight_operand, std::move(data), M::name());
    }

    /// The exact product table.
    static table_multiplier exact(signedness s) {
        auto data = std::make_shared<storage>();
        for (int first = 0; first < 256; ++first) {
            for (int second = 0; second < 256; ++second) {
                (*data)[static_cast<std::size_t>(first * 256 + second)] =
                    operand_value(static_cast<std::uint8_t>(first), s) *
                    operand_value(static_cast<std::uint8_t>(second), s);
            }
        }
        return table_multiplier(s, operand_position::second, std::move(data),
                                std::string("exact_") + std::string(type_tag(s)));
    }

    [[nodiscard]] const std::string& name() const noexcept { return name_; }
    void set_name(std::string name) { name_ = std::move(name); }

    [[nodiscard]] signedness operand_signedness() const noexcept { return signedness_; }
    [[nodiscard]] bool is_signed() const noexcept { return signedness_ == signedness::signed_operands; }
    [[nodiscard]] operand_position weight_operand() const noexcept { return weight_; }

    /// M(first, second). Operands are taken modulo 256, so either the operand value or its raw byte may be given.
    [[nodiscard]] product_type multiply(int first, int second) const noexcept {
        return (*products_)[index(first, second)];
    }

    /// The product with explicit roles (taken modulo 256 like multiply()).
    [[nodiscard]] product_type multiply_activation_weight(int activation, int weight) const noexcept {
        return weight_ == operand_position::second ? multiply(activation, weight) : multiply(weight, activation);
    }

    /// All products, [first * 256 + second] by raw bytes.
    [[nodiscard]] std::span<const product_type, table_entries> products() const noexcept {
        return std::span<const product_type, table_entries>(*products_);
    }

    /// The same multiplier laid out [activation * 256 + weight] (the weight second), transposing when needed.
    [[nodiscard]] table_multiplier in_activation_weight_order() const {
        if (weight_ == operand_position::second) return *this;
        auto data = std::make_shared<storage>();
        for (int activation = 0; activation < 256; ++activation) {
            for (int weight = 0; weight < 256; ++weight) {
                (*data)[index(activation, weight)] = multiply(weight, activation);
            }
        }
        table_multiplier result(signedness_, operand_position::second, std::move(data), name_);
        result.power_ = power_;
        return result;
    }

    /// True when every product equals the exact product of the operand values.
    [[nodiscard]] bool is_exact() const noexcept {
        for (int first = 0; first < 256; ++first) {
            for (int second = 0; second < 256; ++second) {
                if (multiply(first, second) != operand_value(static_cast<std::uint8_t>(first), signedness_) *
                                                   operand_value(static_cast<std::uint8_t>(second), signedness_)) {
                    return false;
                }
            }
        }
        return true;
    }

    /// True when multiply(a, b) == multiply(b, a) for every pair.
    [[nodiscard]] bool is_commutative() const noexcept {
        for (int first = 0; first < 256; ++first) {
            for (int second = first + 1; second < 256; ++second) {
                if (multiply(first, second) != multiply(second, first)) return false;
            }
        }
        return true;
    }

    /// A synthesised power figure, when the table carries one.
    [[nodiscard]] const std::optional<synthesised_power>& power() const noexcept { return power_; }
    void set_power(std::optional<synthesised_power> power) { power_ = std::move(power); }

    /// Same products, signedness and operand roles (names and power figures are not compared).
    [[nodiscard]] bool same_products(const table_multiplier& other) const noexcept {
        return signedness_ == other.signedness_ && weight_ == other.weight_ &&
               (products_ == other.products_ || *products_ == *other.products_);
    }

    friend bool operator==(const table_multiplier& a, const table_multiplier& b) noexcept {
        return a.same_products(b) && a.name_ == b.name_ && a.power_ == b.power_;
    }

private:
    table_multiplier(signedness s, operand_position weight, std::shared_ptr<const storage> products, std::string name)
        : signedness_(s), weight_(weight), name_(std::move(name)), products_(std::move(products)) {}

    static constexpr std::size_t index(int first, int second) noexcept {
        return static_cast<std::size_t>(static_cast<std::uint8_t>(first)) * 256 +
               static_cast<std::size_t>(static_cast<std::uint8_t>(second));
    }

    signedness signedness_;
    operand_position weight_;
    std::string name_;
    std::shared_ptr<const storage> products_;
    std::optional<synthesised_power> power_;
};

}  // namespace approxnn::multipliers

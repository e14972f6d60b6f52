#pragma once
// Exhaustive error statistics of an 8x8 multiplier over all 65 536 operand pairs (EvoApproxLib's definitions).
//
// e(a, b) = M(a, b) - a * b, with a, b the operand values (signed or unsigned).
//   mae        mean |e|                          mae_percent  mae / 2^16 * 100
//   wce        max |e|                           wce_percent  wce / 2^16 * 100
//   ep_percent share of pairs with e != 0, in %
//   mre_percent  mean over pairs with a * b != 0 of |e| / |a * b|, in %
//   mse        mean e^2
//   bias       mean e (accumulates linearly with the length of a dot product)
//   variance   mean (e - bias)^2
//   min_error, max_error   the extreme signed errors
//   commutative            M(a, b) == M(b, a) for every pair

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "approxnn/multipliers/multiplier.hpp"
#include "approxnn/multipliers/table.hpp"

namespace approxnn::multipliers {

struct error_statistics {
    double mae = 0;
    double mae_percent = 0;
    std::int64_t wce = 0;
    double wce_percent = 0;
    double ep_percent = 0;
    double mre_percent = 0;
    double mse = 0;
    double bias = 0;
    double variance = 0;
    std::int64_t min_error = 0;
    std::int64_t max_error = 0;
    bool commutative = true;
};

/// The 256 x 256 error map e = M - a * b, laid out like the table: errors[first * 256 + second] by raw bytes.
struct error_map {
    signedness operand_signedness = signedness::unsigned_operands;
    std::vector<std::int64_t> errors;

    /// e(first, second); operands taken modulo 256 (value or raw byte).
    [[nodiscard]] std::int64_t at(int first, int second) const noexcept {
        return errors[static_cast<std::size_t>(static_cast<std::uint8_t>(first)) * 256 +
                      static_cast<std::uint8_t>(second)];
    }
};

[[nodiscard]] inline error_map compute_error_map(const table_multiplier& table) {
    error_map map{table.operand_signedness(), std::vector<std::int64_t>(table_entries)};
    for (int first = 0; first < 256; ++first) {
        const int a = operand_value(static_cast<std::uint8_t>(first), table.operand_signedness());
        for (int second = 0; second < 256; ++second) {
            const int b = operand_value(static_cast<std::uint8_t>(second), table.operand_signedness());
            map.errors[static_cast<std::size_t>(first * 256 + second)] =
                std::int64_t{table.multiply(first, second)} - std::int64_t{a} * b;
        }
    }
    return map;
}

[[nodiscard]] inline error_statistics compute_statistics(const table_multiplier& table) {
    constexpr double pairs = static_cast<double>(table_entries);
    constexpr double full_scale = 65536.0;  // 2^(2n) for n = 8
    const error_map map = compute_error_map(table);

    error_statistics s;
    std::int64_t sum = 0;
    std::int64_t sum_abs = 0;
    std::int64_t nonzero = 0;
    double sum_squares = 0;
    double sum_relative = 0;
    std::int64_t relative_count = 0;
    s.min_error = map.errors.front();
    s.max_error = map.errors.front();
    for (int first = 0; first < 256; ++first) {
        const int a = operand_value(static_cast<std::uint8_t>(first), table.operand_signedness());
        for (int second = 0; second < 256; ++second) {
            const int b = operand_value(static_cast<std::uint8_t>(second), table.operand_signedness());
            const std::int64_t e = map.at(first, second);
            const std::int64_t magnitude = e < 0 ? -e : e;
            sum += e;
            sum_abs += magnitude;
            nonzero += e != 0 ? 1 : 0;
            sum_squares += static_cast<double>(e) * static_cast<double>(e);
            s.wce = std::max(s.wce, magnitude);
            s.min_error = std::min(s.min_error, e);
            s.max_error = std::max(s.max_error, e);
            const std::int64_t exact = std::int64_t{a} * b;
            if (exact != 0) {
                sum_relative += static_cast<double>(magnitude) / static_cast<double>(exact < 0 ? -exact : exact);
                ++relative_count;
            }
        }
    }
    s.mae = static_cast<double>(sum_abs) / pairs;
    s.mae_percent = s.mae / full_scale * 100.0;
    s.wce_percent = static_cast<double>(s.wce) / full_scale * 100.0;
    s.ep_percent = static_cast<double>(nonzero) / pairs * 100.0;
    s.mre_percent = relative_count > 0 ? sum_relative / static_cast<double>(relative_count) * 100.0 : 0.0;
    s.mse = sum_squares / pairs;
    s.bias = static_cast<double>(sum) / pairs;
    double sum_centred_squares = 0;
    for (const std::int64_t e : map.errors) {
        const double centred = static_cast<double>(e) - s.bias;
        sum_centred_squares += centred * centred;
    }
    s.variance = sum_centred_squares / pairs;
    s.commutative = table.is_commutative();
    return s;
}

/// Statistics of policy M (through its table).
template <multiplier M>
[[nodiscard]] error_statistics compute_statistics() {
    return compute_statistics(table_multiplier::from_policy<M>());
}

}  // namespace approxnn::multipliers

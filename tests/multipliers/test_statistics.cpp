#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "approxnn/multipliers/families.hpp"
#include "approxnn/multipliers/statistics.hpp"
#include "approxnn/multipliers/table.hpp"

namespace {

using approxnn::operand_position;
using approxnn::signedness;
using approxnn::multipliers::compute_error_map;
using approxnn::multipliers::compute_statistics;
using approxnn::multipliers::error_statistics;
using approxnn::multipliers::table_multiplier;

constexpr signedness u8 = signedness::unsigned_operands;
constexpr signedness s8 = signedness::signed_operands;

/// A table whose products are f(a, b) for the operand values a, b (index by raw bytes, weight second).
template <class F>
table_multiplier table_of(signedness s, F f) {
    std::vector<std::int32_t> products(256 * 256);
    for (int first = 0; first < 256; ++first) {
        for (int second = 0; second < 256; ++second) {
            const int a = s == s8 && first > 127 ? first - 256 : first;
            const int b = s == s8 && second > 127 ? second - 256 : second;
            products[static_cast<std::size_t>(first * 256 + second)] = f(a, b);
        }
    }
    return table_multiplier(s, operand_position::second, products, "hand_built");
}

/// Harmonic number H_n = 1 + 1/2 + ... + 1/n.
double harmonic(int n) {
    double h = 0;
    for (int k = n; k >= 1; --k) h += 1.0 / k;
    return h;
}

void check_equal(const error_statistics& x, const error_statistics& y) {
    CHECK(x.mae == y.mae);
    CHECK(x.mae_percent == y.mae_percent);
    CHECK(x.wce == y.wce);
    CHECK(x.wce_percent == y.wce_percent);
    CHECK(x.ep_percent == y.ep_percent);
    CHECK(x.mre_percent == y.mre_percent);
    CHECK(x.mse == y.mse);
    CHECK(x.bias == y.bias);
    CHECK(x.variance == y.variance);
    CHECK(x.min_error == y.min_error);
    CHECK(x.max_error == y.max_error);
    CHECK(x.commutative == y.commutative);
}

}  // namespace

TEST_CASE("Statistics of small hand-checkable multipliers match hand-computed values") {
    SUBCASE("exact unsigned and signed multipliers have no error at all") {
        for (const signedness s : {u8, s8}) {
            const error_statistics st = compute_statistics(table_multiplier::exact(s));
            CHECK(st.mae == 0.0);
            CHECK(st.mae_percent == 0.0);
            CHECK(st.wce == 0);
            CHECK(st.wce_percent == 0.0);
            CHECK(st.ep_percent == 0.0);
            CHECK(st.mre_percent == 0.0);
            CHECK(st.mse == 0.0);
            CHECK(st.bias == 0.0);
            CHECK(st.variance == 0.0);
            CHECK(st.min_error == 0);
            CHECK(st.max_error == 0);
            CHECK(st.commutative);
        }
    }

    SUBCASE("exact unsigned except M(3, 5) = 16 (one error of +1)") {
        const table_multiplier t = table_of(u8, [](int a, int b) { return a == 3 && b == 5 ? 16 : a * b; });
        const error_statistics st = compute_statistics(t);
        // One pair of 65536 has e = +1.
        CHECK(st.mae == 1.0 / 65536);                         // 1.52587890625e-05
        CHECK(st.mae_percent == doctest::Approx(100.0 / 4294967296.0).epsilon(1e-12));  // MAE / 2^16 * 100
        CHECK(st.wce == 1);
        CHECK(st.wce_percent == doctest::Approx(0.00152587890625).epsilon(1e-12));        // 1 / 65536 * 100
        CHECK(st.ep_percent == doctest::Approx(0.00152587890625).epsilon(1e-12));         // 1 pair of 65536
        // MRE: 255 * 255 = 65025 pairs with a * b != 0; one has |e| / |ab| = 1/15.
        // 100 / (15 * 65025) = 100 / 975375 = 1.0252466999871845e-4.
        CHECK(st.mre_percent == doctest::Approx(1.0252466999871845e-4).epsilon(1e-12));
        CHECK(st.mse == 1.0 / 65536);
        CHECK(st.bias == 1.0 / 65536);
        // variance = E[e^2] - bias^2 = 1/65536 - 1/2^32 = 65535 / 2^32.
        CHECK(st.variance == doctest::Approx(65535.0 / 4294967296.0).epsilon(1e-12));
        CHECK(st.min_error == 0);
        CHECK(st.max_error == 1);
        CHECK_FALSE(st.commutative);  // M(3, 5) = 16 but M(5, 3) = 15

        const auto map = compute_error_map(t);
        CHECK(map.operand_signedness == u8);
        REQUIRE(map.errors.size() == 65536);
        CHECK(map.at(3, 5) == 1);
        CHECK(map.at(5, 3) == 0);
        CHECK(map.at(255, 255) == 0);
        CHECK(map.errors[3 * 256 + 5] == 1);
        std::int64_t total = 0;
        for (const std::int64_t e : map.errors) total += e;
        CHECK(total == 1);
    }

    SUBCASE("exact signed except M(-128, -128) = 0 instead of 16384") {
        const table_multiplier t = table_of(s8, [](int a, int b) { return a == -128 && b == -128 ? 0 : a * b; });
        const error_statistics st = compute_statistics(t);
        // One pair has e = 0 - 16384 = -16384.
        CHECK(st.mae == 0.25);                                 // 16384 / 65536
        CHECK(st.mae_percent == doctest::Approx(25.0 / 65536).epsilon(1e-12));  // 0.25 / 65536 * 100
        CHECK(st.wce == 16384);
        CHECK(st.wce_percent == 25.0);                         // 16384 / 65536 * 100
        CHECK(st.ep_percent == doctest::Approx(0.00152587890625).epsilon(1e-12));
        // 255 nonzero values per operand (-128..-1, 1..127): 65025 pairs; one with |e| / |ab| = 1.
        // 100 / 65025 = 0.0015378700499807767.
        CHECK(st.mre_percent == doctest::Approx(0.0015378700499807767).epsilon(1e-12));
        CHECK(st.mse == 4096.0);                               // 16384^2 / 65536 = 2^28 / 2^16
        CHECK(st.bias == -0.25);
        CHECK(st.variance == doctest::Approx(4095.9375).epsilon(1e-12));  // 4096 - 0.25^2
        CHECK(st.min_error == -16384);
        CHECK(st.max_error == 0);
        CHECK(st.commutative);  // the changed pair is on the diagonal

        const auto map = compute_error_map(t);
        CHECK(map.operand_signedness == s8);
        CHECK(map.at(-128, -128) == -16384);
        CHECK(map.at(128, 128) == -16384);  // raw bytes of -128
        CHECK(map.at(-128, 127) == 0);
        CHECK(map.at(127, 127) == 0);
        CHECK(map.errors[128 * 256 + 128] == -16384);
    }

    SUBCASE("unsigned constant offset: M(a, b) = ab + 3") {
        const error_statistics st = compute_statistics(table_of(u8, [](int a, int b) { return a * b + 3; }));
        CHECK(st.mae == 3.0);
        CHECK(st.mae_percent == doctest::Approx(300.0 / 65536).epsilon(1e-12));
        CHECK(st.wce == 3);
        CHECK(st.wce_percent == doctest::Approx(300.0 / 65536).epsilon(1e-12));
        CHECK(st.ep_percent == 100.0);
        // MRE = mean over a, b in 1..255 of 3 / (ab) = 3 (sum 1/a)(sum 1/b) / 65025 = 3 H_255^2 / 65025,
        // H_255 = 6.120438712817281, so 100 * 3 * 37.4598 / 65025 = 0.17282477525883483 %.
        CHECK(st.mre_percent == doctest::Approx(3 * harmonic(255) * harmonic(255) / 65025 * 100).epsilon(1e-12));
        CHECK(st.mre_percent == doctest::Approx(0.17282477525883483).epsilon(1e-10));
        CHECK(st.mse == 9.0);
        CHECK(st.bias == 3.0);
        CHECK(st.variance == 0.0);
        CHECK(st.min_error == 3);
        CHECK(st.max_error == 3);
        CHECK(st.commutative);
    }

    SUBCASE("signed constant offset: M(a, b) = ab - 2") {
        const error_statistics st = compute_statistics(table_of(s8, [](int a, int b) { return a * b - 2; }));
        CHECK(st.mae == 2.0);
        CHECK(st.wce == 2);
        CHECK(st.ep_percent == 100.0);
        // sum over nonzero a in -128..127 of 1/|a| = H_127 + H_128 = 10.858481685178345;
        // MRE = 2 (H_127 + H_128)^2 / 65025 * 100 = 0.3626501330483769 %.
        const double h = harmonic(127) + harmonic(128);
        CHECK(st.mre_percent == doctest::Approx(2 * h * h / 65025 * 100).epsilon(1e-12));
        CHECK(st.mre_percent == doctest::Approx(0.3626501330483769).epsilon(1e-10));
        CHECK(st.mse == 4.0);
        CHECK(st.bias == -2.0);
        CHECK(st.variance == 0.0);
        CHECK(st.min_error == -2);
        CHECK(st.max_error == -2);
        CHECK(st.commutative);
    }

    SUBCASE("error equal to the first operand: M(a, b) = ab + a (unsigned)") {
        const error_statistics st = compute_statistics(table_of(u8, [](int a, int b) { return a * b + a; }));
        // e = a, uniform over 0..255 (each value on 256 pairs).
        CHECK(st.mae == 127.5);                  // (0 + ... + 255) / 256
        CHECK(st.bias == 127.5);
        CHECK(st.wce == 255);
        CHECK(st.ep_percent == 99.609375);       // a != 0 on 255 of 256 rows
        CHECK(st.mse == 21717.5);                // sum a^2 / 256 = (255 * 256 * 511 / 6) / 256 = 255 * 511 / 6
        CHECK(st.variance == doctest::Approx(5461.25).epsilon(1e-12));  // (256^2 - 1) / 12
        CHECK(st.min_error == 0);
        CHECK(st.max_error == 255);
        // |e| / |ab| = 1 / b, averaged over a, b in 1..255: H_255 / 255.
        CHECK(st.mre_percent == doctest::Approx(harmonic(255) / 255 * 100).epsilon(1e-12));
        CHECK_FALSE(st.commutative);  // M(1, 2) = 3, M(2, 1) = 4
    }

    SUBCASE("errors of +1 and -1 in equal numbers: zero bias, unit variance") {
        // e = +1 for even a, -1 for odd a (unsigned).
        const error_statistics st =
            compute_statistics(table_of(u8, [](int a, int b) { return a * b + (a % 2 == 0 ? 1 : -1); }));
        CHECK(st.mae == 1.0);
        CHECK(st.bias == 0.0);
        CHECK(st.mse == 1.0);
        CHECK(st.variance == 1.0);
        CHECK(st.wce == 1);
        CHECK(st.ep_percent == 100.0);
        CHECK(st.min_error == -1);
        CHECK(st.max_error == 1);
        CHECK_FALSE(st.commutative);
    }

    SUBCASE("column truncation k = 4, unsigned (the anchor of the issue)") {
        using ct4 = approxnn::multipliers::column_truncation<std::uint8_t, 4>;
        const error_statistics st = compute_statistics<ct4>();
        // Removed partial products: i + j < 4 with i, j in 0..3, weights 2^(i+j):
        //   column 0: 1 bit x 1, column 1: 2 bits x 2, column 2: 3 bits x 4, column 3: 4 bits x 8 -> 1+4+12+32 = 49.
        // e = -(sum of removed a_i b_j 2^(i+j)) <= 0; WCE = 49 (all four low bits of a and b set).
        // E[a_i b_j] = 1/4 over all pairs, so bias = -49/4 = -12.25 and MAE = 12.25.
        // e = 0 iff no removed a_i b_j is 1; it depends on the low nibbles only. Low nibble of a = 0: 16 nibbles
        // of b. Lowest set bit of a at i0 (2^(3-i0) such nibbles): b_j = 0 for j <= 3 - i0, 2^i0 nibbles of b.
        // Zero-error nibble pairs: 16 + sum_{i0=0..3} 2^(3-i0) 2^i0 = 16 + 32 = 48 of 256 -> EP = 208/256 = 81.25 %.
        CHECK(st.mae == 12.25);
        CHECK(st.bias == -12.25);
        CHECK(st.wce == 49);
        CHECK(st.ep_percent == 81.25);
        CHECK(st.mae_percent == doctest::Approx(1225.0 / 65536).epsilon(1e-12));
        CHECK(st.wce_percent == doctest::Approx(4900.0 / 65536).epsilon(1e-12));
        CHECK(st.min_error == -49);
        CHECK(st.max_error == 0);
        CHECK(st.commutative);
        CHECK(st.variance == doctest::Approx(st.mse - 12.25 * 12.25).epsilon(1e-12));

        const auto map = compute_error_map(table_multiplier::from_policy<ct4>());
        CHECK(map.at(15, 15) == -49);
        CHECK(map.at(255, 255) == -49);
        CHECK(map.at(16, 255) == 0);  // a has no bit below 4: a_i b_j with i + j < 4 all zero
        CHECK(map.at(1, 1) == -1);
        CHECK(map.at(1, 8) == -8);    // the only partial product, a_0 b_3, lies in column 3 < 4: removed
        CHECK(map.at(3, 3) == -9);    // all of 3 * 3 = 9 lies in columns 0..2
        CHECK(map.at(17, 17) == -1);  // 289 = 256 + 16 + 16 + 1; only a_0 b_0 (column 0) is removed
    }

    SUBCASE("column truncation k = 4, signed: sign-magnitude makes the error symmetric") {
        using ct4s = approxnn::multipliers::column_truncation<std::int8_t, 4>;
        const error_statistics st = compute_statistics<ct4s>();
        // e(a, b) = sgn(a) sgn(b) e_u(|a|, |b|). Magnitudes: 0 and 128 once (both error-free: 128 has no low
        // bits), 1..127 twice. Each low nibble occurs 8 times in 0..127, so sum_{x,y in 0..127} |e_u| =
        // 64 * (256 * 12.25) = 200704 and MAE = 4 * 200704 / 65536 = 12.25; nonzero pairs 4 * 64 * 208 = 53248
        // -> EP 81.25 %. Every (a, b) with e != 0 has a partner (-a, b) with the opposite error: bias 0.
        CHECK(st.mae == 12.25);
        CHECK(st.bias == 0.0);
        CHECK(st.wce == 49);
        CHECK(st.ep_percent == 81.25);
        CHECK(st.min_error == -49);
        CHECK(st.max_error == 49);
        CHECK(st.commutative);
        CHECK(st.variance == doctest::Approx(st.mse).epsilon(1e-12));
    }
}

TEST_CASE("compute_statistics<Policy>() equals compute_statistics of the policy's table") {
    using namespace approxnn::multipliers;
    SUBCASE("column truncation u8 k4") {
        check_equal(compute_statistics<column_truncation<std::uint8_t, 4>>(),
                    compute_statistics(table_multiplier::from_policy<column_truncation<std::uint8_t, 4>>()));
    }
    SUBCASE("broken array s8 h2 v6 (not commutative)") {
        const error_statistics st = compute_statistics<broken_array<std::int8_t, 2, 6>>();
        check_equal(st, compute_statistics(table_multiplier::from_policy<broken_array<std::int8_t, 2, 6>>()));
        CHECK_FALSE(st.commutative);
    }
    SUBCASE("drum s8 k4") {
        check_equal(compute_statistics<drum<std::int8_t, 4>>(),
                    compute_statistics(table_multiplier::from_policy<drum<std::int8_t, 4>>()));
    }
    SUBCASE("swapped broken array u8: transposing the table keeps every metric") {
        const error_statistics a = compute_statistics<broken_array<std::uint8_t, 2, 2>>();
        const error_statistics b = compute_statistics<swapped<broken_array<std::uint8_t, 2, 2>>>();
        // Transposing the table permutes the pairs; every metric is a symmetric function of the pairs.
        CHECK(a.mae == b.mae);
        CHECK(a.wce == b.wce);
        CHECK(a.ep_percent == b.ep_percent);
        CHECK(a.mse == b.mse);
        CHECK(a.bias == b.bias);
        CHECK(a.min_error == b.min_error);
        CHECK(a.max_error == b.max_error);
        CHECK(a.mre_percent == doctest::Approx(b.mre_percent).epsilon(1e-12));
        CHECK(a.commutative == b.commutative);
        CHECK_FALSE(a.commutative);  // BAM h = 2: M(4, 1) = 0 (row b_0 removed) but M(1, 4) = 4
    }
}

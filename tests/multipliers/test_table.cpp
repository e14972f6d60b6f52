#include <doctest/doctest.h>

#include "test_support.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/multipliers/families.hpp"
#include "approxnn/multipliers/table.hpp"

namespace {

using approxnn::operand_position;
using approxnn::signedness;
using approxnn::multipliers::synthesised_power;
using approxnn::multipliers::table_multiplier;

constexpr signedness u8 = signedness::unsigned_operands;
constexpr signedness s8 = signedness::signed_operands;

// BAM with h = 2, v = 2 (unsigned): M(a, b) = sum_{j >= 2} b_j (a << j), i.e. a * (b & ~3) (columns i + j >= 2
// hold automatically for j >= 2). The rows come from the second operand, so it is not commutative.
using bam = approxnn::multipliers::broken_array<std::uint8_t, 2, 2>;
using bam_weight_first = approxnn::multipliers::swapped<bam>;

int bam_by_hand(int a, int b) { return a * (b & ~3); }

std::vector<std::int32_t> exact_products(signedness s) {
    std::vector<std::int32_t> p(256 * 256);
    for (int first = 0; first < 256; ++first) {
        for (int second = 0; second < 256; ++second) {
            const int a = s == s8 ? static_cast<std::int8_t>(first) : first;
            const int b = s == s8 ? static_cast<std::int8_t>(second) : second;
            p[static_cast<std::size_t>(first * 256 + second)] = a * b;
        }
    }
    return p;
}


using test_support::contains;
using test_support::message_of;

}  // namespace

TEST_CASE("table_multiplier needs exactly 65536 products") {
    for (const std::size_t count : {std::size_t{0}, std::size_t{100}, std::size_t{65535}, std::size_t{65537}}) {
        CAPTURE(count);
        const std::vector<std::int32_t> products(count, 0);
        CHECK_THROWS_AS(table_multiplier(u8, operand_position::second, products, "short"), approxnn::shape_error);
        const std::string message =
            message_of([&] { table_multiplier(u8, operand_position::second, products, "my_table"); });
        CHECK(contains(message, "got " + std::to_string(count)));
        CHECK(contains(message, "65536"));
        CHECK(contains(message, "my_table"));
    }
    CHECK_NOTHROW(table_multiplier(u8, operand_position::second, std::vector<std::int32_t>(65536, 0)));
}

TEST_CASE("table_multiplier indexes products by [first byte * 256 + second byte]") {
    std::vector<std::int32_t> products(65536);
    for (std::size_t i = 0; i < products.size(); ++i) products[i] = static_cast<std::int32_t>(i);
    const table_multiplier t(s8, operand_position::second, products, "index");
    CHECK(t.name() == "index");
    CHECK(t.multiply(1, 2) == 258);
    CHECK(t.multiply(0, 255) == 255);
    CHECK(t.multiply(255, 0) == 255 * 256);
    // Signed operand values and their raw bytes address the same entry.
    CHECK(t.multiply(-1, 0) == 255 * 256);
    CHECK(t.multiply(-128, -1) == 128 * 256 + 255);
    CHECK(t.multiply(128, 255) == 128 * 256 + 255);
    CHECK(t.products()[258] == 258);
    CHECK(t.products().size() == 65536);
}

TEST_CASE("exact() tables") {
    const table_multiplier eu = table_multiplier::exact(u8);
    const table_multiplier es = table_multiplier::exact(s8);
    CHECK(eu.name() == "exact_u8");
    CHECK(es.name() == "exact_s8");
    CHECK(eu.weight_operand() == operand_position::second);
    CHECK_FALSE(eu.is_signed());
    CHECK(es.is_signed());
    CHECK(eu.operand_signedness() == u8);
    CHECK(es.operand_signedness() == s8);
    CHECK(eu.multiply(255, 255) == 65025);
    CHECK(es.multiply(255, 255) == 1);        // (-1) * (-1)
    CHECK(es.multiply(-1, -1) == 1);
    CHECK(es.multiply(-128, -128) == 16384);
    CHECK(es.multiply(128, 128) == 16384);
    CHECK(es.multiply(-128, 127) == -16256);
    CHECK(es.multiply(-1, 5) == -5);
    CHECK(es.multiply(255, 5) == -5);         // the raw byte of -1
    CHECK(eu.multiply(255, 5) == 1275);
    CHECK(eu.multiply(-1, 5) == 1275);        // -1 taken modulo 256 is 255
    CHECK(eu.same_products(table_multiplier(u8, operand_position::second, exact_products(u8))));
    CHECK(es.same_products(table_multiplier(s8, operand_position::second, exact_products(s8))));
}

TEST_CASE("from_policy takes name, signedness and weight operand from the policy") {
    const table_multiplier t = table_multiplier::from_policy<bam>();
    CHECK(t.name() == "broken_array_u8_h2_v2");
    CHECK(t.operand_signedness() == u8);
    CHECK(t.weight_operand() == operand_position::second);
    CHECK_FALSE(t.power().has_value());
    for (const auto& pair : {std::pair{4, 1}, {1, 4}, {3, 3}, {255, 255}, {7, 13}, {200, 100}}) {
        const int a = pair.first;
        const int b = pair.second;
        CAPTURE(a);
        CAPTURE(b);
        CHECK(t.multiply(a, b) == bam_by_hand(a, b));
    }
    CHECK(t.multiply(4, 1) == 0);
    CHECK(t.multiply(1, 4) == 4);
    CHECK(t.multiply(255, 255) == 64260);  // 255 * 252

    const table_multiplier w = table_multiplier::from_policy<bam_weight_first>();
    CHECK(w.name() == "broken_array_u8_h2_v2_swapped");
    CHECK(w.operand_signedness() == u8);
    CHECK(w.weight_operand() == operand_position::first);
    CHECK(w.multiply(4, 1) == 4);  // BAM(1, 4)
    CHECK(w.multiply(1, 4) == 0);  // BAM(4, 1)

    using ct4s = approxnn::multipliers::column_truncation<std::int8_t, 4>;
    const table_multiplier s = table_multiplier::from_policy<ct4s>();
    CHECK(s.name() == "column_truncation_s8_k4");
    CHECK(s.is_signed());
    CHECK(s.multiply(-15, 15) == -(225 - 49));  // |e| = 49 at low nibbles 1111; sign-magnitude
    CHECK(s.multiply(241, 15) == -(225 - 49));  // 241 is the raw byte of -15
}

TEST_CASE("multiply_activation_weight follows the weight operand") {
    const table_multiplier t = table_multiplier::from_policy<bam>();               // weight second
    const table_multiplier w = table_multiplier::from_policy<bam_weight_first>();  // weight first
    for (const auto& pair : {std::pair{4, 1}, {1, 4}, {9, 6}, {255, 3}, {3, 255}}) {
        const int activation = pair.first;
        const int weight = pair.second;
        CAPTURE(activation);
        CAPTURE(weight);
        // Both hold the same multiplier with the weight in the row-selecting (second) BAM input.
        CHECK(t.multiply_activation_weight(activation, weight) == bam_by_hand(activation, weight));
        CHECK(w.multiply_activation_weight(activation, weight) == bam_by_hand(activation, weight));
    }
    CHECK(t.multiply_activation_weight(4, 1) == 0);
    CHECK(w.multiply_activation_weight(4, 1) == 0);
    CHECK(w.multiply(4, 1) == 4);
    // Raw bytes for signed tables.
    const table_multiplier es = table_multiplier::exact(s8);
    CHECK(es.multiply_activation_weight(-3, 255) == 3);
}

TEST_CASE("in_activation_weight_order transposes exactly when the weight is first") {
    const table_multiplier t = table_multiplier::from_policy<bam>();
    const table_multiplier same = t.in_activation_weight_order();
    CHECK(same == t);
    CHECK(same.products().data() == t.products().data());  // no copy needed

    table_multiplier w = table_multiplier::from_policy<bam_weight_first>();
    w.set_power(synthesised_power{0.2, "test"});
    const table_multiplier r = w.in_activation_weight_order();
    CHECK(r.weight_operand() == operand_position::second);
    CHECK(r.name() == w.name());
    CHECK(r.power() == w.power());
    CHECK(r.operand_signedness() == u8);
    CHECK(r.same_products(t));  // [activation][weight] layout of the same multiplier
    for (int a = 0; a < 256; a += 5) {
        for (int b = 0; b < 256; b += 3) {
            if (r.multiply(a, b) != w.multiply(b, a)) FAIL_CHECK("transposition wrong at " << a << ", " << b);
            if (r.multiply_activation_weight(a, b) != w.multiply_activation_weight(a, b)) {
                FAIL_CHECK("roles changed at " << a << ", " << b);
            }
        }
    }
}

TEST_CASE("is_exact and is_commutative") {
    CHECK(table_multiplier::exact(u8).is_exact());
    CHECK(table_multiplier::exact(s8).is_exact());
    CHECK(table_multiplier::from_policy<approxnn::multipliers::exact<std::int8_t>>().is_exact());
    CHECK(table_multiplier::from_policy<approxnn::multipliers::column_truncation<std::uint8_t, 0>>().is_exact());
    CHECK_FALSE(table_multiplier::from_policy<approxnn::multipliers::column_truncation<std::uint8_t, 1>>().is_exact());

    // Products of one signedness read as the other are not exact.
    CHECK_FALSE(table_multiplier(s8, operand_position::second, exact_products(u8)).is_exact());
    CHECK_FALSE(table_multiplier(u8, operand_position::second, exact_products(s8)).is_exact());

    // One wrong entry, in the last position.
    std::vector<std::int32_t> p = exact_products(u8);
    p.back() += 1;
    CHECK_FALSE(table_multiplier(u8, operand_position::second, p).is_exact());

    CHECK(table_multiplier::exact(s8).is_commutative());
    CHECK(table_multiplier::from_policy<approxnn::multipliers::column_truncation<std::uint8_t, 4>>().is_commutative());
    CHECK(table_multiplier::from_policy<approxnn::multipliers::column_truncation<std::int8_t, 7>>().is_commutative());
    CHECK_FALSE(table_multiplier::from_policy<bam>().is_commutative());
    using bam_s8 = approxnn::multipliers::broken_array<std::int8_t, 2, 6>;
    CHECK_FALSE(table_multiplier::from_policy<bam_s8>().is_commutative());

    // A single asymmetric entry off the diagonal.
    std::vector<std::int32_t> q = exact_products(u8);
    q[254 * 256 + 255] += 1;
    CHECK_FALSE(table_multiplier(u8, operand_position::second, q).is_commutative());
    // A change on the diagonal keeps it commutative.
    std::vector<std::int32_t> d = exact_products(u8);
    d[77 * 256 + 77] = 0;
    CHECK(table_multiplier(u8, operand_position::second, d).is_commutative());
}

TEST_CASE("same_products, operator== and set_power") {
    const table_multiplier a = table_multiplier::from_policy<bam>();
    const table_multiplier b = table_multiplier::from_policy<bam>();
    CHECK(a == b);
    CHECK(a.same_products(b));

    table_multiplier copy = a;
    CHECK(copy.products().data() == a.products().data());  // copies share storage
    copy.set_name("renamed");
    CHECK(copy.name() == "renamed");
    CHECK(a.name() == "broken_array_u8_h2_v2");
    CHECK(copy.same_products(a));
    CHECK_FALSE(copy == a);

    table_multiplier powered = a;
    CHECK_FALSE(powered.power().has_value());
    powered.set_power(synthesised_power{0.391, "EvoApproxLib mul8u_1JFF, PDK45_PWR"});
    REQUIRE(powered.power().has_value());
    CHECK(powered.power()->milliwatts == 0.391);
    CHECK(powered.power()->source == "EvoApproxLib mul8u_1JFF, PDK45_PWR");
    CHECK(powered.same_products(a));
    CHECK_FALSE(powered == a);
    CHECK_FALSE(a.power().has_value());  // the original is unaffected
    powered.set_power(std::nullopt);
    CHECK_FALSE(powered.power().has_value());
    CHECK(powered == a);

    // Same bytes, other signedness or other weight position: different multipliers.
    const std::vector<std::int32_t> products(a.products().begin(), a.products().end());
    const table_multiplier as_signed(s8, operand_position::second, products, a.name());
    const table_multiplier weight_first(u8, operand_position::first, products, a.name());
    const table_multiplier same_bytes(u8, operand_position::second, products, a.name());
    CHECK_FALSE(as_signed.same_products(a));
    CHECK_FALSE(weight_first.same_products(a));
    CHECK(same_bytes.same_products(a));
    CHECK(same_bytes == a);
    CHECK(same_bytes.products().data() != a.products().data());

    std::vector<std::int32_t> changed = products;
    changed[12345] += 1;
    CHECK_FALSE(table_multiplier(u8, operand_position::second, changed, a.name()).same_products(a));
}

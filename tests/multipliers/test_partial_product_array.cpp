// Designs described as a subset of the partial-product array: the description, its evaluation and its
// decomposition into exact byte products all equal the family's own core, for every parameter value.
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "approxnn/multipliers/families.hpp"
#include "approxnn/multipliers/partial_product_array.hpp"

namespace am = approxnn::multipliers;

TEST_CASE("array designs: evaluate() and the byte-product decomposition equal the core for every parameter") {
    int designs = 0;
    for (const am::family_info& family : am::design_families()) {
        std::vector<std::vector<int>> all{{}};
        for (const am::parameter_spec& spec : family.parameters) {
            std::vector<std::vector<int>> next;
            for (const auto& prefix : all) {
                for (int v = spec.min; v <= spec.max; ++v) {
                    auto p = prefix;
                    p.push_back(v);
                    next.push_back(p);
                }
            }
            all = next;
        }
        for (const auto& values : all) {
            try {
                family.check(values);
            } catch (const approxnn::parameter_error&) {
                continue;
            }
            am::partial_product_array design;
            if (!family.partial_products(values, design)) continue;
            ++designs;
            const am::array_decomposition terms = am::decompose(design);
            CHECK(terms.count <= 8);
            for (int t = 0; t < terms.count; ++t) {
                const am::array_term& term = terms.terms[static_cast<std::size_t>(t)];
                CHECK((term.activation_mask | term.weight_bits) <= 255U);  // both factors are bytes
            }
            for (std::uint32_t a = 0; a < 256; ++a) {
                for (std::uint32_t b = 0; b < 256; ++b) {
                    const std::uint32_t core = family.core(a, b, values);
                    std::uint32_t sum = design.constant;
                    for (int t = 0; t < terms.count; ++t) {
                        const am::array_term& term = terms.terms[static_cast<std::size_t>(t)];
                        sum += (a & term.activation_mask) * (b & term.weight_bits);
                    }
                    if (design.evaluate(a, b) != core || sum != core) {
                        FAIL_CHECK(family.name << " " << values.size() << " params: (" << a << ", " << b << ")");
                        a = b = 256;
                    }
                }
            }
        }
    }
    // exact 1, column truncation 16, corrected 16, operand truncation 9, BAM sum_{h=0..7} (16 - h) = 100,
    // perforation sum_{j=0..7} (9 - j) = 44.
    CHECK(designs == 1 + 16 + 16 + 9 + 100 + 44);
}

TEST_CASE("decomposition term counts: column truncation k needs min(k, 8) + 1 terms, the others 1") {
    CHECK(am::decompose(am::partial_product_array{}).count == 1);
    for (int k = 0; k <= 7; ++k) {
        // rows j < k keep the distinct masks 0xFF << (k - j); rows j >= k keep all of a.
        CHECK(am::decompose(am::partial_product_array::columns_from(k)).count == k + 1);
    }
    CHECK(am::decompose(am::operand_truncation_family::array({3})).count == 1);
    CHECK(am::decompose(am::perforation_family::array({1, 2})).count == 1);
    CHECK(am::decompose(am::broken_array_family::array({2, 6})).count == 5);  // rows 2..5 distinct, rows 6, 7 whole
    static_assert(am::column_truncation<std::uint8_t, 2>::partial_products == am::partial_product_array::columns_from(2));
}

// gemm::plan_for: every default catalogue entry gets a plan computing exactly its table; closed-form array designs
// keep their decomposition; a table that only borrows a family's name runs as a table.
#include <doctest/doctest.h>

#include <cstdint>

#include "approxnn/gemm/catalogue_plan.hpp"
#include "approxnn/multipliers/catalogue.hpp"

namespace amul = approxnn::multipliers;

TEST_CASE("catalogue plan: plan_for computes each entry's table, with the design's decomposition where it has one") {
    const amul::catalogue c = amul::default_catalogue();
    int decomposed = 0;
    for (const amul::catalogue_entry& e : c) {
        CAPTURE(e.name());
        const auto plan = approxnn::gemm::plan_for(e);
        REQUIRE(plan);
        CHECK(plan->name() == e.name());
        CHECK(plan->operand_signedness() == e.operand_signedness());
        const auto products = e.table().products();
        bool same = true;
        for (int a = 0; a < 256; ++a) {
            for (int w = 0; w < 256; ++w) {
                same = same && plan->product(static_cast<std::uint8_t>(a), static_cast<std::uint8_t>(w)) ==
                                   static_cast<std::int32_t>(products[static_cast<std::size_t>(a * 256 + w)]);
            }
        }
        CHECK(same);
        if (e.family() == "column_truncation" || e.family() == "broken_array") {
            CHECK(plan->decomposition_terms() > 0);
            ++decomposed;
        }
    }
    CHECK(decomposed >= 30);

    // A table with a family name but other products: a table plan.
    const amul::catalogue_entry& drum = c.at("drum_u8_k4");
    std::vector<std::int32_t> p(drum.table().products().begin(), drum.table().products().end());
    p[3 * 256 + 5] += 1;
    const amul::catalogue_entry fake(amul::table_multiplier(approxnn::signedness::unsigned_operands,
                                                           approxnn::operand_position::second, p, "fake_drum"),
                                     drum.power(), "drum", drum.parameters());
    const auto plan = approxnn::gemm::plan_for(fake);
    CHECK(plan->product(3, 5) == p[3 * 256 + 5]);
    CHECK(plan->decomposition_terms() == 0);
}

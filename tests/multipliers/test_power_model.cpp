// The relative power estimate of the closed-form families (power_model.hpp, docs/power-estimate.md): normalised to
// the exact 8x8 array, monotone in the parameters that remove partial products, finite and non-negative, the same
// for signed and unsigned operands, and the same through the policy types and design_instance.

#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "approxnn/multipliers/families.hpp"
#include "approxnn/multipliers/power_model.hpp"

namespace {

namespace am = approxnn::multipliers;
namespace pm = approxnn::multipliers::power_model;
using approxnn::signedness;

// Kept partial-product cells a_i b_j of each array design, counted from the definitions in docs/multipliers.md.
int kept_cells_column_truncation(int k) {
    int n = 0;
    for (int i = 0; i < 8; ++i) {
        for (int j = 0; j < 8; ++j) n += i + j >= k ? 1 : 0;
    }
    return n;
}
int kept_cells_operand_truncation(int t) { return (8 - t) * (8 - t); }
int kept_cells_broken_array(int h, int v) {
    int n = 0;
    for (int i = 0; i < 8; ++i) {
        for (int j = h; j < 8; ++j) n += i + j >= v ? 1 : 0;
    }
    return n;
}
int kept_cells_perforation(int rows) { return 8 * (8 - rows); }  // whichever rows j .. j + m - 1 they are

double instance_power(std::string_view family, signedness s, std::vector<int> values) {
    return am::design_instance(family, s, std::move(values)).relative_power();
}

// The same estimate evaluated at run time and at compile time: costs are integers (thirds of a GE) and the estimate is
// one division, so the two agree to the last bit whatever the compiler contracts into FMAs.
bool same_estimate(double run_time, double compile_time) { return run_time == compile_time; }

/// Checks that power(next) < power(previous) when next keeps fewer cells, and == when it keeps as many.
void check_monotone_step(double previous, double next, int previous_cells, int next_cells) {
    if (next_cells < previous_cells) {
        CHECK(next < previous);
    } else {
        CHECK(next_cells == previous_cells);
        CHECK(next == previous);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Policy estimates, evaluated at compile time for every valid parameter value.

template <class Op, std::size_t... K>
constexpr auto column_truncation_powers(std::index_sequence<K...>) {
    return std::array<double, sizeof...(K)>{am::column_truncation<Op, static_cast<int>(K)>::relative_power()...};
}
template <class Op, std::size_t... K>
constexpr auto column_truncation_corrected_powers(std::index_sequence<K...>) {
    return std::array<double, sizeof...(K)>{
        am::column_truncation_corrected<Op, static_cast<int>(K)>::relative_power()...};
}
template <class Op, std::size_t... T>
constexpr auto operand_truncation_powers(std::index_sequence<T...>) {
    return std::array<double, sizeof...(T)>{am::operand_truncation<Op, static_cast<int>(T)>::relative_power()...};
}
template <class Op, std::size_t... K>
constexpr auto drum_powers(std::index_sequence<K...>) {  // k = 1 + K
    return std::array<double, sizeof...(K)>{am::drum<Op, static_cast<int>(K) + 1>::relative_power()...};
}
template <class Op, std::size_t... C>
constexpr auto mbm_powers(std::index_sequence<C...>) {
    return std::array<double, sizeof...(C)>{am::mbm<Op, static_cast<int>(C)>::relative_power()...};
}

// broken_array: [h][v], -1 where h > v (not a valid instance; the template argument is clamped to v = h there so
// that only valid instances are named).
template <class Op, int H, std::size_t... V>
constexpr std::array<double, 16> broken_array_row(std::index_sequence<V...>) {
    std::array<double, 16> row{};
    ((row[V] = static_cast<int>(V) >= H ? am::broken_array<Op, H, (static_cast<int>(V) >= H ? static_cast<int>(V) : H)>::relative_power()
                                        : -1.0),
     ...);
    return row;
}
template <class Op, std::size_t... H>
constexpr auto broken_array_powers(std::index_sequence<H...>) {
    return std::array<std::array<double, 16>, 8>{broken_array_row<Op, static_cast<int>(H)>(std::make_index_sequence<16>{})...};
}

// perforation: [j][m], -1 where j + m > 8 (the template argument is clamped to m = 0 there).
template <class Op, int J, std::size_t... M>
constexpr std::array<double, 9> perforation_row(std::index_sequence<M...>) {
    std::array<double, 9> row{};
    ((row[M] = J + static_cast<int>(M) <= 8
                   ? am::perforation<Op, J, (J + static_cast<int>(M) <= 8 ? static_cast<int>(M) : 0)>::relative_power()
                   : -1.0),
     ...);
    return row;
}
template <class Op, std::size_t... J>
constexpr auto perforation_powers(std::index_sequence<J...>) {
    return std::array<std::array<double, 9>, 8>{perforation_row<Op, static_cast<int>(J)>(std::make_index_sequence<9>{})...};
}

constexpr auto ct_u8 = column_truncation_powers<std::uint8_t>(std::make_index_sequence<16>{});
constexpr auto ct_s8 = column_truncation_powers<std::int8_t>(std::make_index_sequence<16>{});
constexpr auto ctc_u8 = column_truncation_corrected_powers<std::uint8_t>(std::make_index_sequence<16>{});
constexpr auto ctc_s8 = column_truncation_corrected_powers<std::int8_t>(std::make_index_sequence<16>{});
constexpr auto ot_u8 = operand_truncation_powers<std::uint8_t>(std::make_index_sequence<9>{});
constexpr auto ot_s8 = operand_truncation_powers<std::int8_t>(std::make_index_sequence<9>{});
constexpr auto drum_u8 = drum_powers<std::uint8_t>(std::make_index_sequence<7>{});
constexpr auto drum_s8 = drum_powers<std::int8_t>(std::make_index_sequence<7>{});
constexpr auto mbm_u8 = mbm_powers<std::uint8_t>(std::make_index_sequence<128>{});
constexpr auto mbm_s8 = mbm_powers<std::int8_t>(std::make_index_sequence<128>{});
constexpr auto bam_u8 = broken_array_powers<std::uint8_t>(std::make_index_sequence<8>{});
constexpr auto bam_s8 = broken_array_powers<std::int8_t>(std::make_index_sequence<8>{});
constexpr auto perforation_u8 = perforation_powers<std::uint8_t>(std::make_index_sequence<8>{});
constexpr auto perforation_s8 = perforation_powers<std::int8_t>(std::make_index_sequence<8>{});

}  // namespace

TEST_CASE("power estimate: the exact multiplier is 1 exactly, and so is every design that keeps every cell") {
    static_assert(am::exact<std::uint8_t>::relative_power() == 1.0);
    static_assert(am::exact<std::int8_t>::relative_power() == 1.0);
    CHECK(am::exact<std::uint8_t>::relative_power() == 1.0);
    CHECK(instance_power("exact", signedness::signed_operands, {}) == 1.0);
    CHECK(ct_u8[0] == 1.0);
    CHECK(ctc_u8[0] == 1.0);
    CHECK(ot_u8[0] == 1.0);
    CHECK(bam_u8[0][0] == 1.0);
    for (int j = 0; j < 8; ++j) {
        INFO("perforation j = ", j, ", m = 0");
        CHECK(perforation_u8[static_cast<std::size_t>(j)][0] == 1.0);
    }
}

TEST_CASE("power model: the exact 8x8 array has 64 AND gates, 48 full adders and 8 half adders") {
    // Column c of the 8x8 array holds the cells i + j = c: min(c + 1, 15 - c) bits.
    pm::column_heights heights{};
    int cells = 0;
    for (int i = 0; i < 8; ++i) {
        for (int j = 0; j < 8; ++j) {
            ++heights[static_cast<std::size_t>(i + j)];
            ++cells;
        }
    }
    CHECK(cells == 64);
    const pm::adder_count adders = pm::reduction_adders(heights);
    CHECK(adders.full == 48);
    CHECK(adders.half == 8);
    CHECK(pm::exact_array_cost == 64 * pm::and2 + 48 * pm::full_adder + 8 * pm::half_adder);
    // Costs are in thirds of a GE: 64 * 4 + 48 * 26 + 8 * 11 = 256 + 1248 + 88 = 1592, i.e. 530.67 GE
    // (docs/power-estimate.md).
    CHECK(pm::exact_array_cost == 1592);
    CHECK(pm::partial_product_array_cost(pm::all_partial_products) == pm::exact_array_cost);
    CHECK(pm::partial_product_array_cost(0) == 0);

    // Small reductions by hand: a single bit needs nothing; a pair needs a half adder; three bits a full adder;
    // {2, 1}: a half adder in column 0, its carry makes column 1 a pair: a second half adder.
    pm::column_heights small{};
    small[0] = 1;
    CHECK(pm::reduction_adders(small).full == 0);
    CHECK(pm::reduction_adders(small).half == 0);
    small[0] = 2;
    CHECK(pm::reduction_adders(small).half == 1);
    small[0] = 3;
    CHECK(pm::reduction_adders(small).full == 1);
    CHECK(pm::reduction_adders(small).half == 0);
    small[0] = 2;
    small[1] = 1;
    CHECK(pm::reduction_adders(small).full == 0);
    CHECK(pm::reduction_adders(small).half == 2);
}

TEST_CASE("power estimate: column truncation by hand for k = 13, 14, 15") {
    // k = 15 keeps nothing; k = 14 keeps a7 b7 alone (one AND, no adder): 4/3 / (1592/3) = 1/398;
    // k = 13 keeps a6 b7, a7 b6 (column 13: a half adder, carry into column 14) and a7 b7 (column 14 then holds a
    // pair: a second half adder): 3 AND + 2 HA = 4 + 22/3 = 34/3 GE, so 34 / 1592.
    CHECK(ct_u8[15] == 0.0);
    CHECK(ct_u8[14] == doctest::Approx(1.0 / 398.0));
    CHECK(ct_u8[13] == doctest::Approx(34.0 / 1592.0));
}

TEST_CASE("power estimate: column_truncation u8/s8 strictly decreases in k; k = 15 keeps no partial product") {
    for (int k = 1; k < 16; ++k) {
        INFO("k = ", k);
        CHECK(kept_cells_column_truncation(k) < kept_cells_column_truncation(k - 1));
        check_monotone_step(ct_u8[static_cast<std::size_t>(k - 1)], ct_u8[static_cast<std::size_t>(k)],
                            kept_cells_column_truncation(k - 1), kept_cells_column_truncation(k));
    }
    CHECK(kept_cells_column_truncation(15) == 0);
    CHECK(ct_u8[15] == 0.0);
    CHECK(ct_s8[15] == 0.0);
}

TEST_CASE("power estimate: operand_truncation u8/s8 strictly decreases in t; t = 8 keeps no partial product") {
    for (int t = 1; t < 9; ++t) {
        INFO("t = ", t);
        check_monotone_step(ot_u8[static_cast<std::size_t>(t - 1)], ot_u8[static_cast<std::size_t>(t)],
                            kept_cells_operand_truncation(t - 1), kept_cells_operand_truncation(t));
        CHECK(ot_u8[static_cast<std::size_t>(t)] < ot_u8[static_cast<std::size_t>(t - 1)]);
    }
    CHECK(ot_u8[8] == 0.0);
    CHECK(ot_s8[8] == 0.0);
}

TEST_CASE("power estimate: perforation u8/s8 strictly decreases in m for every j") {
    for (int j = 0; j < 8; ++j) {
        const auto& row = perforation_u8[static_cast<std::size_t>(j)];
        for (int m = 1; j + m <= 8; ++m) {
            INFO("j = ", j, ", m = ", m);
            check_monotone_step(row[static_cast<std::size_t>(m - 1)], row[static_cast<std::size_t>(m)],
                                kept_cells_perforation(m - 1), kept_cells_perforation(m));
            CHECK(row[static_cast<std::size_t>(m)] < row[static_cast<std::size_t>(m - 1)]);
        }
    }
    CHECK(perforation_u8[0][8] == 0.0);
}

TEST_CASE("power estimate: broken_array u8/s8 decreases in v and in h, strictly when fewer cells remain") {
    for (int h = 0; h < 8; ++h) {
        for (int v = h + 1; v < 16; ++v) {
            INFO("h = ", h, ", v = ", v);
            check_monotone_step(bam_u8[static_cast<std::size_t>(h)][static_cast<std::size_t>(v - 1)],
                                bam_u8[static_cast<std::size_t>(h)][static_cast<std::size_t>(v)],
                                kept_cells_broken_array(h, v - 1), kept_cells_broken_array(h, v));
            // Every step in v removes the cell (i = v - 1 - h, j = h) at least.
            CHECK(bam_u8[static_cast<std::size_t>(h)][static_cast<std::size_t>(v)] <
                  bam_u8[static_cast<std::size_t>(h)][static_cast<std::size_t>(v - 1)]);
        }
    }
    int strict_steps_in_h = 0;
    for (int v = 0; v < 16; ++v) {
        for (int h = 1; h < 8 && h <= v; ++h) {
            INFO("v = ", v, ", h = ", h);
            const double previous = bam_u8[static_cast<std::size_t>(h - 1)][static_cast<std::size_t>(v)];
            const double next = bam_u8[static_cast<std::size_t>(h)][static_cast<std::size_t>(v)];
            check_monotone_step(previous, next, kept_cells_broken_array(h - 1, v), kept_cells_broken_array(h, v));
            if (next < previous) ++strict_steps_in_h;
        }
    }
    CHECK(strict_steps_in_h > 0);
    CHECK(bam_u8[7][15] == 0.0);
    CHECK(bam_u8[0][6] == ct_u8[6]);  // h = 0 is column truncation k = v
}

TEST_CASE("power estimate: corrected column truncation costs at least as much as plain for the same k") {
    for (std::size_t k = 0; k < 16; ++k) {
        INFO("k = ", k);
        CHECK(ctc_u8[k] >= ct_u8[k]);
    }
    CHECK(ctc_u8[0] == ct_u8[0]);  // no correction
    CHECK(ctc_u8[1] == ct_u8[1]);  // round(1/4) = 0: no correction bits
    CHECK(ctc_u8[8] > ct_u8[8]);   // 448 = 0b111000000: three constant bits to sum
}

TEST_CASE("power estimate: DRUM u8/s8 increases with k; MBM costs more than Mitchell; documented ranking") {
    for (std::size_t i = 1; i < drum_u8.size(); ++i) {
        INFO("k = ", i + 1);
        CHECK(drum_u8[i] > drum_u8[i - 1]);
    }
    const double mitchell = am::mitchell<std::uint8_t>::relative_power();
    for (double p : mbm_u8) CHECK(p == mbm_u8[10]);  // the constant is an input: every c costs the same
    CHECK(mbm_u8[10] > mitchell);
    // docs/power-estimate.md: DRUM(7) and RoBA come out more expensive than exact at 8 bits.
    CHECK(drum_u8[6] > 1.0);
    CHECK(am::roba<std::uint8_t>::relative_power() > 1.0);
}

TEST_CASE("power estimate: the figures quoted in docs/power-estimate.md") {
    const auto near = [](double value, double quoted) { return std::fabs(value - quoted) <= 0.0005 + 1e-12; };
    CHECK(near(ct_u8[1], 0.997));
    CHECK(near(ct_u8[2], 0.928));
    CHECK(near(ct_u8[4], 0.835));
    CHECK(near(ct_u8[6], 0.661));
    CHECK(near(ct_u8[8], 0.404));
    CHECK(near(ctc_u8[4], 0.835));
    CHECK(near(ctc_u8[8], 0.434));
    CHECK(near(ot_u8[1], 0.743));
    CHECK(near(ot_u8[2], 0.524));
    CHECK(near(ot_u8[4], 0.198));
    CHECK(near(bam_u8[2][6], 0.573));
    CHECK(near(perforation_u8[0][2], 0.717));
    CHECK(near(drum_u8[2], 0.472));
    CHECK(near(drum_u8[3], 0.639));
    CHECK(near(drum_u8[4], 0.757));
    CHECK(near(drum_u8[5], 0.982));
    CHECK(near(drum_u8[6], 1.122));
    CHECK(near(am::mitchell<std::uint8_t>::relative_power(), 0.770));
    CHECK(near(mbm_u8[10], 0.849));
    CHECK(near(am::kulkarni<std::uint8_t>::relative_power(), 0.772));
    CHECK(near(am::roba<std::uint8_t>::relative_power(), 1.407));
}

TEST_CASE("power estimate: signed and unsigned instances have the same estimate") {
    CHECK(ct_u8 == ct_s8);
    CHECK(ctc_u8 == ctc_s8);
    CHECK(ot_u8 == ot_s8);
    CHECK(drum_u8 == drum_s8);
    CHECK(mbm_u8 == mbm_s8);
    CHECK(bam_u8 == bam_s8);
    CHECK(perforation_u8 == perforation_s8);
    CHECK(am::exact<std::uint8_t>::relative_power() == am::exact<std::int8_t>::relative_power());
    CHECK(am::mitchell<std::uint8_t>::relative_power() == am::mitchell<std::int8_t>::relative_power());
    CHECK(am::kulkarni<std::uint8_t>::relative_power() == am::kulkarni<std::int8_t>::relative_power());
    CHECK(am::roba<std::uint8_t>::relative_power() == am::roba<std::int8_t>::relative_power());
}

TEST_CASE("power estimate: design_instance::relative_power() equals the policy's, for every instance") {
    // Compile-time policy figures (the constexpr arrays) against the run-time design_instance; see same_estimate.
    for (const signedness s : {signedness::unsigned_operands, signedness::signed_operands}) {
        const bool is_signed = s == signedness::signed_operands;
        INFO(approxnn::to_string(s));
        const auto& ct = is_signed ? ct_s8 : ct_u8;
        const auto& ctc = is_signed ? ctc_s8 : ctc_u8;
        const auto& ot = is_signed ? ot_s8 : ot_u8;
        const auto& drum = is_signed ? drum_s8 : drum_u8;
        const auto& mbm = is_signed ? mbm_s8 : mbm_u8;
        const auto& bam = is_signed ? bam_s8 : bam_u8;
        const auto& perforation = is_signed ? perforation_s8 : perforation_u8;
        constexpr double exact[2] = {am::exact<std::uint8_t>::relative_power(),
                                     am::exact<std::int8_t>::relative_power()};
        constexpr double mitchell[2] = {am::mitchell<std::uint8_t>::relative_power(),
                                        am::mitchell<std::int8_t>::relative_power()};
        constexpr double kulkarni[2] = {am::kulkarni<std::uint8_t>::relative_power(),
                                        am::kulkarni<std::int8_t>::relative_power()};
        constexpr double roba[2] = {am::roba<std::uint8_t>::relative_power(), am::roba<std::int8_t>::relative_power()};
        CHECK(instance_power("exact", s, {}) == exact[is_signed]);
        CHECK(same_estimate(instance_power("mitchell", s, {}), mitchell[is_signed]));
        CHECK(same_estimate(instance_power("kulkarni", s, {}), kulkarni[is_signed]));
        CHECK(same_estimate(instance_power("roba", s, {}), roba[is_signed]));
        for (int k = 0; k < 16; ++k) {
            INFO("k = ", k);
            const auto i = static_cast<std::size_t>(k);
            CHECK(same_estimate(instance_power("column_truncation", s, {k}), ct[i]));
            CHECK(same_estimate(instance_power("column_truncation_corrected", s, {k}), ctc[i]));
        }
        for (int t = 0; t < 9; ++t) {
            INFO("t = ", t);
            CHECK(same_estimate(instance_power("operand_truncation", s, {t}), ot[static_cast<std::size_t>(t)]));
        }
        for (int k = 1; k < 8; ++k) {
            INFO("k = ", k);
            CHECK(same_estimate(instance_power("drum", s, {k}), drum[static_cast<std::size_t>(k - 1)]));
        }
        for (int c = 0; c < 128; ++c) {
            INFO("c = ", c);
            CHECK(same_estimate(instance_power("mbm", s, {c}), mbm[static_cast<std::size_t>(c)]));
        }
        for (int h = 0; h < 8; ++h) {
            for (int v = h; v < 16; ++v) {
                INFO("h = ", h, ", v = ", v);
                CHECK(same_estimate(instance_power("broken_array", s, {h, v}),
                                    bam[static_cast<std::size_t>(h)][static_cast<std::size_t>(v)]));
            }
        }
        for (int j = 0; j < 8; ++j) {
            for (int m = 0; j + m <= 8; ++m) {
                INFO("j = ", j, ", m = ", m);
                CHECK(same_estimate(instance_power("perforation", s, {j, m}),
                                    perforation[static_cast<std::size_t>(j)][static_cast<std::size_t>(m)]));
            }
        }
    }
}

TEST_CASE("power estimate: every instance of every family is finite and non-negative") {
    std::size_t instances = 0;
    for (const am::family_info& family : am::design_families()) {
        // Every point of the parameter box; the valid ones are instances.
        std::vector<int> values;
        for (const am::parameter_spec& spec : family.parameters) values.push_back(spec.min);
        while (true) {
            bool valid = true;
            try {
                family.check(values);
            } catch (const approxnn::parameter_error&) {
                valid = false;
            }
            if (valid) {
                for (const signedness s : {signedness::unsigned_operands, signedness::signed_operands}) {
                    const am::design_instance instance(family, s, values);
                    const double p = instance.relative_power();
                    INFO(instance.name(), " estimate ", p);
                    CHECK(std::isfinite(p));
                    CHECK(p >= 0.0);
                    ++instances;
                }
            }
            std::size_t i = 0;
            while (i < values.size() && values[i] == family.parameters[i].max) {
                values[i] = family.parameters[i].min;
                ++i;
            }
            if (i == values.size()) break;
            ++values[i];
        }
    }
    // 1 + 16 + 16 + 9 + 100 + 44 + 7 + 1 + 128 + 1 + 1 = 324 designs, each signed and unsigned.
    CHECK(instances == 648);
}

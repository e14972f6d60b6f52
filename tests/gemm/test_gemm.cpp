// Every GEMM path against the scalar reference, bit for bit: every design of the default catalogue, random tables,
// both signednesses, forced portable kernels, random and edge shapes, strided layouts, zero points, output stages,
// one and two threads. Plus the errors the front end reports.
#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "approxnn/core/cpu_features.hpp"
#include "approxnn/gemm/gemm.hpp"
#include "approxnn/multipliers/catalogue.hpp"
#include "approxnn/multipliers/families.hpp"
#include "test_support.hpp"

namespace {

namespace am = approxnn::multipliers;
namespace ag = approxnn::gemm;
using approxnn::signedness;

struct shape {
    std::size_t m, n, k;
};

template <class T>
std::vector<T> random_codes(std::size_t size, std::mt19937& rng) {
    std::uniform_int_distribution<int> codes(0, 255);
    std::vector<T> v(size);
    for (T& x : v) x = static_cast<T>(codes(rng));
    return v;
}

/// Operands in several layouts: weights row-major or with padding, activations K x N or N x K.
template <class T>
struct problem {
    shape s;
    std::vector<T> weights;      // M x K with leading dimension K + pad
    std::vector<T> activations;  // K x N (or N x K when transposed)
    std::size_t pad;
    bool transposed;

    problem(shape sh, unsigned seed, std::size_t padding, bool activations_transposed)
        : s(sh), pad(padding), transposed(activations_transposed) {
        std::mt19937 rng(seed);
        weights = random_codes<T>(s.m * (s.k + pad) + 1, rng);
        activations = random_codes<T>(s.k * s.n + 1, rng);
    }
    [[nodiscard]] ag::matrix_view<const T> w() const {
        return ag::row_major<const T>(weights.data(), s.m, s.k, s.k + pad);
    }
    [[nodiscard]] ag::matrix_view<const T> x() const {
        return transposed ? ag::row_major<const T>(activations.data(), s.n, s.k).transposed()
                          : ag::row_major<const T>(activations.data(), s.k, s.n);
    }
};

const std::vector<shape>& test_shapes() {
    static const std::vector<shape> shapes = [] {
        std::vector<shape> v{{1, 1, 1}, {1, 1, 5}, {1, 33, 3}, {2, 1, 300}, {3, 200, 4}, {8, 32, 4},
                             {9, 129, 257}, {17, 64, 513}, {5, 255, 17}, {16, 1, 64}};
        std::mt19937 rng(2024);
        std::uniform_int_distribution<std::size_t> dim(1, 150);
        for (int i = 0; i < 4; ++i) v.push_back({dim(rng), dim(rng), dim(rng)});
        return v;
    }();
    return shapes;
}

/// The reference result of a table multiplier.
template <class T, class Pipeline>
std::vector<approxnn::pipeline_output_t<Pipeline>> expected(const am::table_multiplier& table, const problem<T>& p,
                                                             const Pipeline& pipeline, const ag::gemm_options& o) {
    std::vector<approxnn::pipeline_output_t<Pipeline>> out(p.s.m * p.s.n);
    ag::reference_gemm<T>(table, p.w(), p.x(), ag::row_major(out.data(), p.s.m, p.s.n), pipeline, o);
    return out;
}

template <class T, class Pipeline>
std::vector<approxnn::pipeline_output_t<Pipeline>> computed(const ag::multiplier_plan& plan, const problem<T>& p,
                                                            const Pipeline& pipeline, const ag::gemm_options& o) {
    std::vector<approxnn::pipeline_output_t<Pipeline>> out(p.s.m * p.s.n, 99);
    ag::gemm<T>(plan, p.w(), p.x(), ag::row_major(out.data(), p.s.m, p.s.n), pipeline, o);
    return out;
}

std::vector<ag::kernel_path> paths_of(const ag::multiplier_plan& plan) {
    std::vector<ag::kernel_path> paths{ag::kernel_path::reference, ag::kernel_path::table, ag::kernel_path::automatic};
    if (plan.is_exact()) paths.push_back(ag::kernel_path::exact);
    if (plan.decomposition_terms() > 0) paths.push_back(ag::kernel_path::decomposed);
    if (plan.error_plane() != nullptr) paths.push_back(ag::kernel_path::error_plane);
    return paths;
}

template <class T>
void check_table_on_every_path(const am::table_multiplier& table, const ag::multiplier_plan& plan,
                               const std::vector<shape>& shapes, unsigned seed) {
    for (const ag::kernel_path path : paths_of(plan)) {
        for (const ag::instruction_set isa : {ag::instruction_set::automatic, ag::instruction_set::portable}) {
            for (const shape& s : shapes) {
                ++seed;
                const problem<T> p(s, seed, seed % 3, seed % 2 == 0);
                ag::gemm_options o;
                o.path = path;
                o.isa = isa;
                o.threads = 1 + seed % 2;
                const auto want = expected(table, p, std::tuple<>{}, o);
                const auto got = computed(plan, p, std::tuple<>{}, o);
                if (want != got) {
                    const std::string where = table.name() + ": path " + ag::to_string(path) + ", " +
                                              (isa == ag::instruction_set::portable ? "portable" : "native") +
                                              ", M=" + std::to_string(s.m) + " N=" + std::to_string(s.n) +
                                              " K=" + std::to_string(s.k) + (p.transposed ? " (N x K)" : "");
                    FAIL_CHECK(where);
                    return;
                }
            }
        }
    }
}

}  // namespace

TEST_CASE("gemm: every design of the default catalogue, every path it allows, equals the reference") {
    const std::vector<shape> shapes{{1, 1, 1}, {9, 129, 257}, {5, 70, 37}};
    unsigned seed = 1;
    for (const signedness s : {signedness::unsigned_operands, signedness::signed_operands}) {
        for (const am::design_instance& d : am::default_designs(s)) {
            CAPTURE(d.name());
            const ag::multiplier_plan plan(d);
            const am::table_multiplier table = d.table();
            if (s == signedness::signed_operands) {
                check_table_on_every_path<std::int8_t>(table, plan, shapes, seed);
            } else {
                check_table_on_every_path<std::uint8_t>(table, plan, shapes, seed);
            }
            seed += 100;
        }
    }
}

TEST_CASE("gemm: paths chosen automatically") {
    CHECK(ag::chosen_path(ag::multiplier_plan::of<am::exact<std::int8_t>>()) == ag::kernel_path::exact);
    CHECK(ag::chosen_path(ag::multiplier_plan::of<am::column_truncation<std::uint8_t, 3>>()) ==
          ag::kernel_path::decomposed);
    CHECK(ag::multiplier_plan::of<am::column_truncation<std::uint8_t, 3>>().decomposition_terms() == 4);
    CHECK(ag::multiplier_plan::of<am::broken_array<std::int8_t, 2, 6>>().decomposition_terms() == 5);
    const ag::kernel_path drum = ag::chosen_path(ag::multiplier_plan::of<am::drum<std::int8_t, 4>>());
    CHECK(drum == ag::kernel_path::table);  // errors up to 4352: no error plane
    const ag::multiplier_plan mitchell(am::design_instance::parse("mitchell_u8").table());
    CHECK(mitchell.decomposition_terms() == 0);  // a table has no design to decompose
    const ag::multiplier_plan k2(am::design_instance::parse("column_truncation_corrected_s8_k2").table());
    CHECK(k2.error_plane() != nullptr);
    if (approxnn::host_cpu().has_vnni_kernels() && approxnn::host_cpu().has_vbmi_kernels()) {
        CHECK(ag::chosen_path(k2) == ag::kernel_path::error_plane);
    }
    ag::gemm_options portable;
    portable.isa = ag::instruction_set::portable;
    CHECK(ag::chosen_path(k2, portable) == ag::kernel_path::table);
}

TEST_CASE("gemm: random tables (signed and unsigned, weight first or second) on random and edge shapes") {
    std::mt19937 rng(77);
    for (int i = 0; i < 6; ++i) {
        const signedness s = i % 2 == 0 ? signedness::unsigned_operands : signedness::signed_operands;
        // Errors within int8 (error plane), products within a 16-bit span (table planes), or anything.
        const int spread = i < 2 ? 127 : (i < 4 ? 250 : 2000000);
        std::uniform_int_distribution<int> noise(-spread, spread);
        std::vector<std::int32_t> products(65536);
        for (int a = 0; a < 256; ++a) {
            for (int b = 0; b < 256; ++b) {
                const int va = am::operand_value(static_cast<std::uint8_t>(a), s);
                const int vb = am::operand_value(static_cast<std::uint8_t>(b), s);
                products[static_cast<std::size_t>(a * 256 + b)] = va * vb + (i < 2 ? noise(rng) % 128 : noise(rng));
            }
        }
        const approxnn::operand_position weight =
            i % 3 == 0 ? approxnn::operand_position::first : approxnn::operand_position::second;
        const am::table_multiplier table(s, weight, products, "random_" + std::to_string(i));
        const ag::multiplier_plan plan(table);
        CAPTURE(table.name());
        CHECK((plan.error_plane() != nullptr) == (i < 2));
        CHECK((plan.table_planes() != nullptr) == (i < 4));
        if (s == signedness::signed_operands) {
            check_table_on_every_path<std::int8_t>(table, plan, test_shapes(), 500U + static_cast<unsigned>(i));
        } else {
            check_table_on_every_path<std::uint8_t>(table, plan, test_shapes(), 500U + static_cast<unsigned>(i));
        }
    }
}

TEST_CASE("gemm: two threads on products large enough to be split (row blocks and column tiles)") {
    // Below 4 M products a call stays on one thread; these shapes are above it. M >= N splits the weight rows
    // between the threads (each prepares its own rows), M < N splits the output column tiles; odd sizes leave
    // partial blocks, panels and K groups.
    const std::vector<shape> shapes{{301, 97, 151}, {37, 1003, 131}, {16, 16, 16411}};
    std::vector<am::design_instance> designs;
    for (const char* name : {"exact_s8", "exact_u8", "column_truncation_s8_k2", "column_truncation_corrected_u8_k2",
                             "drum_s8_k4", "mitchell_u8"}) {
        designs.push_back(am::design_instance::parse(name));
    }
    unsigned seed = 9000;
    for (const am::design_instance& d : designs) {
        CAPTURE(d.name());
        const ag::multiplier_plan plan(d);
        const am::table_multiplier table = d.table();
        for (const ag::kernel_path path : paths_of(plan)) {
            if (path == ag::kernel_path::reference) continue;
            for (const shape& sh : shapes) {
                ++seed;
                ag::gemm_options o;
                o.path = path;
                o.threads = 2;
                o.activation_zero_point = static_cast<std::int32_t>(seed % 5);
                o.weight_zero_point = static_cast<std::int32_t>(seed % 3);
                CAPTURE(ag::to_string(path));
                CAPTURE(sh.m);
                CAPTURE(sh.n);
                if (plan.is_signed()) {
                    const problem<std::int8_t> p(sh, seed, seed % 2, seed % 3 == 0);
                    CHECK(computed(plan, p, std::tuple<>{}, o) == expected(table, p, std::tuple<>{}, o));
                } else {
                    const problem<std::uint8_t> p(sh, seed, seed % 2, seed % 3 == 0);
                    CHECK(computed(plan, p, std::tuple<>{}, o) == expected(table, p, std::tuple<>{}, o));
                }
            }
        }
    }
}

TEST_CASE("gemm: zero points and int8/uint8 output stages") {
    using approxnn::quantized_multiplier;
    const am::design_instance design = am::design_instance::parse("column_truncation_u8_k2");
    const ag::multiplier_plan plan(design);
    const am::table_multiplier table = design.table();
    const shape s{13, 100, 300};
    std::vector<std::int32_t> bias(s.m);
    std::vector<quantized_multiplier> scales(s.m);
    for (std::size_t m = 0; m < s.m; ++m) {
        bias[m] = static_cast<std::int32_t>(m * 1000) - 5000;
        REQUIRE(approxnn::quantize_multiplier(1.0 / (200.0 + 37.0 * static_cast<double>(m)), scales[m]));
    }
    const auto pipeline = approxnn::quantized_output<std::uint8_t>(bias.data(), approxnn::requantize_stage{scales.data(), {}, 7});
    for (const ag::kernel_path path : paths_of(plan)) {
        for (const ag::instruction_set isa : {ag::instruction_set::automatic, ag::instruction_set::portable}) {
            const problem<std::uint8_t> p(s, 9, 1, isa == ag::instruction_set::portable);
            ag::gemm_options o;
            o.path = path;
            o.isa = isa;
            o.activation_zero_point = 121;
            o.weight_zero_point = 131;
            const std::string path_name = ag::to_string(path);
            CAPTURE(path_name);
            CHECK(expected(table, p, pipeline, o) == computed(plan, p, pipeline, o));
            CHECK(expected(table, p, std::tuple<>{}, o) == computed(plan, p, std::tuple<>{}, o));
        }
    }
}

TEST_CASE("gemm: policy front end, strided output, and the policy's own reference") {
    using policy = am::broken_array<std::int8_t, 2, 6>;
    const shape s{7, 50, 40};
    const problem<std::int8_t> p(s, 3, 2, true);
    std::vector<std::int32_t> want(s.m * s.n);
    std::vector<std::int32_t> got(2 * s.m * s.n, -1);
    ag::reference_gemm<policy>(p.w(), p.x(), ag::row_major(want.data(), s.m, s.n));
    // Output written transposed (N x M storage) through strides.
    const ag::matrix_view<std::int32_t> out{got.data(), s.m, s.n, 1, static_cast<std::ptrdiff_t>(s.m)};
    for (const ag::kernel_path path : {ag::kernel_path::automatic, ag::kernel_path::decomposed,
                                       ag::kernel_path::table, ag::kernel_path::reference}) {
        ag::gemm_options o;
        o.path = path;
        ag::gemm<policy>(p.w(), p.x(), out, std::tuple<>{}, o);
        bool same = true;
        for (std::size_t m = 0; m < s.m; ++m) {
            for (std::size_t n = 0; n < s.n; ++n) same = same && out(m, n) == want[m * s.n + n];
        }
        CHECK_MESSAGE(same, std::string(ag::to_string(path)));
    }
}

TEST_CASE("gemm: bad input is reported with the offending values") {
    using test_support::check_throws_with;
    std::vector<std::int8_t> a(6), b(6);
    std::vector<std::int32_t> c(4);
    const auto w = ag::row_major<const std::int8_t>(a.data(), 2, 3);
    const auto x = ag::row_major<const std::int8_t>(b.data(), 2, 3);
    check_throws_with<approxnn::shape_error>(
        [&] { ag::gemm<am::exact<std::int8_t>>(w, x, ag::row_major(c.data(), 2, 2)); },
        {"weights 2x3", "activations 2x3", "output 2x2"});
    const auto x3 = ag::row_major<const std::int8_t>(b.data(), 3, 2);
    check_throws_with<approxnn::parameter_error>(
        [&] {
            ag::gemm_options o;
            o.path = ag::kernel_path::exact;
            ag::gemm<am::drum<std::int8_t, 4>>(w, x3, ag::row_major(c.data(), 2, 2), std::tuple<>{}, o);
        },
        {"exact path", "drum_s8_k4", "not exact"});
    check_throws_with<approxnn::parameter_error>(
        [&] {
            ag::gemm_options o;
            o.path = ag::kernel_path::decomposed;
            ag::gemm<am::mitchell<std::int8_t>>(w, x3, ag::row_major(c.data(), 2, 2), std::tuple<>{}, o);
        },
        {"decomposed path", "mitchell_s8"});
    check_throws_with<approxnn::parameter_error>(
        [&] {
            ag::gemm_options o;
            o.path = ag::kernel_path::error_plane;
            ag::gemm<am::drum<std::int8_t, 4>>(w, x3, ag::row_major(c.data(), 2, 2), std::tuple<>{}, o);
        },
        {"error_plane path", "[-128, 127]"});
    const ag::multiplier_plan unsigned_plan = ag::multiplier_plan::of<am::exact<std::uint8_t>>();
    check_throws_with<approxnn::parameter_error>(
        [&] { ag::gemm<std::int8_t>(unsigned_plan, w, x3, ag::row_major(c.data(), 2, 2)); },
        {"exact_u8", "unsigned operands", "int8"});
    check_throws_with<approxnn::parameter_error>(
        [&] {
            ag::gemm<am::exact<std::int8_t>>(ag::row_major<const std::int8_t>(nullptr, 2, 3), x3,
                                             ag::row_major(c.data(), 2, 2));
        },
        {"weights data is null"});
}

TEST_CASE("gemm: K = 0 gives the output stages of a zero sum; empty outputs are fine") {
    std::vector<std::int8_t> none;
    std::vector<std::int32_t> c(6, 5);
    ag::gemm<am::exact<std::int8_t>>(ag::row_major<const std::int8_t>(none.data(), 2, 0),
                                     ag::row_major<const std::int8_t>(none.data(), 0, 3), ag::row_major(c.data(), 2, 3));
    CHECK(c == std::vector<std::int32_t>(6, 0));
    ag::gemm<am::exact<std::int8_t>>(ag::row_major<const std::int8_t>(none.data(), 0, 4),
                                     ag::row_major<const std::int8_t>(c.data() == nullptr ? nullptr : none.data(), 4, 0),
                                     ag::row_major<std::int32_t>(nullptr, 0, 0));
}

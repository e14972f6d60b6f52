// conv2d (pointwise, padded, strided, dilated, grouped, depthwise) and linear on every path, against the direct
// reference loops, bit for bit; and the errors the front ends report.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "approxnn/conv/conv2d.hpp"
#include "approxnn/multipliers/families.hpp"
#include "test_support.hpp"

namespace {

namespace am = approxnn::multipliers;
namespace ag = approxnn::gemm;
namespace ac = approxnn::conv;
using approxnn::signedness;

struct layer {
    std::string name;
    std::size_t batch, height, width, in_channels, out_channels, kernel_h, kernel_w;
    ac::conv2d_params params;
};

std::vector<layer> layers() {
    ac::conv2d_params p;
    std::vector<layer> v;
    v.push_back({"1x1 pointwise", 2, 5, 7, 16, 24, 1, 1, p});
    v.push_back({"1x1x1", 1, 1, 1, 1, 1, 1, 1, p});
    v.push_back({"3x3 pad 1", 1, 9, 8, 5, 7, 3, 3, p.with_padding(1)});
    v.push_back({"3x3 stride 2 pad 1", 2, 11, 10, 8, 12, 3, 3, p.with_padding(1).with_stride(2)});
    ac::conv2d_params dilated = p.with_padding(2);
    dilated.dilation_h = dilated.dilation_w = 2;
    v.push_back({"3x3 dilation 2 pad 2", 1, 9, 9, 3, 4, 3, 3, dilated});
    ac::conv2d_params grouped = p.with_padding(1);
    grouped.groups = 2;
    v.push_back({"3x3 groups 2", 1, 6, 7, 6, 8, 3, 3, grouped});
    ac::conv2d_params depthwise = p.with_padding(1);
    depthwise.groups = 13;
    v.push_back({"depthwise 3x3", 2, 10, 9, 13, 13, 3, 3, depthwise});
    v.push_back({"depthwise 3x3 stride 2", 1, 12, 12, 13, 13, 3, 3, depthwise.with_stride(2)});
    v.push_back({"depthwise multiplier 2", 1, 7, 6, 5, 10, [] { return std::size_t{3}; }(), 3, [] {
                     ac::conv2d_params q = ac::conv2d_params{}.with_padding(1);
                     q.groups = 5;
                     return q;
                 }()});
    ac::conv2d_params asymmetric;
    asymmetric.pad_left = 2;
    asymmetric.pad_right = 0;
    asymmetric.pad_top = 0;
    asymmetric.pad_bottom = 1;
    asymmetric.stride_w = 2;
    v.push_back({"1x3 asymmetric padding, stride 1x2", 1, 5, 9, 4, 6, 2, 3, asymmetric});
    v.push_back({"1x1 stride 2", 1, 7, 7, 9, 5, 1, 1, p.with_stride(2)});
    return v;
}

template <class T>
std::vector<T> random_codes(std::size_t n, std::mt19937& rng) {
    std::uniform_int_distribution<int> codes(0, 255);
    std::vector<T> v(n);
    for (T& x : v) x = static_cast<T>(codes(rng));
    return v;
}

template <class T, class Pipeline>
void check_layer(const am::table_multiplier& table, const ag::multiplier_plan& plan, const layer& l,
                 const Pipeline& pipeline, const ag::gemm_options& options, unsigned seed) {
    using Out = approxnn::pipeline_output_t<Pipeline>;
    std::mt19937 rng(seed);
    const std::size_t in_per_group = l.in_channels / l.params.groups;
    const auto input = random_codes<T>(l.batch * l.height * l.width * l.in_channels, rng);
    const auto filters = random_codes<T>(l.out_channels * l.kernel_h * l.kernel_w * in_per_group, rng);
    const ac::output_size s = ac::conv2d_output_size(l.height, l.width, l.in_channels, l.kernel_h, l.kernel_w,
                                                     in_per_group, l.out_channels, l.params);
    std::vector<Out> want(l.batch * s.height * s.width * l.out_channels);
    std::vector<Out> got(want.size(), Out{42});
    const ac::nhwc_view<const T> in{input.data(), l.batch, l.height, l.width, l.in_channels};
    const ac::ohwi_view<const T> f{filters.data(), l.out_channels, l.kernel_h, l.kernel_w, in_per_group};
    ac::reference_conv2d<T>(table, in, f, ac::nhwc_view<Out>{want.data(), l.batch, s.height, s.width, l.out_channels},
                            l.params, pipeline, options);
    std::vector<std::byte> scratch(ac::conv2d_scratch_size(l.batch, l.height, l.width, l.in_channels, l.kernel_h,
                                                           l.kernel_w, l.out_channels, l.params));
    ac::conv2d<T>(plan, in, f, ac::nhwc_view<Out>{got.data(), l.batch, s.height, s.width, l.out_channels}, l.params,
                  pipeline, options, scratch);
    const std::string where = table.name() + ", " + l.name + ", path " + ag::to_string(options.path) +
                              (options.isa == ag::instruction_set::portable ? ", portable" : "");
    CHECK_MESSAGE(want == got, where);
}

std::vector<ag::kernel_path> paths_of(const ag::multiplier_plan& plan) {
    std::vector<ag::kernel_path> paths{ag::kernel_path::table, ag::kernel_path::automatic};
    if (plan.is_exact()) paths.push_back(ag::kernel_path::exact);
    if (plan.decomposition_terms() > 0) paths.push_back(ag::kernel_path::decomposed);
    if (plan.error_plane() != nullptr) paths.push_back(ag::kernel_path::error_plane);
    return paths;
}

}  // namespace

TEST_CASE("conv2d: every layer shape, path and instruction set equals the reference") {
    unsigned seed = 1;
    for (const char* name : {"exact_s8", "exact_u8", "column_truncation_u8_k2", "broken_array_s8_h2_v6",
                             "column_truncation_corrected_s8_k3", "drum_u8_k4", "mitchell_s8"}) {
        const am::design_instance d = am::design_instance::parse(name);
        const ag::multiplier_plan plan(d);
        const am::table_multiplier table = d.table();
        for (const ag::kernel_path path : paths_of(plan)) {
            for (const ag::instruction_set isa : {ag::instruction_set::automatic, ag::instruction_set::portable}) {
                for (const layer& l : layers()) {
                    ag::gemm_options o;
                    o.path = path;
                    o.isa = isa;
                    o.threads = 1 + seed % 2;
                    o.activation_zero_point = seed % 3 == 0 ? 0 : 3;  // padding takes this code
                    if (table.is_signed()) {
                        check_layer<std::int8_t>(table, plan, l, std::tuple<>{}, o, ++seed);
                    } else {
                        check_layer<std::uint8_t>(table, plan, l, std::tuple<>{}, o, ++seed);
                    }
                }
            }
        }
    }
}

TEST_CASE("conv2d: one design of every family and random tables, on every path, equal the reference") {
    const std::vector<std::string> designs{"operand_truncation_s8_t2", "perforation_u8_j1_m2", "mbm_u8_c10",
                                           "kulkarni_s8",             "roba_u8",              "column_truncation_corrected_u8_k4",
                                           "broken_array_u8_h3_v8",   "exact_s8"};
    std::vector<am::table_multiplier> tables;
    for (const std::string& name : designs) tables.push_back(am::design_instance::parse(name).table());
    std::mt19937 rng(31);
    for (const signedness s : {signedness::unsigned_operands, signedness::signed_operands}) {
        std::uniform_int_distribution<int> noise(-300, 300);
        std::vector<std::int32_t> products(65536);
        for (int a = 0; a < 256; ++a) {
            for (int b = 0; b < 256; ++b) {
                products[static_cast<std::size_t>(a * 256 + b)] =
                    am::operand_value(static_cast<std::uint8_t>(a), s) * am::operand_value(static_cast<std::uint8_t>(b), s) +
                    noise(rng);
            }
        }
        tables.emplace_back(s, approxnn::operand_position::second, products, std::string("random_") + std::string(approxnn::type_tag(s)));
    }
    unsigned seed = 1000;
    const std::vector<layer> all = layers();
    for (std::size_t i = 0; i < tables.size(); ++i) {
        const am::table_multiplier& table = tables[i];
        const ag::multiplier_plan plan = i < designs.size() ? ag::multiplier_plan(am::design_instance::parse(designs[i]))
                                                            : ag::multiplier_plan(table);
        for (const ag::kernel_path path : paths_of(plan)) {
            for (const ag::instruction_set isa : {ag::instruction_set::automatic, ag::instruction_set::portable}) {
                for (const std::size_t l : {std::size_t{0}, std::size_t{3}, std::size_t{4}, std::size_t{6}, std::size_t{8}}) {
                    ag::gemm_options o;
                    o.path = path;
                    o.isa = isa;
                    o.activation_zero_point = static_cast<std::int32_t>(seed % 5);
                    if (table.is_signed()) {
                        check_layer<std::int8_t>(table, plan, all[l], std::tuple<>{}, o, ++seed);
                    } else {
                        check_layer<std::uint8_t>(table, plan, all[l], std::tuple<>{}, o, ++seed);
                    }
                }
            }
        }
    }
}

TEST_CASE("conv2d: per-channel int8 output stages see the global output channel in every group") {
    const am::design_instance d = am::design_instance::parse("column_truncation_s8_k2");
    const ag::multiplier_plan plan(d);
    for (const layer& l : layers()) {
        std::vector<std::int32_t> bias(l.out_channels);
        std::vector<approxnn::quantized_multiplier> scales(l.out_channels);
        for (std::size_t o = 0; o < l.out_channels; ++o) {
            bias[o] = static_cast<std::int32_t>(o * 97) - 300;
            REQUIRE(approxnn::quantize_multiplier(0.01 + 0.003 * static_cast<double>(o), scales[o]));
        }
        const auto pipeline =
            approxnn::quantized_output<std::int8_t>(bias.data(), approxnn::requantize_stage{scales.data(), {}, -4});
        ag::gemm_options o;
        o.weight_zero_point = 2;
        o.activation_zero_point = -5;
        check_layer<std::int8_t>(d.table(), plan, l, pipeline, o, 99);
    }
}

TEST_CASE("conv2d: the policy front end, its reference path and its plan agree") {
    using policy = am::column_truncation<std::uint8_t, 3>;
    const layer l = layers()[3];
    std::mt19937 rng(5);
    const auto input = random_codes<std::uint8_t>(l.batch * l.height * l.width * l.in_channels, rng);
    const auto filters = random_codes<std::uint8_t>(l.out_channels * l.kernel_h * l.kernel_w * l.in_channels, rng);
    const ac::output_size s = ac::conv2d_output_size(l.height, l.width, l.in_channels, l.kernel_h, l.kernel_w,
                                                     l.in_channels, l.out_channels, l.params);
    const ac::nhwc_view<const std::uint8_t> in{input.data(), l.batch, l.height, l.width, l.in_channels};
    const ac::ohwi_view<const std::uint8_t> f{filters.data(), l.out_channels, l.kernel_h, l.kernel_w, l.in_channels};
    std::vector<std::int32_t> a(l.batch * s.height * s.width * l.out_channels), b(a.size()), c(a.size());
    ac::reference_conv2d<policy>(in, f, {a.data(), l.batch, s.height, s.width, l.out_channels}, l.params);
    ac::conv2d<policy>(in, f, {b.data(), l.batch, s.height, s.width, l.out_channels}, l.params);
    ag::gemm_options reference;
    reference.path = ag::kernel_path::reference;
    ac::conv2d<policy>(in, f, {c.data(), l.batch, s.height, s.width, l.out_channels}, l.params, std::tuple<>{},
                       reference);
    CHECK(a == b);
    CHECK(a == c);
}

TEST_CASE("linear: every path equals a direct computation") {
    for (const char* name : {"exact_s8", "column_truncation_u8_k3", "drum_s8_k5", "operand_truncation_u8_t1",
                             "broken_array_s8_h2_v4", "perforation_s8_j0_m2", "column_truncation_corrected_u8_k2",
                             "mitchell_u8", "mbm_s8_c10", "kulkarni_u8", "roba_s8"}) {
        const am::design_instance d = am::design_instance::parse(name);
        const ag::multiplier_plan plan(d);
        const am::table_multiplier table = d.table();
        for (const auto& [batch, in, out] : {std::tuple{1UL, 1UL, 1UL}, {3UL, 100UL, 10UL}, {33UL, 257UL, 17UL}}) {
            std::mt19937 rng(static_cast<unsigned>(batch * 1000 + in));
            const auto x = random_codes<std::uint8_t>(batch * in, rng);
            const auto w = random_codes<std::uint8_t>(out * in, rng);
            std::vector<std::int32_t> want(batch * out);
            for (std::size_t b = 0; b < batch; ++b) {
                for (std::size_t o = 0; o < out; ++o) {
                    std::int32_t acc = 0;
                    for (std::size_t i = 0; i < in; ++i) acc += table.multiply_activation_weight(x[b * in + i], w[o * in + i]);
                    want[b * out + o] = acc;
                }
            }
            for (const ag::kernel_path path : paths_of(plan)) {
                std::vector<std::int32_t> got(batch * out);
                ag::gemm_options o;
                o.path = path;
                if (table.is_signed()) {
                    ac::linear<std::int8_t>(plan, ag::row_major(reinterpret_cast<const std::int8_t*>(x.data()), batch, in),
                                            ag::row_major(reinterpret_cast<const std::int8_t*>(w.data()), out, in),
                                            ag::row_major(got.data(), batch, out), std::tuple<>{}, o);
                } else {
                    ac::linear<std::uint8_t>(plan, ag::row_major(x.data(), batch, in), ag::row_major(w.data(), out, in),
                                             ag::row_major(got.data(), batch, out), std::tuple<>{}, o);
                }
                const std::string where = std::string(name) + " path " + ag::to_string(path);
                CHECK_MESSAGE(want == got, where);
            }
        }
    }
}

TEST_CASE("conv2d and linear: bad input names the offending values") {
    using test_support::check_throws_with;
    std::vector<std::int8_t> data(4096);
    std::vector<std::int32_t> out(4096);
    const ac::nhwc_view<const std::int8_t> in{data.data(), 1, 8, 8, 4};
    const ac::ohwi_view<const std::int8_t> f{data.data(), 6, 3, 3, 4};
    const auto run = [&](const ac::conv2d_params& p, std::size_t oh, std::size_t ow, std::size_t oc = 6,
                         const ac::ohwi_view<const std::int8_t>& filters = {}, std::span<std::byte> scratch = {}) {
        ac::conv2d<am::exact<std::int8_t>>(in, filters.data != nullptr ? filters : f,
                                           ac::nhwc_view<std::int32_t>{out.data(), 1, oh, ow, oc}, p, std::tuple<>{}, {},
                                           scratch);
    };
    ac::conv2d_params p;
    p.stride_h = 0;
    check_throws_with<approxnn::parameter_error>([&] { run(p, 6, 6); }, {"strides must be positive", "0 x 1"});
    p = {};
    p.dilation_w = 0;
    check_throws_with<approxnn::parameter_error>([&] { run(p, 6, 6); }, {"dilations must be positive"});
    p = {};
    p.groups = 3;
    check_throws_with<approxnn::parameter_error>([&] { run(p, 6, 6); }, {"3 groups do not divide 4 input"});
    p = ac::conv2d_params{}.with_padding(3);
    check_throws_with<approxnn::parameter_error>([&] { run(p, 12, 12); }, {"padding 3", "kernel extent 3"});
    check_throws_with<approxnn::shape_error>([&] { run({}, 8, 8); }, {"the output is 1x8x8x6", "produces 1x6x6x6"});
    check_throws_with<approxnn::shape_error>(
        [&] { run({}, 6, 6, 6, ac::ohwi_view<const std::int8_t>{data.data(), 6, 3, 3, 3}); },
        {"filters hold 3 input channels per group", "need 4"});
    std::vector<std::byte> small(10);
    check_throws_with<approxnn::parameter_error>([&] { run(ac::conv2d_params{}.with_padding(1), 8, 8, 6, {}, small); },
                                                 {"scratch holds 10 bytes", "2304 are needed"});
    check_throws_with<approxnn::shape_error>(
        [&] { (void)ac::conv2d_output_size(2, 2, 4, 5, 5, 4, 6, {}); }, {"padded input 2 x 2", "kernel extent 5 x 5"});
    check_throws_with<approxnn::shape_error>(
        [&] {
            ac::linear<am::exact<std::int8_t>>(ag::row_major<const std::int8_t>(data.data(), 2, 5),
                                               ag::row_major<const std::int8_t>(data.data(), 3, 4),
                                               ag::row_major(out.data(), 2, 3));
        },
        {"input 2x5", "weights 3x4"});
}

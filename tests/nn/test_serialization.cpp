#include <doctest/doctest.h>

#include "test_support.hpp"

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "approxnn/core/error.hpp"
#include "approxnn/core/npy.hpp"
#include "approxnn/nn/graph.hpp"
#include "approxnn/nn/layer.hpp"
#include "approxnn/nn/serialization.hpp"
#include "approxnn/nn/tensor.hpp"

namespace {

namespace fs = std::filesystem;
namespace nn = approxnn::nn;
using approxnn::npy_array;
using approxnn::npy_shape;
using approxnn::npy_type;
using test_support::check_throws_with;
using test_support::contains;
using test_support::read_bytes;
using test_support::write_bytes;

struct scratch_dir : test_support::scratch_dir {
    explicit scratch_dir(const std::string& name) : test_support::scratch_dir("serialization", name) {}
};

// --- .npy helpers ------------------------------------------------------------------------------------------------

using test_support::npy_file;

std::string dict(const std::string& descr, const std::string& shape, const std::string& fortran = "False") {
    return "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + ", }";
}

template <class T>
std::string payload_of(const std::vector<T>& values) {
    std::string s(values.size() * sizeof(T), '\0');
    if (!values.empty()) std::memcpy(s.data(), values.data(), s.size());
    return s;
}

npy_array read_string(const std::string& bytes, const std::string& source = "mem.npy") {
    std::istringstream in(bytes);
    return approxnn::read_npy(in, source);
}

template <class T>
approxnn::npy_values<T> read_string_as(const std::string& bytes) {
    std::istringstream in(bytes);
    return approxnn::read_npy_as<T>(in, "mem.npy");
}

std::string write_string(npy_type dtype, const npy_shape& shape, const std::string& payload) {
    std::ostringstream out;
    approxnn::write_npy(out, dtype, shape, std::as_bytes(std::span(payload.data(), payload.size())));
    return out.str();
}

/// Varied values of type T: spread over the whole range (with negatives) for integers.
template <class T>
std::vector<T> sample_values(std::size_t n) {
    std::vector<T> v(n);
    for (std::size_t i = 0; i < n; ++i) {
        if constexpr (std::is_floating_point_v<T>) {
            v[i] = static_cast<T>(static_cast<double>(i) * 0.37 - 3.25);
        } else {
            // Modular conversion (C++20) of a spread unsigned value.
            v[i] = static_cast<T>(static_cast<std::make_unsigned_t<T>>(i * 0x9E3779B97F4A7C15ULL >> 7));
        }
    }
    return v;
}

/// prefix + n + suffix (appended step by step: g++ 12 -O3 warns falsely about `"a" + std::to_string(n) + ".npy"`).
std::string numbered(const char* prefix, int n, const char* suffix) {
    std::string s = prefix;
    s += std::to_string(n);
    s += suffix;
    return s;
}

template <class T>
void check_round_trip(const scratch_dir& dir) {
    const std::vector<npy_shape> shapes{{}, {0}, {5}, {2, 3}, {2, 0, 4}, {3, 1, 4}, {2, 3, 4, 5}, {1, 2, 1, 3}};
    int index = 0;
    for (const npy_shape& shape : shapes) {
        const std::string label = std::string(approxnn::to_string(approxnn::npy_type_of<T>)) + " " +
                                  approxnn::npy_shape_string(shape);
        CAPTURE(label);
        std::size_t n = 1;
        for (const std::size_t d : shape) n *= d;
        const std::vector<T> values = sample_values<T>(n);

        std::stringstream stream;
        approxnn::write_npy(stream, std::span<const T>(values), shape);
        const std::string bytes = stream.str();
        const std::size_t header_end = bytes.find('\n') + 1;
        CHECK(header_end % 64 == 0);
        CHECK(bytes.size() == header_end + n * sizeof(T));
        CHECK(contains(bytes.substr(0, header_end),
                       "'descr': '" + std::string(approxnn::npy_descr(approxnn::npy_type_of<T>)) + "'"));
        CHECK(contains(bytes.substr(0, header_end), "'shape': " + approxnn::npy_shape_string(shape) + ", }"));

        const npy_array a = approxnn::read_npy(stream, "stream");
        CHECK(a.shape == shape);
        CHECK(a.dtype == approxnn::npy_type_of<T>);
        REQUIRE(a.bytes.size() == n * sizeof(T));
        CHECK((n == 0 || std::memcmp(a.bytes.data(), values.data(), a.bytes.size()) == 0));

        const fs::path path = dir / numbered("a", index++, ".npy");
        approxnn::save_npy<T>(path, values, shape);
        CHECK(read_bytes(path) == bytes);
        CHECK_FALSE(fs::exists(fs::path(path.string() + ".partial")));
        const approxnn::npy_values<T> typed = approxnn::load_npy_as<T>(path);
        CHECK(typed.shape == shape);
        CHECK(typed.values == values);
        const npy_array loaded = approxnn::load_npy(path);
        std::ostringstream again;
        approxnn::write_npy(again, loaded);
        CHECK(again.str() == bytes);
    }
}

}  // namespace

TEST_CASE("npy: round trips of every dtype and rank 0 to 4, streams and files") {
    const scratch_dir dir("npy_round_trips");
    check_round_trip<float>(dir);
    check_round_trip<double>(dir);
    check_round_trip<std::int8_t>(dir);
    check_round_trip<std::uint8_t>(dir);
    check_round_trip<std::int16_t>(dir);
    check_round_trip<std::int32_t>(dir);
    check_round_trip<std::int64_t>(dir);
}

TEST_CASE("npy: the written header is NumPy's") {
    const std::vector<float> v{1.0F, 2.0F, 3.0F, 4.0F, 5.0F, 6.0F};
    std::ostringstream out;
    approxnn::write_npy(out, std::span<const float>(v), {2, 3});
    const std::string b = out.str();
    const std::string text = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    REQUIRE(b.size() == 128 + 24);
    CHECK(b.compare(0, 8, std::string("\x93NUMPY\x01\x00", 8)) == 0);
    CHECK(static_cast<unsigned char>(b[8]) == 118);
    CHECK(b[9] == '\0');
    CHECK(b.substr(10, text.size()) == text);
    CHECK(b.substr(10 + text.size(), 117 - text.size()) == std::string(117 - text.size(), ' '));
    CHECK(b[127] == '\n');
    float third = 0;
    std::memcpy(&third, b.data() + 128 + 8, 4);
    CHECK(third == 3.0F);

    std::ostringstream scalar;
    const std::vector<std::int8_t> one{-5};
    approxnn::write_npy(scalar, std::span<const std::int8_t>(one), {});
    CHECK(contains(scalar.str(), "{'descr': '|i1', 'fortran_order': False, 'shape': (), }"));
    std::ostringstream vector;
    approxnn::write_npy(vector, std::span<const std::uint8_t>(std::vector<std::uint8_t>{1, 2}), {2});
    CHECK(contains(vector.str(), "'descr': '|u1'"));
    CHECK(contains(vector.str(), "'shape': (2,), }"));
}

TEST_CASE("npy: hand-built headers in every accepted variant") {
    const std::vector<float> values{0.5F, -1.0F, 2.0F, 8.0F, 1e-3F, -0.0F};
    const std::string payload = payload_of(values);
    const auto check_floats = [&](const std::string& file) {
        const approxnn::npy_values<float> r = read_string_as<float>(file);
        CHECK(r.shape == npy_shape{2, 3});
        CHECK(r.values == values);
    };
    SUBCASE("version 1.0") { check_floats(npy_file(dict("<f4", "(2, 3)"), 1, payload)); }
    SUBCASE("version 2.0 and 3.0: 4-byte header length") {
        check_floats(npy_file(dict("<f4", "(2, 3)"), 2, payload));
        check_floats(npy_file(dict("<f4", "(2, 3)"), 3, payload));
    }
    SUBCASE("double quotes, keys in another order, no trailing comma, Python 2 longs, no blanks") {
        check_floats(npy_file("{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2, 3)}", 1, payload));
        check_floats(npy_file("{'shape': (2L, 3L), 'descr': '<f4', 'fortran_order': False}", 1, payload));
        check_floats(npy_file("{'descr':'<f4','fortran_order':False,'shape':(2,3),}", 1, payload));
    }
    SUBCASE("'<i1' and '<u1' as well as '|i1' and '|u1'") {
        const std::string bytes("\x01\xFF\x80", 3);
        const npy_array i = read_string(npy_file(dict("<i1", "(3,)"), 1, bytes));
        CHECK(i.dtype == npy_type::int8);
        const npy_array u = read_string(npy_file(dict("<u1", "(3,)"), 1, bytes));
        CHECK(u.dtype == npy_type::uint8);
        CHECK(read_string_as<std::int16_t>(npy_file(dict("|i1", "(3,)"), 1, bytes)).values ==
              std::vector<std::int16_t>{1, -1, -128});
        CHECK(read_string_as<std::int16_t>(npy_file(dict("|u1", "(3,)"), 1, bytes)).values ==
              std::vector<std::int16_t>{1, 255, 128});
    }
    SUBCASE("fortran_order True is fine for the header reader") {
        std::istringstream in(npy_file(dict(">i4", "(4, 5)", "True"), 1, ""));
        const approxnn::npy_header h = approxnn::read_npy_header(in, "mem.npy");
        CHECK(h.descr == ">i4");
        CHECK(h.fortran_order);
        CHECK(h.shape == npy_shape{4, 5});
        CHECK(h.major_version == 1);
    }
}

TEST_CASE("npy: typed reads convert with range checks") {
    SUBCASE("integers to narrower integers") {
        const std::vector<std::int32_t> ok{-128, 0, 127};
        CHECK(read_string_as<std::int8_t>(write_string(npy_type::int32, {3}, payload_of(ok))).values ==
              std::vector<std::int8_t>{-128, 0, 127});
        const std::vector<std::int32_t> big{1, 2, 300};
        check_throws_with<approxnn::format_error>(
            [&] { (void)read_string_as<std::int8_t>(write_string(npy_type::int32, {3}, payload_of(big))); },
            {"mem.npy", "element 2", "300", "int8"});
        const std::vector<std::int16_t> negative{5, -1};
        check_throws_with<approxnn::format_error>(
            [&] { (void)read_string_as<std::uint8_t>(write_string(npy_type::int16, {2}, payload_of(negative))); },
            {"mem.npy", "element 1", "-1", "uint8"});
        const std::vector<std::int64_t> huge{std::numeric_limits<std::int64_t>::max()};
        check_throws_with<approxnn::format_error>(
            [&] { (void)read_string_as<std::int32_t>(write_string(npy_type::int64, {1}, payload_of(huge))); },
            {"element 0", "9223372036854775807", "int32"});
    }
    SUBCASE("floating values to integers: integral and in range only") {
        const std::vector<double> ok{-32768.0, 32767.0, 0.0};
        CHECK(read_string_as<std::int16_t>(write_string(npy_type::float64, {3}, payload_of(ok))).values ==
              std::vector<std::int16_t>{-32768, 32767, 0});
        for (const double bad : {1.5, 32768.0, -32769.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
            CAPTURE(bad);
            const std::vector<double> v{0.0, bad};
            check_throws_with<approxnn::format_error>(
                [&] { (void)read_string_as<std::int16_t>(write_string(npy_type::float64, {2}, payload_of(v))); },
                {"mem.npy", "element 1", "int16"});
        }
        const std::vector<float> edge{-9223372036854775808.0F, 9223372036854775808.0F};
        check_throws_with<approxnn::format_error>(
            [&] { (void)read_string_as<std::int64_t>(write_string(npy_type::float32, {2}, payload_of(edge))); },
            {"element 1", "int64"});
        const std::vector<float> fits{-9223372036854775808.0F, 4.0F};
        CHECK(read_string_as<std::int64_t>(write_string(npy_type::float32, {2}, payload_of(fits))).values[0] ==
              std::numeric_limits<std::int64_t>::min());
    }
    SUBCASE("float64 to float32: finite values beyond float32 are errors, infinities and NaN pass") {
        const std::vector<double> v{1.0 / 3.0, -std::numeric_limits<double>::infinity(), std::nan(""), 1e38};
        const auto r = read_string_as<float>(write_string(npy_type::float64, {4}, payload_of(v)));
        CHECK(r.values[0] == static_cast<float>(1.0 / 3.0));
        CHECK(std::isinf(r.values[1]));
        CHECK(std::isnan(r.values[2]));
        const std::vector<double> big{0.0, 1e39};
        check_throws_with<approxnn::format_error>(
            [&] { (void)read_string_as<float>(write_string(npy_type::float64, {2}, payload_of(big))); },
            {"element 1", "1e+39", "float32"});
    }
    SUBCASE("integers to floating types") {
        const std::vector<std::int64_t> v{-7, 1 << 20};
        CHECK(read_string_as<float>(write_string(npy_type::int64, {2}, payload_of(v))).values ==
              std::vector<float>{-7.0F, 1048576.0F});
        CHECK(read_string_as<double>(write_string(npy_type::int64, {2}, payload_of(v))).values ==
              std::vector<double>{-7.0, 1048576.0});
    }
}

TEST_CASE("npy: malformed files are format_error naming the source and the value") {
    const std::vector<float> values{1, 2, 3, 4, 5, 6};
    const std::string good = npy_file(dict("<f4", "(2, 3)"), 1, payload_of(values));
    REQUIRE(read_string(good).shape == npy_shape{2, 3});
    const auto fails = [](const std::string& bytes, std::initializer_list<std::string> parts) {
        check_throws_with<approxnn::format_error>([&] { (void)read_string(bytes, "bad.npy"); }, parts);
    };

    SUBCASE("bad magic") {
        std::string bad = good;
        bad[1] = 'n';
        fails(bad, {"bad.npy", "magic"});
        fails("", {"bad.npy", "magic"});
        fails(std::string("\x93NUM", 4), {"bad.npy", "magic"});
        fails(std::string(200, '\0'), {"bad.npy", "magic"});
    }
    SUBCASE("unsupported versions") {
        std::string v4 = good;
        v4[6] = 4;
        fails(v4, {"bad.npy", "version 4.0"});
        std::string v11 = good;
        v11[7] = 1;
        fails(v11, {"bad.npy", "version 1.1"});
        std::string v0 = good;
        v0[6] = 0;
        fails(v0, {"bad.npy", "version 0.0"});
    }
    SUBCASE("every truncation of the header") {
        for (std::size_t n = 0; n < 128; ++n) {
            CAPTURE(n);
            CHECK_THROWS_AS((void)read_string(good.substr(0, n)), approxnn::format_error);
        }
        fails(good.substr(0, 7), {"bad.npy", "truncated .npy header"});
        fails(good.substr(0, 9), {"bad.npy", "truncated .npy header"});
        fails(good.substr(0, 40), {"bad.npy", "truncated .npy header", "118 bytes announced, 30 present"});
    }
    SUBCASE("implausible header length") {
        std::string bad = npy_file(dict("<f4", "(2, 3)"), 2, payload_of(values));
        bad[11] = 0x7F;
        fails(bad, {"bad.npy", "implausible .npy header length"});
    }
    SUBCASE("header not a dict, or malformed") {
        fails(npy_file("['descr', '<f4']", 1, ""), {"bad.npy", "not a dict", "['descr'"});
        fails(npy_file("", 1, ""), {"bad.npy", "not a dict"});
        fails(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } x", 1, ""),
              {"bad.npy", "after the .npy header dict", "x"});
        fails(npy_file("{'descr': '<f4' 'fortran_order': False}", 1, ""), {"bad.npy", "expected ',' or '}'"});
        fails(npy_file("{'descr' '<f4'}", 1, ""), {"bad.npy", "expected ':' after 'descr'"});
        fails(npy_file("{descr: '<f4'}", 1, ""), {"bad.npy", "quoted string", "descr:"});
        fails(npy_file("{'descr': '<f4, 'fortran_order': False, 'shape': (2, 3)}", 1, ""),
              {"bad.npy", "expected ',' or '}'", "fortran_order"});
        fails(npy_file("{'descr': '<f4", 1, ""), {"bad.npy", "string"});
        fails(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)", 1, ""), {"bad.npy"});
    }
    SUBCASE("missing, repeated and unknown keys") {
        fails(npy_file("{'descr': '<f4', 'fortran_order': False}", 1, ""), {"bad.npy", "no 'shape'"});
        fails(npy_file("{'shape': (2, 3), 'fortran_order': False}", 1, ""), {"bad.npy", "no 'descr'"});
        fails(npy_file("{'shape': (2, 3), 'descr': '<f4'}", 1, ""), {"bad.npy", "no 'fortran_order'"});
        fails(npy_file("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", 1, ""),
              {"bad.npy", "repeats 'descr'"});
        fails(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'colour': 'red'}", 1, ""),
              {"bad.npy", "unexpected key 'colour'"});
    }
    SUBCASE("unknown dtypes, big-endian, structured") {
        for (const std::string descr : {"<c8", ">f4", ">i4", "<u2", "<u4", "<u8", "|b1", "<f2", "<U8", "|O", "f4"}) {
            CAPTURE(descr);
            fails(npy_file(dict(descr, "(2, 3)"), 1, payload_of(values)), {"bad.npy", "dtype '" + descr + "'"});
        }
        fails(npy_file("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,)}", 1, ""),
              {"bad.npy", "unsupported .npy dtype", "[('a'"});
    }
    SUBCASE("fortran_order True or malformed") {
        fails(npy_file(dict("<f4", "(2, 3)", "True"), 1, payload_of(values)), {"bad.npy", "Fortran order", "(2, 3)"});
        fails(npy_file(dict("<f4", "(2, 3)", "maybe"), 1, payload_of(values)), {"bad.npy", "maybe"});
        fails(npy_file(dict("<f4", "(2, 3)", "Truest"), 1, payload_of(values)), {"bad.npy", "Truest"});
        fails(npy_file(dict("<f4", "(2, 3)", "1"), 1, payload_of(values)), {"bad.npy", "fortran_order"});
    }
    SUBCASE("malformed shapes") {
        fails(npy_file(dict("<f4", "(6)"), 1, payload_of(values)), {"bad.npy", "(6)", "not a tuple"});
        fails(npy_file(dict("<f4", "[2, 3]"), 1, payload_of(values)), {"bad.npy", "not a tuple", "[2, 3]"});
        fails(npy_file(dict("<f4", "(-2, 3)"), 1, payload_of(values)), {"bad.npy", "shape", "-2"});
        fails(npy_file(dict("<f4", "(2.0, 3)"), 1, payload_of(values)), {"bad.npy", "shape", ".0"});
        fails(npy_file(dict("<f4", "(2 3)"), 1, payload_of(values)), {"bad.npy", "shape", "3)"});
        fails(npy_file(dict("<f4", "(,)"), 1, payload_of(values)), {"bad.npy", "shape"});
        fails(npy_file(dict("<f4", "(99999999999999999999999,)"), 1, ""), {"bad.npy", "too large"});
        fails(npy_file(dict("<f4", "(4294967296, 4294967296)"), 1, ""), {"bad.npy", "(4294967296, 4294967296)",
                                                                          "too large"});
    }
    SUBCASE("shape and size mismatch: truncated and trailing data") {
        fails(good.substr(0, good.size() - 1), {"bad.npy", "(2, 3)", "float32", "24 bytes", "has 23"});
        fails(good.substr(0, 128), {"bad.npy", "24 bytes", "has 0"});
        fails(good + "x", {"bad.npy", "24 bytes", "longer"});
        fails(npy_file(dict("<f4", "(1000000000,)"), 1, payload_of(values)), {"bad.npy", "4000000000 bytes", "has 24"});
    }
    SUBCASE("a file: messages name the path; a missing file is io_error") {
        const scratch_dir dir("npy_malformed");
        write_bytes(dir / "cut.npy", good.substr(0, 134));
        check_throws_with<approxnn::format_error>([&] { (void)approxnn::load_npy(dir / "cut.npy"); },
                                                  {(dir / "cut.npy").string(), "has 6"});
        check_throws_with<approxnn::format_error>([&] { (void)approxnn::load_npy_as<float>(dir / "cut.npy"); },
                                                  {(dir / "cut.npy").string()});
        check_throws_with<approxnn::io_error>([&] { (void)approxnn::load_npy(dir / "none.npy"); },
                                              {(dir / "none.npy").string()});
    }
    SUBCASE("every single-byte change of the header is read or rejected with format_error") {
        for (std::size_t i = 0; i < 128; ++i) {
            for (const int delta : {1, 0x20, 0x80}) {
                std::string bad = good;
                bad[i] = static_cast<char>(bad[i] + delta);
                try {
                    (void)read_string(bad);
                } catch (const approxnn::format_error&) {
                }
            }
        }
    }
}

TEST_CASE("npy: writing checks sizes first and replaces files atomically") {
    const scratch_dir dir("npy_write");
    const std::vector<float> five(5, 1.0F);
    std::ostringstream out;
    check_throws_with<approxnn::shape_error>([&] { approxnn::write_npy(out, std::span<const float>(five), {2, 3}); },
                                             {"20 bytes", "(2, 3)"});
    CHECK(out.str().empty());
    check_throws_with<approxnn::shape_error>([&] { approxnn::save_npy<float>(dir / "x.npy", five, {2, 3}); },
                                             {(dir / "x.npy").string(), "5 values", "(2, 3)"});
    CHECK(fs::is_empty(dir.path()));
    npy_array a{{2}, npy_type::int16, std::vector<std::byte>(3)};
    check_throws_with<approxnn::shape_error>([&] { approxnn::save_npy(dir / "y.npy", a); },
                                             {(dir / "y.npy").string(), "3 bytes", "int16"});
    CHECK(fs::is_empty(dir.path()));

    approxnn::save_npy<float>(dir / "x.npy", five, {5});
    const std::vector<std::int32_t> other{1, 2};
    approxnn::save_npy<std::int32_t>(dir / "x.npy", other, {1, 2});
    const auto r = approxnn::load_npy_as<std::int32_t>(dir / "x.npy");
    CHECK(r.shape == npy_shape{1, 2});
    CHECK(r.values == other);
    CHECK_THROWS_AS(approxnn::save_npy<float>(dir / "missing_dir" / "x.npy", five, {5}), approxnn::io_error);
}

// --- models -------------------------------------------------------------------------------------------------------

namespace {

/// A test-only layer: identity forward, a "weight" parameter, optionally a "bias" parameter and a "running_mean"
/// buffer.
class fake_layer final : public nn::layer {
public:
    fake_layer(nn::shape_t weight, std::optional<nn::shape_t> buffer, bool with_bias = false)
        : weight_(std::move(weight)) {
        if (with_bias) bias_ = std::make_unique<nn::parameter>(nn::shape_t{weight_.value.dim(0)}, false);
        if (buffer) buffer_ = std::make_unique<nn::tensor>(*buffer);
    }
    [[nodiscard]] std::string kind() const override { return "fake"; }
    [[nodiscard]] nn::shape_t output_shape(const nn::shape_t& input) const override { return input; }
    void forward(const nn::tensor& input, nn::tensor& output, nn::mode) override { output = input; }
    void backward(const nn::tensor& grad_output, nn::tensor& grad_input) override { grad_input = grad_output; }
    void visit_parameters(const std::string& prefix, const nn::parameter_visitor& fn) override {
        fn(nn::join_name(prefix, "weight"), weight_);
        if (bias_) fn(nn::join_name(prefix, "bias"), *bias_);
    }
    void visit_buffers(const std::string& prefix, const nn::buffer_visitor& fn) override {
        if (buffer_) fn(nn::join_name(prefix, buffer_name), *buffer_);
    }
    std::string buffer_name = "running_mean";

private:
    nn::parameter weight_;
    std::unique_ptr<nn::parameter> bias_;
    std::unique_ptr<nn::tensor> buffer_;
};

/// stem (4,3,3,2) + residual block (conv1 (2,3,3,4) with bias, conv2 (4,1,1,2)) + head (5, 8) with bias.
std::unique_ptr<nn::sequential> tiny_model() {
    auto model = std::make_unique<nn::sequential>();
    model->emplace<fake_layer>("stem", nn::shape_t{4, 3, 3, 2}, nn::shape_t{4});
    auto body = std::make_unique<nn::sequential>();
    body->emplace<fake_layer>("conv1", nn::shape_t{2, 3, 3, 4}, nn::shape_t{2}, true);
    body->emplace<fake_layer>("conv2", nn::shape_t{4, 1, 1, 2}, nn::shape_t{4});
    model->emplace<nn::residual>("block1", std::move(body));
    model->emplace<fake_layer>("head", nn::shape_t{5, 8}, nn::shape_t{}, true);
    return model;
}

/// Every parameter value and buffer by name.
std::map<std::string, nn::tensor> snapshot(nn::layer& model) {
    std::map<std::string, nn::tensor> s;
    model.visit_parameters("", [&](const std::string& name, nn::parameter& p) { s[name] = p.value; });
    model.visit_buffers("", [&](const std::string& name, nn::tensor& t) { s["buffer:" + name] = t; });
    return s;
}

bool bit_identical(const std::map<std::string, nn::tensor>& a, const std::map<std::string, nn::tensor>& b) {
    if (a.size() != b.size()) return false;
    for (const auto& [name, t] : a) {
        const auto it = b.find(name);
        if (it == b.end() || it->second.shape() != t.shape()) return false;
        if (t.size() != 0 && std::memcmp(t.data(), it->second.data(), t.size() * sizeof(float)) != 0) return false;
    }
    return true;
}

/// Fills every tensor with random values (and a NaN, an infinity and a negative zero somewhere).
void randomise(nn::layer& model, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    const auto fill = [&](nn::tensor& t) {
        for (float& v : t) v = static_cast<float>(static_cast<double>(rng() >> 11) * 0x1.0p-53 * 4.0 - 2.0);
    };
    model.visit_parameters("", [&](const std::string&, nn::parameter& p) { fill(p.value); });
    model.visit_buffers("", [&](const std::string&, nn::tensor& t) { fill(t); });
    model.visit_parameters("", [&](const std::string& name, nn::parameter& p) {
        if (name == "stem.weight") {
            p.value[0] = std::numeric_limits<float>::quiet_NaN();
            p.value[1] = -std::numeric_limits<float>::infinity();
            p.value[2] = -0.0F;
            p.value[3] = std::numeric_limits<float>::denorm_min();
        }
    });
}

nlohmann::json read_json(const fs::path& path) { return nlohmann::json::parse(read_bytes(path)); }

void write_json(const fs::path& path, const nlohmann::json& j) { write_bytes(path, j.dump(2)); }

}  // namespace

TEST_CASE("serialization: save_model writes .npy files and a manifest; load_model restores bit-exactly") {
    const scratch_dir dir("round_trip");
    auto model = tiny_model();
    randomise(*model, 1);
    const nlohmann::json extra = {{"epochs", 3}, {"accuracy", 0.875}, {"note", "tiny"}};
    nn::save_model(*model, dir / "m", extra);

    const std::vector<std::string> names{"stem.weight",
                                         "block1.body.conv1.weight",
                                         "block1.body.conv1.bias",
                                         "block1.body.conv2.weight",
                                         "head.weight",
                                         "head.bias",
                                         "stem.running_mean",
                                         "block1.body.conv1.running_mean",
                                         "block1.body.conv2.running_mean",
                                         "head.running_mean"};
    const nlohmann::json manifest = read_json(dir / "m" / "manifest.json");
    CHECK(manifest["format"] == "approxnn-model");
    CHECK(manifest["version"] == 1);
    CHECK(manifest["extra"] == extra);
    REQUIRE(manifest["tensors"].size() == names.size());
    for (std::size_t i = 0; i < names.size(); ++i) {
        const nlohmann::json& e = manifest["tensors"][i];
        CAPTURE(names[i]);
        CHECK(e["name"] == names[i]);
        CHECK(e["file"] == names[i] + ".npy");
        CHECK(e["kind"] == (i < 6 ? "parameter" : "buffer"));
        CHECK(fs::is_regular_file(dir / "m" / (names[i] + ".npy")));
    }
    CHECK(manifest["tensors"][0]["shape"] == nlohmann::json::array({4, 3, 3, 2}));
    CHECK(manifest["tensors"][9]["shape"] == nlohmann::json::array());
    const auto stem = approxnn::load_npy_as<float>(dir / "m" / "stem.weight.npy");
    CHECK(stem.shape == npy_shape{4, 3, 3, 2});

    auto copy = tiny_model();
    randomise(*copy, 2);
    REQUIRE_FALSE(bit_identical(snapshot(*model), snapshot(*copy)));
    const nlohmann::json got = nn::load_model(*copy, dir / "m");
    CHECK(got == extra);
    CHECK(bit_identical(snapshot(*model), snapshot(*copy)));

    // Saving again over the directory replaces it; without extra the manifest holds null.
    randomise(*model, 3);
    nn::save_model(*model, dir / "m");
    CHECK(nn::load_model(*copy, dir / "m").is_null());
    CHECK(bit_identical(snapshot(*model), snapshot(*copy)));
    CHECK_FALSE(fs::exists(dir / "m" / "manifest.json.partial"));
}

TEST_CASE("serialization: save_model rejects names that cannot be files, before writing") {
    const scratch_dir dir("bad_names");
    nn::sequential slash;
    slash.emplace<fake_layer>("a/b", nn::shape_t{1}, std::nullopt);
    check_throws_with<approxnn::parameter_error>([&] { nn::save_model(slash, dir / "m"); }, {"a/b.weight"});
    CHECK_FALSE(fs::exists(dir / "m"));

    nn::sequential twice;
    twice.emplace<fake_layer>("x", nn::shape_t{1}, nn::shape_t{1}).buffer_name = "weight";
    check_throws_with<approxnn::parameter_error>([&] { nn::save_model(twice, dir / "m"); },
                                                 {"two tensors", "x.weight"});
    CHECK_FALSE(fs::exists(dir / "m"));
}

TEST_CASE("serialization: load_model errors name the file and leave the model unchanged") {
    const scratch_dir dir("load_errors");
    auto source = tiny_model();
    randomise(*source, 11);
    const fs::path good = dir / "good";
    nn::save_model(*source, good, {{"k", 1}});
    const nlohmann::json manifest = read_json(good / "manifest.json");

    auto model = tiny_model();
    randomise(*model, 12);
    const auto before = snapshot(*model);
    int variant = 0;
    /// A copy of the good directory, changed by `edit`, for one failing load.
    const auto broken = [&](const std::function<void(const fs::path&)>& edit) {
        const fs::path d = dir / numbered("v", variant++, "");
        fs::create_directories(d);
        for (const auto& item : fs::directory_iterator(good)) fs::copy_file(item.path(), d / item.path().filename());
        edit(d);
        return d;
    };
    const auto load_fails = [&]<class E>(const fs::path& d, std::initializer_list<std::string> parts) {
        check_throws_with<E>([&] { (void)nn::load_model(*model, d); }, parts);
        CHECK(bit_identical(snapshot(*model), before));
    };

    SUBCASE("missing and unexpected names") {
        const fs::path d = broken([&](const fs::path& p) {
            nlohmann::json m = manifest;
            m["tensors"].erase(1);  // block1.body.conv1.weight
            m["tensors"][0]["name"] = "stem.kernel";
            write_json(p / "manifest.json", m);
        });
        load_fails.operator()<approxnn::format_error>(
            d, {(d / "manifest.json").string(), "missing 'block1.body.conv1.weight', 'stem.weight'",
                "unexpected 'stem.kernel'"});
    }
    SUBCASE("a shape in the manifest differs from the model's") {
        const fs::path d = broken([&](const fs::path& p) {
            nlohmann::json m = manifest;
            m["tensors"][4]["shape"] = {8, 5};
            write_json(p / "manifest.json", m);
        });
        load_fails.operator()<approxnn::shape_error>(d, {(d / "manifest.json").string(), "head.weight", "[8, 5]",
                                                         "[5, 8]"});
    }
    SUBCASE("the last file has another shape than the manifest says") {
        const fs::path d = broken([&](const fs::path& p) {
            const std::vector<float> v(40, 1.0F);
            approxnn::save_npy<float>(p / "head.running_mean.npy", v, {40});
        });
        load_fails.operator()<approxnn::shape_error>(d, {(d / "head.running_mean.npy").string(), "head.running_mean",
                                                         "[40]", "[]"});
    }
    SUBCASE("a missing tensor file") {
        const fs::path d = broken([&](const fs::path& p) { fs::remove(p / "head.bias.npy"); });
        load_fails.operator()<approxnn::io_error>(d, {(d / "head.bias.npy").string()});
    }
    SUBCASE("a corrupt tensor file") {
        const fs::path d = broken([&](const fs::path& p) {
            const std::string bytes = read_bytes(p / "block1.body.conv2.running_mean.npy");
            write_bytes(p / "block1.body.conv2.running_mean.npy", bytes.substr(0, bytes.size() - 2));
        });
        load_fails.operator()<approxnn::format_error>(d, {(d / "block1.body.conv2.running_mean.npy").string(),
                                                          "has 14"});
    }
    SUBCASE("a float64 tensor file") {
        const fs::path d = broken([&](const fs::path& p) {
            const std::vector<double> v(5, 0.5);
            approxnn::save_npy<double>(p / "head.bias.npy", v, {5});
        });
        load_fails.operator()<approxnn::format_error>(d, {(d / "head.bias.npy").string(), "float64", "float32"});
    }
    SUBCASE("a missing manifest") {
        const fs::path d = broken([&](const fs::path& p) { fs::remove(p / "manifest.json"); });
        load_fails.operator()<approxnn::io_error>(d, {(d / "manifest.json").string()});
    }
    SUBCASE("malformed manifests") {
        const auto with = [&](const std::string& text) {
            return broken([&](const fs::path& p) { write_bytes(p / "manifest.json", text); });
        };
        const auto edited = [&](const std::function<void(nlohmann::json&)>& change) {
            nlohmann::json m = manifest;
            change(m);
            return with(m.dump());
        };
        fs::path d = with("{\"format\": ");
        load_fails.operator()<approxnn::format_error>(d, {(d / "manifest.json").string(), "not valid JSON"});
        d = with("[1, 2]");
        load_fails.operator()<approxnn::format_error>(d, {"not an object"});
        d = edited([](nlohmann::json& m) { m["format"] = "keras"; });
        load_fails.operator()<approxnn::format_error>(d, {(d / "manifest.json").string(), "\"keras\""});
        d = edited([](nlohmann::json& m) { m["version"] = 2; });
        load_fails.operator()<approxnn::format_error>(d, {"version", "2"});
        d = edited([](nlohmann::json& m) { m.erase("tensors"); });
        load_fails.operator()<approxnn::format_error>(d, {"\"tensors\""});
        d = edited([](nlohmann::json& m) { m["tensors"][2]["kind"] = "buffer"; });
        load_fails.operator()<approxnn::format_error>(d, {"block1.body.conv1.bias", "buffer", "parameter"});
        d = edited([](nlohmann::json& m) { m["tensors"][2]["kind"] = "weights"; });
        load_fails.operator()<approxnn::format_error>(d, {"'weights'"});
        d = edited([](nlohmann::json& m) { m["tensors"][3]["shape"] = {4, -1}; });
        load_fails.operator()<approxnn::format_error>(d, {"-1", "non-negative"});
        d = edited([](nlohmann::json& m) { m["tensors"][3]["shape"] = "4x1"; });
        load_fails.operator()<approxnn::format_error>(d, {"\"4x1\"", "not an array"});
        d = edited([](nlohmann::json& m) { m["tensors"][3].erase("file"); });
        load_fails.operator()<approxnn::format_error>(d, {"\"file\"", "missing"});
        d = edited([](nlohmann::json& m) { m["tensors"][3]["file"] = "../good/block1.body.conv2.weight.npy"; });
        load_fails.operator()<approxnn::format_error>(d, {"../good/block1.body.conv2.weight.npy", "plain file name"});
        d = edited([](nlohmann::json& m) { m["tensors"].push_back(m["tensors"][0]); });
        load_fails.operator()<approxnn::format_error>(d, {"'stem.weight'", "twice"});
    }
    SUBCASE("the good directory loads") {
        CHECK(nn::load_model(*model, good) == nlohmann::json{{"k", 1}});
        CHECK(bit_identical(snapshot(*model), snapshot(*source)));
    }
}

// --- PyTorch import -----------------------------------------------------------------------------------------------

TEST_CASE("pytorch import: OIHW convolution weights become OHWI, CHW-flattened linear inputs become HWC") {
    const scratch_dir dir("pytorch");
    // PyTorch model: conv (4, 2, 3, 3) + bias, depthwise (4, 1, 3, 3), BN stats, linear (5, 4 * 2 * 3) after a
    // flatten of a 4 x 2 x 3 map.
    nn::sequential model;
    model.emplace<fake_layer>("conv", nn::shape_t{4, 3, 3, 2}, nn::shape_t{4}, true);
    model.emplace<fake_layer>("dw", nn::shape_t{4, 3, 3, 1}, std::nullopt);
    model.emplace<fake_layer>("fc", nn::shape_t{5, 24}, std::nullopt, true);

    const auto code = [](std::size_t a, std::size_t b, std::size_t c, std::size_t d) {
        return static_cast<float>(a * 1000 + b * 100 + c * 10 + d);
    };
    std::vector<float> conv(4 * 2 * 3 * 3);
    for (std::size_t o = 0; o < 4; ++o)
        for (std::size_t i = 0; i < 2; ++i)
            for (std::size_t y = 0; y < 3; ++y)
                for (std::size_t x = 0; x < 3; ++x) conv[((o * 2 + i) * 3 + y) * 3 + x] = code(o, i, y, x);
    std::vector<double> dw(4 * 9);  // float64, as numpy.save of a double tensor writes
    for (std::size_t o = 0; o < 4; ++o)
        for (std::size_t k = 0; k < 9; ++k) dw[o * 9 + k] = code(o, 0, k / 3, k % 3) + 0.5;
    const std::size_t C = 4, H = 2, W = 3;
    std::vector<float> fc(5 * C * H * W);
    for (std::size_t o = 0; o < 5; ++o)
        for (std::size_t c = 0; c < C; ++c)
            for (std::size_t y = 0; y < H; ++y)
                for (std::size_t x = 0; x < W; ++x) fc[o * 24 + (c * H + y) * W + x] = code(o, c, y, x);
    const std::vector<float> conv_bias{1, 2, 3, 4};
    const std::vector<float> fc_bias{5, 6, 7, 8, 9};
    const std::vector<float> mean{0.25F, 0.5F, 0.75F, 1.0F};
    const std::vector<std::int64_t> batches{17};

    const fs::path w = dir / "weights";
    fs::create_directories(w);
    approxnn::save_npy<float>(w / "features.0.weight.npy", conv, {4, 2, 3, 3});
    approxnn::save_npy<float>(w / "features.0.bias.npy", conv_bias, {4});
    approxnn::save_npy<float>(w / "features.0.running_mean.npy", mean, {4});
    approxnn::save_npy<std::int64_t>(w / "features.0.num_batches_tracked.npy", batches, {});
    approxnn::save_npy<double>(w / "dw.weight.npy", dw, {4, 1, 3, 3});
    approxnn::save_npy<float>(w / "fc.weight.npy", fc, {5, 24});
    approxnn::save_npy<float>(w / "fc.bias.npy", fc_bias, {5});
    write_bytes(w / "notes.txt", "not a tensor");

    nn::pytorch_import_options options;
    options.name_map = {{"features.0.weight", "conv.weight"},
                        {"features.0.bias", "conv.bias"},
                        {"features.0.running_mean", "conv.running_mean"}};
    options.linear_input_chw = {{"fc.weight", {C, H, W}}};
    const nn::pytorch_import_report report = nn::import_pytorch(model, w, options);
    CHECK(report.imported.size() == 6);
    CHECK(report.ignored == std::vector<std::string>{"features.0.num_batches_tracked"});

    auto values = snapshot(model);
    const nn::tensor& cw = values.at("conv.weight");
    for (std::size_t o = 0; o < 4; ++o)
        for (std::size_t y = 0; y < 3; ++y)
            for (std::size_t x = 0; x < 3; ++x)
                for (std::size_t i = 0; i < 2; ++i) {
                    CAPTURE(o);
                    CAPTURE(y);
                    CAPTURE(x);
                    CAPTURE(i);
                    CHECK(cw[((o * 3 + y) * 3 + x) * 2 + i] == code(o, i, y, x));
                }
    CHECK(cw[1] == code(0, 1, 0, 0));  // OHWI: the input channel varies fastest
    const nn::tensor& dww = values.at("dw.weight");
    for (std::size_t o = 0; o < 4; ++o)
        for (std::size_t k = 0; k < 9; ++k) CHECK(dww[o * 9 + k] == code(o, 0, k / 3, k % 3) + 0.5F);
    const nn::tensor& fw = values.at("fc.weight");
    for (std::size_t o = 0; o < 5; ++o)
        for (std::size_t y = 0; y < H; ++y)
            for (std::size_t x = 0; x < W; ++x)
                for (std::size_t c = 0; c < C; ++c) CHECK(fw[o * 24 + (y * W + x) * C + c] == code(o, c, y, x));
    CHECK(values.at("conv.bias").values()[3] == 4.0F);
    CHECK(values.at("fc.bias").values()[0] == 5.0F);
    CHECK(values.at("buffer:conv.running_mean").values()[1] == 0.5F);

    // The permutation is what makes fc(flatten(map)) agree: PyTorch's CHW flatten with its weight equals the
    // engine's HWC flatten with the imported weight.
    std::vector<float> chw(C * H * W), hwc(C * H * W);
    for (std::size_t c = 0; c < C; ++c)
        for (std::size_t y = 0; y < H; ++y)
            for (std::size_t x = 0; x < W; ++x) {
                const float v = static_cast<float>(c) * 0.5F - static_cast<float>(y) + static_cast<float>(x) * 0.25F;
                chw[(c * H + y) * W + x] = v;
                hwc[(y * W + x) * C + c] = v;
            }
    for (std::size_t o = 0; o < 5; ++o) {
        double a = 0, b = 0;
        for (std::size_t k = 0; k < 24; ++k) {
            a += static_cast<double>(fc[o * 24 + k]) * chw[k];
            b += static_cast<double>(fw[o * 24 + k]) * hwc[k];
        }
        CHECK(a == b);
    }
}

TEST_CASE("pytorch import: errors name the file, the tensor and the shapes, and leave the model unchanged") {
    const scratch_dir dir("pytorch_errors");
    nn::sequential model;
    model.emplace<fake_layer>("conv", nn::shape_t{4, 3, 3, 2}, std::nullopt);
    model.emplace<fake_layer>("fc", nn::shape_t{3, 8}, std::nullopt, true);
    randomise(model, 5);
    const auto before = snapshot(model);

    int variant = 0;
    const auto weights = [&](const std::map<std::string, std::pair<npy_shape, npy_type>>& files) {
        const fs::path d = dir / numbered("v", variant++, "");
        fs::create_directories(d);
        for (const auto& [key, spec] : files) {
            std::size_t n = 1;
            for (const std::size_t s : spec.first) n *= s;
            if (spec.second == npy_type::float64) {
                approxnn::save_npy<double>(d / (key + ".npy"), std::vector<double>(n, 0.5), spec.first);
            } else if (spec.second == npy_type::int32) {
                approxnn::save_npy<std::int32_t>(d / (key + ".npy"), std::vector<std::int32_t>(n, 1), spec.first);
            } else {
                approxnn::save_npy<float>(d / (key + ".npy"), std::vector<float>(n, 0.5F), spec.first);
            }
        }
        return d;
    };
    const std::map<std::string, std::pair<npy_shape, npy_type>> good{
        {"conv.weight", {{4, 2, 3, 3}, npy_type::float32}},
        {"fc.weight", {{3, 8}, npy_type::float32}},
        {"fc.bias", {{3}, npy_type::float32}}};
    const auto import_fails = [&]<class E>(const fs::path& d, std::initializer_list<std::string> parts,
                                           const nn::pytorch_import_options& options = {}) {
        check_throws_with<E>([&] { (void)nn::import_pytorch(model, d, options); }, parts);
        CHECK(bit_identical(snapshot(model), before));
    };

    SUBCASE("missing and unexpected keys, with their mapped names") {
        auto files = good;
        files.erase("fc.bias");
        files["classifier.weight"] = {{3, 8}, npy_type::float32};
        files.erase("fc.weight");
        nn::pytorch_import_options options;
        options.name_map = {{"classifier.weight", "classifier.w"}};
        const fs::path d = weights(files);
        import_fails.operator()<approxnn::format_error>(
            d, {d.string(), "missing 'fc.bias', 'fc.weight'", "unexpected 'classifier.weight' (as 'classifier.w')"},
            options);
    }
    SUBCASE("a conv weight whose OHWI form does not fit") {
        auto files = good;
        files["conv.weight"] = {{4, 3, 3, 2}, npy_type::float32};  // already OHWI: read as OIHW it is (4, 3, 2, 3)
        const fs::path d = weights(files);
        import_fails.operator()<approxnn::shape_error>(
            d, {(d / "conv.weight.npy").string(), "'conv.weight'", "[4, 3, 3, 2]", "converted [4, 3, 2, 3]"});
    }
    SUBCASE("a plain shape mismatch") {
        auto files = good;
        files["fc.bias"] = {{4}, npy_type::float32};
        const fs::path d = weights(files);
        import_fails.operator()<approxnn::shape_error>(d, {(d / "fc.bias.npy").string(), "[4]", "[3]"});
    }
    SUBCASE("linear_input_chw that does not fit the columns, or names no linear weight") {
        const fs::path d = weights(good);
        nn::pytorch_import_options options;
        options.linear_input_chw = {{"fc.weight", {2, 2, 3}}};
        import_fails.operator()<approxnn::shape_error>(d, {(d / "fc.weight.npy").string(), "2 x 2 x 3", "[3, 8]"},
                                                       options);
        options.linear_input_chw = {{"fc.bias", {2, 2, 2}}};
        import_fails.operator()<approxnn::parameter_error>(d, {"'fc.bias'", "rank-2"}, options);
        options.linear_input_chw = {{"fc.weight", {8}}};
        import_fails.operator()<approxnn::parameter_error>(d, {"'fc.weight'", "[8]", "{C, H, W}"}, options);
        options.linear_input_chw = {{"fc.weight", {2, 2, 2}}};
        CHECK_NOTHROW((void)nn::import_pytorch(model, d, options));
    }
    SUBCASE("integer arrays are rejected; float64 is converted") {
        auto files = good;
        files["fc.bias"] = {{3}, npy_type::int32};
        const fs::path d = weights(files);
        import_fails.operator()<approxnn::format_error>(d, {(d / "fc.bias.npy").string(), "int32"});
        files["fc.bias"] = {{3}, npy_type::float64};
        const fs::path e = weights(files);
        CHECK_NOTHROW((void)nn::import_pytorch(model, e));
        CHECK(snapshot(model).at("fc.bias").values()[2] == 0.5F);
    }
    SUBCASE("two keys mapped to one name; ignored keys") {
        auto files = good;
        files["old.fc.bias"] = {{3}, npy_type::float32};
        const fs::path d = weights(files);
        nn::pytorch_import_options options;
        options.name_map = {{"old.fc.bias", "fc.bias"}};
        import_fails.operator()<approxnn::format_error>(d, {"'fc.bias'", "'old.fc.bias'", "both map"}, options);
        nn::pytorch_import_options skip;
        skip.ignore = {"old.fc.bias"};
        const nn::pytorch_import_report r = nn::import_pytorch(model, d, skip);
        CHECK(r.ignored == std::vector<std::string>{"old.fc.bias"});
    }
    SUBCASE("a corrupt file and a missing directory") {
        const fs::path d = weights(good);
        const std::string bytes = read_bytes(d / "fc.weight.npy");
        write_bytes(d / "fc.weight.npy", bytes.substr(0, bytes.size() - 4));
        import_fails.operator()<approxnn::format_error>(d, {(d / "fc.weight.npy").string(), "has 92"});
        import_fails.operator()<approxnn::not_found_error>(dir / "nowhere", {(dir / "nowhere").string()});
    }
}

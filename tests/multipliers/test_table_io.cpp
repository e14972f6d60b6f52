#include <doctest/doctest.h>

#include "test_support.hpp"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/multipliers/families.hpp"
#include "approxnn/multipliers/table.hpp"
#include "approxnn/multipliers/table_io.hpp"

namespace {

namespace fs = std::filesystem;
namespace am = approxnn::multipliers;
using approxnn::operand_position;
using approxnn::signedness;
using am::table_multiplier;

constexpr signedness u8 = signedness::unsigned_operands;
constexpr signedness s8 = signedness::signed_operands;
using test_support::check_throws_with;
using test_support::contains;
using test_support::read_bytes;
using test_support::write_bytes;

/// A scratch directory for this file's tests.
struct scratch_dir : test_support::scratch_dir {
    explicit scratch_dir(const std::string& name) : test_support::scratch_dir("table_io", name) {}
};
constexpr std::int32_t int32_min = std::numeric_limits<std::int32_t>::min();
constexpr std::int32_t int32_max = std::numeric_limits<std::int32_t>::max();






/// The operand value of raw byte `code`.
int value_of(int code, signedness s) { return s == s8 && code > 127 ? code - 256 : code; }

/// A table whose products are f(first value, second value).
table_multiplier table_of(signedness s, operand_position weight, const std::function<std::int32_t(int, int)>& f,
                          const std::string& name = "hand_built") {
    std::vector<std::int32_t> p(65536);
    for (int first = 0; first < 256; ++first) {
        for (int second = 0; second < 256; ++second) {
            p[static_cast<std::size_t>(first * 256 + second)] = f(value_of(first, s), value_of(second, s));
        }
    }
    return table_multiplier(s, weight, p, name);
}

/// A table of random products in [lo, hi] (fixed seed), with lo and hi themselves at both ends.
table_multiplier random_table(signedness s, operand_position weight, long long lo, long long hi, unsigned seed) {
    std::mt19937 gen(seed);
    std::uniform_int_distribution<long long> dist(lo, hi);
    std::vector<std::int32_t> p(65536);
    for (std::int32_t& v : p) v = static_cast<std::int32_t>(dist(gen));
    p.front() = static_cast<std::int32_t>(lo);
    p.back() = static_cast<std::int32_t>(hi);
    p[128 * 256 + 127] = static_cast<std::int32_t>(hi);
    p[127 * 256 + 128] = static_cast<std::int32_t>(lo);
    return table_multiplier(s, weight, p, "random");
}

/// Tables every format can hold (products within [-32768, 32767] for signed, [0, 65535] for unsigned).
std::vector<table_multiplier> closed_form_tables() {
    return {
        table_multiplier::exact(u8),
        table_multiplier::exact(s8),
        table_multiplier::from_policy<am::column_truncation<std::uint8_t, 4>>(),
        table_multiplier::from_policy<am::broken_array<std::int8_t, 2, 6>>(),
        table_multiplier::from_policy<am::drum<std::uint8_t, 4>>(),
        table_multiplier::from_policy<am::mitchell<std::int8_t>>(),
        table_multiplier::from_policy<am::swapped<am::broken_array<std::uint8_t, 2, 2>>>(),  // weight first
        table_multiplier::from_policy<am::swapped<am::perforation<std::int8_t, 1, 2>>>(),    // weight first
    };
}

// --- hand-built .npy files ---------------------------------------------------------------------------------------

std::string npy_dict(const std::string& descr, const std::string& fortran, const std::string& shape,
                     char quote = '\'') {
    const std::string q(1, quote);
    return "{" + q + "descr" + q + ": " + q + descr + q + ", " + q + "fortran_order" + q + ": " + fortran + ", " + q +
           "shape" + q + ": " + shape + ", }";
}

using test_support::npy_file;

/// The products of t as `item`-byte integers, C order (or Fortran order: element [r][c] at c * 256 + r).
std::string npy_payload(const table_multiplier& t, std::size_t item, bool big_endian, bool fortran = false) {
    std::string out(65536 * item, '\0');
    for (std::size_t r = 0; r < 256; ++r) {
        for (std::size_t c = 0; c < 256; ++c) {
            const auto v = static_cast<std::uint64_t>(static_cast<std::int64_t>(t.multiply(static_cast<int>(r),
                                                                                            static_cast<int>(c))));
            const std::size_t position = fortran ? c * 256 + r : r * 256 + c;
            for (std::size_t b = 0; b < item; ++b) {
                const std::size_t byte = big_endian ? item - 1 - b : b;
                out[position * item + byte] = static_cast<char>((v >> (8 * b)) & 0xFF);
            }
        }
    }
    return out;
}

table_multiplier read_npy_string(const std::string& bytes, signedness s = s8,
                                 operand_position weight = operand_position::second) {
    std::istringstream in(bytes);
    return am::read_npy(in, s, weight, "from_bytes", "hand.npy");
}

table_multiplier read_tfapprox_string(const std::string& bytes, signedness s = u8) {
    std::istringstream in(bytes);
    return am::read_tfapprox(in, s, operand_position::second, "from_bytes", "hand.bin");
}

table_multiplier read_csv_string(const std::string& text) {
    std::istringstream in(text);
    return am::read_table_csv(in, "from_text", "hand.csv");
}

/// CSV lines of a complete table (header first), written by hand: row (a, b) is line 2 + a_byte * 256 + b_byte.
std::vector<std::string> csv_lines(signedness s, const std::function<long long(int, int)>& f,
                                   const std::string& header = "activation,weight,product") {
    std::vector<std::string> lines{header};
    for (int first = 0; first < 256; ++first) {
        for (int second = 0; second < 256; ++second) {
            const int a = value_of(first, s);
            const int b = value_of(second, s);
            lines.push_back(std::to_string(a) + "," + std::to_string(b) + "," + std::to_string(f(a, b)));
        }
    }
    return lines;
}

std::string join_lines(const std::vector<std::string>& lines) {
    std::string text;
    for (const std::string& line : lines) {
        text += line;
        text += '\n';
    }
    return text;
}

long long exact_product(int a, int b) { return static_cast<long long>(a) * b; }

}  // namespace

TEST_CASE("Table round-trips through every file format are lossless; malformed files give the documented errors") {
    // The umbrella case: each format's round trip and error handling has its own test case below.
    SUBCASE("format names and extensions") {
        CHECK(am::to_string(am::table_format::tfapprox) == "tfapprox");
        CHECK(am::parse_table_format("npy") == am::table_format::npy);
        CHECK(am::parse_table_format("csv") == am::table_format::csv);
        CHECK(am::parse_table_format("tfapprox") == am::table_format::tfapprox);
        check_throws_with<approxnn::parameter_error>([] { (void)am::parse_table_format("bin"); }, {"'bin'"});
        CHECK(am::file_extension(am::table_format::tfapprox) == ".bin");
        CHECK(am::table_format_from_path("dir/mul8u_1JFF.bin") == am::table_format::tfapprox);
        CHECK(am::table_format_from_path("t.npy") == am::table_format::npy);
        CHECK(am::table_format_from_path("some.dir/t.csv") == am::table_format::csv);
        check_throws_with<approxnn::parameter_error>([] { (void)am::table_format_from_path("tables/t.txt"); },
                                                     {"tables/t.txt", "'.txt'"});
        check_throws_with<approxnn::parameter_error>([] { (void)am::table_format_from_path("tables/noext"); },
                                                     {"tables/noext"});
    }
}

TEST_CASE("TFApprox: byte layout and lossless round trips") {
    SUBCASE("layout: little-endian uint16 at index first * 256 + second; signed stored as value + 32768") {
        std::ostringstream u;
        am::write_tfapprox(table_multiplier::exact(u8), u);
        const std::string ub = u.str();
        REQUIRE(ub.size() == 131072);
        const auto at = [](const std::string& b, std::size_t index) {
            return static_cast<unsigned>(static_cast<unsigned char>(b[2 * index])) |
                   (static_cast<unsigned>(static_cast<unsigned char>(b[2 * index + 1])) << 8);
        };
        CHECK(at(ub, 0) == 0);
        CHECK(at(ub, 3 * 256 + 5) == 15);
        CHECK(at(ub, 255 * 256 + 255) == 65025);  // 0xFE01
        CHECK(static_cast<unsigned char>(ub[2 * 65535]) == 0x01);
        CHECK(static_cast<unsigned char>(ub[2 * 65535 + 1]) == 0xFE);

        std::ostringstream s;
        am::write_tfapprox(table_multiplier::exact(s8), s);
        const std::string sb = s.str();
        REQUIRE(sb.size() == 131072);
        CHECK(at(sb, 0) == 32768);                  // 0 * 0 + 32768
        CHECK(at(sb, 128 * 256 + 128) == 49152);    // (-128)(-128) = 16384, + 32768
        CHECK(at(sb, 255 * 256 + 1) == 32767);      // (-1)(1) = -1
        CHECK(at(sb, 128 * 256 + 127) == 16512);    // (-128)(127) = -16256, + 32768
    }

    SUBCASE("stream round trips, roles given by the caller") {
        std::vector<table_multiplier> tables = closed_form_tables();
        tables.push_back(random_table(u8, operand_position::second, 0, 65535, 1));
        tables.push_back(random_table(s8, operand_position::first, -32768, 32767, 2));
        for (const table_multiplier& t : tables) {
            CAPTURE(t.name());
            std::stringstream buffer;
            am::write_tfapprox(t, buffer);
            CHECK(buffer.str().size() == am::tfapprox_bytes);
            const table_multiplier r =
                am::read_tfapprox(buffer, t.operand_signedness(), t.weight_operand(), "read_back", "buffer");
            CHECK(r.same_products(t));
            CHECK(r.name() == "read_back");
            CHECK(r.weight_operand() == t.weight_operand());
            CHECK(r.operand_signedness() == t.operand_signedness());
        }
    }

    SUBCASE("file round trips") {
        const scratch_dir dir("tfapprox_files");
        std::vector<table_multiplier> tables = closed_form_tables();
        tables.push_back(random_table(u8, operand_position::first, 0, 65535, 3));
        tables.push_back(random_table(s8, operand_position::second, -32768, 32767, 4));
        int i = 0;
        for (const table_multiplier& t : tables) {
            CAPTURE(t.name());
            const fs::path path = dir / ("table" + std::to_string(i++) + ".bin");
            am::save_table(t, path);
            CHECK(fs::file_size(path) == 131072);
            CHECK_FALSE(fs::exists(fs::path(path.string() + ".partial")));
            const table_multiplier r = am::load_table(path, t.operand_signedness(), t.weight_operand());
            CHECK(r.same_products(t));
            CHECK(r.name() == path.stem().string());
        }
        // Overwriting an existing file replaces it completely.
        const fs::path path = dir / "overwrite.bin";
        write_bytes(path, std::string(200000, 'x'));
        am::save_table(table_multiplier::exact(u8), path);
        CHECK(fs::file_size(path) == 131072);
        CHECK(am::load_table(path, u8).is_exact());
    }
}

TEST_CASE("TFApprox: malformed inputs") {
    const std::string good(131072, '\0');
    CHECK(read_tfapprox_string(good).multiply(7, 7) == 0);
    check_throws_with<approxnn::format_error>([&] { read_tfapprox_string(good.substr(0, 131071)); },
                                              {"hand.bin", "131072", "131071"});
    check_throws_with<approxnn::format_error>([&] { read_tfapprox_string(good + '\0'); },
                                              {"hand.bin", "131072", "longer"});
    check_throws_with<approxnn::format_error>([&] { read_tfapprox_string(good + good); },
                                              {"hand.bin", "131072", "longer"});
    check_throws_with<approxnn::format_error>([&] { read_tfapprox_string(""); }, {"hand.bin", "131072", "has 0"});

    const scratch_dir dir("tfapprox_malformed");
    write_bytes(dir / "short.bin", good.substr(0, 1000));
    check_throws_with<approxnn::format_error>([&] { (void)am::load_table(dir / "short.bin", u8); },
                                              {(dir / "short.bin").string(), "131072", "1000"});
    write_bytes(dir / "empty.bin", "");
    check_throws_with<approxnn::format_error>([&] { (void)am::load_table(dir / "empty.bin", s8); },
                                              {(dir / "empty.bin").string(), "has 0"});
}

TEST_CASE("NumPy: written layout and lossless round trips") {
    SUBCASE("layout of a written int32 file: version 1.0 header padded to 64 bytes, C order, little-endian") {
        const table_multiplier t = table_multiplier::from_policy<am::broken_array<std::int8_t, 2, 6>>();
        std::ostringstream out;
        am::write_npy(t, out);
        const std::string b = out.str();
        REQUIRE(b.size() == 128 + 262144);  // the 63-character dict + '\n' pads to 128 bytes with the preamble
        CHECK(b.compare(0, 8, std::string("\x93NUMPY\x01\x00", 8)) == 0);
        CHECK(static_cast<unsigned char>(b[8]) == 118);
        CHECK(b[9] == '\0');
        CHECK(contains(b.substr(10, 118), "'descr': '<i4'"));
        CHECK(contains(b.substr(10, 118), "'fortran_order': False"));
        CHECK(contains(b.substr(10, 118), "'shape': (256, 256)"));
        CHECK(b[127] == '\n');
        const auto element = [&](int r, int c) {
            std::uint32_t v = 0;
            for (int k = 0; k < 4; ++k) {
                v |= std::uint32_t{static_cast<unsigned char>(b[static_cast<std::size_t>(128 + (r * 256 + c) * 4 + k)])}
                     << (8 * k);
            }
            return static_cast<std::int32_t>(v);
        };
        for (const auto& pair : {std::pair{1, 4}, {4, 1}, {255, 3}, {128, 128}, {100, 200}}) {
            const int r = pair.first;
            const int c = pair.second;
            CAPTURE(r);
            CAPTURE(c);
            CHECK(element(r, c) == t.multiply(r, c));
        }
        CHECK(element(255, 1) == 0);       // BAM h2 v6, (-1)(1): the only row, b_0, is removed
        CHECK(element(128, 128) == 16384); // (-128)(-128): only a_7 b_7 (column 14) -> kept

        std::ostringstream small;
        am::write_npy(table_multiplier::exact(s8), small, am::npy_dtype::int16);
        const std::string s = small.str();
        REQUIRE(s.size() == 128 + 131072);
        CHECK(contains(s.substr(10, 118), "'descr': '<i2'"));
        // (-1)(1) = -1 at index 255 * 256 + 1: 0xFFFF.
        CHECK(static_cast<unsigned char>(s[128 + (255 * 256 + 1) * 2]) == 0xFF);
        CHECK(static_cast<unsigned char>(s[128 + (255 * 256 + 1) * 2 + 1]) == 0xFF);
    }

    SUBCASE("stream round trips through int32 and int16") {
        std::vector<table_multiplier> tables = closed_form_tables();
        tables.push_back(random_table(s8, operand_position::second, int32_min, int32_max, 5));
        tables.push_back(random_table(u8, operand_position::first, int32_min, int32_max, 6));
        for (const table_multiplier& t : tables) {
            CAPTURE(t.name());
            std::stringstream buffer;
            am::write_npy(t, buffer);
            const table_multiplier r =
                am::read_npy(buffer, t.operand_signedness(), t.weight_operand(), "read_back", "buffer");
            CHECK(r.same_products(t));
            CHECK(r.name() == "read_back");
        }
        std::vector<table_multiplier> narrow{table_multiplier::exact(s8),
                                             table_multiplier::from_policy<am::broken_array<std::int8_t, 2, 6>>(),
                                             random_table(s8, operand_position::first, -32768, 32767, 7),
                                             random_table(u8, operand_position::second, -32768, 32767, 8)};
        for (const table_multiplier& t : narrow) {
            CAPTURE(t.name());
            std::stringstream buffer;
            am::write_npy(t, buffer, am::npy_dtype::int16);
            CHECK(buffer.str().size() == 128 + 131072);
            const table_multiplier r =
                am::read_npy(buffer, t.operand_signedness(), t.weight_operand(), "read_back", "buffer");
            CHECK(r.same_products(t));
        }
    }

    SUBCASE("file round trips") {
        const scratch_dir dir("npy_files");
        std::vector<table_multiplier> tables = closed_form_tables();
        tables.push_back(random_table(s8, operand_position::first, int32_min, int32_max, 9));
        int i = 0;
        for (const table_multiplier& t : tables) {
            CAPTURE(t.name());
            const fs::path path = dir / ("npy_table" + std::to_string(i++) + ".npy");
            am::save_table(t, path);
            CHECK(fs::file_size(path) == 128 + 262144);
            const table_multiplier r = am::load_table(path, t.operand_signedness(), t.weight_operand());
            CHECK(r.same_products(t));
            CHECK(r.name() == path.stem().string());
        }
    }
}

TEST_CASE("NumPy: hand-built files in every supported variant") {
    const table_multiplier bam_signed = table_multiplier::from_policy<am::broken_array<std::int8_t, 2, 6>>();
    const table_multiplier bam_unsigned = table_multiplier::from_policy<am::broken_array<std::uint8_t, 2, 2>>();
    REQUIRE_FALSE(bam_signed.is_commutative());  // so that a transposition would show

    SUBCASE("the reference: C order '<i4'") {
        const std::string f = npy_file(npy_dict("<i4", "False", "(256, 256)"), 1, npy_payload(bam_signed, 4, false));
        CHECK(read_npy_string(f).same_products(bam_signed));
    }
    SUBCASE("fortran_order True is read transposed back") {
        const std::string f =
            npy_file(npy_dict("<i4", "True", "(256, 256)"), 1, npy_payload(bam_signed, 4, false, true));
        CHECK(read_npy_string(f).same_products(bam_signed));
        // The same bytes declared C order give the transpose.
        const std::string c =
            npy_file(npy_dict("<i4", "False", "(256, 256)"), 1, npy_payload(bam_signed, 4, false, true));
        const table_multiplier transposed = read_npy_string(c);
        CHECK(transposed.multiply(1, 4) == bam_signed.multiply(4, 1));
        CHECK_FALSE(transposed.same_products(bam_signed));
    }
    SUBCASE("big-endian '>i4'") {
        const std::string f = npy_file(npy_dict(">i4", "False", "(256, 256)"), 1, npy_payload(bam_signed, 4, true));
        CHECK(read_npy_string(f).same_products(bam_signed));
    }
    SUBCASE("big-endian '>i2', Fortran order") {
        const std::string f =
            npy_file(npy_dict(">i2", "True", "(256, 256)"), 1, npy_payload(bam_signed, 2, true, true));
        CHECK(read_npy_string(f).same_products(bam_signed));
    }
    SUBCASE("'<i8' with negative values") {
        const std::string f = npy_file(npy_dict("<i8", "False", "(256, 256)"), 1, npy_payload(bam_signed, 8, false));
        const table_multiplier r = read_npy_string(f);
        CHECK(r.same_products(bam_signed));
        CHECK(r.multiply(-128, 127) < 0);
    }
    SUBCASE("'<u2' unsigned values above 32767") {
        const table_multiplier e = table_multiplier::exact(u8);
        const std::string f = npy_file(npy_dict("<u2", "False", "(256, 256)"), 1, npy_payload(e, 2, false));
        const table_multiplier r = read_npy_string(f, u8);
        CHECK(r.same_products(e));
        CHECK(r.multiply(255, 255) == 65025);
    }
    SUBCASE("'<u4'") {
        const std::string f = npy_file(npy_dict("<u4", "False", "(256, 256)"), 1, npy_payload(bam_unsigned, 4, false));
        CHECK(read_npy_string(f, u8).same_products(bam_unsigned));
    }
    SUBCASE("version 2.0 header (4-byte length)") {
        const std::string f = npy_file(npy_dict("<i4", "False", "(256, 256)"), 2, npy_payload(bam_signed, 4, false));
        CHECK(static_cast<int>(f[6]) == 2);
        CHECK(read_npy_string(f).same_products(bam_signed));
    }
    SUBCASE("header with double quotes, no spaces in the shape, Python 2 'L' suffixes") {
        const std::string f =
            npy_file(npy_dict("<i4", "False", "(256,256)", '"'), 1, npy_payload(bam_signed, 4, false));
        CHECK(read_npy_string(f).same_products(bam_signed));
        const std::string g = npy_file(npy_dict("<i4", "False", "(256L, 256L)"), 1, npy_payload(bam_signed, 4, false));
        CHECK(read_npy_string(g).same_products(bam_signed));
    }
    SUBCASE("keys in another order") {
        const std::string dict = "{'shape': (256, 256), 'fortran_order': False, 'descr': '<i4'}";
        CHECK(read_npy_string(npy_file(dict, 1, npy_payload(bam_signed, 4, false))).same_products(bam_signed));
    }
    SUBCASE("roles come from the caller") {
        const std::string f = npy_file(npy_dict("<i4", "False", "(256, 256)"), 1, npy_payload(bam_signed, 4, false));
        const table_multiplier r = read_npy_string(f, s8, operand_position::first);
        CHECK(r.weight_operand() == operand_position::first);
        CHECK(r.multiply(4, 1) == bam_signed.multiply(4, 1));
    }
}

TEST_CASE("NumPy: malformed inputs") {
    const table_multiplier t = table_multiplier::exact(s8);
    const std::string dict = npy_dict("<i4", "False", "(256, 256)");
    const std::string good = npy_file(dict, 1, npy_payload(t, 4, false));
    REQUIRE(read_npy_string(good).same_products(t));

    SUBCASE("bad magic") {
        std::string bad = good;
        bad[5] = 'X';
        check_throws_with<approxnn::format_error>([&] { read_npy_string(bad); }, {"hand.npy", "magic"});
        check_throws_with<approxnn::format_error>([&] { read_npy_string(good.substr(1)); }, {"hand.npy", "magic"});
        check_throws_with<approxnn::format_error>([&] { read_npy_string(std::string("\x93NUM", 4)); },
                                                  {"hand.npy", "magic"});
        check_throws_with<approxnn::format_error>([&] { read_npy_string(""); }, {"hand.npy", "magic"});
        // A TFApprox table is not an .npy file.
        check_throws_with<approxnn::format_error>([&] { read_npy_string(std::string(131072, '\0')); },
                                                  {"hand.npy", "magic"});
    }
    SUBCASE("unsupported version") {
        std::string bad = good;
        bad[6] = 4;
        check_throws_with<approxnn::format_error>([&] { read_npy_string(bad); }, {"hand.npy", "version 4"});
    }
    SUBCASE("truncated header") {
        check_throws_with<approxnn::format_error>([&] { read_npy_string(good.substr(0, 9)); },
                                                  {"hand.npy", "truncated .npy header"});
        check_throws_with<approxnn::format_error>([&] { read_npy_string(good.substr(0, 60)); },
                                                  {"hand.npy", "truncated .npy header"});
    }
    SUBCASE("unsupported dtypes") {
        for (const std::string descr : {"<f4", "<f8", "|i1", "|u1", "<c8", "<i3", "<U8"}) {
            CAPTURE(descr);
            const std::string f = npy_file(npy_dict(descr, "False", "(256, 256)"), 1, std::string(262144, '\0'));
            check_throws_with<approxnn::format_error>([&] { read_npy_string(f); }, {"hand.npy", "'" + descr + "'"});
        }
    }
    SUBCASE("wrong shape") {
        const std::string f = npy_file(npy_dict("<i4", "False", "(255, 256)"), 1, std::string(255 * 256 * 4, '\0'));
        check_throws_with<approxnn::format_error>([&] { read_npy_string(f); }, {"hand.npy", "(255, 256)"});
        const std::string flat = npy_file(npy_dict("<i4", "False", "(65536,)"), 1, std::string(262144, '\0'));
        check_throws_with<approxnn::format_error>([&] { read_npy_string(flat); }, {"hand.npy", "(65536,)"});
        const std::string three =
            npy_file(npy_dict("<i4", "False", "(256, 256, 1)"), 1, std::string(262144, '\0'));
        check_throws_with<approxnn::format_error>([&] { read_npy_string(three); }, {"hand.npy", "(256, 256, 1)"});
    }
    SUBCASE("missing or malformed header entries") {
        const std::string no_shape =
            npy_file("{'descr': '<i4', 'fortran_order': False, }", 1, npy_payload(t, 4, false));
        check_throws_with<approxnn::format_error>([&] { read_npy_string(no_shape); }, {"hand.npy", "'shape'"});
        const std::string bad_order = npy_file(npy_dict("<i4", "maybe", "(256, 256)"), 1, npy_payload(t, 4, false));
        check_throws_with<approxnn::format_error>([&] { read_npy_string(bad_order); }, {"hand.npy", "maybe"});
    }
    SUBCASE("truncated data") {
        check_throws_with<approxnn::format_error>([&] { read_npy_string(good.substr(0, good.size() - 1)); },
                                                  {"hand.npy", "262144", "262143"});
        check_throws_with<approxnn::format_error>([&] { read_npy_string(good.substr(0, 128)); },
                                                  {"hand.npy", "262144", "has 0"});
    }
    SUBCASE("trailing data") {
        check_throws_with<approxnn::format_error>([&] { read_npy_string(good + '\0'); },
                                                  {"hand.npy", "262144", "longer"});
    }
    SUBCASE("values beyond int32") {
        std::string payload = npy_payload(t, 8, false);
        payload[8 * 300 + 4] = 1;  // element 300 = 2^32 + its product
        const std::string f = npy_file(npy_dict("<i8", "False", "(256, 256)"), 1, payload);
        check_throws_with<approxnn::format_error>([&] { read_npy_string(f); }, {"hand.npy", "element 300", "int32"});
        std::string upayload(262144, '\0');
        upayload[4 * 7 + 3] = static_cast<char>(0x80);  // element 7 = 2^31
        const std::string g = npy_file(npy_dict("<u4", "False", "(256, 256)"), 1, upayload);
        check_throws_with<approxnn::format_error>([&] { read_npy_string(g, u8); }, {"hand.npy", "element 7", "int32"});
    }
    SUBCASE("a file: messages name the path") {
        const scratch_dir dir("npy_malformed");
        write_bytes(dir / "cut.npy", good.substr(0, 1000));
        check_throws_with<approxnn::format_error>([&] { (void)am::load_table(dir / "cut.npy", s8); },
                                                  {(dir / "cut.npy").string(), "262144", "872"});
    }
}

TEST_CASE("CSV: written text and lossless round trips") {
    SUBCASE("layout of a written file") {
        std::ostringstream u;
        am::write_table_csv(table_multiplier::exact(u8), u);
        const std::string text = u.str();
        CHECK(text.rfind("# approxnn product table 'exact_u8', unsigned operands\nactivation,weight,product\n"
                         "0,0,0\n0,1,0\n",
                         0) == 0);
        CHECK(contains(text, "\n255,255,65025\n"));
        CHECK(contains(text, "\n3,5,15\n"));

        std::ostringstream s;
        am::write_table_csv(table_multiplier::from_policy<am::swapped<am::exact<std::int8_t>>>(), s);
        const std::string st = s.str();
        CHECK(st.rfind("# approxnn product table 'exact_s8_swapped', signed operands\nweight,activation,product\n"
                       "-128,-128,16384\n-128,-127,16256\n",
                       0) == 0);
        CHECK(contains(st, "\n-1,1,-1\n"));
        CHECK(contains(st, "\n127,127,16129\n"));
    }

    SUBCASE("stream round trips: the file states signedness and roles") {
        std::vector<table_multiplier> tables = closed_form_tables();
        tables.push_back(random_table(u8, operand_position::second, int32_min, int32_max, 10));
        tables.push_back(random_table(s8, operand_position::first, int32_min, int32_max, 11));
        for (const table_multiplier& t : tables) {
            CAPTURE(t.name());
            std::stringstream buffer;
            am::write_table_csv(t, buffer);
            const table_multiplier r = am::read_table_csv(buffer, "read_back", "buffer");
            CHECK(r.same_products(t));
            CHECK(r.operand_signedness() == t.operand_signedness());
            CHECK(r.weight_operand() == t.weight_operand());
            CHECK(r.name() == "read_back");
        }
    }

    SUBCASE("file round trips") {
        const scratch_dir dir("csv_files");
        std::vector<table_multiplier> tables = closed_form_tables();
        tables.push_back(random_table(s8, operand_position::second, int32_min, int32_max, 12));
        int i = 0;
        for (const table_multiplier& t : tables) {
            CAPTURE(t.name());
            const fs::path path = dir / ("csv_table" + std::to_string(i++) + ".csv");
            am::save_table(t, path);
            const table_multiplier r = am::load_table_csv(path);
            CHECK(r.same_products(t));
            CHECK(r.name() == path.stem().string());
            CHECK(am::load_table(path, t.operand_signedness(), t.weight_operand()).same_products(t));
        }
    }

    SUBCASE("rows in any order, CRLF, comments, blank lines and spaces") {
        std::vector<std::string> lines = csv_lines(s8, [](int a, int b) { return exact_product(a, b) - 1; },
                                                   "weight , activation , product");
        std::mt19937 gen(13);
        std::shuffle(lines.begin() + 1, lines.end(), gen);
        std::string text = "# generated by hand\r\n\r\n";
        for (const std::string& line : lines) text += line + "\r\n";
        text += "# trailing comment\r\n";
        const table_multiplier r = read_csv_string(text);
        CHECK(r.operand_signedness() == s8);
        CHECK(r.weight_operand() == operand_position::first);
        CHECK(r.multiply(-128, -128) == 16383);
        CHECK(r.multiply(3, -5) == -16);
        CHECK(r.multiply(0, 0) == -1);
    }
}

TEST_CASE("CSV: malformed inputs") {
    // Unsigned exact table written by hand: header on line 1, row (a, b) on line 2 + a * 256 + b.
    const std::vector<std::string> lines = csv_lines(u8, exact_product);
    REQUIRE(read_csv_string(join_lines(lines)).is_exact());

    SUBCASE("empty input") {
        check_throws_with<approxnn::format_error>([] { read_csv_string(""); }, {"hand.csv", "empty"});
        check_throws_with<approxnn::format_error>([] { read_csv_string("# only a comment\n\n"); },
                                                  {"hand.csv", "empty"});
    }
    SUBCASE("bad header") {
        std::vector<std::string> bad = lines;
        bad[0] = "a,b,product";
        check_throws_with<approxnn::format_error>([&] { read_csv_string(join_lines(bad)); },
                                                  {"hand.csv:1", "'a,b,product'", "activation,weight,product"});
        bad[0] = "product,activation,weight";
        check_throws_with<approxnn::format_error>([&] { read_csv_string(join_lines(bad)); },
                                                  {"hand.csv:1", "'product,activation,weight'"});
        check_throws_with<approxnn::format_error>([&] { read_csv_string("# comment\n0,0,0\n"); },
                                                  {"hand.csv:2", "'0,0,0'"});
    }
    SUBCASE("wrong field count") {
        std::vector<std::string> bad = lines;
        bad[3] = "0,2";  // line 4
        check_throws_with<approxnn::format_error>([&] { read_csv_string(join_lines(bad)); },
                                                  {"hand.csv:4", "expected 3 fields, got 2"});
        bad[3] = "0,2,0,0";
        check_throws_with<approxnn::format_error>([&] { read_csv_string(join_lines(bad)); },
                                                  {"hand.csv:4", "expected 3 fields, got 4"});
    }
    SUBCASE("non-integer fields") {
        std::vector<std::string> bad = lines;
        bad[10] = "0,x,0";  // line 11
        check_throws_with<approxnn::format_error>([&] { read_csv_string(join_lines(bad)); }, {"hand.csv:11", "'x'"});
        bad[10] = "0,9,1.5";
        check_throws_with<approxnn::format_error>([&] { read_csv_string(join_lines(bad)); },
                                                  {"hand.csv:11", "'1.5'"});
        bad[10] = "0,9,";
        check_throws_with<approxnn::format_error>([&] { read_csv_string(join_lines(bad)); },
                                                  {"hand.csv:11", "''"});
    }
    SUBCASE("operand out of range") {
        std::vector<std::string> bad = lines;
        bad[20] = "256,0,0";  // line 21
        check_throws_with<approxnn::format_error>([&] { read_csv_string(join_lines(bad)); },
                                                  {"hand.csv:21", "operand 256", "[-128, 255]"});
        bad[20] = "0,-129,0";
        check_throws_with<approxnn::format_error>([&] { read_csv_string(join_lines(bad)); },
                                                  {"hand.csv:21", "operand -129"});
    }
    SUBCASE("duplicate pair: both lines named") {
        std::vector<std::string> bad = lines;
        bad[2] = "0,0,0";  // line 3 repeats (0, 0) of line 2; (0, 1) is now missing
        check_throws_with<approxnn::format_error>([&] { read_csv_string(join_lines(bad)); },
                                                  {"hand.csv:3", "(0, 0)", "line 2"});
        std::vector<std::string> late = lines;
        late[65536] = "3,5,15";  // line 65537 repeats (3, 5) of line 2 + 3 * 256 + 5 = 775
        check_throws_with<approxnn::format_error>([&] { read_csv_string(join_lines(late)); },
                                                  {"hand.csv:65537", "(3, 5)", "line 775"});
    }
    SUBCASE("missing pair") {
        std::vector<std::string> bad = lines;
        bad.erase(bad.begin() + 2 + 7 * 256 + 9 - 1);  // the row of (7, 9)
        check_throws_with<approxnn::format_error>([&] { read_csv_string(join_lines(bad)); },
                                                  {"hand.csv", "65535", "65536", "(7, 9)"});
        check_throws_with<approxnn::format_error>([] { read_csv_string("activation,weight,product\n"); },
                                                  {"hand.csv", "0 operand pairs", "(0, 0)"});
        // A signed table reports the missing pair by operand values.
        std::vector<std::string> s = csv_lines(s8, exact_product);
        s.erase(s.begin() + 1 + 255 * 256 + 2);  // the row of raw bytes (255, 2) = (-1, 2)
        check_throws_with<approxnn::format_error>([&] { read_csv_string(join_lines(s)); }, {"hand.csv", "(-1, 2)"});
    }
    SUBCASE("more than 65536 rows") {
        std::vector<std::string> bad = lines;
        bad.push_back("0,0,0");  // line 65538
        check_throws_with<approxnn::format_error>([&] { read_csv_string(join_lines(bad)); },
                                                  {"hand.csv:65538", "more than 65536 rows"});
    }
    SUBCASE("negative operands mixed with operands above 127") {
        check_throws_with<approxnn::format_error>(
            [] { read_csv_string("activation,weight,product\n5,-1,0\n0,0,0\n200,3,0\n"); },
            {"hand.csv", "-1 at line 2", "200 at line 4"});
        std::vector<std::string> bad = lines;
        bad[1] = "-128,0,0";  // a full unsigned table with one negative operand; 128 first at (0, 128), line 130
        check_throws_with<approxnn::format_error>([&] { read_csv_string(join_lines(bad)); },
                                                  {"hand.csv", "-128 at line 2", "128 at line 130"});
    }
    SUBCASE("product beyond int32") {
        std::vector<std::string> bad = lines;
        bad[1] = "0,0,2147483648";
        check_throws_with<approxnn::format_error>([&] { read_csv_string(join_lines(bad)); },
                                                  {"hand.csv:2", "2147483648", "int32"});
        bad[1] = "0,0,-2147483649";
        check_throws_with<approxnn::format_error>([&] { read_csv_string(join_lines(bad)); },
                                                  {"hand.csv:2", "-2147483649", "int32"});
        // The int32 extremes themselves are fine.
        bad[1] = "0,0,-2147483648";
        bad[2] = "0,1,2147483647";
        const table_multiplier r = read_csv_string(join_lines(bad));
        CHECK(r.multiply(0, 0) == int32_min);
        CHECK(r.multiply(0, 1) == int32_max);
    }
    SUBCASE("a file: messages name the path") {
        const scratch_dir dir("csv_malformed");
        std::vector<std::string> bad = lines;
        bad[5] = "0,4,zz";
        write_bytes(dir / "bad.csv", join_lines(bad));
        check_throws_with<approxnn::format_error>([&] { (void)am::load_table_csv(dir / "bad.csv"); },
                                                  {(dir / "bad.csv").string() + ":6", "'zz'"});
        check_throws_with<approxnn::format_error>([&] { (void)am::load_table(dir / "bad.csv", u8); },
                                                  {(dir / "bad.csv").string() + ":6", "'zz'"});
    }
}

TEST_CASE("Writing a table a format cannot hold throws and leaves no file") {
    const scratch_dir dir("unfit");
    // Unsigned table with one negative product.
    const table_multiplier negative =
        table_of(u8, operand_position::second, [](int a, int b) { return a == 0 && b == 5 ? -1 : a * b; }, "neg");
    // Signed table with one product beyond int16.
    const table_multiplier large =
        table_of(s8, operand_position::second, [](int a, int b) { return a == -3 && b == 7 ? 40000 : a * b; }, "big");

    SUBCASE("streams stay empty") {
        std::ostringstream out;
        check_throws_with<approxnn::format_error>([&] { am::write_tfapprox(negative, out); },
                                                  {"'neg'", "TFApprox", "M(0, 5) = -1", "[0, 65535]"});
        CHECK(out.str().empty());
        check_throws_with<approxnn::format_error>([&] { am::write_tfapprox(large, out); },
                                                  {"'big'", "M(-3, 7) = 40000", "[-32768, 32767]"});
        CHECK(out.str().empty());
        check_throws_with<approxnn::format_error>([&] { am::write_npy(large, out, am::npy_dtype::int16); },
                                                  {"'big'", "int16", "M(-3, 7) = 40000"});
        CHECK(out.str().empty());
        check_throws_with<approxnn::format_error>(
            [&] { am::write_npy(table_multiplier::exact(u8), out, am::npy_dtype::int16); }, {"exact_u8", "int16"});
        CHECK(out.str().empty());
        // int32 and CSV hold them.
        CHECK_NOTHROW(am::write_npy(large, out));
    }

    SUBCASE("save_table leaves no file, no temporary, and does not touch an existing file") {
        const fs::path fresh = dir / "neg.bin";
        check_throws_with<approxnn::format_error>([&] { am::save_table(negative, fresh); }, {"'neg'", "M(0, 5) = -1"});
        CHECK_FALSE(fs::exists(fresh));
        CHECK_FALSE(fs::exists(dir / "neg.bin.partial"));

        const fs::path existing = dir / "existing.bin";
        write_bytes(existing, "previous contents");
        check_throws_with<approxnn::format_error>([&] { am::save_table(large, existing); }, {"'big'", "40000"});
        CHECK(read_bytes(existing) == "previous contents");
        CHECK_FALSE(fs::exists(dir / "existing.bin.partial"));

        // The same tables fit .npy (int32) and .csv.
        CHECK_NOTHROW(am::save_table(negative, dir / "neg.npy"));
        CHECK(am::load_table(dir / "neg.npy", u8).multiply(0, 5) == -1);
        CHECK_NOTHROW(am::save_table(large, dir / "big.csv"));
        CHECK(am::load_table(dir / "big.csv", s8).multiply(-3, 7) == 40000);

        // Exactly one file per save, nothing else left over.
        std::size_t files = 0;
        for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir.path())) ++files;
        CHECK(files == 3);  // existing.bin, neg.npy, big.csv
    }
}

TEST_CASE("Table files: paths, extensions and declared roles") {
    const scratch_dir dir("paths");
    const table_multiplier t = table_multiplier::exact(s8);

    SUBCASE("unknown extension is a parameter_error and writes nothing") {
        check_throws_with<approxnn::parameter_error>([&] { am::save_table(t, dir / "table.txt"); },
                                                     {"table.txt", "'.txt'"});
        CHECK_FALSE(fs::exists(dir / "table.txt"));
        write_bytes(dir / "present.txt", "whatever");
        check_throws_with<approxnn::parameter_error>([&] { (void)am::load_table(dir / "present.txt", s8); },
                                                     {"present.txt", "'.txt'"});
        check_throws_with<approxnn::parameter_error>([&] { (void)am::load_table(dir / "noext", s8); }, {"noext"});
    }
    SUBCASE("a missing file is an io_error naming it") {
        for (const std::string name : {"missing.bin", "missing.npy", "missing.csv"}) {
            CAPTURE(name);
            check_throws_with<approxnn::io_error>([&] { (void)am::load_table(dir / name, s8); },
                                                  {(dir / name).string()});
        }
        check_throws_with<approxnn::io_error>([&] { (void)am::load_table_csv(dir / "missing.csv"); },
                                              {(dir / "missing.csv").string()});
    }
    SUBCASE("writing into a directory that does not exist is an io_error") {
        check_throws_with<approxnn::io_error>([&] { am::save_table(t, dir / "no_such_dir" / "t.bin"); },
                                              {(dir / "no_such_dir" / "t.bin").string()});
    }
    SUBCASE("load_table of a CSV table checks the declared signedness and weight position") {
        am::save_table(t, dir / "signed.csv");
        CHECK(am::load_table(dir / "signed.csv", s8).same_products(t));
        check_throws_with<approxnn::format_error>([&] { (void)am::load_table(dir / "signed.csv", u8); },
                                                  {(dir / "signed.csv").string(), "signed", "unsigned"});
        check_throws_with<approxnn::format_error>(
            [&] { (void)am::load_table(dir / "signed.csv", s8, operand_position::first); },
            {(dir / "signed.csv").string(), "second", "first"});

        const table_multiplier w = table_multiplier::from_policy<am::swapped<am::broken_array<std::uint8_t, 2, 2>>>();
        am::save_table(w, dir / "weight_first.csv");
        CHECK(am::load_table(dir / "weight_first.csv", u8, operand_position::first).same_products(w));
        check_throws_with<approxnn::format_error>([&] { (void)am::load_table(dir / "weight_first.csv", u8); },
                                                  {(dir / "weight_first.csv").string(), "first", "second"});
    }
    SUBCASE("binary formats take the roles as arguments") {
        const table_multiplier w = table_multiplier::from_policy<am::swapped<am::broken_array<std::uint8_t, 2, 2>>>();
        for (const std::string name : {"w.bin", "w.npy"}) {
            CAPTURE(name);
            am::save_table(w, dir / name);
            const table_multiplier as_first = am::load_table(dir / name, u8, operand_position::first);
            CHECK(as_first.same_products(w));
            const table_multiplier as_second = am::load_table(dir / name, u8);  // the caller's claim is taken
            CHECK(as_second.weight_operand() == operand_position::second);
            CHECK_FALSE(as_second.same_products(w));
            CHECK(std::equal(as_second.products().begin(), as_second.products().end(), w.products().begin()));
        }
    }
}

// The dCSR container: CRC-32, round trips (bytes, stream, file; int8, int16, float; with and without the row-start
// index), the header layout, rejection of truncated and corrupted containers with clear messages, the in-place
// view, atomic file replacement, and the committed fuzzing seeds.

#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/sparse/crc32.hpp"
#include "approxnn/sparse/dcsr_container.hpp"
#include "approxnn/sparse/dcsr_io.hpp"
#include "approxnn/sparse/dcsr_kernels.hpp"
#include "dcsr_test_support.hpp"
#include "test_support.hpp"

namespace sp = approxnn::sparse;
namespace fs = std::filesystem;
using i8 = std::int8_t;
using bytes_t = std::vector<std::uint8_t>;
using test_support::check_throws_with;

namespace {

sp::dcsr_matrix<i8> worked_example(bool index = false) {
    std::vector<i8> d(4 * 16, 0);
    d[1] = 5;
    d[4] = -3;
    d[6] = 7;
    d[11] = 2;
    const int row1[] = {0, 2, 3, 5, 8, 9, 13, 15};
    for (int i = 0; i < 8; ++i) d[static_cast<std::size_t>(16 + row1[i])] = static_cast<i8>(i + 1);
    d[3 * 16 + 14] = 9;
    return sp::dcsr_matrix<i8>::from_dense(d.data(), 4, 16, 0, {.row_index = index});
}

/// Recomputes both CRCs after an edit, so that the check under test is the one that fires.
void fix_crcs(bytes_t& b) {
    const std::uint32_t h = sp::crc32(b.data(), 60);
    std::memcpy(b.data() + 60, &h, 4);  // the tests run on little-endian x86
    const std::uint32_t t = sp::crc32(b.data(), b.size() - 4);
    std::memcpy(b.data() + b.size() - 4, &t, 4);
}

std::uint32_t le32(const bytes_t& b, std::size_t at) {
    std::uint32_t v = 0;
    std::memcpy(&v, b.data() + at, 4);
    return v;
}

template <class Value>
sp::dcsr_matrix<Value> read_bytes(const bytes_t& b) {
    return sp::read_dcsr<Value>(std::span<const std::uint8_t>(b));
}

}  // namespace

TEST_CASE("dcsr io: CRC-32 is the zlib / IEEE 802.3 checksum") {
    const char* text = "123456789";
    const auto* p = reinterpret_cast<const std::uint8_t*>(text);
    CHECK(sp::crc32(p, 9) == 0xCBF43926U);
    CHECK(sp::crc32(p, 0) == 0U);
    CHECK(sp::crc32_update(sp::crc32(p, 4), p + 4, 5) == 0xCBF43926U);
    constexpr std::uint8_t abc[3] = {'a', 'b', 'c'};
    static_assert(sp::crc32(abc, 3) == 0x352441C2U);  // evaluated at compile time
}

TEST_CASE("dcsr io: the header of the worked example, field by field") {
    const bytes_t b = sp::dcsr_container_bytes(worked_example());
    REQUIRE(b.size() >= 68);
    CHECK(std::string(b.begin(), b.begin() + 7) == "AXNDCSR");
    CHECK(b[7] == 0x1A);
    CHECK(b[8] == 1);  // version
    CHECK(b[9] == 0);
    CHECK(b[10] == 1);  // int8
    CHECK(b[11] == 0);  // no row index
    CHECK(le32(b, 12) == 64);
    CHECK(le32(b, 16) == 4);
    CHECK(le32(b, 20) == 16);
    CHECK(le32(b, 24) == 13);
    CHECK(le32(b, 28) == 13);  // values
    CHECK(le32(b, 32) == 32);  // delta_indices
    CHECK(le32(b, 36) == 3);  // group_minimums
    CHECK(le32(b, 40) == 2);  // bitmaps
    CHECK(le32(b, 44) == 0);  // bitmasks
    CHECK(le32(b, 48) == 4);  // row_offsets
    CHECK(le32(b, 52) == 0);  // row_starts
    // values at 64 (13 bytes), delta at 80 (32), minimums at 112 (3), bitmaps at 128 (2), bitmasks at 144 (0),
    // row_offsets at 144 (8): payload 152 - 64 = 88, total 152 + 4.
    CHECK(le32(b, 56) == 88);
    CHECK(b.size() == 156);
    CHECK(le32(b, 60) == sp::crc32(b.data(), 60));
    CHECK(le32(b, b.size() - 4) == sp::crc32(b.data(), b.size() - 4));
    CHECK(b[64] == 5);
    CHECK(b[80] == 0x31);
    CHECK(b[112] == static_cast<std::uint8_t>(-2));
    CHECK(b[144] == 1);  // row_offsets[0] = 1, little-endian
    CHECK(b[150] == static_cast<std::uint8_t>(-2));
    CHECK(b[151] == 0xFF);
}

TEST_CASE("dcsr io: round trips through bytes, streams and files for every value type, with and without the index") {
    test_support::scratch_dir dir("sparse", "io_round_trip");
    const std::vector<i8> d = dcsr_test::random_sparse(60, 333, 0.9, 71);
    for (const bool index : {false, true}) {
        CAPTURE(index);
        const auto m8 = sp::dcsr_matrix<i8>::from_dense(d.data(), 60, 333, 0, {.row_index = index});
        const bytes_t b = sp::dcsr_container_bytes(m8);
        CHECK(read_bytes<i8>(b) == m8);
        std::stringstream stream;
        sp::write_dcsr(stream, m8);
        sp::write_dcsr(stream, m8);  // two containers back to back: each read consumes exactly one
        CHECK(sp::read_dcsr<i8>(stream) == m8);
        CHECK(sp::read_dcsr<i8>(stream) == m8);
        sp::save_dcsr(dir / "m8.dcsr", m8);
        CHECK(sp::load_dcsr<i8>(dir / "m8.dcsr") == m8);
        CHECK(test_support::read_bytes(dir / "m8.dcsr") == std::string(b.begin(), b.end()));

        std::vector<std::int16_t> d16(d.size());
        std::vector<float> df(d.size());
        for (std::size_t i = 0; i < d.size(); ++i) {
            d16[i] = static_cast<std::int16_t>(d[i] * -257);
            df[i] = static_cast<float>(d[i]) / 3.0f;
        }
        const auto m16 = sp::dcsr_matrix<std::int16_t>::from_dense(d16.data(), 60, 333, 0, {.row_index = index});
        const auto mf = sp::dcsr_matrix<float>::from_dense(df.data(), 60, 333, 0, {.row_index = index});
        sp::save_dcsr(dir / "m16.dcsr", m16);
        sp::save_dcsr(dir / "mf.dcsr", mf);
        CHECK(sp::load_dcsr<std::int16_t>(dir / "m16.dcsr") == m16);
        CHECK(sp::load_dcsr<float>(dir / "mf.dcsr") == mf);
        CHECK(sp::load_dcsr<float>(dir / "mf.dcsr").to_dense() == df);
    }
    CHECK_FALSE(fs::exists(dir / "m8.dcsr.partial"));
}

TEST_CASE("dcsr io: a container truncated at every length is rejected as truncated") {
    const bytes_t b = sp::dcsr_container_bytes(worked_example(true));
    for (std::size_t length = 0; length < b.size(); ++length) {
        CAPTURE(length);
        const bytes_t cut(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(length));
        check_throws_with<approxnn::format_error>([&] { (void)read_bytes<i8>(cut); }, {"truncated container"});
        std::stringstream stream(std::string(cut.begin(), cut.end()));
        check_throws_with<approxnn::format_error>([&] { (void)sp::read_dcsr<i8>(stream); }, {"truncated container"});
    }
    bytes_t longer = b;
    longer.push_back(0);
    check_throws_with<approxnn::format_error>([&] { (void)read_bytes<i8>(longer); },
                                              {"bytes after the end", std::to_string(b.size() + 1) + " bytes"});
}

TEST_CASE("dcsr io: every corrupted byte of a container is rejected") {
    const bytes_t b = sp::dcsr_container_bytes(worked_example(true));
    for (std::size_t at = 0; at < b.size(); ++at) {
        for (const std::uint8_t flip : {std::uint8_t{0x01}, std::uint8_t{0x80}, std::uint8_t{0xFF}}) {
            bytes_t c = b;
            c[at] ^= flip;
            CAPTURE(at);
            CAPTURE(int(flip));
            bool rejected = false;
            try {
                (void)read_bytes<i8>(c);
            } catch (const approxnn::format_error&) {
                rejected = true;
            }
            CHECK(rejected);
        }
    }
}

TEST_CASE("dcsr io: each header and body check names its problem") {
    const bytes_t good = sp::dcsr_container_bytes(worked_example());
    SUBCASE("bad magic") {
        bytes_t b = good;
        b[0] = 'B';
        check_throws_with<approxnn::format_error>([&] { (void)read_bytes<i8>(b); }, {"not a dCSR container"});
    }
    SUBCASE("version") {
        bytes_t b = good;
        b[8] = 2;
        fix_crcs(b);
        check_throws_with<approxnn::format_error>([&] { (void)read_bytes<i8>(b); },
                                                  {"unsupported container version", "version 2"});
    }
    SUBCASE("value type") {
        check_throws_with<approxnn::format_error>([&] { (void)read_bytes<std::int16_t>(good); },
                                                  {"holds int8 values, int16 were asked for"});
        bytes_t b = good;
        b[10] = 9;
        fix_crcs(b);
        check_throws_with<approxnn::format_error>([&] { (void)read_bytes<i8>(b); }, {"unknown value type", "code 9"});
    }
    SUBCASE("flags") {
        bytes_t b = good;
        b[11] = 4;
        fix_crcs(b);
        check_throws_with<approxnn::format_error>([&] { (void)read_bytes<i8>(b); }, {"unknown flag bits", "flags 4"});
        b[11] = 1;  // the index flag without an index
        fix_crcs(b);
        check_throws_with<approxnn::format_error>([&] { (void)read_bytes<i8>(b); }, {"row_starts count 0, expected 5"});
    }
    SUBCASE("header checksum") {
        bytes_t b = good;
        b[20] = 17;  // cols, without fixing the header CRC
        check_throws_with<approxnn::format_error>([&] { (void)read_bytes<i8>(b); }, {"header checksum mismatch"});
    }
    SUBCASE("payload size field") {
        bytes_t b = good;
        b[56] = static_cast<std::uint8_t>(b[56] + 16);
        fix_crcs(b);
        check_throws_with<approxnn::format_error>([&] { (void)read_bytes<i8>(b); },
                                                  {"payload size field 104", "imply 88"});
    }
    SUBCASE("a lying count is caught by the sizes") {
        bytes_t b = good;
        b[28] = 200;  // 200 values: every later array moves by 192 bytes
        const std::uint32_t payload = le32(b, 56) + 192;
        std::memcpy(b.data() + 56, &payload, 4);
        fix_crcs(b);
        check_throws_with<approxnn::format_error>([&] { (void)read_bytes<i8>(b); }, {"truncated container"});
    }
    SUBCASE("non-zero padding") {
        bytes_t b = good;
        b[64 + 13] = 1;  // after the 13 values, before delta_indices at 80
        fix_crcs(b);
        check_throws_with<approxnn::format_error>([&] { (void)read_bytes<i8>(b); },
                                                  {"non-zero padding byte", "at byte 77"});
    }
    SUBCASE("body checksum") {
        bytes_t b = good;
        b[64] ^= 1;
        check_throws_with<approxnn::format_error>([&] { (void)read_bytes<i8>(b); },
                                                  {"checksum mismatch (corrupt data)"});
    }
    SUBCASE("arrays that pass the CRC but break an invariant") {
        bytes_t b = good;
        b[144] = 2;  // row_offsets[0] = 2: the rows sum to 14
        fix_crcs(b);
        check_throws_with<approxnn::format_error>([&] { (void)read_bytes<i8>(b); },
                                                  {"dCSR container: invalid dCSR data", "sum to 14, nnze = 13"});
    }
    SUBCASE("a huge declared size on a short stream fails at the end of the stream") {
        bytes_t b = good;
        const std::uint32_t huge = 0x40000000U;
        std::memcpy(b.data() + 28, &huge, 4);  // 1 GiB of values
        const auto l = sp::dcsr_layout_of([&] {
            sp::dcsr_container_header h;
            REQUIRE_FALSE(sp::parse_dcsr_header(b.data(), b.size(), h).ok());  // payload field not yet fixed
            h.counts[0] = huge;
            h.counts[1] = 32;
            h.counts[2] = 3;
            h.counts[3] = 2;
            h.counts[5] = 4;
            return h;
        }());
        const auto payload = static_cast<std::uint32_t>(l.payload_bytes);
        std::memcpy(b.data() + 56, &payload, 4);
        fix_crcs(b);
        std::stringstream stream(std::string(b.begin(), b.end()));
        check_throws_with<approxnn::format_error>([&] { (void)sp::read_dcsr<i8>(stream); }, {"truncated container"});
    }
}

TEST_CASE("dcsr io: the freestanding in-place view of a container in memory") {
    const std::vector<i8> d = dcsr_test::random_sparse(30, 70, 0.8, 81);
    const auto m = sp::dcsr_matrix<i8>::from_dense(d.data(), 30, 70, 0, {.row_index = true});
    const bytes_t b = sp::dcsr_container_bytes(m);
    std::vector<std::uint64_t> storage(b.size() / 8 + 4);  // 8-byte aligned; make it 16
    auto* base = reinterpret_cast<std::uint8_t*>(storage.data());
    while (reinterpret_cast<std::uintptr_t>(base) % 16 != 0) ++base;
    std::memcpy(base, b.data(), b.size());
    sp::dcsr_view<i8> v;
    const sp::dcsr_container_check c = sp::view_dcsr_container(base, b.size(), v);
    REQUIRE(c.ok());
    CHECK(v.has_row_index());
    CHECK(v.values == reinterpret_cast<const i8*>(base + 64));  // in place, no copy
    const std::vector<i8> x = dcsr_test::random_bytes(70, 82);
    std::vector<std::int32_t> y1(30);
    std::vector<std::int32_t> y2(30);
    sp::spmv(v, x, std::span<std::int32_t>(y1));
    sp::spmv(m, x, std::span<std::int32_t>(y2));
    CHECK(y1 == y2);
    // Misaligned: refused with a status, the data is fine.
    std::memmove(base + 1, base, b.size());
    sp::dcsr_view<i8> w;
    const sp::dcsr_container_check mis = sp::view_dcsr_container(base + 1, b.size(), w);
    CHECK(mis.defect == sp::dcsr_container_defect::misaligned);
    CHECK(mis.code == approxnn::status::format_error);
    // The wrong value type and corrupt bytes give status codes too.
    std::memmove(base, base + 1, b.size());
    sp::dcsr_view<float> f;
    CHECK(sp::view_dcsr_container(base, b.size(), f).defect == sp::dcsr_container_defect::value_type_mismatch);
    base[100] ^= 4;
    CHECK(sp::view_dcsr_container(base, b.size(), v).defect == sp::dcsr_container_defect::checksum);
    // Writing into a buffer that is too small.
    bytes_t small(b.size() - 1);
    CHECK(sp::write_dcsr_container(m.view(), small.data(), small.size()).defect ==
          sp::dcsr_container_defect::too_small_buffer);
}

TEST_CASE("dcsr io: files are replaced atomically; missing files and directories give io_error") {
    test_support::scratch_dir dir("sparse", "io_files");
    const auto a = worked_example();
    const auto b = sp::dcsr_matrix<i8>::from_dense(dcsr_test::random_sparse(5, 5, 0.5, 91).data(), 5, 5);
    sp::save_dcsr(dir / "m.dcsr", a);
    sp::save_dcsr(dir / "m.dcsr", b);  // replaces
    CHECK(sp::load_dcsr<i8>(dir / "m.dcsr") == b);
    CHECK_FALSE(fs::exists(dir / "m.dcsr.partial"));
    check_throws_with<approxnn::io_error>([&] { (void)sp::load_dcsr<i8>(dir / "missing.dcsr"); }, {"missing.dcsr"});
    check_throws_with<approxnn::io_error>([&] { sp::save_dcsr(dir / "no_such_dir" / "m.dcsr", a); }, {"m.dcsr"});
    test_support::write_bytes(dir / "bad.dcsr", "AXNDCSR");
    check_throws_with<approxnn::format_error>([&] { (void)sp::load_dcsr<i8>(dir / "bad.dcsr"); },
                                              {"bad.dcsr", "truncated container (7 bytes, 64 needed)"});
}

TEST_CASE("dcsr io: the committed fuzzing seeds are what the writer produces today") {
    // tests/data/dcsr_fuzz_seeds/ seeds the libFuzzer run of the container reader (tests/sparse/fuzz_dcsr_reader.cpp).
    // When the format changes, this test fails: regenerate them with APPROXNN_WRITE_DCSR_SEEDS=1 test_sparse.
    const fs::path dir = fs::path(APPROXNN_TEST_DATA_DIR) / "dcsr_fuzz_seeds";
    std::vector<std::pair<std::string, bytes_t>> seeds;
    seeds.emplace_back("worked_example.dcsr", sp::dcsr_container_bytes(worked_example()));
    seeds.emplace_back("worked_example_index.dcsr", sp::dcsr_container_bytes(worked_example(true)));
    {
        std::vector<i8> d(32, 0);
        for (int c = 0; c < 8; ++c) d[static_cast<std::size_t>(c)] = 1;
        seeds.emplace_back("extension.dcsr",
                           sp::dcsr_container_bytes(sp::dcsr_matrix<i8>::from_dense(d.data(), 1, 32)));
    }
    {
        const std::vector<i8> d = dcsr_test::random_sparse(12, 100, 0.9, 5);
        seeds.emplace_back("random_12x100.dcsr", sp::dcsr_container_bytes(sp::dcsr_matrix<i8>::from_dense(
                                                     d.data(), 12, 100, 0, {.row_index = true})));
        std::vector<std::int16_t> d16(d.begin(), d.end());
        seeds.emplace_back("random_12x100_int16.dcsr",
                           sp::dcsr_container_bytes(sp::dcsr_matrix<std::int16_t>::from_dense(d16.data(), 12, 100)));
        std::vector<float> df(d.begin(), d.end());
        seeds.emplace_back("random_12x100_float.dcsr",
                           sp::dcsr_container_bytes(sp::dcsr_matrix<float>::from_dense(df.data(), 12, 100)));
    }
    {
        const std::vector<i8> d(3 * 5, 0);
        seeds.emplace_back("all_zero.dcsr", sp::dcsr_container_bytes(sp::dcsr_matrix<i8>::from_dense(d.data(), 3, 5)));
    }
    const bool write = std::getenv("APPROXNN_WRITE_DCSR_SEEDS") != nullptr;
    for (const auto& seed : seeds) {
        const std::string& name = seed.first;
        const bytes_t& bytes = seed.second;
        CAPTURE(name);
        if (write) test_support::write_bytes(dir / name, std::string(bytes.begin(), bytes.end()));
        CHECK(test_support::read_bytes(dir / name) == std::string(bytes.begin(), bytes.end()));
    }
}

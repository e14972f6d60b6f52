// libFuzzer harness of the dCSR container reader (built only with clang and APPROXNN_SANITIZE=ON, run by CTest for a
// bounded time from the seeds in tests/data/dcsr_fuzz_seeds/). Properties checked on every input, under ASan and
// UBSan:
//   - the host reader (bytes and stream, every value type) either throws approxnn::error or returns a matrix;
//   - a matrix it returns is valid, decodes inside its shape, runs through every SpMV backend identically, and
//     writes back to exactly the input bytes (the container is canonical);
//   - the freestanding in-place view accepts exactly what the host reader accepts (int8), never reading outside.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/sparse/dcsr_container.hpp"
#include "approxnn/sparse/dcsr_io.hpp"
#include "approxnn/sparse/dcsr_kernels.hpp"
#include "approxnn/sparse/dcsr_reference.hpp"

namespace sp = approxnn::sparse;

namespace {

[[noreturn]] void fail() { __builtin_trap(); }

template <class Value>
bool exercise(std::span<const std::uint8_t> bytes) {
    sp::dcsr_matrix<Value> m;
    try {
        m = sp::read_dcsr<Value>(bytes);
    } catch (const approxnn::error&) {
        // The stream reader must agree.
        std::istringstream in(std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
        try {
            (void)sp::read_dcsr<Value>(in);
            if (in.peek() == std::char_traits<char>::eof()) fail();  // accepted the same bytes the span reader refused
        } catch (const approxnn::error&) {
        }
        return false;
    }
    if (!sp::validate_dcsr(m.view()).ok()) fail();
    m.for_each([&](std::uint32_t r, std::uint32_t c, Value) {
        if (r >= m.rows() || c >= m.cols()) fail();
    });
    const std::vector<std::uint8_t> again = sp::dcsr_container_bytes(m);
    if (again.size() != bytes.size() || std::memcmp(again.data(), bytes.data(), bytes.size()) != 0) fail();
    if constexpr (std::is_same_v<Value, std::int8_t>) {
        if (std::uint64_t{m.rows()} + m.cols() <= 100000) {
            std::vector<std::int8_t> x(m.cols());
            for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<std::int8_t>(i * 37 + 11);
            std::vector<std::int32_t> y0(m.rows()), y1(m.rows()), y2(m.rows());
            sp::spmv(sp::backends::scalar{}, m.view(), x, std::span<std::int32_t>(y0));
            sp::spmv(sp::backends::avx2{}, m.view(), x, std::span<std::int32_t>(y1));
            sp::spmv(sp::backends::avx512{}, m.view(), x, std::span<std::int32_t>(y2));
            if (y0 != y1 || y0 != y2) fail();
        }
    }
    return true;
}

void check_input(const std::uint8_t* data, std::size_t size);

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    check_input(data, size);
    // Mutations rarely keep the CRCs right: also check the input with both CRCs repaired, so that the fuzzer reaches
    // the size, padding and array checks behind them.
    if (size >= sp::dcsr_container_header_size) {
        std::vector<std::uint8_t> repaired(data, data + size);
        const std::uint32_t h = sp::crc32(repaired.data(), 60);
        std::memcpy(repaired.data() + 60, &h, 4);
        sp::dcsr_container_header header;
        if (sp::parse_dcsr_header(repaired.data(), repaired.size(), header).ok() &&
            sp::dcsr_layout_of(header).total_bytes == size) {
            const std::uint32_t t = sp::crc32(repaired.data(), size - 4);
            std::memcpy(repaired.data() + size - 4, &t, 4);
        }
        check_input(repaired.data(), repaired.size());
    }
    return 0;
}

namespace {

void check_input(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::uint8_t> bytes(data, size);
    const bool accepted8 = exercise<std::int8_t>(bytes);
    exercise<std::int16_t>(bytes);
    exercise<float>(bytes);
    // The freestanding in-place view on a 16-byte aligned copy.
    std::vector<std::uint64_t> storage(size / 8 + 3);
    auto* base = reinterpret_cast<std::uint8_t*>(storage.data());
    base += (16 - reinterpret_cast<std::uintptr_t>(base) % 16) % 16;
    if (size != 0) std::memcpy(base, data, size);
    sp::dcsr_view<std::int8_t> v;
    const sp::dcsr_container_check c = sp::view_dcsr_container(base, size, v);
    if (c.ok() != accepted8) fail();
    if (c.ok() && std::uint64_t{v.rows} + v.cols <= 100000) {
        std::vector<std::int8_t> x(v.cols, 1);
        std::vector<std::int32_t> y(v.rows);
        sp::spmv_reference(v, x.data(), y.data());
    }
}

}  // namespace

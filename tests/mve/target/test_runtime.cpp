// The Cortex-M55 test run-time itself (cmake/arm/): what the kernel tests rely on.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "approxnn/sparse/mve/config.hpp"

namespace {

std::uint32_t zero_initialised[64];  // .bss

struct constructed_at_start {
    std::uint32_t value = 0x5EED;
};
constructed_at_start global_object;  // needs __libc_init_array

}  // namespace

TEST_CASE("runtime: MVE kernels are compiled for this target") {
    static_assert(approxnn::sparse::mve::available, "the target build must have __ARM_FEATURE_MVE");
    CHECK(approxnn::sparse::mve::available);
}

TEST_CASE("runtime: .bss is zero and static constructors ran") {
    for (const std::uint32_t v : zero_initialised) CHECK(v == 0U);
    CHECK(global_object.value == 0x5EEDU);
}

TEST_CASE("runtime: the heap lies in DDR and holds tens of MiB") {
    const std::size_t bytes = std::size_t{32} << 20;
    std::unique_ptr<std::uint8_t[]> block(static_cast<std::uint8_t*>(std::malloc(bytes)));
    REQUIRE(block != nullptr);
    CHECK(reinterpret_cast<std::uintptr_t>(block.get()) >= 0x60000000U);
    std::memset(block.get(), 0xA5, bytes);
    CHECK(block[bytes - 1] == 0xA5);
    std::free(block.release());
    std::vector<std::int32_t> v(1 << 20, 7);
    CHECK(v.back() == 7);
}

TEST_CASE("runtime: the stack lies in DTCM") {
    int local = 0;
    const auto address = reinterpret_cast<std::uintptr_t>(&local);
    CHECK(address >= 0x20000000U);
    CHECK(address < 0x20080000U);
}

#pragma once
// The guard zone of the test programs (cmake/arm/mps3_an547.ld): the last 256 KiB of ISRAM, followed by unmapped
// addresses. An int8 array copied to end exactly at the zone's end makes any read past its end a bus fault, which
// ends the program with status 222: the test fails, loudly.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

extern "C" char __guard_zone_start__[];
extern "C" char __guard_zone_end__[];

namespace approxnn_test {

/// A copy of `data` that ends exactly where mapped memory ends (one array at a time: the next call overwrites it).
template <class Byte>
const Byte* at_guard_end(const std::vector<Byte>& data) {
    static_assert(sizeof(Byte) == 1, "the guard zone holds byte arrays (no alignment padding before its end)");
    const auto zone = static_cast<std::size_t>(__guard_zone_end__ - __guard_zone_start__);
    if (data.size() > zone) return nullptr;
    char* start = __guard_zone_end__ - data.size();
    if (!data.empty()) std::memcpy(start, data.data(), data.size());
    return reinterpret_cast<const Byte*>(start);
}

}  // namespace approxnn_test

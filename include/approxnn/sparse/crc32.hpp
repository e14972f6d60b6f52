#pragma once
// CRC-32 (IEEE 802.3: reflected polynomial 0xEDB88320, initial value and final XOR 0xFFFFFFFF), the checksum of
// the dCSR container. The same function as zlib's crc32() and Python's binascii.crc32(), written here so that
// firmware can check a container without zlib. FREESTANDING: constexpr, noexcept, a 1 KiB table.

#include <array>
#include <cstddef>
#include <cstdint>

namespace approxnn::sparse {

namespace detail {
inline constexpr std::array<std::uint32_t, 256> crc32_table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1U) != 0 ? 0xEDB88320U ^ (c >> 1) : c >> 1;
        t[i] = c;
    }
    return t;
}();
}  // namespace detail

/// Continues a CRC-32: crc32_update(crc32_update(0, a), b) == CRC-32 of a followed by b. Start with 0.
constexpr std::uint32_t crc32_update(std::uint32_t crc, const std::uint8_t* data, std::size_t size) noexcept {
    std::uint32_t c = crc ^ 0xFFFFFFFFU;
    for (std::size_t i = 0; i < size; ++i) c = detail::crc32_table[(c ^ data[i]) & 0xFFU] ^ (c >> 8);
    return c ^ 0xFFFFFFFFU;
}

/// CRC-32 of `size` bytes (crc32("123456789") == 0xCBF43926).
constexpr std::uint32_t crc32(const std::uint8_t* data, std::size_t size) noexcept {
    return crc32_update(0, data, size);
}

}  // namespace approxnn::sparse

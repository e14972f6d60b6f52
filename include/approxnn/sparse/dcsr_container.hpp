#pragma once
// The dCSR binary container, freestanding part (no exceptions, no heap): header parsing, full checking, an in-place
// view over a container in memory (e.g. in flash), and writing into a caller buffer. The host I/O
// (dcsr_io.hpp: streams, files, exceptions) is built on it.
//
// Layout (all integers little-endian; offsets from the first byte of the container):
//   0   8   magic            'A' 'X' 'N' 'D' 'C' 'S' 'R' 0x1A
//   8   2   version          1
//   10  1   value type       1 = int8 (the reference layout), 2 = int16, 3 = float32 (IEEE 754 binary32)
//   11  1   flags            bit 0: the row-start index is present; other bits 0
//   12  4   header size      64
//   16  4   rows             R >= 1
//   20  4   cols             C >= 1
//   24  4   nnze             N
//   28  4   values count                 (= N)
//   32  4   delta_indices bytes          (= 16·ceil(Gt/2))
//   36  4   group_minimums count         (= Gt)
//   40  4   bitmaps bytes                (= ceil(Gt/2))
//   44  4   bitmasks count               (= E)
//   48  4   row_offsets count            (= R)
//   52  4   row_starts count             (R + 1 with flag bit 0, else 0)
//   56  4   payload bytes    bytes between the header and the trailing checksum
//   60  4   header CRC-32    of bytes 0..59
//   64  ... the arrays in this order, each non-empty one starting at a multiple of 16 (zero bytes in between;
//           an empty array takes no space and no padding):
//           values (count · value size), delta_indices (uint8), group_minimums (int8), bitmaps (uint8),
//           bitmasks (uint16), row_offsets (int16), row_starts (3 × uint32 each: value, group, bitmask)
//   end−4 4 CRC-32 of every byte before it (crc32.hpp: the zlib / IEEE 802.3 CRC)
// A reader checks, in this order: the size, magic, version, value type, flags, header size, header CRC, that the
// row_starts count matches the flag, that the payload size equals the one the counts imply, the total size, zero
// padding, the CRC, and then every invariant of the arrays (validate_dcsr). The arrays' 16-byte alignment lets a
// 16-byte-aligned container in memory be used in place on a little-endian CPU (view_dcsr_container).

#include <bit>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "approxnn/core/error.hpp"
#include "approxnn/sparse/crc32.hpp"
#include "approxnn/sparse/dcsr_view.hpp"

namespace approxnn::sparse {

inline constexpr std::uint8_t dcsr_container_magic[8] = {'A', 'X', 'N', 'D', 'C', 'S', 'R', 0x1A};
inline constexpr std::uint16_t dcsr_container_version = 1;
inline constexpr std::uint32_t dcsr_container_header_size = 64;
inline constexpr std::uint32_t dcsr_container_alignment = 16;
inline constexpr std::uint8_t dcsr_container_flag_row_index = 1;

/// The value type code of the container.
enum class dcsr_value_type : std::uint8_t { int8 = 1, int16 = 2, float32 = 3 };

constexpr std::string_view to_string(dcsr_value_type t) noexcept {
    switch (t) {
        case dcsr_value_type::int8: return "int8";
        case dcsr_value_type::int16: return "int16";
        case dcsr_value_type::float32: return "float32";
    }
    return "unknown";
}

template <class Value>
inline constexpr dcsr_value_type dcsr_value_type_of = std::is_same_v<Value, std::int8_t>    ? dcsr_value_type::int8
                                                      : std::is_same_v<Value, std::int16_t> ? dcsr_value_type::int16
                                                                                            : dcsr_value_type::float32;

/// The decoded header.
struct dcsr_container_header {
    std::uint16_t version = dcsr_container_version;
    dcsr_value_type value_type = dcsr_value_type::int8;
    std::uint8_t flags = 0;
    std::uint32_t header_size = dcsr_container_header_size;
    std::uint32_t rows = 0;
    std::uint32_t cols = 0;
    std::uint32_t nnze = 0;
    std::uint32_t counts[7] = {};  ///< element counts: values, delta_indices, group_minimums, bitmaps, bitmasks,
        ///< row_offsets, row_starts (in dcsr_array order)
    std::uint32_t payload_bytes = 0;
    std::uint32_t header_crc = 0;
};

/// Where each array lies (offsets from the container start) and the sizes.
struct dcsr_container_layout {
    std::uint64_t offset[7] = {};
    std::uint64_t bytes[7] = {};
    std::uint64_t payload_bytes = 0;  ///< from the end of the header to the trailing CRC
    std::uint64_t total_bytes = 0;  ///< header + payload + 4
};

constexpr std::uint64_t dcsr_element_size(dcsr_value_type t, std::uint32_t array) noexcept {
    constexpr std::uint64_t sizes[7] = {0, 1, 1, 1, 2, 2, 12};
    if (array != 0) return sizes[array];
    return t == dcsr_value_type::int8 ? 1 : (t == dcsr_value_type::int16 ? 2 : 4);
}

/// The layout the header's counts imply (64-bit arithmetic: no overflow for any uint32 counts).
constexpr dcsr_container_layout dcsr_layout_of(const dcsr_container_header& h) noexcept {
    dcsr_container_layout l;
    std::uint64_t at = dcsr_container_header_size;
    for (std::uint32_t a = 0; a < 7; ++a) {
        l.bytes[a] = std::uint64_t{h.counts[a]} * dcsr_element_size(h.value_type, a);
        if (l.bytes[a] != 0)
            at = (at + dcsr_container_alignment - 1) / dcsr_container_alignment * dcsr_container_alignment;
        l.offset[a] = at;
        at += l.bytes[a];
    }
    l.payload_bytes = at - dcsr_container_header_size;
    l.total_bytes = at + 4;
    return l;
}

/// What is wrong with a container (the first problem found).
enum class dcsr_container_defect : std::uint8_t {
    none = 0,
    truncated,  ///< fewer bytes than the header (or the header's sizes) need
    bad_magic,  ///< not a dCSR container
    unsupported_version,  ///< a version this reader does not know
    unknown_value_type,  ///< a value type code other than 1, 2, 3
    value_type_mismatch,  ///< holds another value type than the one asked for
    unknown_flags,  ///< flag bits other than bit 0
    bad_header_size,  ///< header size field other than 64
    header_checksum,  ///< the header CRC does not match
    row_index_count,  ///< the row_starts count does not match the flag (R + 1 or 0)
    payload_size,  ///< the payload size field differs from what the counts imply
    trailing_bytes,  ///< more bytes than the header's sizes account for
    nonzero_padding,  ///< a padding byte between arrays is not zero
    checksum,  ///< the CRC-32 of the container does not match
    misaligned,  ///< in-place view: the buffer is not 16-byte aligned
    big_endian_host,  ///< in-place view: the CPU is not little-endian
    invalid_arrays,  ///< the arrays violate a dCSR invariant (see arrays)
    too_small_buffer,  ///< writing: the output buffer is too small
};

constexpr std::string_view to_string(dcsr_container_defect d) noexcept {
    switch (d) {
        case dcsr_container_defect::none: return "no defect";
        case dcsr_container_defect::truncated: return "truncated container";
        case dcsr_container_defect::bad_magic: return "not a dCSR container (bad magic)";
        case dcsr_container_defect::unsupported_version: return "unsupported container version";
        case dcsr_container_defect::unknown_value_type: return "unknown value type code";
        case dcsr_container_defect::value_type_mismatch: return "the container holds another value type";
        case dcsr_container_defect::unknown_flags: return "unknown flag bits";
        case dcsr_container_defect::bad_header_size: return "bad header size";
        case dcsr_container_defect::header_checksum: return "header checksum mismatch";
        case dcsr_container_defect::row_index_count: return "the row-start index count does not match the flag";
        case dcsr_container_defect::payload_size: return "the payload size does not match the array counts";
        case dcsr_container_defect::trailing_bytes: return "bytes after the end of the container";
        case dcsr_container_defect::nonzero_padding: return "non-zero padding byte";
        case dcsr_container_defect::checksum: return "checksum mismatch (corrupt data)";
        case dcsr_container_defect::misaligned: return "the buffer is not 16-byte aligned";
        case dcsr_container_defect::big_endian_host: return "in-place views need a little-endian CPU";
        case dcsr_container_defect::invalid_arrays: return "invalid dCSR arrays";
        case dcsr_container_defect::too_small_buffer: return "the output buffer is too small";
    }
    return "unknown defect";
}

/// Result of a container check: ok, or the first defect with the offending value and what was expected.
struct dcsr_container_check {
    status code = status::ok;
    dcsr_container_defect defect = dcsr_container_defect::none;
    std::uint64_t value = 0;
    std::uint64_t limit = 0;
    dcsr_validation arrays{};  ///< the arrays' defect when defect == invalid_arrays

    [[nodiscard]] constexpr bool ok() const noexcept { return code == status::ok; }
    constexpr explicit operator bool() const noexcept { return ok(); }
};

namespace detail {
constexpr dcsr_container_check container_fail(dcsr_container_defect d, std::uint64_t value = 0,
                                              std::uint64_t limit = 0) noexcept {
    return {d == dcsr_container_defect::too_small_buffer ? status::invalid_parameter : status::format_error,
            d,
            value,
            limit,
            {}};
}
constexpr std::uint32_t load_le32(const std::uint8_t* p) noexcept {
    return std::uint32_t{p[0]} | (std::uint32_t{p[1]} << 8) | (std::uint32_t{p[2]} << 16) | (std::uint32_t{p[3]} << 24);
}
constexpr std::uint16_t load_le16(const std::uint8_t* p) noexcept {
    return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}
constexpr void store_le32(std::uint8_t* p, std::uint32_t v) noexcept {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
constexpr void store_le16(std::uint8_t* p, std::uint16_t v) noexcept {
    p[0] = static_cast<std::uint8_t>(v);
    p[1] = static_cast<std::uint8_t>(v >> 8);
}
}  // namespace detail

/// Parses and checks the 64-byte header (magic, version, value type, flags, size, header CRC, row-index count,
/// payload size). `size` is the number of bytes available (at least the header).
constexpr dcsr_container_check parse_dcsr_header(const std::uint8_t* data, std::size_t size,
                                                 dcsr_container_header& h) noexcept {
    using detail::container_fail;
    using D = dcsr_container_defect;
    if (size < dcsr_container_header_size) return container_fail(D::truncated, size, dcsr_container_header_size);
    for (std::size_t i = 0; i < 8; ++i) {
        if (data[i] != dcsr_container_magic[i]) return container_fail(D::bad_magic, i, data[i]);
    }
    h.version = detail::load_le16(data + 8);
    if (h.version != dcsr_container_version)
        return container_fail(D::unsupported_version, h.version, dcsr_container_version);
    if (data[10] < 1 || data[10] > 3) return container_fail(D::unknown_value_type, data[10], 3);
    h.value_type = static_cast<dcsr_value_type>(data[10]);
    h.flags = data[11];
    if ((h.flags & ~dcsr_container_flag_row_index) != 0) return container_fail(D::unknown_flags, h.flags, 1);
    h.header_size = detail::load_le32(data + 12);
    if (h.header_size != dcsr_container_header_size) {
        return container_fail(D::bad_header_size, h.header_size, dcsr_container_header_size);
    }
    h.header_crc = detail::load_le32(data + 60);
    const std::uint32_t crc = crc32(data, 60);
    if (crc != h.header_crc) return container_fail(D::header_checksum, h.header_crc, crc);
    h.rows = detail::load_le32(data + 16);
    h.cols = detail::load_le32(data + 20);
    h.nnze = detail::load_le32(data + 24);
    for (std::size_t a = 0; a < 7; ++a) h.counts[a] = detail::load_le32(data + 28 + 4 * a);
    h.payload_bytes = detail::load_le32(data + 56);
    const std::uint64_t index_count = (h.flags & dcsr_container_flag_row_index) != 0 ? std::uint64_t{h.rows} + 1 : 0;
    if (h.counts[6] != index_count) return container_fail(D::row_index_count, h.counts[6], index_count);
    const dcsr_container_layout l = dcsr_layout_of(h);
    if (l.payload_bytes != h.payload_bytes) return container_fail(D::payload_size, h.payload_bytes, l.payload_bytes);
    return {};
}

/// Checks the whole byte image after a good header: exact size, zero padding, CRC.
constexpr dcsr_container_check check_dcsr_container_bytes(const std::uint8_t* data, std::size_t size,
                                                          const dcsr_container_header& h) noexcept {
    using detail::container_fail;
    using D = dcsr_container_defect;
    const dcsr_container_layout l = dcsr_layout_of(h);
    if (size < l.total_bytes) return container_fail(D::truncated, size, l.total_bytes);
    if (size > l.total_bytes) return container_fail(D::trailing_bytes, size, l.total_bytes);
    std::uint64_t at = dcsr_container_header_size;
    for (std::uint32_t a = 0; a < 7; ++a) {
        for (; at < l.offset[a]; ++at) {
            if (data[at] != 0) return container_fail(D::nonzero_padding, at, 0);
        }
        at += l.bytes[a];
    }
    const std::uint32_t stored = detail::load_le32(data + l.total_bytes - 4);
    const std::uint32_t crc = crc32(data, static_cast<std::size_t>(l.total_bytes - 4));
    if (stored != crc) return container_fail(D::checksum, stored, crc);
    return {};
}

/// A view over a container in memory, used in place (no copy): checks the header, the bytes, the value type, the
/// buffer's 16-byte alignment and little-endianness of the CPU, then every invariant of the arrays.
template <class Value>
dcsr_container_check view_dcsr_container(const std::uint8_t* data, std::size_t size, dcsr_view<Value>& out) noexcept {
    using detail::container_fail;
    using D = dcsr_container_defect;
    dcsr_container_header h;
    if (const dcsr_container_check c = parse_dcsr_header(data, size, h); !c.ok()) return c;
    if (h.value_type != dcsr_value_type_of<Value>) {
        return container_fail(D::value_type_mismatch, static_cast<std::uint64_t>(h.value_type),
                              static_cast<std::uint64_t>(dcsr_value_type_of<Value>));
    }
    if (const dcsr_container_check c = check_dcsr_container_bytes(data, size, h); !c.ok()) return c;
    if constexpr (std::endian::native != std::endian::little) return container_fail(D::big_endian_host);
    if (reinterpret_cast<std::uintptr_t>(data) % dcsr_container_alignment != 0) {
        return container_fail(D::misaligned, reinterpret_cast<std::uintptr_t>(data) % dcsr_container_alignment, 0);
    }
    const dcsr_container_layout l = dcsr_layout_of(h);
    dcsr_view<Value> v;
    v.rows = h.rows;
    v.cols = h.cols;
    v.nnze = h.nnze;
    const auto at = [&](std::uint32_t a) { return data + l.offset[a]; };
    v.values = h.counts[0] != 0 ? reinterpret_cast<const Value*>(at(0)) : nullptr;
    v.values_size = h.counts[0];
    v.delta_indices = h.counts[1] != 0 ? at(1) : nullptr;
    v.delta_indices_size = h.counts[1];
    v.group_minimums = h.counts[2] != 0 ? reinterpret_cast<const std::int8_t*>(at(2)) : nullptr;
    v.group_minimums_size = h.counts[2];
    v.bitmaps = h.counts[3] != 0 ? at(3) : nullptr;
    v.bitmaps_size = h.counts[3];
    v.bitmasks = h.counts[4] != 0 ? reinterpret_cast<const std::uint16_t*>(at(4)) : nullptr;
    v.bitmasks_size = h.counts[4];
    v.row_offsets = h.counts[5] != 0 ? reinterpret_cast<const std::int16_t*>(at(5)) : nullptr;
    v.row_offsets_size = h.counts[5];
    v.row_starts = h.counts[6] != 0 ? reinterpret_cast<const dcsr_row_start*>(at(6)) : nullptr;
    v.row_starts_size = h.counts[6];
    const dcsr_validation arrays = validate_dcsr(v);
    if (!arrays.ok()) {
        dcsr_container_check c = container_fail(D::invalid_arrays);
        c.arrays = arrays;
        return c;
    }
    out = v;
    return {};
}

/// The header describing a view's arrays.
template <class Value>
constexpr dcsr_container_header dcsr_header_of(const dcsr_view<Value>& v) noexcept {
    dcsr_container_header h;
    h.value_type = dcsr_value_type_of<Value>;
    h.flags = v.row_starts != nullptr ? dcsr_container_flag_row_index : 0;
    h.rows = v.rows;
    h.cols = v.cols;
    h.nnze = v.nnze;
    const std::uint32_t counts[7] = {v.values_size,   v.delta_indices_size, v.group_minimums_size, v.bitmaps_size,
                                     v.bitmasks_size, v.row_offsets_size,   v.row_starts_size};
    for (std::size_t a = 0; a < 7; ++a) h.counts[a] = counts[a];
    h.payload_bytes = static_cast<std::uint32_t>(dcsr_layout_of(h).payload_bytes);
    return h;
}

/// Bytes of the container of a view.
template <class Value>
constexpr std::uint64_t dcsr_container_size(const dcsr_view<Value>& v) noexcept {
    return dcsr_layout_of(dcsr_header_of(v)).total_bytes;
}

/// Writes the container of a (valid) view into out[0, capacity); fails with too_small_buffer when it does not fit.
/// Portable: bytes are composed explicitly (little-endian), whatever the CPU.
template <class Value>
constexpr dcsr_container_check write_dcsr_container(const dcsr_view<Value>& v, std::uint8_t* out,
                                                    std::size_t capacity) noexcept {
    const dcsr_container_header h = dcsr_header_of(v);
    const dcsr_container_layout l = dcsr_layout_of(h);
    if (l.total_bytes > capacity || l.payload_bytes > 0xFFFFFFFFU) {
        return detail::container_fail(dcsr_container_defect::too_small_buffer, capacity, l.total_bytes);
    }
    for (std::uint64_t i = 0; i < l.total_bytes; ++i) out[i] = 0;
    for (std::size_t i = 0; i < 8; ++i) out[i] = dcsr_container_magic[i];
    detail::store_le16(out + 8, h.version);
    out[10] = static_cast<std::uint8_t>(h.value_type);
    out[11] = h.flags;
    detail::store_le32(out + 12, h.header_size);
    detail::store_le32(out + 16, h.rows);
    detail::store_le32(out + 20, h.cols);
    detail::store_le32(out + 24, h.nnze);
    for (std::size_t a = 0; a < 7; ++a) detail::store_le32(out + 28 + 4 * a, h.counts[a]);
    detail::store_le32(out + 56, h.payload_bytes);
    detail::store_le32(out + 60, crc32(out, 60));
    std::uint8_t* p = out + l.offset[0];
    for (std::uint32_t i = 0; i < v.values_size; ++i) {
        if constexpr (std::is_same_v<Value, std::int8_t>) {
            p[i] = static_cast<std::uint8_t>(v.values[i]);
        } else if constexpr (std::is_same_v<Value, std::int16_t>) {
            detail::store_le16(p + 2 * std::size_t{i}, static_cast<std::uint16_t>(v.values[i]));
        } else {
            detail::store_le32(p + 4 * std::size_t{i}, std::bit_cast<std::uint32_t>(v.values[i]));
        }
    }
    for (std::uint32_t i = 0; i < v.delta_indices_size; ++i) out[l.offset[1] + i] = v.delta_indices[i];
    for (std::uint32_t i = 0; i < v.group_minimums_size; ++i) {
        out[l.offset[2] + i] = static_cast<std::uint8_t>(v.group_minimums[i]);
    }
    for (std::uint32_t i = 0; i < v.bitmaps_size; ++i) out[l.offset[3] + i] = v.bitmaps[i];
    for (std::uint32_t i = 0; i < v.bitmasks_size; ++i)
        detail::store_le16(out + l.offset[4] + 2 * std::size_t{i}, v.bitmasks[i]);
    for (std::uint32_t i = 0; i < v.row_offsets_size; ++i) {
        detail::store_le16(out + l.offset[5] + 2 * std::size_t{i}, static_cast<std::uint16_t>(v.row_offsets[i]));
    }
    for (std::uint32_t i = 0; i < v.row_starts_size; ++i) {
        std::uint8_t* e = out + l.offset[6] + 12 * std::size_t{i};
        detail::store_le32(e, v.row_starts[i].value);
        detail::store_le32(e + 4, v.row_starts[i].group);
        detail::store_le32(e + 8, v.row_starts[i].bitmask);
    }
    detail::store_le32(out + l.total_bytes - 4, crc32(out, static_cast<std::size_t>(l.total_bytes - 4)));
    return {};
}

}  // namespace approxnn::sparse

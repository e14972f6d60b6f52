#pragma once
// dCSR container I/O on the host: write / read a dcsr_matrix to a stream or a file (the format is documented in
// dcsr_container.hpp and docs/dcsr.md). Files are replaced atomically (written to <path>.partial, then renamed).
//
//   write_dcsr(out, m)            save_dcsr(path, m)
//   read_dcsr<Value>(in)          load_dcsr<Value>(path)
//   read_dcsr<Value>(bytes)       from memory
//
// Reading never trusts the input: the header is checked first (magic, version, value type, flags, sizes, header
// CRC), the body is read in bounded chunks (a header that lies about the size fails at the end of the stream
// instead of allocating), then the size, padding and CRC-32, then every invariant of the arrays
// (validate_dcsr). Any problem throws approxnn::format_error naming it and the offending value; an unreadable or
// unwritable file throws io_error.

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <istream>
#include <iterator>
#include <ostream>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/core/file_io.hpp"
#include "approxnn/sparse/dcsr_check.hpp"
#include "approxnn/sparse/dcsr_container.hpp"
#include "approxnn/sparse/dcsr_matrix.hpp"

namespace approxnn::sparse {

/// A sentence describing a failed container check.
inline std::string describe(const dcsr_container_check& c) {
    using std::to_string;
    using D = dcsr_container_defect;
    if (c.ok()) return "valid dCSR container";
    const std::string value = to_string(c.value);
    const std::string limit = to_string(c.limit);
    std::string detail;
    switch (c.defect) {
        case D::truncated: detail = to_string(c.value) + " bytes, " + limit + " needed"; break;
        case D::bad_magic: detail = "byte " + value + " is " + limit; break;
        case D::unsupported_version: detail = "version " + value + ", this reader knows " + limit; break;
        case D::unknown_value_type: detail = "code " + value; break;
        case D::value_type_mismatch:
            detail = "it holds " + std::string(to_string(static_cast<dcsr_value_type>(c.value))) + " values, " +
                     std::string(to_string(static_cast<dcsr_value_type>(c.limit))) + " were asked for";
            break;
        case D::unknown_flags: detail = "flags " + value; break;
        case D::bad_header_size: detail = "header size " + value + ", expected " + limit; break;
        case D::header_checksum: detail = "stored " + value + ", computed " + limit; break;
        case D::row_index_count: detail = "row_starts count " + value + ", expected " + limit; break;
        case D::payload_size: detail = "payload size field " + value + ", the counts imply " + limit; break;
        case D::trailing_bytes: detail = value + " bytes, the container has " + limit; break;
        case D::nonzero_padding: detail = "at byte " + value; break;
        case D::checksum: detail = "stored " + value + ", computed " + limit; break;
        case D::misaligned: detail = "address mod 16 = " + value; break;
        case D::invalid_arrays: return "dCSR container: " + describe(c.arrays);
        case D::too_small_buffer: detail = value + " bytes, " + limit + " needed"; break;
        case D::none:
        case D::big_endian_host: break;
    }
    return "dCSR container: " + std::string(to_string(c.defect)) + (detail.empty() ? "" : " (" + detail + ")");
}

/// The container of m as bytes.
template <class Value>
std::vector<std::uint8_t> dcsr_container_bytes(const dcsr_matrix<Value>& m) {
    const dcsr_view<Value> v = m.view();
    std::vector<std::uint8_t> bytes(static_cast<std::size_t>(dcsr_container_size(v)));
    const dcsr_container_check c = write_dcsr_container(v, bytes.data(), bytes.size());
    if (!c.ok()) throw format_error(describe(c));
    return bytes;
}

/// Writes the container of m to a binary stream.
template <class Value>
void write_dcsr(std::ostream& out, const dcsr_matrix<Value>& m) {
    const std::vector<std::uint8_t> bytes = dcsr_container_bytes(m);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw io_error("writing a dCSR container failed");
}

/// Reads a matrix of Value from a container in memory (all of `bytes`; trailing bytes are an error).
template <class Value>
dcsr_matrix<Value> read_dcsr(std::span<const std::uint8_t> bytes) {
    dcsr_container_header h;
    if (const dcsr_container_check c = parse_dcsr_header(bytes.data(), bytes.size(), h); !c.ok()) {
        throw format_error(describe(c));
    }
    if (h.value_type != dcsr_value_type_of<Value>) {
        dcsr_container_check c{status::format_error,
                               dcsr_container_defect::value_type_mismatch,
                               static_cast<std::uint64_t>(h.value_type),
                               static_cast<std::uint64_t>(dcsr_value_type_of<Value>),
                               {}};
        throw format_error(describe(c));
    }
    if (const dcsr_container_check c = check_dcsr_container_bytes(bytes.data(), bytes.size(), h); !c.ok()) {
        throw format_error(describe(c));
    }
    const dcsr_container_layout l = dcsr_layout_of(h);
    const std::uint8_t* d = bytes.data();
    dcsr_arrays<Value> a;
    a.rows = h.rows;
    a.cols = h.cols;
    a.nnze = h.nnze;
    a.values.resize(h.counts[0]);
    for (std::size_t i = 0; i < a.values.size(); ++i) {
        const std::uint8_t* p = d + l.offset[0] + i * sizeof(Value);
        if constexpr (std::is_same_v<Value, std::int8_t>) {
            a.values[i] = static_cast<std::int8_t>(p[0]);
        } else if constexpr (std::is_same_v<Value, std::int16_t>) {
            a.values[i] = static_cast<std::int16_t>(detail::load_le16(p));
        } else {
            a.values[i] = std::bit_cast<float>(detail::load_le32(p));
        }
    }
    a.delta_indices.assign(d + l.offset[1], d + l.offset[1] + h.counts[1]);
    a.group_minimums.resize(h.counts[2]);
    for (std::size_t i = 0; i < a.group_minimums.size(); ++i) {
        a.group_minimums[i] = static_cast<std::int8_t>(d[l.offset[2] + i]);
    }
    a.bitmaps.assign(d + l.offset[3], d + l.offset[3] + h.counts[3]);
    a.bitmasks.resize(h.counts[4]);
    for (std::size_t i = 0; i < a.bitmasks.size(); ++i) a.bitmasks[i] = detail::load_le16(d + l.offset[4] + 2 * i);
    a.row_offsets.resize(h.counts[5]);
    for (std::size_t i = 0; i < a.row_offsets.size(); ++i) {
        a.row_offsets[i] = static_cast<std::int16_t>(detail::load_le16(d + l.offset[5] + 2 * i));
    }
    std::vector<dcsr_row_start> starts(h.counts[6]);
    for (std::size_t i = 0; i < starts.size(); ++i) {
        const std::uint8_t* e = d + l.offset[6] + 12 * i;
        starts[i] = {detail::load_le32(e), detail::load_le32(e + 4), detail::load_le32(e + 8)};
    }
    // Validate the arrays exactly as stored (the row-start index included) before building the matrix.
    dcsr_view<Value> v;
    v.rows = a.rows;
    v.cols = a.cols;
    v.nnze = a.nnze;
    v.values = a.values.data();
    v.values_size = h.counts[0];
    v.delta_indices = a.delta_indices.data();
    v.delta_indices_size = h.counts[1];
    v.group_minimums = a.group_minimums.data();
    v.group_minimums_size = h.counts[2];
    v.bitmaps = a.bitmaps.data();
    v.bitmaps_size = h.counts[3];
    v.bitmasks = a.bitmasks.data();
    v.bitmasks_size = h.counts[4];
    v.row_offsets = a.row_offsets.data();
    v.row_offsets_size = h.counts[5];
    v.row_starts = starts.empty() ? nullptr : starts.data();
    v.row_starts_size = h.counts[6];
    if (const dcsr_validation check = validate_dcsr(v); !check.ok()) {
        throw format_error("dCSR container: " + describe(check));
    }
    return dcsr_matrix<Value>::from_arrays(std::move(a), dcsr_build_options{!starts.empty()});
}

/// Reads one container of Value from a binary stream (consumes exactly the container's bytes).
template <class Value>
dcsr_matrix<Value> read_dcsr(std::istream& in) {
    std::vector<std::uint8_t> bytes(dcsr_container_header_size);
    in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    bytes.resize(static_cast<std::size_t>(in.gcount()));
    dcsr_container_header h;
    if (const dcsr_container_check c = parse_dcsr_header(bytes.data(), bytes.size(), h); !c.ok()) {
        throw format_error(describe(c));
    }
    const std::uint64_t total = dcsr_layout_of(h).total_bytes;
    // Read the rest in bounded chunks: a header claiming gigabytes on a short stream fails at its end.
    constexpr std::size_t chunk = std::size_t{1} << 20;
    while (bytes.size() < total) {
        const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, total - bytes.size()));
        const std::size_t at = bytes.size();
        bytes.resize(at + want);
        in.read(reinterpret_cast<char*>(bytes.data() + at), static_cast<std::streamsize>(want));
        const auto got = static_cast<std::size_t>(in.gcount());
        if (got < want) {
            bytes.resize(at + got);
            const dcsr_container_check c{
                status::format_error, dcsr_container_defect::truncated, bytes.size(), total, {}};
            throw format_error(describe(c));
        }
    }
    return read_dcsr<Value>(std::span<const std::uint8_t>(bytes));
}

/// Writes m to `path`, replacing it atomically (a temporary <path>.partial renamed over it).
template <class Value>
void save_dcsr(const std::filesystem::path& path, const dcsr_matrix<Value>& m) {
    const std::vector<std::uint8_t> bytes = dcsr_container_bytes(m);
    write_file_atomically(path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

/// Reads a matrix of Value from a container file; the whole file must be one container.
template <class Value>
dcsr_matrix<Value> load_dcsr(const std::filesystem::path& path) {
    std::ifstream in = open_for_reading(path);
    std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    try {
        return read_dcsr<Value>(std::span<const std::uint8_t>(bytes));
    } catch (const format_error& e) {
        throw format_error(path.string() + ": " + e.what());
    }
}

}  // namespace approxnn::sparse

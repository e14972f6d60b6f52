#pragma once
// Host wrapper of the freestanding dCSR validator: check_dcsr(view) throws approxnn::format_error naming the
// violated invariant, where it was found and the offending value; describe(validation) gives the same text.

#include <cstdint>
#include <string>

#include "approxnn/core/error.hpp"
#include "approxnn/sparse/dcsr_view.hpp"

namespace approxnn::sparse {

/// A sentence describing a failed validation (or "valid dCSR data").
inline std::string describe(const dcsr_validation& v) {
    using std::to_string;
    if (v.ok()) return "valid dCSR data";
    const std::string value = to_string(v.value);
    const std::string limit = to_string(v.limit);
    const std::string row = "row " + to_string(v.row);
    const std::string where_lane = row + ", group " + to_string(v.group) + ", lane " + to_string(v.lane);
    std::string detail;
    switch (v.defect) {
        case dcsr_defect::none: break;
        case dcsr_defect::empty_shape: detail = v.value == 0 ? "rows = 0" : "cols = 0"; break;
        case dcsr_defect::too_many_columns: detail = "cols = " + value; break;
        case dcsr_defect::missing_array:
            detail = std::string(dcsr_array_name(static_cast<dcsr_array>(v.value))) + " is null";
            break;
        case dcsr_defect::values_length: detail = "values has " + value + " elements, nnze = " + limit; break;
        case dcsr_defect::row_offsets_length: detail = "row_offsets has " + value + " entries, rows = " + limit; break;
        case dcsr_defect::negative_row_size: detail = row + " has " + value + " elements"; break;
        case dcsr_defect::row_size_too_large: detail = row + " has " + value + " elements, nnze = " + limit; break;
        case dcsr_defect::row_offsets_sum: detail = "the row sizes sum to " + value + ", nnze = " + limit; break;
        case dcsr_defect::group_minimums_length:
            detail = "group_minimums has " + value + " entries, the rows need " + limit;
            break;
        case dcsr_defect::delta_indices_length:
            detail = "delta_indices has " + value + " bytes, expected " + limit;
            break;
        case dcsr_defect::bitmaps_length: detail = "bitmaps has " + value + " bytes, expected " + limit; break;
        case dcsr_defect::unused_bitmap_nibble:
            detail = "bitmaps[" + to_string(v.group) + "] has lower nibble " + value;
            break;
        case dcsr_defect::unused_delta_nibble:
            detail = "delta_indices[" + to_string(v.group) + "] has lower nibble " + value;
            break;
        case dcsr_defect::bitmasks_length:
            detail = "bitmasks has " + value + " entries, the bitmaps announce " + limit;
            break;
        case dcsr_defect::row_index_length: detail = "row_starts has " + value + " entries, expected " + limit; break;
        case dcsr_defect::row_index_mismatch:
            detail = "row_starts[" + to_string(v.group) + "] holds " + value + ", the running sum is " + limit;
            break;
        case dcsr_defect::group_minimum_range: detail = row + ", group " + to_string(v.group) + ": m = " + value; break;
        case dcsr_defect::lane_offset_range: detail = where_lane + ": offset " + value; break;
        case dcsr_defect::inactive_lane_residual: detail = where_lane + ": residual " + value; break;
        case dcsr_defect::column_out_of_range: detail = where_lane + ": column " + value + ", cols = " + limit; break;
        case dcsr_defect::column_order: detail = where_lane + ": column " + value + " after column " + limit; break;
        case dcsr_defect::duplicate_column:
            detail = where_lane + ": column " + value + " holds two non-zero elements";
            break;
    }
    return "invalid dCSR data: " + std::string(to_string(v.defect)) + " (" + detail + ")";
}

/// Throws format_error unless the view is valid (validate_dcsr).
template <class Value>
void check_dcsr(const dcsr_view<Value>& view) {
    const dcsr_validation v = validate_dcsr(view);
    if (!v.ok()) throw format_error(describe(v));
}

}  // namespace approxnn::sparse

#pragma once
// xtensor front ends of dcsr_matrix (kept apart so that no other sparse header includes xtensor):
//
//   dcsr_from_xtensor<Value>(e[, options])   any 2-D xtensor expression (evaluated row-major) -> dcsr_matrix<Value>
//   to_xtensor(m)                             dcsr_matrix<Value> -> xt::xtensor<Value, 2> (dense, row-major)
//
// A expression of another dimension throws shape_error naming it.

#include <cstddef>
#include <string>

#include <xtensor/xtensor.hpp>

#include "approxnn/core/error.hpp"
#include "approxnn/sparse/dcsr_matrix.hpp"

namespace approxnn::sparse {

/// A dCSR matrix from a 2-D xtensor expression (values converted to Value).
template <class Value = std::int8_t, class E>
dcsr_matrix<Value> dcsr_from_xtensor(const xt::xexpression<E>& expression, dcsr_build_options options = {}) {
    const auto& e = expression.derived_cast();
    if (e.dimension() != 2) {
        throw shape_error("dCSR: from_xtensor needs a 2-D expression, got " + std::to_string(e.dimension()) +
                          " dimensions");
    }
    const xt::xtensor<Value, 2, xt::layout_type::row_major> dense = e;
    return dcsr_matrix<Value>::from_dense(dense.data(), dense.shape(0), dense.shape(1), 0, options);
}

/// The dense matrix of m as an xtensor.
template <class Value>
xt::xtensor<Value, 2> to_xtensor(const dcsr_matrix<Value>& m) {
    xt::xtensor<Value, 2> out({static_cast<std::size_t>(m.rows()), static_cast<std::size_t>(m.cols())});
    m.to_dense(out.data());
    return out;
}

}  // namespace approxnn::sparse

#pragma once
// How the layers of nn/ choose their thread count for parallel_for.
//
// Every layer splits its work into tasks fixed by the tensor shapes alone (never by the thread count), and no
// floating-point sum crosses a task boundary in an order that depends on timing: results are bit-identical for
// any thread count.
#include <algorithm>
#include <cstddef>

#include "approxnn/core/parallel.hpp"

namespace approxnn::nn {

/// Work (scalar operations) below which a layer runs serially: a parallel region costs microseconds.
inline constexpr std::size_t serial_work_limit = std::size_t{1} << 15;

/// The thread count to pass to parallel_for for `work` scalar operations under a layer's limit `threads`
/// (0: every hardware thread): 1 below serial_work_limit, `threads` otherwise.
[[nodiscard]] constexpr unsigned threads_for(std::size_t work, unsigned threads) noexcept {
    return work < serial_work_limit ? 1U : threads;
}

/// Calls fn(begin, end) for the consecutive blocks [begin, end) of `block` items (the last one shorter) covering
/// [0, count), on threads_for(count * cost_per_item, threads) threads. The blocks depend on count and block only.
template <class F>
void parallel_blocks(std::size_t count, std::size_t block, std::size_t cost_per_item, unsigned threads, F&& fn) {
    if (count == 0) return;
    block = std::max<std::size_t>(block, 1);
    const std::size_t blocks = (count + block - 1) / block;
    parallel_for(blocks, threads_for(count * cost_per_item, threads), [&](std::size_t b) {
        const std::size_t begin = b * block;
        fn(begin, std::min(count, begin + block));
    });
}

}  // namespace approxnn::nn

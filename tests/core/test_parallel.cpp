#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <thread>
#include <vector>

#include "approxnn/core/parallel.hpp"

namespace {

// Runs `loop` (parallel_for or parallel_for_affine) and returns how often each task ran.
template <class Loop>
std::vector<int> run_counts(Loop loop, std::size_t tasks, unsigned threads) {
    std::vector<std::atomic<int>> counts(tasks);
    loop(tasks, threads, [&](std::size_t t) { counts[t].fetch_add(1); });
    std::vector<int> out;
    for (const auto& c : counts) out.push_back(c.load());
    return out;
}

const auto plain = [](std::size_t tasks, unsigned threads, auto&& fn) { approxnn::parallel_for(tasks, threads, fn); };
const auto affine = [](std::size_t tasks, unsigned threads, auto&& fn) {
    approxnn::parallel_for_affine(tasks, threads, fn);
};

}  // namespace

TEST_CASE("parallel_for and parallel_for_affine run every task exactly once") {
    for (const std::size_t tasks : {0U, 1U, 2U, 3U, 7U, 64U, 1000U}) {
        for (const unsigned threads : {0U, 1U, 2U, 3U, 8U}) {
            CAPTURE(tasks);
            CAPTURE(threads);
            CHECK(run_counts(plain, tasks, threads) == std::vector<int>(tasks, 1));
            CHECK(run_counts(affine, tasks, threads) == std::vector<int>(tasks, 1));
        }
    }
}

TEST_CASE("one thread runs the tasks in order on the caller") {
    for (const bool use_affine : {false, true}) {
        std::vector<std::size_t> order;
        std::vector<std::thread::id> where;
        const auto record = [&](std::size_t t) {
            order.push_back(t);
            where.push_back(std::this_thread::get_id());
        };
        if (use_affine) {
            approxnn::parallel_for_affine(5, 1, record);
        } else {
            approxnn::parallel_for(5, 1, record);
        }
        CHECK(order == std::vector<std::size_t>{0, 1, 2, 3, 4});
        CHECK(where == std::vector<std::thread::id>(5, std::this_thread::get_id()));
    }
}

TEST_CASE("parallel_for_affine: the caller starts with its own block, and a slow block is finished by others") {
    if (approxnn::parallel_capacity() < 2) return;  // one hardware thread: nothing to distribute
    // Two threads, four tasks: the caller owns tasks 0-1, the worker 2-3. The caller's tasks are slow, so the
    // worker finishes its block and then takes the caller's remaining task from the front of the caller's block.
    std::vector<std::thread::id> where(4);
    approxnn::parallel_for_affine(4, 2, [&](std::size_t t) {
        where[t] = std::this_thread::get_id();
        if (t < 2) std::this_thread::sleep_for(std::chrono::milliseconds(300));
    });
    const auto caller = std::this_thread::get_id();
    CHECK(where[0] == caller);
    CHECK(where[1] != caller);  // taken over by the worker
    CHECK(where[2] != caller);
    CHECK(where[3] != caller);
}

TEST_CASE("nested parallel loops run serially inside a task") {
    std::atomic<int> total{0};
    approxnn::parallel_for_affine(4, 2, [&](std::size_t) {
        approxnn::parallel_for(8, 2, [&](std::size_t) { total.fetch_add(1); });
        approxnn::parallel_for_affine(8, 2, [&](std::size_t) { total.fetch_add(1); });
    });
    CHECK(total.load() == 64);
}

TEST_CASE("an exception in a task reaches the caller after the other tasks ran") {
    for (const bool use_affine : {false, true}) {
        std::atomic<int> ran{0};
        const auto body = [&](std::size_t t) {
            ran.fetch_add(1);
            if (t == 3) throw std::runtime_error("task 3 failed");
        };
        if (use_affine) {
            CHECK_THROWS_WITH_AS(approxnn::parallel_for_affine(10, 2, body), "task 3 failed", std::runtime_error);
        } else {
            CHECK_THROWS_WITH_AS(approxnn::parallel_for(10, 2, body), "task 3 failed", std::runtime_error);
        }
        CHECK(ran.load() == 10);
    }
}

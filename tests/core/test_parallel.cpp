#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <thread>
#include <vector>

#include "approxnn/core/parallel.hpp"

namespace {

// How often each task ran in one parallel_for.
std::vector<int> run_counts(std::size_t tasks, unsigned threads) {
    std::vector<std::atomic<int>> counts(tasks);
    approxnn::parallel_for(tasks, threads, [&](std::size_t t) { counts[t].fetch_add(1); });
    std::vector<int> out;
    for (const auto& c : counts) out.push_back(c.load());
    return out;
}

}  // namespace

TEST_CASE("parallel_for runs every task exactly once") {
    for (const std::size_t tasks : {0U, 1U, 2U, 3U, 7U, 64U, 1000U}) {
        for (const unsigned threads : {0U, 1U, 2U, 3U, 8U}) {
            CAPTURE(tasks);
            CAPTURE(threads);
            CHECK(run_counts(tasks, threads) == std::vector<int>(tasks, 1));
        }
    }
}

TEST_CASE("one thread runs the tasks in order on the caller") {
    std::vector<std::size_t> order;
    std::vector<std::thread::id> where;
    approxnn::parallel_for(5, 1, [&](std::size_t t) {
        order.push_back(t);
        where.push_back(std::this_thread::get_id());
    });
    CHECK(order == std::vector<std::size_t>{0, 1, 2, 3, 4});
    CHECK(where == std::vector<std::thread::id>(5, std::this_thread::get_id()));
}

TEST_CASE("parallel_for: each thread starts with its own block, and a slow block is finished by the others") {
    if (approxnn::parallel_capacity() < 2) return;  // one hardware thread: nothing to distribute
    // Two threads, four tasks: the caller owns tasks 0-1, the worker 2-3. The caller's tasks are slow, so the
    // worker runs its own block, then takes the caller's remaining task. (Which of 0 and 1 that is depends on who
    // claims task 0 first; a schedule handing tasks to whoever asks would run 2 or 3 on the caller.)
    std::vector<std::thread::id> where(4);
    approxnn::parallel_for(4, 2, [&](std::size_t t) {
        where[t] = std::this_thread::get_id();
        if (t < 2) std::this_thread::sleep_for(std::chrono::milliseconds(300));
    });
    const auto caller = std::this_thread::get_id();
    CHECK(where[2] != caller);
    CHECK(where[3] != caller);
    CHECK((where[0] == caller) != (where[1] == caller));  // one of the caller's tasks was taken over
}

TEST_CASE("nested parallel loops run serially inside a task") {
    std::atomic<int> total{0};
    approxnn::parallel_for(4, 2, [&](std::size_t) {
        approxnn::parallel_for(16, 2, [&](std::size_t) { total.fetch_add(1); });
    });
    CHECK(total.load() == 64);
}

TEST_CASE("an exception in a task reaches the caller after the other tasks ran") {
    std::atomic<int> ran{0};
    const auto body = [&](std::size_t t) {
        ran.fetch_add(1);
        if (t == 3) throw std::runtime_error("task 3 failed");
    };
    CHECK_THROWS_WITH_AS(approxnn::parallel_for(10, 2, body), "task 3 failed", std::runtime_error);
    CHECK(ran.load() == 10);
}

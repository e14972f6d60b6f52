#pragma once
// A small persistent thread pool and parallel_for for the kernels.
//
// parallel_for(tasks, threads, fn) calls fn(task) for every task in [0, tasks), spreading them over at most
// `threads` threads (the caller included; 0 means every hardware thread) and returns when all are done. Calls from
// inside a task run serially on the calling thread, so kernels may nest them. Exceptions thrown by fn are rethrown
// in the caller (the first one); the remaining tasks still run.
//
// The schedule keeps tasks on cores: the tasks are cut into one contiguous block per thread, and thread p (p = 0:
// the caller, p > 0: pool worker p - 1) runs its own block first, in order, then helps with the others' remaining
// tasks, taking each from the front of its block. Repeated calls with the same shape thus run the same task on the
// same core as long as no thread falls behind (OpenMP's static schedule, with stealing at the end): data a task
// wrote in one call is still in that core's cache when the next call touches it again. Measured: two threads on a
// 256^3 GEMM 1.75x one instead of 1.08x with tasks handed to whichever thread came first; ResNet-8 training 6-7 %
// faster (docs/performance.md).

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace approxnn {

/// The number of hardware threads (at least 1).
inline unsigned hardware_threads() noexcept { return std::max(1U, std::thread::hardware_concurrency()); }

namespace detail {

inline thread_local bool inside_parallel_task = false;

class thread_pool {
public:
    static thread_pool& instance() {
        static thread_pool pool(hardware_threads() - 1);
        return pool;
    }

    ~thread_pool() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        for (std::thread& t : workers_) t.join();
    }
    thread_pool(const thread_pool&) = delete;
    thread_pool& operator=(const thread_pool&) = delete;

    [[nodiscard]] unsigned workers() const noexcept { return static_cast<unsigned>(workers_.size()); }

    /// Runs fn(0) .. fn(tasks - 1) on the caller and pool workers 0 .. helpers - 1 (see the top of this file).
    void run(std::size_t tasks, unsigned helpers, const std::function<void(std::size_t)>& fn) {
        std::unique_lock<std::mutex> run_lock(run_mutex_);  // one parallel region at a time
        helpers = std::min(helpers, workers());
        job j{&fn, tasks, 0, {}, nullptr, helpers + 1U, std::make_unique<block_cursor[]>(helpers + 1U)};
        for (unsigned p = 0; p < j.participants; ++p) j.blocks[p].next.store(block_begin(j, p), std::memory_order_relaxed);
        {
            std::lock_guard<std::mutex> lock(mutex_);
            job_ = &j;
            helpers_wanted_ = helpers;
            ++generation_;
            published_.store(generation_, std::memory_order_release);
        }
        wake_.notify_all();
        work(j, 0);
        // The helpers usually finish within microseconds of the caller: spin briefly before sleeping.
        for (int spin = 0; spin < 4000 && !(j.settled.load(std::memory_order_acquire) == tasks &&
                                            helpers_active_.load(std::memory_order_acquire) == 0);
             ++spin) {
            pause();
        }
        std::unique_lock<std::mutex> lock(mutex_);
        done_.wait(lock, [&] { return j.finished == tasks && helpers_active_ == 0; });
        job_ = nullptr;
        helpers_wanted_ = 0;
        if (j.error) std::rethrow_exception(j.error);
    }

    /// The most threads a parallel region can use: the pool's workers and the caller.
    [[nodiscard]] unsigned capacity() const noexcept { return workers() + 1U; }

private:
    struct alignas(64) block_cursor {
        std::atomic<std::size_t> next{0};
    };

    struct job {
        const std::function<void(std::size_t)>* fn;
        std::size_t tasks;
        std::size_t finished = 0;  // guarded by mutex_
        std::atomic<std::size_t> settled{0};  // finished, readable without the lock
        std::exception_ptr error;  // guarded by mutex_
        unsigned participants = 1;  // the caller and the helpers
        std::unique_ptr<block_cursor[]> blocks;  // the next task of each participant's block
    };

    static std::size_t block_begin(const job& j, unsigned p) noexcept { return p * j.tasks / j.participants; }

    static void pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }

    explicit thread_pool(unsigned workers) {
        for (unsigned i = 0; i < workers; ++i) workers_.emplace_back([this, i] { loop(i); });
    }

    // Runs tasks of j as participant p (0: the caller) until none is left.
    void work(job& j, unsigned p) {
        const bool was_inside = inside_parallel_task;
        inside_parallel_task = true;
        std::size_t completed = 0;
        std::exception_ptr error;
        const auto call = [&](std::size_t t) {
            try {
                (*j.fn)(t);
            } catch (...) {
                if (!error) error = std::current_exception();
            }
            ++completed;
        };
        // Own block first, then the others' remaining tasks, each block taken from its front.
        for (unsigned i = 0; i < j.participants; ++i) {
            const unsigned owner = (p + i) % j.participants;
            const std::size_t end = block_begin(j, owner + 1);
            std::atomic<std::size_t>& next = j.blocks[owner].next;
            for (std::size_t t = next.fetch_add(1); t < end; t = next.fetch_add(1)) call(t);
        }
        inside_parallel_task = was_inside;
        std::lock_guard<std::mutex> lock(mutex_);
        j.finished += completed;
        j.settled.store(j.finished, std::memory_order_release);
        if (error && !j.error) j.error = error;
    }

    // Pool worker `index`: participant index + 1.
    void loop(unsigned index) {
        std::size_t seen = 0;
        while (true) {
            job* j = nullptr;
            // Parallel regions often follow each other closely (layer after layer): spin a little before sleeping,
            // so that the next region does not wait for a wake-up from the kernel.
            for (int spin = 0; spin < 4000 && published_.load(std::memory_order_acquire) == seen; ++spin) {
                pause();
            }
            {
                std::unique_lock<std::mutex> lock(mutex_);
                // A job is joined by exactly the workers 0 .. helpers - 1.
                wake_.wait(lock, [&] {
                    return stopping_ || (generation_ != seen && helpers_wanted_ > 0 && index + 1U < job_->participants);
                });
                if (stopping_) return;
                seen = generation_;
                --helpers_wanted_;
                ++helpers_active_;
                j = job_;
            }
            work(*j, index + 1U);
            {
                std::lock_guard<std::mutex> lock(mutex_);
                --helpers_active_;
            }
            done_.notify_all();
        }
    }

    std::vector<std::thread> workers_;
    std::mutex run_mutex_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable done_;
    job* job_ = nullptr;
    unsigned helpers_wanted_ = 0;
    std::atomic<unsigned> helpers_active_{0};  // modified under mutex_, read without it while spinning
    std::size_t generation_ = 0;
    std::atomic<std::size_t> published_{0};  // generation_, readable without the lock (for spinning)
    bool stopping_ = false;
};

}  // namespace detail

/// The most threads a parallel region can run on (the pool's workers and the caller).
inline unsigned parallel_capacity() { return detail::thread_pool::instance().capacity(); }

/// Calls fn(task) for task in [0, tasks) on at most `threads` threads (0: all hardware threads; 1: serially, in
/// order, on the caller), with the schedule described at the top of this file.
template <class F>
void parallel_for(std::size_t tasks, unsigned threads, F&& fn) {
    if (threads == 0) threads = hardware_threads();
    const std::size_t wanted = std::min<std::size_t>(threads, tasks);
    if (wanted <= 1 || detail::inside_parallel_task) {
        for (std::size_t t = 0; t < tasks; ++t) fn(t);
        return;
    }
    const std::function<void(std::size_t)> call = [&fn](std::size_t t) { fn(t); };
    detail::thread_pool::instance().run(tasks, static_cast<unsigned>(wanted - 1), call);
}

}  // namespace approxnn

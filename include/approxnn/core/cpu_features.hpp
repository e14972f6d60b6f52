#pragma once
// Run-time detection of the x86 instruction sets approxnn's kernels use. Detected once, on first use; on other
// architectures every flag is false and the portable kernels run.

namespace approxnn {

struct cpu_features {
    bool avx2 = false;
    bool avx512f = false;
    bool avx512bw = false;
    bool avx512vl = false;
    bool avx512vnni = false;  ///< vpdpbusd: the exact int8 dot product
    bool avx512vbmi = false;  ///< vpermb: 64 byte lookups per instruction

    /// AVX-512 with VNNI (the exact and decomposed GEMM kernels).
    [[nodiscard]] bool has_vnni_kernels() const noexcept { return avx512f && avx512bw && avx512vl && avx512vnni; }
    /// AVX-512 with VBMI (the table and error-plane lookup kernels).
    [[nodiscard]] bool has_vbmi_kernels() const noexcept { return avx512f && avx512bw && avx512vl && avx512vbmi; }
};

/// The features of the CPU this process runs on.
inline const cpu_features& host_cpu() noexcept {
    static const cpu_features features = [] {
        cpu_features f;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_cpu_init();
        f.avx2 = __builtin_cpu_supports("avx2");
        f.avx512f = __builtin_cpu_supports("avx512f");
        f.avx512bw = __builtin_cpu_supports("avx512bw");
        f.avx512vl = __builtin_cpu_supports("avx512vl");
        f.avx512vnni = __builtin_cpu_supports("avx512vnni");
        f.avx512vbmi = __builtin_cpu_supports("avx512vbmi");
#endif
        return f;
    }();
    return features;
}

}  // namespace approxnn

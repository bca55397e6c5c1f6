// bench_kernels: GFLOP/s and ms of the CPU kernels that dominate the VDM ScoreNet,
// at its shapes (28x28 images, 64 channels). Speed targets live here, not in tests.
//   make bench            (or: build/release/bench_kernels --threads 2)
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <functional>

#include "apps/common/flags.h"
#include "autodiff/ops.h"
#include "tensor/cpu/gemm.h"

using namespace vdm;

namespace {

// Median-free but warm: one untimed call, then the mean over `reps` calls.
double time_ms(const std::function<void()>& fn, int reps) {
    fn();
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) fn();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / reps;
}

Tensor random(const Shape& s, uint64_t seed) {
    Tensor t = Tensor::empty(s);
    backend_for(Device::CPU).fill_normal(t, seed, 0);
    return t;
}

// flops = 0 for memory-bound kernels: time only.
void report(const char* name, double flops, double ms) {
    if (flops > 0)
        std::printf("%-46s %9.3f ms  %7.1f GFLOP/s\n", name, ms, flops / (ms * 1e6));
    else
        std::printf("%-46s %9.3f ms\n", name, ms);
}

void bench_gemm(int64_t M, int64_t N, int64_t K, bool naive) {
    Tensor A = random(Shape{M, K}, 1), B = random(Shape{K, N}, 2), C = Tensor::zeros(Shape{M, N});
    auto run = [&] {
        (naive ? cpu::gemm_naive<float> : cpu::gemm<float>)(false, false, M, N, K, A.data<float>(), K,
                                                           B.data<float>(), N, 0.0f, C.data<float>(), N);
    };
    char name[96];
    std::snprintf(name, sizeof name, "gemm%s %lldx%lldx%lld", naive ? "_naive" : "", (long long)M,
                  (long long)N, (long long)K);
    report(name, 2.0 * double(M) * double(N) * double(K), time_ms(run, naive ? 1 : 10));
}

}  // namespace

int main(int argc, char** argv) {
    return run_app([&] {
        int64_t threads = 0, batch = 16;
        Flags flags("bench_kernels", "time the CPU kernels at ScoreNet shapes");
        flags.add("threads", &threads, 0, 1024, "OpenMP threads (0: all cores)");
        flags.add("batch", &batch, 1, 4096, "images per conv2d call");
        if (!flags.parse(argc, argv)) return 0;
        if (threads > 0) omp_set_num_threads(int(threads));
        std::printf("threads: %d\n", omp_get_max_threads());

        bench_gemm(64, 784, 576, true);
        bench_gemm(64, 784, 576, false);   // one image of a 64->64 3x3 conv
        bench_gemm(512, 512, 512, false);
        bench_gemm(784, 784, 64, false);   // attention scores, one head

        const int64_t C = 64, H = 28, W = 28;
        Var x(random(Shape{batch, C, H, W}, 3), true), w(random(Shape{C, C, 3, 3}, 4), true),
            b(random(Shape{C}, 5), true);
        const double conv_flops = 2.0 * double(batch) * C * C * 9 * H * W;
        char name[96];
        std::snprintf(name, sizeof name, "conv2d 3x3 forward (%lld,64,28,28)", (long long)batch);
        report(name, conv_flops, time_ms([&] { NoGradGuard g; conv2d(x, w, b); }, 5));
        std::snprintf(name, sizeof name, "conv2d 3x3 forward+backward (%lld,64,28,28)", (long long)batch);
        report(name, 3.0 * conv_flops, time_ms([&] {
                   sum(conv2d(x, w, b)).backward();
                   x.zero_grad(), w.zero_grad(), b.zero_grad();
               }, 3));
        Var gw(random(Shape{C}, 6), true), gb(random(Shape{C}, 7), true);
        std::snprintf(name, sizeof name, "group_norm+silu fwd+bwd (%lld,64,28,28)", (long long)batch);
        report(name, 0.0, time_ms([&] {
                   sum(silu(group_norm(x, 32, gw, gb))).backward();
                   x.zero_grad(), gw.zero_grad(), gb.zero_grad();
               }, 5));
        std::snprintf(name, sizeof name, "silu fwd+bwd (%lld,64,28,28)", (long long)batch);
        report(name, 0.0, time_ms([&] {
                   sum(silu(x)).backward();
                   x.zero_grad();
               }, 5));
        Var logits(random(Shape{batch * H * W, 256}, 8), true);  // the decoder's 256-way softmax
        std::snprintf(name, sizeof name, "log_softmax 256-way fwd+bwd (%lld*784 rows)", (long long)batch);
        report(name, 0.0, time_ms([&] {
                   sum(log_softmax(logits)).backward();
                   logits.zero_grad();
               }, 3));
        return 0;
    });
}

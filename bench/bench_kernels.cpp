// bench_kernels: GFLOP/s and ms of the CPU kernels that dominate the VDM ScoreNet,
// at its shapes (28x28 images, 64 channels). Speed targets live here, not in tests.
//   make bench            (or: build/release/bench_kernels --threads 2)
// --gemm M,N,K,ta,tb,beta times one gemm shape alone (bench/gemm_vs_openblas.py uses it).
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>

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

// The fastest of `batches` batches of `reps` calls, per call: on a shared machine the
// fastest batch is the one least disturbed by other processes.
double best_ms(const std::function<void()>& fn, int reps, int batches) {
    double best = 1e300;
    for (int b = 0; b < batches; ++b) best = std::min(best, time_ms(fn, reps));
    return best;
}

// flops = 0 for memory-bound kernels: time only.
void report(const char* name, double flops, double ms) {
    if (flops > 0)
        std::printf("%-46s %9.3f ms  %7.1f GFLOP/s\n", name, ms, flops / (ms * 1e6));
    else
        std::printf("%-46s %9.3f ms\n", name, ms);
}

// C (M x N) = beta * C + op(A) op(B) with tight leading dimensions, as the model calls it.
void bench_gemm(int64_t M, int64_t N, int64_t K, bool ta, bool tb, float beta, bool naive) {
    Tensor A = random(ta ? Shape{K, M} : Shape{M, K}, 1), B = random(tb ? Shape{N, K} : Shape{K, N}, 2);
    Tensor C = Tensor::zeros(Shape{M, N});
    const double flops = 2.0 * double(M) * double(N) * double(K);
    auto run = [&] {
        (naive ? cpu::gemm_naive<float> : cpu::gemm<float>)(ta, tb, M, N, K, A.data<float>(), A.dim(1),
                                                           B.data<float>(), B.dim(1), beta, C.data<float>(), N);
    };
    // Batches of about 1 ms of calls (at 50 GFLOP/s); the fastest of 50 batches.
    const int reps = naive ? 1 : int(std::clamp(5e7 / flops, 1.0, 1e5));
    char name[96];
    std::snprintf(name, sizeof name, "gemm%s %lldx%lldx%lld%s%s beta=%g", naive ? "_naive" : "", (long long)M,
                  (long long)N, (long long)K, ta ? " A^T" : "", tb ? " B^T" : "", double(beta));
    report(name, flops, naive ? time_ms(run, 1) : best_ms(run, reps, 50));
}

}  // namespace

int main(int argc, char** argv) {
    return run_app([&] {
        int64_t threads = 0, batch = 16;
        std::string gemm_shape;
        Flags flags("bench_kernels", "time the CPU kernels at ScoreNet shapes");
        flags.add("threads", &threads, 0, 1024, "OpenMP threads (0: all cores)");
        flags.add("batch", &batch, 1, 4096, "images per conv2d call");
        flags.add("gemm", &gemm_shape, "only time this gemm: M,N,K,ta,tb,beta (e.g. 32,784,288,0,0,1)");
        if (!flags.parse(argc, argv)) return 0;
        if (threads > 0) omp_set_num_threads(int(threads));
        std::printf("threads: %d\n", omp_get_max_threads());
        if (!gemm_shape.empty()) {
            long long M, N, K;
            int ta, tb;
            float beta;
            VDM_CHECK(std::sscanf(gemm_shape.c_str(), "%lld,%lld,%lld,%d,%d,%f", &M, &N, &K, &ta, &tb, &beta) == 6 &&
                      M > 0 && N > 0 && K > 0,
                  "--gemm wants M,N,K,ta,tb,beta, got '", gemm_shape, "'");
            bench_gemm(M, N, K, ta != 0, tb != 0, beta, false);
            return 0;
        }

        bench_gemm(64, 784, 576, false, false, 0.0f, true);
        bench_gemm(64, 784, 576, false, false, 0.0f, false);  // one image of a 64->64 3x3 conv
        bench_gemm(512, 512, 512, false, false, 0.0f, false);
        bench_gemm(784, 784, 64, false, false, 0.0f, false);  // attention scores, one head
        // The default ScoreNet's 32->32 3x3 conv, one image: forward, weight and input gradients.
        bench_gemm(32, 784, 288, false, false, 1.0f, false);
        bench_gemm(32, 288, 784, false, true, 1.0f, false);
        bench_gemm(288, 784, 32, true, false, 0.0f, false);

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

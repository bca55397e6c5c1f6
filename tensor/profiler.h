// Per-op profile of the backend seam: where a training step's time goes.
//
// While profiling is on, backend_for(device) returns a decorator of the real backend
// that times every kernel call (waiting for the GPU before stopping the clock), adds
// the milliseconds and, where defined, the FLOPs to the call's op class, and forwards
// the call unchanged. Off (the default) it costs one branch in backend_for.
//   set_profiling(true); ...steps...; Profile p = take_profile(); set_profiling(false);
// Kernel calls come from one host thread (the kernels parallelize inside), so the
// counters need no locks.
#pragma once
#include <array>
#include <cstdint>

#include "tensor/backend.h"

namespace vdm {

// The op classes, in the order bench_vdm prints them.
enum class OpClass {
    ConvForward,         // conv2d_forward
    ConvBackwardData,    // conv2d_backward, dx
    ConvBackwardWeight,  // conv2d_backward, dweight and dbias
    Matmul,
    Attention,           // fused attention entries
    GroupNorm,
    Elementwise,         // unary, binary, affine, reductions to shape, fills, random fills
    Layout,              // permute, copy_slice
    SoftmaxDecoder,      // softmax, gather_last, scatter_last, categorical_log_prob
    Optimizer,           // adamw, ema, sum_squares
    Allocation,          // allocate, release
    Other,               // host/device copies, all_finite
    Count
};
constexpr int kOpClasses = int(OpClass::Count);
const char* op_class_name(OpClass c);  // "conv forward", ...

struct OpStats {
    double ms = 0.0;
    double flops = 0.0;  // 2 per multiply-add; 0 for classes without a FLOP count
    int64_t calls = 0;
};

struct Profile {
    std::array<OpStats, kOpClasses> ops{};
    OpStats& operator[](OpClass c) { return ops[size_t(c)]; }
    const OpStats& operator[](OpClass c) const { return ops[size_t(c)]; }
    double kernel_ms() const;  // summed over the classes
};

// FLOPs of one pass of a stride-1 "same" convolution (forward, backward-data or
// backward-weight): 2 B Cout Cin k k H W.
double conv2d_flops(const Tensor& x, const Tensor& weight);
// FLOPs of Backend::matmul: 2 M N K per product, times the broadcast batch.
double matmul_flops(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b);
// FLOPs of one product of fused attention, q (BH, d, Nq) with k (BH, d, Nk): 2 BH d Nq Nk.
double attention_product_flops(const Tensor& q, const Tensor& k);

void set_profiling(bool on);
// The counts gathered since the last call (or since the start); resets them.
Profile take_profile();

namespace detail {
extern bool profiling_on;  // set_profiling's switch, read by backend_for
}
inline bool profiling() { return detail::profiling_on; }
// The decorator of `inner`, the backend of `device` (backend_for calls this).
Backend& profiling_backend(Device device, Backend& inner);

}  // namespace vdm

// The profiling decorator: every Backend entry times the real backend's call and
// books it to an op class (tensor/profiler.h).
#include "tensor/profiler.h"

#include <algorithm>
#include <chrono>

namespace vdm {

namespace detail {
bool profiling_on = false;
}

namespace {

Profile g_profile;     // what take_profile() hands out
bool g_in_call = false;  // inside a timed call: a nested backend call counts toward it

class ProfilingBackend : public Backend {
public:
    ProfilingBackend(Device device, Backend& inner) : device_(device), inner_(inner) {}

    // --- memory. No GPU wait here: allocation is host bookkeeping, the queue is
    // empty (every timed call waited for it), and release runs inside destructors.
    void* allocate(size_t bytes) override {
        void* ptr = nullptr;
        timed(OpClass::Allocation, 0, [&] { ptr = inner_.allocate(bytes); });
        return ptr;
    }
    void release(void* ptr, size_t bytes) override {
        timed(OpClass::Allocation, 0, [&] { inner_.release(ptr, bytes); });
    }
    void copy_from_host(const void* src, Tensor& dst) override {
        timed(OpClass::Other, 0, [&] { inner_.copy_from_host(src, dst); });
    }
    void copy_to_host(const Tensor& src, void* dst) override {
        timed(OpClass::Other, 0, [&] { inner_.copy_to_host(src, dst); });
    }

    // --- conversion, checks, random numbers
    void fill(Tensor& t, double value) override {
        timed(OpClass::Elementwise, 0, [&] { inner_.fill(t, value); });
    }
    void convert(const Tensor& src, Tensor& dst) override {
        timed(OpClass::Elementwise, 0, [&] { inner_.convert(src, dst); });
    }
    void accumulate(Tensor& dst, const Tensor& src) override {
        timed(OpClass::Elementwise, 0, [&] { inner_.accumulate(dst, src); });
    }
    bool all_finite(const Tensor& t) override {
        bool finite = false;
        timed(OpClass::Other, 0, [&] { finite = inner_.all_finite(t); });
        return finite;
    }
    void fill_normal(Tensor& t, uint64_t seed, uint64_t offset) override {
        timed(OpClass::Elementwise, 0, [&] { inner_.fill_normal(t, seed, offset); });
    }
    void fill_uniform(Tensor& t, uint64_t seed, uint64_t offset) override {
        timed(OpClass::Elementwise, 0, [&] { inner_.fill_uniform(t, seed, offset); });
    }
    void fill_keep_mask(Tensor& t, double p, uint64_t seed, uint64_t offset) override {
        timed(OpClass::Elementwise, 0, [&] { inner_.fill_keep_mask(t, p, seed, offset); });
    }

    // --- elementwise, broadcasting, reductions
    void unary_forward(UnaryOp op, const Tensor& x, Tensor& y) override {
        timed(OpClass::Elementwise, 0, [&] { inner_.unary_forward(op, x, y); });
    }
    void unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& dy,
                        Tensor& dx) override {
        timed(OpClass::Elementwise, 0, [&] { inner_.unary_backward(op, x, y, dy, dx); });
    }
    void affine(const Tensor& x, double scale, double shift, Tensor& y) override {
        timed(OpClass::Elementwise, 0, [&] { inner_.affine(x, scale, shift, y); });
    }
    void binary_forward(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) override {
        timed(OpClass::Elementwise, 0, [&] { inner_.binary_forward(op, a, b, out); });
    }
    void binary_backward(BinaryOp op, int which, const Tensor& a, const Tensor& b,
                         const Tensor& dout, Tensor& dinput) override {
        timed(OpClass::Elementwise, 0,
              [&] { inner_.binary_backward(op, which, a, b, dout, dinput); });
    }
    void sum_to_shape(const Tensor& x, Tensor& out) override {
        timed(OpClass::Elementwise, 0, [&] { inner_.sum_to_shape(x, out); });
    }
    void broadcast_to(const Tensor& x, Tensor& out) override {
        timed(OpClass::Elementwise, 0, [&] { inner_.broadcast_to(x, out); });
    }

    // --- matrix product and convolution: the classes with FLOPs
    void matmul(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, Tensor& c,
                double beta) override {
        timed(OpClass::Matmul, matmul_flops(a, trans_a, b, trans_b),
              [&] { inner_.matmul(a, trans_a, b, trans_b, c, beta); });
    }
    void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias,
                        Tensor& y) override {
        timed(OpClass::ConvForward, conv2d_flops(x, weight),
              [&] { inner_.conv2d_forward(x, weight, bias, y); });
    }
    // Two inner calls, so that the table separates the two products; the backend
    // skips the gradients passed undefined.
    void conv2d_backward(const Tensor& x, const Tensor& weight, const Tensor& dy, Tensor& dx,
                         Tensor& dweight, Tensor& dbias) override {
        Tensor none_w, none_b, none_x;
        if (dx.defined())
            timed(OpClass::ConvBackwardData, conv2d_flops(x, weight),
                  [&] { inner_.conv2d_backward(x, weight, dy, dx, none_w, none_b); });
        if (dweight.defined() || dbias.defined())
            timed(OpClass::ConvBackwardWeight, dweight.defined() ? conv2d_flops(x, weight) : 0,
                  [&] { inner_.conv2d_backward(x, weight, dy, none_x, dweight, dbias); });
    }

    // --- fused attention: 2 d Nq Nk per product; the forward runs 2 (S = q^T k,
    // out = v P), the backward 5 (S again, dv, dP, dq, dk), as FlashAttention counts.
    void attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out,
                           Tensor& logsumexp) override {
        timed(OpClass::Attention, 2 * attention_product_flops(q, k),
              [&] { inner_.attention_forward(q, k, v, out, logsumexp); });
    }
    void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                            const Tensor& logsumexp, const Tensor& dout, Tensor& dq, Tensor& dk,
                            Tensor& dv) override {
        timed(OpClass::Attention, 5 * attention_product_flops(q, k), [&] {
            inner_.attention_backward(q, k, v, out, logsumexp, dout, dq, dk, dv);
        });
    }

    // --- group norm, softmax, layout, the fused decoder
    void group_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, int groups,
                            double eps, Tensor& y, Tensor& mean, Tensor& rstd) override {
        timed(OpClass::GroupNorm, 0,
              [&] { inner_.group_norm_forward(x, weight, bias, groups, eps, y, mean, rstd); });
    }
    void group_norm_backward(const Tensor& x, const Tensor& weight, const Tensor& mean,
                             const Tensor& rstd, const Tensor& dy, int groups, Tensor& dx,
                             Tensor& dweight, Tensor& dbias) override {
        timed(OpClass::GroupNorm, 0, [&] {
            inner_.group_norm_backward(x, weight, mean, rstd, dy, groups, dx, dweight, dbias);
        });
    }
    void softmax_forward(const Tensor& x, bool log, Tensor& y) override {
        timed(OpClass::SoftmaxDecoder, 0, [&] { inner_.softmax_forward(x, log, y); });
    }
    void softmax_backward(const Tensor& y, const Tensor& dy, bool log, Tensor& dx) override {
        timed(OpClass::SoftmaxDecoder, 0, [&] { inner_.softmax_backward(y, dy, log, dx); });
    }
    void permute(const Tensor& x, const std::vector<int>& perm, Tensor& y) override {
        timed(OpClass::Layout, 0, [&] { inner_.permute(x, perm, y); });
    }
    void copy_slice(Tensor& x, Tensor& y, int axis, int64_t offset, bool into_x) override {
        timed(OpClass::Layout, 0, [&] { inner_.copy_slice(x, y, axis, offset, into_x); });
    }
    void gather_last(const Tensor& x, const Tensor& index, Tensor& y) override {
        timed(OpClass::SoftmaxDecoder, 0, [&] { inner_.gather_last(x, index, y); });
    }
    void scatter_last(const Tensor& dy, const Tensor& index, Tensor& dx) override {
        timed(OpClass::SoftmaxDecoder, 0, [&] { inner_.scatter_last(dy, index, dx); });
    }
    void categorical_log_prob_forward(const Tensor& u, const Tensor& centres, const Tensor& scale,
                                      const Tensor& index, Tensor& out) override {
        timed(OpClass::SoftmaxDecoder, 0,
              [&] { inner_.categorical_log_prob_forward(u, centres, scale, index, out); });
    }
    void categorical_log_prob_backward(const Tensor& u, const Tensor& centres, const Tensor& scale,
                                       const Tensor& index, const Tensor& dout, Tensor& du,
                                       Tensor& dscale) override {
        timed(OpClass::SoftmaxDecoder, 0, [&] {
            inner_.categorical_log_prob_backward(u, centres, scale, index, dout, du, dscale);
        });
    }

    // --- optimizer
    void adamw_update(Tensor& w, Tensor& m, Tensor& v, const Tensor& g,
                      const AdamWStep& step) override {
        timed(OpClass::Optimizer, 0, [&] { inner_.adamw_update(w, m, v, g, step); });
    }
    void ema_update(Tensor& shadow, const Tensor& w, double decay) override {
        timed(OpClass::Optimizer, 0, [&] { inner_.ema_update(shadow, w, decay); });
    }
    void sum_squares(const Tensor& x, Tensor& out, int64_t slot) override {
        timed(OpClass::Optimizer, 0, [&] { inner_.sum_squares(x, out, slot); });
    }

private:
    // Runs call() and books its time and FLOPs to `cls`. A backend call made inside it
    // (a kernel built from other entries) is left to the enclosing call's count.
    template <typename Call> void timed(OpClass cls, double flops, Call&& call) {
        if (g_in_call) {
            call();
            return;
        }
        struct InCall {  // cleared on exceptions too
            InCall() { g_in_call = true; }
            ~InCall() { g_in_call = false; }
        } in_call;
        const auto start = std::chrono::steady_clock::now();
        call();
        // The GPU runs the call asynchronously: wait, so its time lands in this class.
        if (device_ == Device::CUDA && cls != OpClass::Allocation) cuda_synchronize();
        OpStats& s = g_profile[cls];
        s.ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                    .count();
        s.flops += flops;
        ++s.calls;
    }

    Device device_;
    Backend& inner_;
};

}  // namespace

const char* op_class_name(OpClass c) {
    switch (c) {
        case OpClass::ConvForward: return "conv forward";
        case OpClass::ConvBackwardData: return "conv backward-data";
        case OpClass::ConvBackwardWeight: return "conv backward-weight";
        case OpClass::Matmul: return "matmul";
        case OpClass::Attention: return "attention";
        case OpClass::GroupNorm: return "group norm";
        case OpClass::Elementwise: return "elementwise";
        case OpClass::Layout: return "layout";
        case OpClass::SoftmaxDecoder: return "softmax/decoder";
        case OpClass::Optimizer: return "optimizer";
        case OpClass::Allocation: return "allocation";
        case OpClass::Other: return "other";
        case OpClass::Count: break;
    }
    return "?";
}

double Profile::kernel_ms() const {
    double ms = 0.0;
    for (const OpStats& s : ops) ms += s.ms;
    return ms;
}

double conv2d_flops(const Tensor& x, const Tensor& weight) {
    const double B = double(x.dim(0)), Cin = double(x.dim(1)), H = double(x.dim(2)),
                 W = double(x.dim(3)), Cout = double(weight.dim(0)), k = double(weight.dim(2));
    return 2.0 * B * Cout * Cin * k * k * H * W;
}

double matmul_flops(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b) {
    const double M = double(trans_a ? a.dim(2) : a.dim(1)), K = double(trans_a ? a.dim(1) : a.dim(2));
    const double N = double(trans_b ? b.dim(1) : b.dim(2));
    const double batch = double(std::max(a.dim(0), b.dim(0)));  // a batch of 1 broadcasts
    return 2.0 * M * N * K * batch;
}

double attention_product_flops(const Tensor& q, const Tensor& k) {
    return 2.0 * double(q.dim(0)) * double(q.dim(1)) * double(q.dim(2)) * double(k.dim(2));
}

void set_profiling(bool on) { detail::profiling_on = on; }

Profile take_profile() {
    Profile p = g_profile;
    g_profile = Profile{};
    return p;
}

Backend& profiling_backend(Device device, Backend& inner) {
    // One decorator per device, made on first use (inner is always the same backend).
    if (device == Device::CPU) {
        static ProfilingBackend cpu(Device::CPU, inner);
        return cpu;
    }
    static ProfilingBackend cuda(Device::CUDA, inner);
    return cuda;
}

}  // namespace vdm

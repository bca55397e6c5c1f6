// The CPU backend: binds each Backend entry point to its templated kernel in
// tensor/cpu/*.h, for float (training) and double (gradient checks).
#include <cmath>
#include <cstring>

#include "tensor/backend.h"
#include "tensor/cpu/attention.h"
#include "tensor/cpu/basic.h"
#include "tensor/cpu/conv2d.h"
#include "tensor/cpu/decoder.h"
#include "tensor/cpu/elementwise.h"
#include "tensor/cpu/gemm.h"
#include "tensor/cpu/group_norm.h"
#include "tensor/cpu/layout.h"
#include "tensor/cpu/optim.h"
#include "tensor/cpu/reduce.h"
#include "tensor/cpu/softmax.h"
#include "tensor/dispatch.h"
#include "tensor/host_allocator.h"
#include "tensor/rng.h"

namespace vdm {
namespace {

class CpuBackend final : public Backend {
public:
    // 64-byte aligned, so AVX-512 loads of a row start on a cache line.
    void* allocate(size_t bytes) override { return host_allocate(bytes); }
    void release(void* ptr, size_t bytes) override { host_free(ptr, bytes); }
    void copy_from_host(const void* src, Tensor& dst) override {
        std::memcpy(dst.raw(), src, dst.bytes());
    }
    void copy_to_host(const Tensor& src, void* dst) override {
        std::memcpy(dst, src.raw(), src.bytes());
    }

    void fill(Tensor& t, double value) override {
        with_any_dtype(t, [&](auto* p) {
            using V = std::remove_pointer_t<decltype(p)>;
            cpu::fill<V>(p, V(value), t.numel());
        });
    }

    void convert(const Tensor& src, Tensor& dst) override {
        with_any_dtype(src, [&](const auto* s) {
            with_any_dtype(dst, [&](auto* d) { cpu::convert(s, d, src.numel()); });
        });
    }

    void accumulate(Tensor& dst, const Tensor& src) override {
        VDM_DISPATCH_FLOAT(dst.dtype(), "accumulate",
                           cpu::accumulate<T>(dst.data<T>(), src.data<T>(), dst.numel()));
    }

    bool all_finite(const Tensor& t) override {
        bool finite = true;
        VDM_DISPATCH_FLOAT(t.dtype(), "all_finite", finite = cpu::all_finite<T>(t.data<T>(), t.numel()));
        return finite;
    }

    void fill_normal(Tensor& t, uint64_t seed, uint64_t offset) override {
        VDM_DISPATCH_FLOAT(t.dtype(), "fill_normal",
                           cpu::fill_random<T>(t.data<T>(), t.numel(), seed, offset, normal_at));
    }

    void fill_uniform(Tensor& t, uint64_t seed, uint64_t offset) override {
        VDM_DISPATCH_FLOAT(t.dtype(), "fill_uniform",
                           cpu::fill_random<T>(t.data<T>(), t.numel(), seed, offset, uniform_at));
    }

    void fill_keep_mask(Tensor& t, double p, uint64_t seed, uint64_t offset) override {
        VDM_DISPATCH_FLOAT(t.dtype(), "dropout",
                           cpu::fill_random<T>(t.data<T>(), t.numel(), seed, offset,
                                               [p](uint64_t s, uint64_t i) { return keep_at(s, i, p); }));
    }

    void unary_forward(UnaryOp op, const Tensor& x, Tensor& y) override {
        VDM_DISPATCH_FLOAT(x.dtype(), unary_op_name(op),
                           cpu::unary_forward<T>(op, x.data<T>(), y.data<T>(), x.numel()));
    }

    void unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& dy,
                        Tensor& dx) override {
        VDM_DISPATCH_FLOAT(x.dtype(), unary_op_name(op),
                           cpu::unary_backward<T>(op, x.data<T>(), y.data<T>(), dy.data<T>(),
                                                  dx.data<T>(), x.numel()));
    }

    void affine(const Tensor& x, double scale, double shift, Tensor& y) override {
        VDM_DISPATCH_FLOAT(x.dtype(), "affine",
                           cpu::affine<T>(x.data<T>(), T(scale), T(shift), y.data<T>(), x.numel()));
    }

    void binary_forward(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) override {
        VDM_DISPATCH_FLOAT(a.dtype(), binary_op_name(op), cpu::binary_forward<T>(op, a, b, out));
    }

    void binary_backward(BinaryOp op, int which, const Tensor& a, const Tensor& b,
                         const Tensor& dout, Tensor& dinput) override {
        VDM_DISPATCH_FLOAT(a.dtype(), binary_op_name(op),
                           cpu::binary_backward<T>(op, which, a, b, dout, dinput));
    }

    void sum_to_shape(const Tensor& x, Tensor& out) override {
        VDM_DISPATCH_FLOAT(x.dtype(), "sum", cpu::sum_to_shape<T>(x, out));
    }

    void broadcast_to(const Tensor& x, Tensor& out) override {
        VDM_DISPATCH_FLOAT(x.dtype(), "broadcast_to", cpu::broadcast_to<T>(x, out));
    }

    void matmul(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, Tensor& c,
                double beta) override {
        const int64_t batch = std::max(a.dim(0), b.dim(0));
        const int64_t M = c.dim(1), N = c.dim(2), K = trans_a ? a.dim(1) : a.dim(2);
        const int64_t lda = a.dim(2), ldb = b.dim(2);
        VDM_DISPATCH_FLOAT(a.dtype(), "matmul", {
            for (int64_t i = 0; i < batch; ++i) {
                const bool sum_into_c = c.dim(0) == 1 && i > 0;  // shared c: add every product
                const T* pa = a.data<T>() + (a.dim(0) == 1 ? 0 : i) * a.dim(1) * a.dim(2);
                const T* pb = b.data<T>() + (b.dim(0) == 1 ? 0 : i) * b.dim(1) * b.dim(2);
                T* pc = c.data<T>() + (c.dim(0) == 1 ? 0 : i) * M * N;
                cpu::gemm<T>(trans_a, trans_b, M, N, K, pa, lda, pb, ldb,
                             sum_into_c ? T(1) : T(beta), pc, N);
            }
        });
    }

    void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias,
                        Tensor& y) override {
        VDM_DISPATCH_FLOAT(x.dtype(), "conv2d", cpu::conv2d_forward<T>(x, weight, bias, y));
    }

    void conv2d_backward(const Tensor& x, const Tensor& weight, const Tensor& dy, Tensor& dx,
                         Tensor& dweight, Tensor& dbias) override {
        VDM_DISPATCH_FLOAT(x.dtype(), "conv2d_backward",
                           cpu::conv2d_backward<T>(x, weight, dy, dx, dweight, dbias));
    }

    void group_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, int groups,
                            double eps, Tensor& y, Tensor& mean, Tensor& rstd) override {
        VDM_DISPATCH_FLOAT(x.dtype(), "group_norm",
                           cpu::group_norm_forward<T>(x, weight, bias, groups, eps, y, mean, rstd));
    }

    void group_norm_backward(const Tensor& x, const Tensor& weight, const Tensor& mean,
                             const Tensor& rstd, const Tensor& dy, int groups, Tensor& dx,
                             Tensor& dweight, Tensor& dbias) override {
        VDM_DISPATCH_FLOAT(x.dtype(), "group_norm_backward",
                           cpu::group_norm_backward<T>(x, weight, mean, rstd, dy, groups, dx,
                                                       dweight, dbias));
    }

    void softmax_forward(const Tensor& x, bool log, Tensor& y) override {
        VDM_DISPATCH_FLOAT(x.dtype(), "softmax", cpu::softmax_forward<T>(x, log, y));
    }

    void softmax_backward(const Tensor& y, const Tensor& dy, bool log, Tensor& dx) override {
        VDM_DISPATCH_FLOAT(y.dtype(), "softmax_backward", cpu::softmax_backward<T>(y, dy, log, dx));
    }

    void attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out,
                           Tensor& logsumexp) override {
        VDM_DISPATCH_FLOAT(q.dtype(), "attention",
                           cpu::attention_forward<T>(q, k, v, out, logsumexp));
    }

    void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                            const Tensor& logsumexp, const Tensor& dout, Tensor& dq, Tensor& dk,
                            Tensor& dv) override {
        VDM_DISPATCH_FLOAT(q.dtype(), "attention_backward",
                           cpu::attention_backward<T>(q, k, v, out, logsumexp, dout, dq, dk, dv));
    }

    void permute(const Tensor& x, const std::vector<int>& perm, Tensor& y) override {
        VDM_DISPATCH_FLOAT(x.dtype(), "permute", cpu::permute<T>(x, perm, y));
    }

    void copy_slice(Tensor& whole, Tensor& part, int axis, int64_t offset,
                    bool into_whole) override {
        VDM_DISPATCH_FLOAT(whole.dtype(), "concat",
                           cpu::copy_slice<T>(whole, part, axis, offset, into_whole));
    }

    void gather_last(const Tensor& x, const Tensor& index, Tensor& y) override {
        VDM_DISPATCH_FLOAT(x.dtype(), "gather", cpu::gather_last<T>(x, index, y));
    }

    void scatter_last(const Tensor& dy, const Tensor& index, Tensor& dx) override {
        VDM_DISPATCH_FLOAT(dy.dtype(), "gather_backward", cpu::scatter_last<T>(dy, index, dx));
    }

    void categorical_log_prob_forward(const Tensor& u, const Tensor& centres, const Tensor& scale,
                                      const Tensor& index, Tensor& out) override {
        VDM_DISPATCH_FLOAT(u.dtype(), "categorical_log_prob",
                           cpu::categorical_log_prob_forward<T>(u, centres, scale, index, out));
    }

    void categorical_log_prob_backward(const Tensor& u, const Tensor& centres, const Tensor& scale,
                                       const Tensor& index, const Tensor& dout, Tensor& du,
                                       Tensor& dscale) override {
        VDM_DISPATCH_FLOAT(u.dtype(), "categorical_log_prob_backward",
                           cpu::categorical_log_prob_backward<T>(u, centres, scale, index, dout,
                                                                 du, dscale));
    }

    void adamw_update(Tensor& w, Tensor& m, Tensor& v, const Tensor& g,
                      const AdamWStep& step) override {
        VDM_DISPATCH_FLOAT(w.dtype(), "AdamW",
                           cpu::adamw_update<T>(w.data<T>(), m.data<T>(), v.data<T>(), g.data<T>(),
                                                w.numel(), step));
    }

    void ema_update(Tensor& shadow, const Tensor& w, double decay) override {
        VDM_DISPATCH_FLOAT(w.dtype(), "EMA",
                           cpu::ema_update<T>(shadow.data<T>(), w.data<T>(), w.numel(), decay));
    }

    void sum_squares(const Tensor& x, Tensor& out, int64_t slot) override {
        VDM_DISPATCH_FLOAT(x.dtype(), "sum_squares",
                           out.data<double>()[slot] = cpu::sum_squares<T>(x.data<T>(), x.numel()));
    }
};

}  // namespace

Backend& cpu_backend() {
    static CpuBackend backend;
    return backend;
}

}  // namespace vdm

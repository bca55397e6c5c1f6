// The backend seam: every kernel the library runs, as one virtual call per kernel.
// Differentiable ops (autodiff/) allocate outputs, check shapes, and call
// backend_for(device).xxx(); the CPU backend (tensor/cpu/) and the CUDA backend
// (tensor/cuda/) implement all of them, so callers never change. Their shared
// per-element arithmetic lives in tensor/kernels/.
// Kernels write into outputs that the caller allocated with the right shape,
// dtype and device; shape checks happen before the call, in the op.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace vdm {

// Elementwise functions of one tensor. Derivatives: tensor/kernels/elementwise.h.
enum class UnaryOp {
    Neg, Exp, Log, Expm1, Log1p, Sigmoid, Softplus, Silu, Abs, Square, Sqrt, Sin, Cos
};
// Elementwise functions of two tensors, with numpy broadcasting.
enum class BinaryOp { Add, Sub, Mul, Div };

// The scalars of one AdamW update (nn/adamw.cpp computes them once per step).
struct AdamWStep {
    double lr, beta1, beta2, eps;
    double decay;                      // 1 - lr * weight_decay, or 1 without decay
    double correction1, correction2;   // 1 - beta1^n, 1 - beta2^n
};

const char* unary_op_name(UnaryOp op);
const char* binary_op_name(BinaryOp op);

class Backend {
public:
    virtual ~Backend() = default;

    // --- memory: storage for tensors on this backend's device, and byte copies
    // between it and host memory (dst/src hold t.bytes() bytes)
    virtual void* allocate(size_t bytes) = 0;
    virtual void release(void* ptr, size_t bytes) = 0;
    virtual void copy_from_host(const void* src, Tensor& dst) = 0;
    virtual void copy_to_host(const Tensor& src, void* dst) = 0;

    // --- conversion and whole-tensor checks
    virtual void fill(Tensor& t, double value) = 0;
    virtual void convert(const Tensor& src, Tensor& dst) = 0;  // same numel, any dtypes
    virtual void accumulate(Tensor& dst, const Tensor& src) = 0;  // dst += src, same shape
    virtual bool all_finite(const Tensor& t) = 0;

    // --- random numbers: element i gets stream position offset + i (tensor/rng.h)
    virtual void fill_normal(Tensor& t, uint64_t seed, uint64_t offset) = 0;
    virtual void fill_uniform(Tensor& t, uint64_t seed, uint64_t offset) = 0;
    // Inverted-dropout mask: 1 / (1 - p) where the uniform at that position is >= p, else 0.
    virtual void fill_keep_mask(Tensor& t, double p, uint64_t seed, uint64_t offset) = 0;

    // --- elementwise
    virtual void unary_forward(UnaryOp op, const Tensor& x, Tensor& y) = 0;
    // dx = dy * f'(x), where f' may use the forward output y.
    virtual void unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& dy,
                                Tensor& dx) = 0;
    virtual void affine(const Tensor& x, double scale, double shift, Tensor& y) = 0;
    // out = a op b; a and b broadcast to out's shape.
    virtual void binary_forward(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) = 0;
    // d(out)/d(input `which` = 0 for a, 1 for b) times dout, at out's shape
    // (the caller reduces it to the input's shape with sum_to_shape).
    virtual void binary_backward(BinaryOp op, int which, const Tensor& a, const Tensor& b,
                                 const Tensor& dout, Tensor& dinput) = 0;

    // --- broadcasting and reductions (shapes compared right-aligned, as numpy)
    // out[j] = sum of x over the positions that broadcast to j; out's dims are 1 or equal x's.
    virtual void sum_to_shape(const Tensor& x, Tensor& out) = 0;
    // out = x repeated along the dims where x has size 1.
    virtual void broadcast_to(const Tensor& x, Tensor& out) = 0;

    // --- matrix product: c[i] = beta * c[i] + op(a[i]) op(b[i]) over a batch.
    // a, b, c are 3-D; a batch of 1 broadcasts; when c has batch 1 and the others
    // more, the products are summed into c (the gradient of a shared matrix).
    virtual void matmul(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, Tensor& c,
                        double beta) = 0;

    // --- 2-D convolution, stride 1, zero padding (k - 1) / 2, odd square kernel k.
    // x (B, Cin, H, W), weight (Cout, Cin, k, k), bias (Cout) or undefined, y (B, Cout, H, W).
    virtual void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                Tensor& y) = 0;
    // Writes (not accumulates) each gradient that is defined; undefined ones are skipped.
    virtual void conv2d_backward(const Tensor& x, const Tensor& weight, const Tensor& dy,
                                 Tensor& dx, Tensor& dweight, Tensor& dbias) = 0;

    // --- group normalization over (C/G, H, W) per sample and group, then per-channel affine.
    // mean and rstd (B, G) are saved for the backward pass.
    virtual void group_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                    int groups, double eps, Tensor& y, Tensor& mean,
                                    Tensor& rstd) = 0;
    virtual void group_norm_backward(const Tensor& x, const Tensor& weight, const Tensor& mean,
                                     const Tensor& rstd, const Tensor& dy, int groups, Tensor& dx,
                                     Tensor& dweight, Tensor& dbias) = 0;

    // --- softmax / log-softmax over the last axis. Backward uses the forward output y.
    virtual void softmax_forward(const Tensor& x, bool log, Tensor& y) = 0;
    virtual void softmax_backward(const Tensor& y, const Tensor& dy, bool log, Tensor& dx) = 0;

    // --- attention, fused: softmax(q^T k) is never stored. q, k, v, out are (BH, d, N),
    // channel-major per head (q[b][c][i]), q already scaled by 1/sqrt(d); per head
    //   out[c][i] = sum_j v[c][j] P_ij,  P_ij = exp(S_ij - L_i),  S = q^T k,
    // and logsumexp (BH, N) saves L_i = log sum_j exp(S_ij) for the backward, which
    // recomputes P from q, k and L and writes all of dq, dk, dv (BH, d, N).
    virtual void attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out,
                                   Tensor& logsumexp) = 0;
    virtual void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const Tensor& out, const Tensor& logsumexp, const Tensor& dout,
                                    Tensor& dq, Tensor& dk, Tensor& dv) = 0;

    // --- layout
    // y = x with its axes reordered: y.dim(i) = x.dim(perm[i]).
    virtual void permute(const Tensor& x, const std::vector<int>& perm, Tensor& y) = 0;
    // Copies x into y (or y into x when `into_x`) at `offset` along `axis`:
    // concat's forward and backward are the same strided copy.
    virtual void copy_slice(Tensor& x, Tensor& y, int axis, int64_t offset, bool into_x) = 0;
    // y[..] = x[.., index[..]] along the last axis; index is I32 with y's shape.
    virtual void gather_last(const Tensor& x, const Tensor& index, Tensor& y) = 0;
    // dx = 0, then dx[.., index[..]] += dy[..].
    virtual void scatter_last(const Tensor& dy, const Tensor& index, Tensor& dx) = 0;

    // --- the categorical decoder's log-probability (docs/vdm.md#decoder), fused: the
    // log-softmax over V values and the gather at the true one, without the (elements, V)
    // logits. Element i of u (any shape) has logits logit_v = s (u_i - c_v)^2 over the
    // centres c (V), s = scale[0] (one element: the decoder's -0.5 exp(-gamma_0)); index
    // (I32, u's shape) holds its true value x_i, and
    //   out_i = logit_{x_i} - logsumexp_v logit_v      (with the max subtracted)
    // The backward recomputes p = softmax(logit) and writes, where defined,
    //   du_i     = dout_i 2 s (E_p[c] - c_{x_i})
    //   dscale_i = dout_i ((u_i - c_{x_i})^2 - E_p[(u_i - c)^2])   (per element: the op sums)
    // Kernel arithmetic: tensor/kernels/decoder.h.
    virtual void categorical_log_prob_forward(const Tensor& u, const Tensor& centres,
                                              const Tensor& scale, const Tensor& index,
                                              Tensor& out) = 0;
    virtual void categorical_log_prob_backward(const Tensor& u, const Tensor& centres,
                                               const Tensor& scale, const Tensor& index,
                                               const Tensor& dout, Tensor& du,
                                               Tensor& dscale) = 0;

    // --- optimizer (nn/adamw.h, nn/ema.h); all tensors of one parameter's shape
    // AdamW: m, v updated from g; w = decay w - lr m_hat / (sqrt(v_hat) + eps).
    virtual void adamw_update(Tensor& w, Tensor& m, Tensor& v, const Tensor& g,
                              const AdamWStep& step) = 0;
    // shadow = decay * shadow + (1 - decay) * w
    virtual void ema_update(Tensor& shadow, const Tensor& w, double decay) = 0;
    // out[slot] = sum of x^2, accumulated in double; out is F64 (slots) on this device.
    virtual void sum_squares(const Tensor& x, Tensor& out, int64_t slot) = 0;
};

// The backend that runs kernels for tensors on `device`. Device::CUDA without a
// usable GPU (or in a build without CUDA) is an Error saying why.
Backend& backend_for(Device device);

// Whether Device::CUDA can run kernels here; when not, *why (if given) says why in
// one line ("this build has no CUDA backend (CUDA=0)", "no GPU: ...").
bool cuda_available(std::string* why = nullptr);

// The CUDA backend's device and memory, for the apps' reports. Without CUDA the
// counters are zero and the name says so.
struct DeviceMemoryStats {
    int64_t mallocs = 0, frees = 0;  // cudaMalloc / cudaFree calls so far
    size_t in_use_bytes = 0, cached_bytes = 0, peak_bytes = 0;
};
DeviceMemoryStats cuda_memory_stats();
std::string cuda_device_name();
// Matrix products in TF32 (tensor cores, ~1e-3 relative error) instead of full f32.
void cuda_set_tf32(bool on);
// Waits for all queued GPU work (for timing); a no-op without CUDA.
void cuda_synchronize();

}  // namespace vdm

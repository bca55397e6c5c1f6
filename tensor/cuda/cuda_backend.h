// The CUDA backend: one class implementing every kernel of tensor/backend.h for
// Device::CUDA. Its methods are defined one op family per file, beside the CPU ones:
//   cuda_backend.cu  device selection, memory, host copies, cuBLAS handle
//   basic.cu         fill, convert, accumulate, all_finite, random fills
//   elementwise.cu   unary / binary / affine / broadcast_to
//   reduce.cu        sum_to_shape
//   matmul.cu        batched matrix products (cuBLAS)
//   conv2d.cu        convolution (im2col into a reused workspace + cuBLAS)
//   decoder.cu       the categorical decoder's fused log-probability
//   group_norm.cu, softmax.cu, layout.cu, optim.cu
//   attention.cu     attention (cuBLAS products and a softmax kernel, S in the workspace)
// Only .cu files include this header; the rest of the library sees tensor/cuda/cuda_api.h.
#pragma once
#include <cublas_v2.h>

#include "tensor/backend.h"

namespace vdm::cuda {

class CudaBackend final : public Backend {
public:
    CudaBackend();

    void* allocate(size_t bytes) override;
    void release(void* ptr, size_t bytes) override;
    void copy_from_host(const void* src, Tensor& dst) override;
    void copy_to_host(const Tensor& src, void* dst) override;

    void fill(Tensor& t, double value) override;
    void convert(const Tensor& src, Tensor& dst) override;
    void accumulate(Tensor& dst, const Tensor& src) override;
    bool all_finite(const Tensor& t) override;

    void fill_normal(Tensor& t, uint64_t seed, uint64_t offset) override;
    void fill_uniform(Tensor& t, uint64_t seed, uint64_t offset) override;
    void fill_keep_mask(Tensor& t, double p, uint64_t seed, uint64_t offset) override;

    void unary_forward(UnaryOp op, const Tensor& x, Tensor& y) override;
    void unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& dy,
                        Tensor& dx) override;
    void affine(const Tensor& x, double scale, double shift, Tensor& y) override;
    void binary_forward(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) override;
    void binary_backward(BinaryOp op, int which, const Tensor& a, const Tensor& b,
                         const Tensor& dout, Tensor& dinput) override;

    void sum_to_shape(const Tensor& x, Tensor& out) override;
    void broadcast_to(const Tensor& x, Tensor& out) override;

    void matmul(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, Tensor& c,
                double beta) override;

    void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias,
                        Tensor& y) override;
    void conv2d_backward(const Tensor& x, const Tensor& weight, const Tensor& dy, Tensor& dx,
                         Tensor& dweight, Tensor& dbias) override;

    void group_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, int groups,
                            double eps, Tensor& y, Tensor& mean, Tensor& rstd) override;
    void group_norm_backward(const Tensor& x, const Tensor& weight, const Tensor& mean,
                             const Tensor& rstd, const Tensor& dy, int groups, Tensor& dx,
                             Tensor& dweight, Tensor& dbias) override;

    void softmax_forward(const Tensor& x, bool log, Tensor& y) override;
    void softmax_backward(const Tensor& y, const Tensor& dy, bool log, Tensor& dx) override;

    void attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out,
                           Tensor& logsumexp) override;
    void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                            const Tensor& logsumexp, const Tensor& dout, Tensor& dq, Tensor& dk,
                            Tensor& dv) override;

    void permute(const Tensor& x, const std::vector<int>& perm, Tensor& y) override;
    void copy_slice(Tensor& whole, Tensor& part, int axis, int64_t offset,
                    bool into_whole) override;
    void gather_last(const Tensor& x, const Tensor& index, Tensor& y) override;
    void scatter_last(const Tensor& dy, const Tensor& index, Tensor& dx) override;

    void categorical_log_prob_forward(const Tensor& u, const Tensor& centres, const Tensor& scale,
                                      const Tensor& index, Tensor& out) override;
    void categorical_log_prob_backward(const Tensor& u, const Tensor& centres,
                                       const Tensor& scale, const Tensor& index,
                                       const Tensor& dout, Tensor& du, Tensor& dscale) override;

    void adamw_update(Tensor& w, Tensor& m, Tensor& v, const Tensor& g,
                      const AdamWStep& step) override;
    void ema_update(Tensor& shadow, const Tensor& w, double decay) override;
    void sum_squares(const Tensor& x, Tensor& out, int64_t slot) override;

    cublasHandle_t cublas() const { return cublas_; }
    // Scratch device memory of at least `bytes`, reused across calls (im2col columns,
    // partial sums); grows when a call needs more, so steady state allocates nothing.
    // Valid until the next workspace() call.
    void* workspace(size_t bytes);
    bool tf32 = false;  // cuBLAS may use TF32 tensor cores for f32 products

private:
    cublasHandle_t cublas_ = nullptr;
    void* workspace_ = nullptr;
    size_t workspace_bytes_ = 0;
};

CudaBackend& the_backend();  // the instance behind backend(), for the family files

}  // namespace vdm::cuda

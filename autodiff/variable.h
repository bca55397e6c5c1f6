// Reverse-mode automatic differentiation over whole-tensor ops.
//
// A Var is a handle to a value (Tensor), its gradient, and the Node that made it.
// Each differentiable op (autodiff/ops.h) computes its output and, when grad mode
// is on and an input requires a gradient, records a Node: its inputs and a
// backward closure that adds (+=) d loss / d input into each input's gradient.
// backward() visits the graph in reverse topological order. First derivatives
// only: there is no graph of the backward pass itself.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace vdm {

class Var;
struct Node;

struct VarData {
    Tensor value;
    Tensor grad;  // undefined until something flows into it
    bool requires_grad = false;
    std::shared_ptr<Node> node;  // the op that produced value; null for leaves
};

class Var {
public:
    Var() = default;
    explicit Var(Tensor value, bool requires_grad = false);

    bool defined() const { return data_ != nullptr; }
    const Tensor& value() const { return data_->value; }
    Tensor& value() { return data_->value; }
    const Tensor& grad() const { return data_->grad; }
    bool requires_grad() const { return data_ && data_->requires_grad; }
    bool is_leaf() const { return data_->node == nullptr; }

    const Shape& shape() const { return value().shape(); }
    int64_t dim(int i) const { return value().dim(i); }
    int ndim() const { return value().ndim(); }
    int64_t numel() const { return value().numel(); }
    DType dtype() const { return value().dtype(); }
    Device device() const { return value().device(); }
    double item() const { return value().item(); }

    // grad += g (g must have the value's shape). Used by backward closures.
    void accumulate_grad(Tensor g) const;
    void zero_grad() const { data_->grad = Tensor(); }

    // Backpropagates from this Var. Without a seed the Var must be one element
    // (a loss) and the seed is 1. Intermediate gradients and the graph are freed.
    void backward() const;
    void backward(const Tensor& seed) const;

    VarData* data() const { return data_.get(); }

private:
    std::shared_ptr<VarData> data_;
};

using BackwardFn = std::function<void(const Tensor& dout)>;

struct Node {
    const char* op;
    std::vector<Var> inputs;
    BackwardFn backward;
};

// Wraps an op's output: records a Node when grad mode is on and any input needs a
// gradient, otherwise returns a constant. Checks the value for NaN/Inf when
// finite checking is on.
Var record(const char* op, Tensor value, std::vector<Var> inputs, BackwardFn backward);

// Grad mode: on by default; NoGradGuard turns it off in a scope (eval, sampling).
bool grad_enabled();
class NoGradGuard {
public:
    NoGradGuard();
    ~NoGradGuard();
    NoGradGuard(const NoGradGuard&) = delete;
    NoGradGuard& operator=(const NoGradGuard&) = delete;

private:
    bool previous_;
};

// Finite checking: when on, every op output and every gradient is checked and a
// NaN/Inf raises an Error naming the op. Off by default (it costs a pass over
// each tensor); the VDM_CHECK_FINITE=1 environment variable turns it on.
void set_check_finite(bool on);
bool check_finite_enabled();
// Raises an Error naming `what` if the tensor holds a NaN or Inf.
void require_finite(const Tensor& t, const std::string& what);

// For testing what catches non-finite values (train_mnist --inject-nan): while set to
// an op's name, every forward of that op outputs NaN. Empty: off (the default).
void set_nan_injection(const std::string& op);

}  // namespace vdm

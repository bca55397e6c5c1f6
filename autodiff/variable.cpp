#include "autodiff/variable.h"

#include <cstdlib>
#include <limits>
#include <unordered_set>
#include <utility>

#include "tensor/backend.h"

namespace vdm {

namespace {
thread_local bool g_grad_enabled = true;
bool g_check_finite = [] {
    const char* env = std::getenv("VDM_CHECK_FINITE");
    return env != nullptr && std::string(env) == "1";
}();
std::string g_nan_injection;  // op name, or empty
}  // namespace

bool grad_enabled() { return g_grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }

void set_check_finite(bool on) { g_check_finite = on; }
bool check_finite_enabled() { return g_check_finite; }

void set_nan_injection(const std::string& op) { g_nan_injection = op; }

void require_finite(const Tensor& t, const std::string& what) {
    if (t.dtype() == DType::I32) return;
    VDM_CHECK(backend_for(t.device()).all_finite(t), what, ": NaN or Inf in ", t.desc());
}

Var::Var(Tensor value, bool requires_grad) : data_(std::make_shared<VarData>()) {
    VDM_CHECK(value.defined(), "Var: undefined tensor");
    VDM_CHECK(!requires_grad || value.dtype() != DType::I32,
              "Var: an integer tensor cannot require a gradient");
    data_->value = std::move(value);
    data_->requires_grad = requires_grad;
}

void Var::accumulate_grad(Tensor g) const {
    check_same_shape("accumulate_grad", data_->value, g);
    if (!data_->grad.defined()) {
        // Own the buffer: a later += must not write through into another Var's grad.
        data_->grad = g.storage_is_shared() ? g.clone() : std::move(g);
    } else {
        backend_for(g.device()).accumulate(data_->grad, g);
    }
}

Var record(const char* op, Tensor value, std::vector<Var> inputs, BackwardFn backward) {
    if (!g_nan_injection.empty() && g_nan_injection == op && value.dtype() != DType::I32) {
        if (value.storage_is_shared()) value = value.clone();  // never poison an input through a view
        backend_for(value.device()).affine(value, 0.0, std::numeric_limits<double>::quiet_NaN(), value);
    }
    if (g_check_finite) require_finite(value, std::string(op) + " forward");
    bool needs_grad = false;
    if (g_grad_enabled)
        for (const Var& in : inputs) needs_grad = needs_grad || in.requires_grad();
    Var out(std::move(value), needs_grad);
    if (needs_grad) {
        auto node = std::make_shared<Node>();
        node->op = op;
        node->inputs = std::move(inputs);
        node->backward = std::move(backward);
        out.data()->node = std::move(node);
    }
    return out;
}

void Var::backward() const {
    VDM_CHECK(numel() == 1, "backward: needs a one-element loss or an explicit seed, got shape ",
              shape().str());
    backward(Tensor::full(shape(), 1.0, dtype(), device()));
}

void Var::backward(const Tensor& seed) const {
    VDM_CHECK(requires_grad(), "backward: this value does not depend on any parameter");
    check_same_shape("backward seed", value(), seed);

    // Reverse topological order by an iterative depth-first post-order walk. The
    // order holds handles, so a Var stays alive after its consumer's node is freed.
    std::vector<Var> order;
    std::unordered_set<VarData*> visited{data_.get()};
    std::vector<std::pair<Var, size_t>> stack{{*this, 0}};
    while (!stack.empty()) {
        auto& [v, next] = stack.back();
        const std::shared_ptr<Node>& node = v.data()->node;
        if (node && next < node->inputs.size()) {
            const Var& in = node->inputs[next++];
            if (in.requires_grad() && visited.insert(in.data()).second) stack.push_back({in, 0});
        } else {
            order.push_back(v);
            stack.pop_back();
        }
    }

    accumulate_grad(seed);
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
        VarData* v = it->data();
        if (!v->node) continue;  // a leaf keeps its gradient
        if (v->grad.defined()) {
            if (g_check_finite) require_finite(v->grad, std::string(v->node->op) + " backward");
            v->node->backward(v->grad);
        }
        v->grad = Tensor();  // free the intermediate gradient
        v->node.reset();     // and the graph behind it
    }
}

}  // namespace vdm

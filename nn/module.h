// Module: a layer that owns named parameters and child layers.
//
// parameters() lists every parameter of the tree with a dotted path name
// ("up.2.conv1.weight"); those names are what checkpoints store and what the
// optimizer and EMA iterate over. A module registers its parameters and children in
// its constructor; children are members (or unique_ptrs), so modules are neither
// copied nor moved. There are no buffers: everything a module holds is a parameter.
//
// Devices: a model is always built (initialized) on the CPU from its seed, so its
// initial weights are the same whatever the device, then moved with to(device).
// Constants a module makes inside its math are created on device().
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "autodiff/variable.h"
#include "tensor/rng.h"

namespace vdm {

struct Parameter {
    std::string name;
    Var var;  // requires_grad; value and grad are what the optimizer updates
};

class Module {
public:
    virtual ~Module() = default;
    Module(const Module&) = delete;
    Module& operator=(const Module&) = delete;

    std::vector<Parameter> parameters() const;
    int64_t parameter_count() const;

    // Moves every parameter of the tree (value, and gradient if any) to `device` and
    // records it there. Every Var handle to a parameter follows, since they share the
    // parameter's VarData. A no-op for parameters already on `device`.
    void to(Device device);
    Device device() const { return device_; }

protected:
    Module() = default;
    Var add_parameter(const std::string& name, Tensor init);
    void add_child(const std::string& name, Module& child);

private:
    void collect(const std::string& prefix, std::vector<Parameter>& out) const;

    std::vector<Parameter> params_;
    std::vector<std::pair<std::string, Module*>> children_;
    Device device_ = Device::CPU;
};

// Initial values. Weights are N(0, scale^2 / fan_in) (LeCun normal: unit-variance
// activations keep unit variance); the stream advances by the tensor's size.
Tensor init_normal(const Shape& shape, int64_t fan_in, double scale, DType dtype, Rng& rng);

}  // namespace vdm

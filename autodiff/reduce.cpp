// Reductions: sum and mean over chosen axes, and sum_to_shape, the one helper that
// turns a broadcast op's output-shaped gradient back into its input's shape.
#include <algorithm>

#include "autodiff/ops.h"

namespace vdm {

Tensor sum_to_shape(const Tensor& g, const Shape& shape) {
    if (g.shape() == shape) return g;
    // broadcast_shapes validates that `shape` really broadcasts to g's shape.
    VDM_CHECK(broadcast_shapes(g.shape(), shape, "sum_to_shape") == g.shape(),
              "sum_to_shape: ", shape.str(), " does not broadcast to ", g.shape().str());
    Tensor out = Tensor::empty(shape, g.dtype(), g.device());
    backend_for(g.device()).sum_to_shape(g, out);
    return out;
}

Var sum(const Var& x, std::vector<int> axes, bool keepdim) {
    check_floating("sum", x.value());
    if (axes.empty())
        for (int i = 0; i < x.ndim(); ++i) axes.push_back(i);
    Shape kept = x.shape();  // reduced axes become 1
    for (int& a : axes) a = x.shape().axis(a);
    std::sort(axes.begin(), axes.end());
    VDM_CHECK(std::adjacent_find(axes.begin(), axes.end()) == axes.end(),
              "sum: an axis is given twice for ", x.shape().str());
    for (int a : axes) kept[a] = 1;
    Shape out_shape;
    for (int i = 0; i < x.ndim(); ++i)
        if (keepdim || std::find(axes.begin(), axes.end(), i) == axes.end())
            out_shape.push_back(kept[i]);
    Backend& be = backend_for(x.device());
    Tensor out = Tensor::empty(kept, x.dtype(), x.device());
    be.sum_to_shape(x.value(), out);
    return record("sum", out.reshape(out_shape), {x}, [x, kept, &be](const Tensor& dout) {
        Tensor dx = Tensor::empty(x.shape(), x.dtype(), x.device());
        be.broadcast_to(dout.reshape(kept), dx);  // every summed element gets dout
        x.accumulate_grad(std::move(dx));
    });
}

Var mean(const Var& x, std::vector<int> axes, bool keepdim) {
    Var total = sum(x, std::move(axes), keepdim);
    const double count = double(x.numel()) / double(total.numel());  // elements per sum
    return affine(total, 1.0 / count, 0.0);
}

}  // namespace vdm

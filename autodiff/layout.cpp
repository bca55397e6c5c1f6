// Layout ops: reshape (a view), permute and concat (copies), gather along the last axis.
#include <numeric>

#include "autodiff/ops.h"

namespace vdm {

Var reshape(const Var& x, const Shape& shape) {
    Tensor y = x.value().reshape(shape);
    return record("reshape", y, {x},
                  [x](const Tensor& dy) { x.accumulate_grad(dy.reshape(x.shape())); });
}

Var permute(const Var& x, const std::vector<int>& perm) {
    VDM_CHECK(int(perm.size()) == x.ndim(), "permute: ", perm.size(), " axes given for ",
              x.shape().str());
    std::vector<int> seen(perm.size(), 0), inverse(perm.size());
    Shape out_shape;
    for (size_t i = 0; i < perm.size(); ++i) {
        int p = perm[i];
        VDM_CHECK(p >= 0 && p < x.ndim() && !seen[size_t(p)]++, "permute: not a permutation of ",
                  x.ndim(), " axes");
        inverse[size_t(p)] = int(i);
        out_shape.push_back(x.dim(p));
    }
    Backend& be = backend_for(x.device());
    Tensor y = Tensor::empty(out_shape, x.dtype(), x.device());
    be.permute(x.value(), perm, y);
    return record("permute", y, {x}, [x, inverse, &be](const Tensor& dy) {
        Tensor dx = Tensor::empty(x.shape(), x.dtype(), x.device());
        be.permute(dy, inverse, dx);
        x.accumulate_grad(std::move(dx));
    });
}

Var concat(const std::vector<Var>& xs, int axis) {
    VDM_CHECK(!xs.empty(), "concat: no inputs");
    const Var& first = xs.front();
    axis = first.value().shape().axis(axis);
    Shape out_shape = first.shape();
    out_shape[axis] = 0;
    for (const Var& x : xs) {
        check_compatible("concat", first.value(), x.value());
        check_floating("concat", x.value());
        bool same_rank = x.ndim() == first.ndim();
        for (int i = 0; same_rank && i < x.ndim(); ++i)
            same_rank = i == axis || x.dim(i) == first.dim(i);
        VDM_CHECK(same_rank, "concat: ", x.shape().str(), " does not match ", first.shape().str(),
                  " outside axis ", axis);
        out_shape[axis] += x.dim(axis);
    }
    Backend& be = backend_for(first.device());
    Tensor y = Tensor::empty(out_shape, first.dtype(), first.device());
    int64_t offset = 0;
    for (const Var& x : xs) {
        Tensor part = x.value();
        be.copy_slice(y, part, axis, offset, /*into_whole=*/true);
        offset += x.dim(axis);
    }
    return record("concat", y, xs, [xs, axis, &be](const Tensor& dy) {
        Tensor whole = dy;
        int64_t offset = 0;
        for (const Var& x : xs) {
            if (x.requires_grad()) {
                Tensor dx = Tensor::empty(x.shape(), x.dtype(), x.device());
                be.copy_slice(whole, dx, axis, offset, /*into_whole=*/false);
                x.accumulate_grad(std::move(dx));
            }
            offset += x.dim(axis);
        }
    });
}

Var gather_last(const Var& x, const Tensor& index) {
    check_floating("gather", x.value());
    VDM_CHECK(index.dtype() == DType::I32 && index.device() == x.device(),
              "gather: index must be an i32 tensor on the input's device, got ", index.desc());
    Shape rows;  // x's shape without its last axis
    for (int i = 0; i + 1 < x.ndim(); ++i) rows.push_back(x.dim(i));
    VDM_CHECK(x.ndim() >= 1 && index.shape() == rows, "gather: index ", index.shape().str(),
              " must be the input ", x.shape().str(), " without its last axis");
    Backend& be = backend_for(x.device());
    Tensor y = Tensor::empty(rows, x.dtype(), x.device());
    be.gather_last(x.value(), index, y);
    return record("gather", y, {x}, [x, index, &be](const Tensor& dy) {
        Tensor dx = Tensor::empty(x.shape(), x.dtype(), x.device());
        be.scatter_last(dy, index, dx);
        x.accumulate_grad(std::move(dx));
    });
}

}  // namespace vdm

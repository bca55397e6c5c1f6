// The CUDA reduction kernels (tensor/cuda/reduce.cu, group_norm.cu, softmax.cu,
// optim.cu) emulated on the host, on every machine: the emulators below run the same
// shared functions of tensor/kernels/ in the kernels' decomposition (one block per
// row, group or piece; kReduceThreads step-1 partials; the fixed tree of
// emulate_block_reduce) and are compared with the CPU backend's kernels, error
// measured as in tests/cuda_parity.h: ||emulated - cpu|| / ||cpu||, outputs poisoned
// with NaN first. What a GPU alone can check (launch geometry, shared memory,
// synchronization) is left to the "cuda parity" cases.
//
// Bounds. Both sides accumulate in double; only the order of the additions differs.
//   f64: ~1e-16 per rounding, so 1e-12 leaves a wide margin.
//   f32: results are rounded once to f32 from double values that agree to ~1e-16, so an
//        element can differ by one f32 ulp (6e-8 relative) where the two doubles fall on
//        either side of a rounding boundary; group norm and softmax reuse such a rounded
//        scalar (mean, rstd, 1 / sum) across a row, so a whole row can move by an ulp.
//        2e-7 allows that and nothing more.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "tensor/dispatch.h"
#include "tensor/kernels/group_norm.h"
#include "tensor/kernels/optim.h"
#include "tensor/kernels/reduce.h"
#include "tensor/kernels/softmax.h"
#include "tests/cuda_parity.h"
#include "tests/helpers.h"

using namespace vdm;
using kernels::kReduceThreads;

namespace {

double bound_for(DType dtype) { return dtype == DType::F32 ? 2e-7 : 1e-12; }

Tensor poisoned(const Shape& shape, DType dtype) {
    return test::poisoned(shape, dtype, Device::CPU);
}

std::string label(const std::string& op, DType dtype, const Shape& shape) {
    return op + " " + dtype_name(dtype) + " " + shape.str();
}

// Measures each emulated output against the CPU's (names must match) and checks the bound.
test::ParityReport compare(const std::string& name, double bound, const test::Outputs& cpu,
                           const test::Outputs& emulated) {
    test::ParityReport report;
    report.name = name;
    report.bound = bound;
    REQUIRE(cpu.size() == emulated.size());
    for (size_t i = 0; i < cpu.size(); ++i)
        report.outputs.push_back(test::measure_output(cpu[i], emulated[i]));
    return report;
}

bool bit_identical(const Tensor& a, const Tensor& b) {
    return a.bytes() == b.bytes() && std::memcmp(a.raw(), b.raw(), a.bytes()) == 0;
}

// The order in which the emulators run blocks: a GPU runs them in any order, so the
// results must not depend on it.
enum class BlockOrder { Forward, Reverse };

template <typename Body> void for_each_block(int64_t blocks, BlockOrder order, const Body& body) {
    for (int64_t k = 0; k < blocks; ++k) body(order == BlockOrder::Forward ? k : blocks - 1 - k);
}

// ---------------------------------------------------------------------------------
// The emulators: each mirrors its CUDA kernel's sequence of shared-function calls.

// tensor/cuda/reduce.cu, launch_sum_to_shape.
template <typename T>
void emulate_sum_to_shape(const Tensor& x, Tensor& out, const kernels::SumToShapePlan& plan,
                          BlockOrder order) {
    const T* px = x.data<T>();
    T* po = out.data<T>();
    std::vector<double> partial(size_t(plan.pieces()), std::nan(""));
    auto store = [&](int64_t p, double sum) {
        if (plan.chunks == 1)
            po[p] = T(sum);
        else
            partial[size_t(p)] = sum;
    };
    if (plan.rows) {
        for_each_block(plan.pieces(), order, [&](int64_t p) {
            store(p, kernels::emulate_block_reduce(
                         [&](int t) { return kernels::piece_thread_sum(px, plan, p, t); }));
        });
    } else {
        for_each_block(plan.pieces(), order, [&](int64_t i) {  // one thread each
            const int64_t p = kernels::column_piece(plan, i);
            store(p, kernels::piece_serial_sum(px, plan, p));
        });
    }
    if (plan.chunks > 1)
        for_each_block(plan.index.outputs, order, [&](int64_t j) {
            po[j] = T(kernels::emulate_block_reduce([&](int t) {
                return kernels::chunks_thread_sum(partial.data(), plan.chunks, j, t);
            }));
        });
}

Tensor emulated_sum_to_shape(const Tensor& x, const Shape& out_shape,
                             BlockOrder order = BlockOrder::Forward) {
    Tensor out = poisoned(out_shape, x.dtype());
    const kernels::SumToShapePlan plan = kernels::plan_sum_to_shape(x.shape(), out_shape);
    VDM_DISPATCH_FLOAT(x.dtype(), "sum_to_shape", emulate_sum_to_shape<T>(x, out, plan, order));
    return out;
}

// tensor/cuda/group_norm.cu, group_norm_forward_kernel.
template <typename T>
void emulate_group_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                int groups, double eps, Tensor& y, Tensor& mean, Tensor& rstd,
                                BlockOrder order) {
    const kernels::GroupNormShape s = kernels::group_norm_shape(x.shape(), groups);
    const T* px = x.data<T>();
    const double n = double(s.group_size);
    for_each_block(s.B * s.G, order, [&](int64_t bg) {
        const double mu = kernels::emulate_block_reduce(
                              [&](int t) { return kernels::sum_partial(px, s, bg, t); }) /
                          n;
        const double centered_squares = kernels::emulate_block_reduce(
            [&](int t) { return kernels::centered_square_partial(px, s, bg, mu, t); });
        const double r = kernels::group_rstd(centered_squares, s.group_size, eps);
        mean.data<T>()[bg] = T(mu);
        rstd.data<T>()[bg] = T(r);
        for (int t = 0; t < kReduceThreads; ++t)
            kernels::group_norm_write(px, weight.data<T>(), bias.data<T>(), y.data<T>(), s, bg,
                                      T(mu), T(r), t);
    });
}

// tensor/cuda/group_norm.cu, launch_group_norm_backward; undefined outputs are skipped.
template <typename T>
void emulate_group_norm_backward(const Tensor& x, const Tensor& weight, const Tensor& mean,
                                 const Tensor& rstd, const Tensor& dy, int groups, Tensor& dx,
                                 Tensor& dweight, Tensor& dbias, BlockOrder order) {
    const kernels::GroupNormShape s = kernels::group_norm_shape(x.shape(), groups);
    const T *px = x.data<T>(), *pw = weight.data<T>(), *pmean = mean.data<T>(),
            *prstd = rstd.data<T>(), *pdy = dy.data<T>();
    if (dweight.defined() || dbias.defined()) {
        std::vector<double> dweight_partial(size_t(s.B * s.C)), dbias_partial(size_t(s.B * s.C));
        for_each_block(s.B * s.C, order, [&](int64_t bc) {
            dweight_partial[size_t(bc)] = kernels::emulate_block_reduce([&](int t) {
                return kernels::dy_xhat_partial(px, pdy, pmean, prstd, s, bc, t);
            });
            dbias_partial[size_t(bc)] = kernels::emulate_block_reduce(
                [&](int t) { return kernels::dy_partial(pdy, s, bc, t); });
        });
        for (int64_t c = 0; c < s.C; ++c) {  // one thread per channel
            if (dweight.defined())
                dweight.data<T>()[c] =
                    T(kernels::channel_sum_over_samples(dweight_partial.data(), s, c));
            if (dbias.defined())
                dbias.data<T>()[c] =
                    T(kernels::channel_sum_over_samples(dbias_partial.data(), s, c));
        }
    }
    if (!dx.defined()) return;
    const double n = double(s.group_size);
    for_each_block(s.B * s.G, order, [&](int64_t bg) {
        const double mu = double(pmean[bg]), r = double(prstd[bg]);
        const double mean_g = kernels::emulate_block_reduce([&](int t) {
                                  return kernels::g_partial(pdy, pw, s, bg, t);
                              }) /
                              n;
        const double mean_g_xhat = kernels::emulate_block_reduce([&](int t) {
                                       return kernels::g_xhat_partial(px, pdy, pw, s, bg, mu, r, t);
                                   }) /
                                   n;
        for (int t = 0; t < kReduceThreads; ++t)
            kernels::group_norm_dx_write(px, pdy, pw, dx.data<T>(), s, bg, mu, r, mean_g,
                                         mean_g_xhat, t);
    });
}

// tensor/cuda/softmax.cu, softmax_forward_kernel.
template <typename T>
void emulate_softmax_forward(const Tensor& x, bool log, Tensor& y, BlockOrder order) {
    const int64_t V = x.dim(-1), rows = x.numel() / V;
    for_each_block(rows, order, [&](int64_t r) {
        const T* xr = x.data<T>() + r * V;
        T* yr = y.data<T>() + r * V;
        const T row_max = T(kernels::emulate_block_reduce(
            [&](int t) { return kernels::row_max_partial(xr, V, t); }, kernels::Max{}));
        const double exp_sum = kernels::emulate_block_reduce(
            [&](int t) { return kernels::exp_sum_partial(xr, yr, V, row_max, t); });
        for (int t = 0; t < kReduceThreads; ++t)
            kernels::softmax_write(xr, yr, V, log, row_max, exp_sum, t);
    });
}

// tensor/cuda/softmax.cu, softmax_backward_kernel.
template <typename T>
void emulate_softmax_backward(const Tensor& y, const Tensor& dy, bool log, Tensor& dx,
                              BlockOrder order) {
    const int64_t V = y.dim(-1), rows = y.numel() / V;
    for_each_block(rows, order, [&](int64_t r) {
        const T* yr = y.data<T>() + r * V;
        const T* dyr = dy.data<T>() + r * V;
        const double sum = kernels::emulate_block_reduce(
            [&](int t) { return kernels::softmax_backward_partial(yr, dyr, V, log, t); });
        for (int t = 0; t < kReduceThreads; ++t)
            kernels::softmax_backward_write(yr, dyr, dx.data<T>() + r * V, V, log, sum, t);
    });
}

// tensor/cuda/optim.cu, sum_squares_kernel (one block).
template <typename T> double emulate_sum_squares(const Tensor& x) {
    return kernels::emulate_block_reduce(
        [&](int t) { return kernels::squares_thread_sum(x.data<T>(), x.numel(), t); });
}

// ---------------------------------------------------------------------------------
// Inputs and the CPU side.

struct ReducePattern {
    Shape x, out;
};
// Every kind the kernel distinguishes: rows and columns, one chunk and several.
const ReducePattern kReducePatterns[] = {
    {{1}, {}},
    {{3}, {1}},
    {{785}, {}},                        // rows, one chunk
    {{17, 31}, {1, 1}},
    {{3, 17}, {1, 17}},                 // columns, one chunk
    {{785, 3}, {3}},                    // columns, 13 chunks, to fewer dims
    {{3, 17}, {3, 1}},
    {{31, 785}, {31, 1}},
    {{3, 17}, {3, 17}},                 // nothing summed: a copy
    {{1, 17}, {17}},
    {{2, 3, 5, 7}, {2, 1, 5, 1}},       // rows, reduced dims on both sides of kept ones
    {{2, 3, 5, 7}, {1, 3, 1, 7}},       // columns, kept dims on both sides of reduced ones
    {{2, 3, 5, 7}, {3, 5, 7}},
    {{3, 17, 31}, {3, 1, 31}},          // the middle dim only
    {{4, 32, 28, 28}, {1, 32, 1, 1}},   // a per-channel bias: rows, 4 chunks
    {{4, 32, 28, 28}, {32, 1, 1}},
    {{64, 32, 28, 28}, {1, 32, 1, 1}},  // the same at B = 64: 13 chunks
    {{64, 32, 28, 28}, {64, 32, 1, 1}}, // the time embedding added per channel
    {{64, 32, 28, 28}, {64, 1, 1, 1}},  // a per-image scale: rows, 7 chunks
    {{64, 32, 28, 28}, {28, 28}},       // columns, 32 chunks
    {{64, 32, 28, 28}, {1}},            // everything: rows, 392 chunks
    {{64, 784}, {1, 784}},              // a bias of a (B, N) product: columns
    {{64, 785}, {64, 1}},
};

// Uniform in [-1, 3]: never zero in practice, and a nonzero mean, so sums are not
// pure cancellation.
Tensor input(const Shape& shape, uint64_t seed, DType dtype) {
    return test::uniform(shape, seed, -1.0, 3.0, dtype);
}

Tensor cpu_sum_to_shape(const Tensor& x, const Shape& out_shape) {
    Tensor out = poisoned(out_shape, x.dtype());
    backend_for(Device::CPU).sum_to_shape(x, out);
    return out;
}

struct GroupNormCase {
    int64_t B, C, H, W;
    int groups;
};
const GroupNormCase kGroupNormCases[] = {
    {1, 1, 1, 1, 1},  {2, 6, 3, 5, 3},    {3, 4, 17, 31, 2},    {1, 8, 1, 785, 4},
    {5, 3, 1, 1, 3},  {4, 32, 28, 28, 8}, {64, 32, 28, 28, 8},
};

const Shape kSoftmaxShapes[] = {{1, 1}, {5, 1}, {7, 3}, {2, 17}, {3, 31},
                                {4, 256}, {3, 784}, {2, 785}, {2, 3, 17}};

}  // namespace

// ---------------------------------------------------------------------------------

TEST_CASE("shared reduce sum_to_shape: the plan's index visits each element of x once") {
    for (const ReducePattern& p : kReducePatterns) {
        CAPTURE(p.x.str());
        CAPTURE(p.out.str());
        const kernels::SumToShapePlan plan = kernels::plan_sum_to_shape(p.x, p.out);
        CHECK(plan.index.outputs == p.out.numel());
        CHECK(plan.index.outputs * plan.index.reduced == p.x.numel());
        std::vector<int> visits(size_t(p.x.numel()), 0);
        int64_t outside = 0;
        for (int64_t j = 0; j < plan.index.outputs; ++j)
            for (int64_t r = 0; r < plan.index.reduced; ++r) {
                const int64_t i = plan.index.base(j) + plan.index.offset(r);
                if (i >= 0 && i < p.x.numel())
                    ++visits[size_t(i)];
                else
                    ++outside;
            }
        CHECK(outside == 0);
        CHECK(std::count(visits.begin(), visits.end(), 1) == p.x.numel());
    }
    // The split the comments above promise.
    const kernels::SumToShapePlan per_channel =
        kernels::plan_sum_to_shape(Shape{64, 32, 28, 28}, Shape{1, 32, 1, 1});
    CHECK(per_channel.rows);
    CHECK(per_channel.index.kept_dims == 1);
    CHECK(per_channel.index.reduced_dims == 2);
    CHECK(per_channel.chunks == 13);
    const kernels::SumToShapePlan bias = kernels::plan_sum_to_shape(Shape{64, 784}, Shape{784});
    CHECK_FALSE(bias.rows);
    CHECK(bias.chunks == 1);
    CHECK(kernels::plan_sum_to_shape(Shape{785, 3}, Shape{3}).chunks == 13);
    CHECK(kernels::plan_sum_to_shape(Shape{64, 32, 28, 28}, Shape{}).chunks == 392);
}

TEST_CASE("shared reduce sum_to_shape matches the CPU backend in every pattern") {
    test::ParityTally tally("shared reduce sum_to_shape");
    uint64_t seed = 1;
    for (const ReducePattern& p : kReducePatterns)
        for (DType dtype : {DType::F64, DType::F32}) {
            const Tensor x = input(p.x, seed++, dtype);
            tally.check(compare(label("sum_to_shape", dtype, p.x) + " -> " + p.out.str(),
                                bound_for(dtype), {{"out", cpu_sum_to_shape(x, p.out)}},
                                {{"out", emulated_sum_to_shape(x, p.out)}}));
        }
    tally.print_closest();
}

TEST_CASE("shared reduce group norm forward and backward match the CPU backend") {
    test::ParityTally tally("shared reduce group_norm");
    const double eps = 1e-5;
    uint64_t seed = 100;
    Backend& cpu = backend_for(Device::CPU);
    for (const GroupNormCase& c : kGroupNormCases)
        for (DType dtype : {DType::F64, DType::F32}) {
            const Shape x_shape{c.B, c.C, c.H, c.W}, stat_shape{c.B, c.groups};
            const Tensor x = input(x_shape, seed++, dtype);
            const Tensor weight = test::randn(Shape{c.C}, seed++, 1.0, dtype);
            const Tensor bias = test::randn(Shape{c.C}, seed++, 1.0, dtype);
            const Tensor dy = test::randn(x_shape, seed++, 1.0, dtype);
            const std::string name =
                label("group_norm G " + std::to_string(c.groups), dtype, x_shape);

            Tensor y = poisoned(x_shape, dtype), mean = poisoned(stat_shape, dtype),
                   rstd = poisoned(stat_shape, dtype);
            cpu.group_norm_forward(x, weight, bias, c.groups, eps, y, mean, rstd);
            Tensor ey = poisoned(x_shape, dtype), emean = poisoned(stat_shape, dtype),
                   erstd = poisoned(stat_shape, dtype);
            VDM_DISPATCH_FLOAT(dtype, "group_norm",
                               emulate_group_norm_forward<T>(x, weight, bias, c.groups, eps, ey,
                                                             emean, erstd, BlockOrder::Forward));
            tally.check(compare(name, bound_for(dtype), {{"y", y}, {"mean", mean}, {"rstd", rstd}},
                                {{"y", ey}, {"mean", emean}, {"rstd", erstd}}));

            // Backward from the CPU's statistics; bits: 1 dx, 2 dweight, 4 dbias, where an
            // undefined gradient is skipped.
            for (int mask : {7, 1, 6, 2}) {
                auto gradients = [&](bool emulate) {
                    Tensor dx = mask & 1 ? poisoned(x_shape, dtype) : Tensor();
                    Tensor dweight = mask & 2 ? poisoned(Shape{c.C}, dtype) : Tensor();
                    Tensor dbias = mask & 4 ? poisoned(Shape{c.C}, dtype) : Tensor();
                    if (emulate) {
                        VDM_DISPATCH_FLOAT(dtype, "group_norm_backward",
                                           emulate_group_norm_backward<T>(
                                               x, weight, mean, rstd, dy, c.groups, dx, dweight,
                                               dbias, BlockOrder::Forward));
                    } else {
                        cpu.group_norm_backward(x, weight, mean, rstd, dy, c.groups, dx, dweight,
                                                dbias);
                    }
                    test::Outputs out;
                    if (dx.defined()) out.push_back({"dx", dx});
                    if (dweight.defined()) out.push_back({"dweight", dweight});
                    if (dbias.defined()) out.push_back({"dbias", dbias});
                    return out;
                };
                tally.check(compare(name + " backward mask " + std::to_string(mask),
                                    bound_for(dtype), gradients(false), gradients(true)));
            }
        }
    tally.print_closest();
}

TEST_CASE("shared reduce softmax and log-softmax forward and backward match the CPU backend") {
    test::ParityTally tally("shared reduce softmax");
    uint64_t seed = 200;
    Backend& cpu = backend_for(Device::CPU);
    for (const Shape& shape : kSoftmaxShapes)
        for (DType dtype : {DType::F64, DType::F32})
            for (bool log : {false, true}) {
                // Logits of spread 3 around 40: the max subtraction matters.
                const Tensor x = test::uniform(shape, seed++, 34.0, 46.0, dtype);
                const Tensor dy = test::randn(shape, seed++, 1.0, dtype);
                const std::string name = label(log ? "log_softmax" : "softmax", dtype, shape);

                Tensor y = poisoned(shape, dtype), ey = poisoned(shape, dtype);
                cpu.softmax_forward(x, log, y);
                VDM_DISPATCH_FLOAT(dtype, "softmax",
                                   emulate_softmax_forward<T>(x, log, ey, BlockOrder::Forward));
                tally.check(compare(name, bound_for(dtype), {{"y", y}}, {{"y", ey}}));

                Tensor dx = poisoned(shape, dtype), edx = poisoned(shape, dtype);
                cpu.softmax_backward(y, dy, log, dx);
                VDM_DISPATCH_FLOAT(dtype, "softmax_backward",
                                   emulate_softmax_backward<T>(y, dy, log, edx,
                                                               BlockOrder::Forward));
                tally.check(
                    compare(name + " backward", bound_for(dtype), {{"dx", dx}}, {{"dx", edx}}));
            }
    tally.print_closest();
}

TEST_CASE("shared reduce sum_squares, adamw and ema match the CPU backend") {
    test::ParityTally tally("shared reduce sum_squares");
    AdamWStep step;  // AdamW's fifth step at the default settings
    step.lr = 1e-3, step.beta1 = 0.9, step.beta2 = 0.999, step.eps = 1e-8;
    step.decay = 1.0 - 1e-3 * 0.01;
    step.correction1 = 1.0 - std::pow(0.9, 5), step.correction2 = 1.0 - std::pow(0.999, 5);
    const double ema_decay = 0.999;
    uint64_t seed = 300;
    Backend& cpu = backend_for(Device::CPU);
    for (const Shape& shape : {Shape{1}, Shape{3}, Shape{17}, Shape{31}, Shape{785},
                               Shape{128, 128, 3, 3}})
        for (DType dtype : {DType::F64, DType::F32}) {
            const Tensor w = test::randn(shape, seed++, 1.0, dtype);
            const Tensor m = test::randn(shape, seed++, 0.1, dtype);
            const Tensor v = test::uniform(shape, seed++, 1e-4, 1e-2, dtype);
            const Tensor g = test::randn(shape, seed++, 1.0, dtype);

            // Squares summed in double on both sides, in different orders; slot 1 of 3.
            Tensor out = poisoned(Shape{3}, DType::F64), eout = poisoned(Shape{3}, DType::F64);
            cpu.sum_squares(g, out, 1);
            VDM_DISPATCH_FLOAT(dtype, "sum_squares",
                               eout.data<double>()[1] = emulate_sum_squares<T>(g));
            tally.check(compare(label("sum_squares", dtype, shape), 1e-12, {{"out", out}},
                                {{"out", eout}}));

            // AdamW and the EMA: the same per-element function on both sides, so the same bits.
            Tensor w1 = w.clone(), m1 = m.clone(), v1 = v.clone();
            cpu.adamw_update(w1, m1, v1, g, step);
            Tensor w2 = w.clone(), m2 = m.clone(), v2 = v.clone();
            Tensor shadow1 = m.clone(), shadow2 = m.clone();
            cpu.ema_update(shadow1, w, ema_decay);
            VDM_DISPATCH_FLOAT(dtype, "optimizer", {
                const kernels::AdamWScalars<T> s(step);
                const T d = T(ema_decay), rest = T(1.0 - ema_decay);
                for (int64_t i = 0; i < w.numel(); ++i) {  // one thread per element
                    kernels::adamw_element(s, w2.data<T>()[i], m2.data<T>()[i], v2.data<T>()[i],
                                           g.data<T>()[i]);
                    shadow2.data<T>()[i] =
                        kernels::ema_element(shadow2.data<T>()[i], w.data<T>()[i], d, rest);
                }
            });
            CAPTURE(label("adamw/ema", dtype, shape));
            CHECK(bit_identical(w1, w2));
            CHECK(bit_identical(m1, m2));
            CHECK(bit_identical(v1, v2));
            CHECK(bit_identical(shadow1, shadow2));
        }
    tally.print_closest();
}

TEST_CASE("shared reduce emulation is deterministic: twice, and with blocks in reverse order") {
    // A multi-chunk sum, group norm at the model's shape, and attention-length softmax rows,
    // in f32 (training's type). Every run must give the same bits.
    const Tensor x = input(Shape{64, 32, 28, 28}, 400, DType::F32);
    for (const Shape& out_shape : {Shape{1, 32, 1, 1}, Shape{28, 28}, Shape{}}) {
        CAPTURE(out_shape.str());
        const Tensor first = emulated_sum_to_shape(x, out_shape);
        CHECK(bit_identical(first, emulated_sum_to_shape(x, out_shape)));
        CHECK(bit_identical(first, emulated_sum_to_shape(x, out_shape, BlockOrder::Reverse)));
    }

    const Tensor weight = test::randn(Shape{32}, 401, 1.0, DType::F32);
    const Tensor bias = test::randn(Shape{32}, 402, 1.0, DType::F32);
    const Tensor dy = test::randn(x.shape(), 403, 1.0, DType::F32);
    auto group_norm = [&](BlockOrder order) {
        Tensor y = poisoned(x.shape(), DType::F32), mean = poisoned(Shape{64, 8}, DType::F32),
               rstd = poisoned(Shape{64, 8}, DType::F32), dx = poisoned(x.shape(), DType::F32),
               dweight = poisoned(Shape{32}, DType::F32), dbias = poisoned(Shape{32}, DType::F32);
        emulate_group_norm_forward<float>(x, weight, bias, 8, 1e-5, y, mean, rstd, order);
        emulate_group_norm_backward<float>(x, weight, mean, rstd, dy, 8, dx, dweight, dbias, order);
        return std::vector<Tensor>{y, mean, rstd, dx, dweight, dbias};
    };
    const std::vector<Tensor> first = group_norm(BlockOrder::Forward);
    for (BlockOrder order : {BlockOrder::Forward, BlockOrder::Reverse}) {
        const std::vector<Tensor> again = group_norm(order);
        for (size_t i = 0; i < first.size(); ++i) CHECK(bit_identical(first[i], again[i]));
    }

    const Tensor logits = test::randn(Shape{5, 784}, 404, 3.0, DType::F32);
    auto softmax = [&](BlockOrder order) {
        Tensor y = poisoned(logits.shape(), DType::F32), dx = poisoned(logits.shape(), DType::F32);
        emulate_softmax_forward<float>(logits, false, y, order);
        emulate_softmax_backward<float>(y, logits, false, dx, order);
        return std::vector<Tensor>{y, dx};
    };
    const std::vector<Tensor> first_softmax = softmax(BlockOrder::Forward);
    for (BlockOrder order : {BlockOrder::Forward, BlockOrder::Reverse}) {
        const std::vector<Tensor> again = softmax(order);
        CHECK(bit_identical(first_softmax[0], again[0]));
        CHECK(bit_identical(first_softmax[1], again[1]));
    }
}

TEST_CASE("shared reduce comparison catches planted bugs: a lost element, an unwritten output") {
    uint64_t seed = 500;
    for (const ReducePattern& p : kReducePatterns) {
        if (p.x.numel() == p.out.numel()) continue;  // a copy adds nothing to lose
        for (DType dtype : {DType::F64, DType::F32}) {
            const Tensor x = input(p.x, seed++, dtype);
            const std::string name = label("sum_to_shape", dtype, p.x) + " -> " + p.out.str();
            CAPTURE(name);
            const test::Outputs cpu = {{"out", cpu_sum_to_shape(x, p.out)}};

            // Off by one: each output's last reduced element is never added.
            kernels::SumToShapePlan short_plan = kernels::plan_sum_to_shape(p.x, p.out);
            short_plan.index.reduced -= 1;
            Tensor lost = poisoned(p.out, dtype);
            VDM_DISPATCH_FLOAT(dtype, "sum_to_shape",
                               emulate_sum_to_shape<T>(x, lost, short_plan, BlockOrder::Forward));
            const test::ParityReport lost_report =
                compare(name, bound_for(dtype), cpu, {{"out", lost}});
            CHECK_FALSE(lost_report.passed());
            CHECK(lost_report.summary().find(name + ": FAILED at output out") == 0);

            // A kernel that never writes the last output leaves its poison.
            Tensor unwritten = emulated_sum_to_shape(x, p.out);
            VDM_DISPATCH_FLOAT(dtype, "sum_to_shape",
                               unwritten.data<T>()[unwritten.numel() - 1] = T(std::nan("")));
            const test::ParityReport unwritten_report =
                compare(name, bound_for(dtype), cpu, {{"out", unwritten}});
            CHECK_FALSE(unwritten_report.passed());
            CHECK(unwritten_report.summary().find("never written") != std::string::npos);
        }
    }
}

// The per-op profiler (tensor/profiler.h): each kernel call lands in its op class with
// the exact FLOP count, conv2d_backward is booked as two passes, results are the
// unprofiled ones bit for bit, and with profiling off nothing is counted.
// Times are never checked (speed is measured in bench/, not in tests).
#include <doctest/doctest.h>

#include "tensor/profiler.h"
#include "tests/helpers.h"

using namespace vdm;
using vdm::test::randn;

namespace {

// Profiling on for one scope, from zero counts; off again on the way out.
struct ProfilingOn {
    ProfilingOn() {
        take_profile();
        set_profiling(true);
    }
    ~ProfilingOn() { set_profiling(false); }
};

// The kernels of the test, on inputs made beforehand, into outputs made beforehand.
struct Case {
    Tensor x = randn(Shape{2, 3, 5, 5}, 1, 1.0, DType::F32);
    Tensor w = randn(Shape{4, 3, 3, 3}, 2, 1.0, DType::F32);
    Tensor bias = randn(Shape{4}, 3, 1.0, DType::F32);
    Tensor dy = randn(Shape{2, 4, 5, 5}, 4, 1.0, DType::F32);
    Tensor a = randn(Shape{2, 3, 4}, 5, 1.0, DType::F32), b = randn(Shape{1, 4, 5}, 6, 1.0, DType::F32);
    Tensor at = randn(Shape{1, 4, 3}, 7, 1.0, DType::F32), bt = randn(Shape{2, 5, 4}, 8, 1.0, DType::F32);

    Tensor y = Tensor::empty(Shape{2, 4, 5, 5}), dx = Tensor::empty(x.shape());
    Tensor dw = Tensor::empty(w.shape()), db = Tensor::empty(bias.shape());
    Tensor dw2 = Tensor::empty(w.shape()), db2 = Tensor::empty(bias.shape());
    Tensor c = Tensor::empty(Shape{2, 3, 5}), c_sum = Tensor::empty(Shape{1, 3, 5});

    void run() {
        Backend& be = backend_for(Device::CPU);
        be.conv2d_forward(x, w, bias, y);
        be.conv2d_backward(x, w, dy, dx, dw, db);
        Tensor no_dx;  // an input that needs no gradient, as conv_in's
        be.conv2d_backward(x, w, dy, no_dx, dw2, db2);
        be.matmul(a, false, b, false, c, 0.0);      // batch 2, b broadcast
        be.matmul(at, true, bt, true, c_sum, 0.0);  // batch 2 summed into c's one
    }
    std::vector<Tensor> outputs() const { return {y, dx, dw, db, dw2, db2, c, c_sum}; }
};

constexpr double kConvFlops = 2.0 * 2 * 4 * 3 * 3 * 3 * 5 * 5;  // 2 B Cout Cin k k H W
constexpr double kMatmulFlops = 2.0 * 3 * 5 * 4 * 2;           // 2 M N K batch

}  // namespace

TEST_CASE("the profiler books each kernel to its class with exact FLOPs; results unchanged") {
    Case plain, profiled;
    plain.run();
    Profile p;
    {
        ProfilingOn on;
        profiled.run();
        p = take_profile();
    }
    CHECK(p[OpClass::ConvForward].calls == 1);
    CHECK(p[OpClass::ConvForward].flops == kConvFlops);
    CHECK(p[OpClass::ConvBackwardData].calls == 1);  // the second backward has no dx
    CHECK(p[OpClass::ConvBackwardData].flops == kConvFlops);
    CHECK(p[OpClass::ConvBackwardWeight].calls == 2);
    CHECK(p[OpClass::ConvBackwardWeight].flops == 2 * kConvFlops);
    CHECK(p[OpClass::Matmul].calls == 2);
    CHECK(p[OpClass::Matmul].flops == 2 * kMatmulFlops);
    int64_t calls = 0;
    for (const OpStats& s : p.ops) calls += s.calls;
    CHECK(calls == 6);  // nothing else ran: no allocations, no elementwise kernels

    const std::vector<Tensor> want = plain.outputs(), got = profiled.outputs();
    for (size_t i = 0; i < want.size(); ++i) {
        CAPTURE(i);
        CHECK(got[i].to_vector() == want[i].to_vector());  // bit for bit
    }
}

TEST_CASE("the profiler books allocations, and counts nothing while off") {
    Profile on_counts;
    {
        ProfilingOn on;
        { Tensor t = Tensor::empty(Shape{16}); }  // allocate, then release
        on_counts = take_profile();
    }
    CHECK(on_counts[OpClass::Allocation].calls == 2);
    CHECK(on_counts[OpClass::Allocation].flops == 0.0);

    take_profile();
    Case off;
    off.run();
    const Profile p = take_profile();
    for (int c = 0; c < kOpClasses; ++c) {
        CAPTURE(op_class_name(OpClass(c)));
        CHECK(p.ops[size_t(c)].calls == 0);
        CHECK(p.ops[size_t(c)].ms == 0.0);
        CHECK(p.ops[size_t(c)].flops == 0.0);
    }
}

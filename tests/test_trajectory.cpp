// vdm/trajectory.h: which grid times a trajectory keeps, what it costs, and that its
// first z frame is the sampler's own z_1.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "tests/vdm_helpers.h"
#include "vdm/trajectory.h"

using namespace vdm;

TEST_CASE("a trajectory keeps the first grid time at or below each target, one more evaluation each") {
    Rng init(5);
    const Vdm model(test::tiny_model("linear", "continuous"), DType::F64, init);
    const int64_t n = 3, D = model.image_size();
    struct Case {
        int64_t steps;
        std::vector<double> times;
    };
    for (const Case& c : {Case{14, {1.0, 12 / 14.0, 10 / 14.0, 8 / 14.0, 6 / 14.0, 4 / 14.0, 2 / 14.0, 0.0}},
                          Case{3, {1.0, 2 / 3.0, 1 / 3.0, 0.0}}}) {  // a coarse grid: one frame per step
        CAPTURE(c.steps);
        Trajectory trajectory;
        const Samples samples = sample_loop(model, ancestral_rule(), n, c.steps, 7, {},
                                            trajectory_observer(trajectory, 8));
        REQUIRE(trajectory.times.size() == c.times.size());
        for (size_t k = 0; k < c.times.size(); ++k) CHECK(trajectory.times[k] == doctest::Approx(c.times[k]));
        CHECK(samples.network_evals == c.steps + int64_t(c.times.size()));
        REQUIRE(trajectory.z.size() == c.times.size());
        REQUIRE(trajectory.x_hat.size() == c.times.size());
        for (const auto& frame : trajectory.x_hat) CHECK(int64_t(frame.size()) == n * D);

        // Frame 0 is z_1, the stream's first draw, through v = (z + 1) 128 - 0.5.
        SamplerContext ctx(model, n, 7);
        const std::vector<double> z_1 = ctx.normal().value().to_vector();
        for (int64_t j = 0; j < n * D; ++j)
            CHECK(int(trajectory.z[0][size_t(j)]) == std::clamp(int(std::lround((z_1[size_t(j)] + 1.0) * 128.0 - 0.5)), 0, 255));

        // Sample i's strip: its z frames, then its x_hat frames.
        const std::vector<uint8_t> strip = trajectory_strip(trajectory, 1, D);
        REQUIRE(strip.size() == 2 * c.times.size() * size_t(D));
        CHECK(std::equal(strip.begin(), strip.begin() + D, trajectory.z[0].begin() + D));
        CHECK(std::equal(strip.end() - D, strip.end(), trajectory.x_hat.back().begin() + D));
    }
    Trajectory unused;
    CHECK_THROWS_AS(trajectory_observer(unused, 1), Error);
}

// The trainer's non-finite guard (vdm/trainer.h): a step with NaN in its loss or
// gradients leaves weights, Adam moments and EMA as they were, names the op, and the
// run continues from the next batch as if the skipped step had only drawn its numbers.
#include <string>
#include <vector>

#include "autodiff/variable.h"
#include "tests/vdm_helpers.h"
#include "vdm/trainer.h"

using namespace vdm;

namespace {

// Every tensor a step may change: the weights, both Adam moments and the EMA.
std::vector<std::vector<double>> trained_state(const Trainer& t) {
    std::vector<std::vector<double>> state;
    for (const Parameter& p : t.params) state.push_back(p.var.value().to_vector());
    for (const Tensor& m : t.optimizer->m) state.push_back(m.to_vector());
    for (const Tensor& v : t.optimizer->v) state.push_back(v.to_vector());
    for (const Tensor& s : t.ema->shadow) state.push_back(s.to_vector());
    return state;
}

}  // namespace

TEST_CASE("a step with NaN changes no weight, moment or EMA, and names the op that made it") {
    for (const std::string op : {"conv2d", "group_norm"}) {
        CAPTURE(op);
        const Dataset data = test::synthetic_images(8);
        Trainer trainer(test::tiny_run(), data, test::all_indices(8));
        trainer.step();
        const auto before = trained_state(trainer);
        const int64_t adam_steps = trainer.optimizer->steps, ema_updates = trainer.ema->updates;

        set_nan_injection(op);
        StepStats skipped = trainer.step();
        set_nan_injection("");
        CHECK(skipped.skipped);
        CHECK(skipped.nonfinite_op.find(op + " forward") == 0);
        CHECK(trained_state(trainer) == before);
        CHECK(trainer.optimizer->steps == adam_steps);
        CHECK(trainer.ema->updates == ema_updates);
        CHECK(trainer.skipped_in_a_row == 1);
        CHECK(trainer.steps_done == 2);
        CHECK(!check_finite_enabled());  // the replay switched its checks off again
        for (const Parameter& p : trainer.params) CHECK(!p.var.grad().defined());

        StepStats next = trainer.step();
        CHECK(!next.skipped);
        CHECK(trainer.skipped_in_a_row == 0);
        CHECK(trainer.skipped_total == 1);
        CHECK(trained_state(trainer) != before);

        // The step after the skipped one is the third step of an unguarded run: the
        // replay put the batch and noise streams back where the skipped step left them.
        Trainer reference(test::tiny_run(), data, test::all_indices(8));
        for (int i = 0; i < 2; ++i) reference.step();
        reference.step();
        CHECK(trainer.noise_rng.offset == reference.noise_rng.offset);
        CHECK(trainer.dropout_rng.offset == reference.dropout_rng.offset);
        CHECK(trainer.sampler->state().position == reference.sampler->state().position);
    }
}

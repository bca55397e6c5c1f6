// The training step.
#include "vdm/trainer.h"

#include <cmath>

#include "vdm/bpd.h"

namespace vdm {

uint64_t init_seed(int64_t seed) { return uint64_t(seed) * 8 + 1; }
uint64_t noise_seed(int64_t seed) { return uint64_t(seed) * 8 + 2; }
uint64_t dropout_seed(int64_t seed) { return uint64_t(seed) * 8 + 3; }
uint64_t batch_seed(int64_t seed) { return uint64_t(seed) * 8 + 4; }
uint64_t split_seed(int64_t seed) { return uint64_t(seed) * 8 + 5; }

namespace {

RunConfig with_schedule_range(RunConfig c) {
    c.model = with_schedule_range(c.model);
    return c;
}

}  // namespace

Trainer::Trainer(const RunConfig& cfg, const Dataset& data, std::vector<int64_t> indices,
                 Device device)
    : config(with_schedule_range(cfg)),
      noise_rng(noise_seed(cfg.train.seed)),
      dropout_rng(dropout_seed(cfg.train.seed)),
      data_(data) {
    VDM_CHECK(data.image_size() == cfg.model.net.image_channels * cfg.model.net.height *
                                       cfg.model.net.width,
              "trainer: the data's images (", data.channels, "x", data.height, "x", data.width,
              ") do not match the model's");
    Rng init(init_seed(cfg.train.seed));
    model = std::make_unique<Vdm>(config.model, DType::F32, init);
    model->to(device);
    params = model->parameters();
    AdamWConfig adam;
    adam.weight_decay = cfg.train.weight_decay;
    // Weight decay pulls the ScoreNet's weights toward 0; the schedule's endpoints
    // and shape have no such prior, so they are left out.
    std::vector<bool> decays;
    for (const Parameter& p : params) decays.push_back(p.name.rfind("schedule.", 0) != 0);
    optimizer = std::make_unique<AdamW>(params, adam, decays);
    ema = std::make_unique<Ema>(params, cfg.train.ema_decay);
    sampler = std::make_unique<BatchSampler>(std::move(indices), cfg.train.batch,
                                             batch_seed(cfg.train.seed));
}

Trainer::Streams Trainer::streams() const { return {noise_rng, dropout_rng, sampler->state()}; }

void Trainer::restore(const Streams& s) {
    noise_rng = s.noise;
    dropout_rng = s.dropout;
    sampler->restore(s.batches);
}

Var Trainer::loss_and_gradients(BoundTerms& terms) {
    const int64_t B = config.train.batch, D = model->image_size();
    std::vector<uint8_t> pixels(size_t(B * D));
    gather_images(data_, sampler->next(), pixels.data());

    const bool split = model->schedule->learned() && config.model.loss == "continuous";
    terms = model->bound(pixels.data(), model->draw_noise(B, noise_rng), &dropout_rng, split);
    const double to_bpd = 1.0 / (double(D) * std::log(2.0));
    Var loss = mean(terms.train_total()) * to_bpd;  // vlb: the batch's mean bpd
    if (!std::isfinite(loss.item())) return loss;
    loss.backward();
    model->schedule_backward(terms, to_bpd);
    return loss;
}

std::string Trainer::find_nonfinite_op(const Streams& before) {
    const Streams after = streams();
    restore(before);
    const bool was_checking = check_finite_enabled();
    set_check_finite(true);
    std::string where = "no op reproduced it with finite checks on";
    try {
        BoundTerms terms;
        loss_and_gradients(terms);
    } catch (const Error& e) {
        where = e.what();
    }
    set_check_finite(was_checking);
    for (const Parameter& p : params) p.var.zero_grad();
    restore(after);
    return where;
}

StepStats Trainer::step() {
    const Streams before = streams();
    BoundTerms terms;
    Var loss = loss_and_gradients(terms);

    StepStats s;
    NoGradGuard no_grad;  // the statistics below are not part of the graph
    const int64_t D = model->image_size();
    s.loss = loss.item();
    s.bpd = model->objective == Objective::Vlb ? s.loss : nats_to_bpd(mean(terms.total()).item(), D);
    s.prior = nats_to_bpd(mean(terms.prior).item(), D);
    s.recon = nats_to_bpd(mean(terms.recon).item(), D);
    s.diffusion = nats_to_bpd(mean(terms.diffusion).item(), D);
    s.grad_norm = std::isfinite(s.loss) ? clip_grad_norm(params, config.train.clip) : s.loss;
    ++steps_done;
    s.lr = warmup_lr(config.train.lr, steps_done, config.train.warmup);
    if (!std::isfinite(s.grad_norm)) {
        s.skipped = true;
        s.nonfinite_op = find_nonfinite_op(before);
        ++skipped_in_a_row, ++skipped_total;
        return s;
    }
    skipped_in_a_row = 0;
    optimizer->step(s.lr);
    ema->update(params);
    return s;
}

}  // namespace vdm

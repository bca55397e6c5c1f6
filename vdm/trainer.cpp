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
                 Device device, const Communicator& comm)
    : config(with_schedule_range(cfg)),
      noise_rng(noise_seed(cfg.train.seed)),
      dropout_rng(dropout_seed(cfg.train.seed)),
      data_(data),
      comm_(comm) {
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
    noise_rng.share = dropout_rng.share = comm.share(cfg.train.batch);
}

Trainer::Streams Trainer::streams() const { return {noise_rng, dropout_rng, sampler->state()}; }

void Trainer::restore(const Streams& s) {
    noise_rng = s.noise;
    dropout_rng = s.dropout;
    sampler->restore(s.batches);
}

Var Trainer::loss_and_gradients(BoundTerms& terms) {
    const int64_t B = config.train.batch, D = model->image_size();
    const BatchShare share = noise_rng.share;
    const std::vector<int64_t> batch = sampler->next();  // the same on every process
    const std::vector<int64_t> rows(batch.begin() + share.begin, batch.begin() + share.begin + share.rows);
    std::vector<uint8_t> pixels(size_t(share.rows * D));
    gather_images(data_, rows, pixels.data());

    const bool split = model->schedule->learned() && config.model.loss == "continuous";
    terms = model->bound(pixels.data(), model->draw_noise(share.rows, noise_rng), &dropout_rng, split);
    const double to_bpd = 1.0 / (double(D) * std::log(2.0));
    // vlb: the batch's mean bpd, or this process's rows' part of it
    Var loss = sum(terms.train_total()) * (to_bpd / double(B));
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
    std::string where;
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

void Trainer::sum_gradients() {
    if (comm_.size() == 1) return;
    // One buffer: per parameter, 1 if this process has a gradient for it, then its values.
    std::vector<double> flat;
    for (const Parameter& p : params) {
        const Tensor& grad = p.var.grad();
        flat.push_back(grad.defined() ? 1.0 : 0.0);
        const std::vector<double> values =
            grad.defined() ? grad.to_vector() : std::vector<double>(size_t(p.var.numel()), 0.0);
        flat.insert(flat.end(), values.begin(), values.end());
    }
    comm_.sum(flat);
    auto at = flat.begin();
    for (const Parameter& p : params) {
        const bool any = *at++ > 0.0;
        const auto end = at + p.var.numel();
        p.var.zero_grad();
        if (any)
            p.var.accumulate_grad(Tensor::from_vector(p.var.shape(), std::vector<double>(at, end), p.var.dtype(),
                                                      p.var.device()));
        at = end;
    }
}

StepStats Trainer::step() {
    const Streams before = streams();
    BoundTerms terms;
    Var loss = loss_and_gradients(terms);

    StepStats s;
    NoGradGuard no_grad;  // the statistics below are not part of the graph
    const int64_t D = model->image_size();
    const double B = double(config.train.batch);
    // This process's sums over its rows, then the whole batch's (sums over processes).
    std::vector<double> sums = {loss.item(), sum(terms.total()).item(), sum(terms.prior).item(),
                                sum(terms.recon).item(), sum(terms.diffusion).item()};
    comm_.sum(sums);
    s.loss = sums[0];
    s.bpd = model->objective == Objective::Vlb ? s.loss : nats_to_bpd(sums[1] / B, D);
    s.prior = nats_to_bpd(sums[2] / B, D);
    s.recon = nats_to_bpd(sums[3] / B, D);
    s.diffusion = nats_to_bpd(sums[4] / B, D);
    if (std::isfinite(s.loss)) sum_gradients();  // every process has run backward
    s.grad_norm = std::isfinite(s.loss) ? clip_grad_norm(params, config.train.clip) : s.loss;
    ++steps_done;
    s.lr = warmup_lr(config.train.lr, steps_done, config.train.warmup);
    if (!std::isfinite(s.grad_norm)) {
        s.skipped = true;
        // the first process, in rank order, whose replay found the op
        s.nonfinite_op = comm_.first_text(find_nonfinite_op(before));
        if (s.nonfinite_op.empty()) s.nonfinite_op = "no op reproduced it with finite checks on";
        ++skipped_in_a_row, ++skipped_total;
        return s;
    }
    skipped_in_a_row = 0;
    optimizer->step(s.lr);
    ema->update(params);
    return s;
}

}  // namespace vdm

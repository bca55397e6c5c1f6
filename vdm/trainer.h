// Training a VDM: the optimizer, EMA, random streams and batch order, and one step.
//
// The model is built on the CPU from the seed (the same initial weights on every
// device), then moved to the run's device, where the optimizer and EMA are made; the
// batch's pixels are uploaded each step (Vdm::bound).
//
// One step: draw a batch, evaluate the bound (docs/vdm.md#variational-bound) with
// fresh noise, backpropagate the objective's mean (the bound in bpd for vlb), route the learned schedule's gradients
// (docs/vdm.md#variance-objective), clip, AdamW with warmup, EMA. Every random
// number comes from counter-based streams whose positions are part of the state, so
// a run resumed from a checkpoint continues exactly as the uninterrupted run would have.
//
// A step whose loss or gradient norm is NaN or Inf changes nothing: no update, no EMA,
// gradients cleared. It is replayed from the same batch and draws with finite
// checking on (set_check_finite), which names the first op that produced the value.
//
// Data parallelism (distributed/communicator.h): with N processes each one draws the
// whole batch's indices and takes its share of the rows; its noise and dropout streams
// give its rows of the draws one process would make (tensor/rng.h), its loss is its
// rows' part of the batch mean, and the gradients and statistics are summed over the
// processes before clipping. Every process then holds the same state, the one a single
// process would reach, up to the order of floating-point sums.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "distributed/communicator.h"
#include "nn/adamw.h"
#include "nn/ema.h"
#include "vdm/model.h"

namespace vdm {

struct TrainConfig {
    std::string dataset = "mnist";
    int64_t batch = 64;
    double lr = 1e-3;
    int64_t warmup = 100;        // linear learning-rate warmup steps
    double clip = 1.0;           // max global gradient norm
    double weight_decay = 0.01;  // AdamW's decoupled decay
    double ema_decay = 0.999;
    int64_t seed = 0;            // initialization, noise, dropout, batch order, val split
    double val_fraction = 0.1;   // held out from the training images
};

// Everything that defines a run; stored in checkpoints.
struct RunConfig {
    VdmConfig model;
    TrainConfig train;
};

// Averages of one step, in bits per dimension: the bound and its terms at the step's
// draws, and the objective that was minimized (loss = bpd for vlb; for simple, prior
// + recon + the unweighted squared error, divided by D ln 2 like the bound).
struct StepStats {
    double bpd = 0.0, prior = 0.0, recon = 0.0, diffusion = 0.0;
    double loss = 0.0;
    double grad_norm = 0.0, lr = 0.0;
    bool skipped = false;      // the loss or the gradients were not finite: no update
    std::string nonfinite_op;  // skipped: the replay's error naming the first such op
};

class Trainer {
public:
    // data: the training split; indices: the images to train on (the rest is validation).
    // comm: the processes that share each batch (world(): one, unless under mpirun).
    Trainer(const RunConfig& config, const Dataset& data, std::vector<int64_t> indices,
            Device device = Device::CPU, const Communicator& comm = world());

    StepStats step();  // one step, or one skipped step (StepStats::skipped)

    const RunConfig config;  // as given, the ddpm schedule's range set (with_schedule_range)
    int64_t steps_done = 0;
    std::unique_ptr<Vdm> model;
    std::vector<Parameter> params;
    std::unique_ptr<AdamW> optimizer;
    std::unique_ptr<Ema> ema;
    Rng noise_rng, dropout_rng;  // seeds derived from config.train.seed
    std::unique_ptr<BatchSampler> sampler;
    int64_t skipped_in_a_row = 0, skipped_total = 0;  // steps with NaN/Inf (not checkpointed)

private:
    // Where a step's batch and draws come from: restoring it replays the step.
    struct Streams {
        Rng noise, dropout;
        SamplerState batches;
    };
    Streams streams() const;
    void restore(const Streams& s);
    // This process's rows of the next batch: their bound, and their part of the
    // objective's gradients unless their part of the loss (returned, in bpd for vlb)
    // is not finite.
    Var loss_and_gradients(BoundTerms& terms);
    // Sums the gradients over the processes (nothing to do for one).
    void sum_gradients();
    // Replays this process's rows of the step that started at `before` with finite
    // checks on; returns the error naming the first non-finite op, or "" when none
    // was found. Leaves the streams where they were.
    std::string find_nonfinite_op(const Streams& before);

    const Dataset& data_;
    const Communicator& comm_;
};

// Seeds of the separate random streams of a run with seed s.
uint64_t init_seed(int64_t seed);
uint64_t noise_seed(int64_t seed);
uint64_t dropout_seed(int64_t seed);
uint64_t batch_seed(int64_t seed);
uint64_t split_seed(int64_t seed);

}  // namespace vdm

// Checkpoints: one safetensors file (nn/safetensors.h) holding everything a run
// needs to continue or to be evaluated:
//   tensors   model.<param>, ema.<param>, adam_m.<param>, adam_v.<param>
//   metadata  the run's config (keys named like train_mnist's flags), the step,
//             optimizer and EMA counters, random-stream positions, batch-sampler state
// Written atomically. Loading checks the config, every name, shape and dtype, and
// refuses a mismatch with a one-line error naming the file and the difference.
// Config keys added later (objective) read as their old meaning (vlb) when absent,
// so older checkpoints load as before. The ddpm schedule has no tensors: its name
// and T define it.
// Files do not depend on the device: tensors are saved from host copies and loaded
// into the trainer's or model's tensors wherever they live, so a GPU checkpoint
// resumes on the CPU and the reverse. The device is not part of the config.
#pragma once
#include <map>
#include <memory>
#include <string>

#include "nn/safetensors.h"
#include "vdm/trainer.h"

namespace vdm {

// The run's config as metadata strings (doubles with 17 digits: exact round trip).
std::map<std::string, std::string> config_to_metadata(const RunConfig& config);
// path names the file in error messages.
RunConfig config_from_metadata(const std::map<std::string, std::string>& metadata,
                               const std::string& path);

void save_checkpoint(const Trainer& trainer, const std::string& path);
// The config stored in a checkpoint file (to build the Trainer to load it into).
RunConfig read_checkpoint_config(const std::string& path);
// Restores parameters, EMA, optimizer, step and random state into a trainer built
// with the checkpoint's config.
void load_checkpoint(Trainer& trainer, const std::string& path);

// For evaluation and sampling: the model with its EMA weights (loaded on the CPU,
// then moved to `device`), and the step it had.
struct TrainedModel {
    RunConfig config;
    int64_t step = 0;
    std::unique_ptr<Vdm> model;
};
TrainedModel load_ema_model(const std::string& path, Device device = Device::CPU);

}  // namespace vdm

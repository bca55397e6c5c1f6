// Checkpoint contents and their validation.
#include "vdm/checkpoint.h"

#include <algorithm>
#include <cstdio>
#include <functional>

#include "tensor/parse_number.h"

namespace vdm {

namespace {

const char* kFormat = "vdm.cpp checkpoint v1";

// Config keys added after the format was fixed, with the value a checkpoint that
// lacks them was trained with.
const std::map<std::string, std::string> kAddedKeys = {{"objective", "vlb"}};

std::string format_double(double x) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17g", x);
    return buf;
}

// Reads typed values out of a checkpoint's metadata, naming the file on failure.
struct MetadataReader {
    const std::map<std::string, std::string>& metadata;
    const std::string& path;

    const std::string& text(const std::string& key) const {
        auto it = metadata.find(key);
        if (it == metadata.end()) {  // an older checkpoint: the value it was trained with
            auto added = kAddedKeys.find(key);
            VDM_CHECK(added != kAddedKeys.end(), path, ": checkpoint metadata has no '", key, "'");
            return added->second;
        }
        return it->second;
    }
    int64_t integer(const std::string& key) const {
        int64_t x = 0;
        VDM_CHECK(parse_int64(text(key), &x), path, ": metadata '", key, "' = '", text(key),
                  "' is not an integer");
        return x;
    }
    double real(const std::string& key) const {
        double x = 0;
        VDM_CHECK(parse_double(text(key), &x), path, ": metadata '", key, "' = '", text(key),
                  "' is not a number");
        return x;
    }
    bool on_off(const std::string& key) const {
        const std::string& v = text(key);
        VDM_CHECK(v == "on" || v == "off", path, ": metadata '", key, "' = '", v,
                  "' is not on or off");
        return v == "on";
    }
};

// The tensor groups of a checkpoint, each one tensor per parameter.
void for_each_group(const Trainer& t,
                    const std::function<void(const std::string&, size_t, Tensor&)>& visit) {
    for (size_t i = 0; i < t.params.size(); ++i) {
        const std::string& name = t.params[i].name;
        visit("model." + name, i, t.params[i].var.data()->value);
        visit("ema." + name, i, t.ema->shadow[i]);
        visit("adam_m." + name, i, t.optimizer->m[i]);
        visit("adam_v." + name, i, t.optimizer->v[i]);
    }
}

// Copies a stored (CPU) tensor into dst, on whatever device dst lives, after checking
// name, shape and dtype.
void restore(const SafetensorsFile& file, const std::string& path, const std::string& name,
             Tensor& dst) {
    auto it = std::find_if(file.tensors.begin(), file.tensors.end(),
                           [&](const NamedTensor& t) { return t.name == name; });
    VDM_CHECK(it != file.tensors.end(), path, ": checkpoint has no tensor '", name,
              "' (saved by another model config?)");
    const Tensor& src = it->tensor;
    VDM_CHECK(src.shape() == dst.shape() && src.dtype() == dst.dtype(), path, ": tensor '", name,
              "' is ", dtype_name(src.dtype()), " ", src.shape().str(), ", this model needs ",
              dtype_name(dst.dtype()), " ", dst.shape().str());
    dst.copy_from(src.to(dst.device()));
}

}  // namespace

std::map<std::string, std::string> config_to_metadata(const RunConfig& c) {
    const ScoreNetConfig& n = c.model.net;
    return {
        {"format", kFormat},
        {"dataset", c.train.dataset},
        {"image_channels", std::to_string(n.image_channels)},
        {"height", std::to_string(n.height)},
        {"width", std::to_string(n.width)},
        {"channels", std::to_string(n.channels)},
        {"blocks", std::to_string(n.blocks)},
        {"groups", std::to_string(n.groups)},
        {"heads", std::to_string(n.heads)},
        {"attention", n.attention ? "on" : "off"},
        {"fourier", n.fourier ? "on" : "off"},
        {"fourier_min", std::to_string(n.fourier_min)},
        {"fourier_max", std::to_string(n.fourier_max)},
        {"dropout", format_double(n.dropout)},
        {"schedule", c.model.schedule},
        {"gamma_min", format_double(c.model.gamma_min)},
        {"gamma_max", format_double(c.model.gamma_max)},
        {"schedule_width", std::to_string(c.model.schedule_width)},
        {"loss", c.model.loss},
        {"T", std::to_string(c.model.T)},
        {"objective", c.model.objective},
        {"batch", std::to_string(c.train.batch)},
        {"lr", format_double(c.train.lr)},
        {"warmup", std::to_string(c.train.warmup)},
        {"clip", format_double(c.train.clip)},
        {"weight_decay", format_double(c.train.weight_decay)},
        {"ema", format_double(c.train.ema_decay)},
        {"seed", std::to_string(c.train.seed)},
        {"val_fraction", format_double(c.train.val_fraction)},
    };
}

RunConfig config_from_metadata(const std::map<std::string, std::string>& metadata,
                               const std::string& path) {
    MetadataReader r{metadata, path};
    VDM_CHECK(r.text("format") == kFormat, path, ": not a ", kFormat, " file (format '",
              r.text("format"), "')");
    RunConfig c;
    ScoreNetConfig& n = c.model.net;
    c.train.dataset = r.text("dataset");
    n.image_channels = r.integer("image_channels");
    n.height = r.integer("height");
    n.width = r.integer("width");
    n.channels = r.integer("channels");
    n.blocks = r.integer("blocks");
    n.groups = r.integer("groups");
    n.heads = r.integer("heads");
    n.attention = r.on_off("attention");
    n.fourier = r.on_off("fourier");
    n.fourier_min = r.integer("fourier_min");
    n.fourier_max = r.integer("fourier_max");
    n.dropout = r.real("dropout");
    c.model.schedule = r.text("schedule");
    c.model.gamma_min = r.real("gamma_min");
    c.model.gamma_max = r.real("gamma_max");
    n.gamma_min = c.model.gamma_min;
    n.gamma_max = c.model.gamma_max;
    c.model.schedule_width = r.integer("schedule_width");
    c.model.loss = r.text("loss");
    c.model.T = r.integer("T");
    c.model.objective = r.text("objective");
    c.train.batch = r.integer("batch");
    c.train.lr = r.real("lr");
    c.train.warmup = r.integer("warmup");
    c.train.clip = r.real("clip");
    c.train.weight_decay = r.real("weight_decay");
    c.train.ema_decay = r.real("ema");
    c.train.seed = r.integer("seed");
    c.train.val_fraction = r.real("val_fraction");
    return c;
}

void save_checkpoint(const Trainer& t, const std::string& path) {
    std::vector<NamedTensor> tensors;
    for_each_group(t, [&](const std::string& name, size_t, Tensor& value) {
        tensors.push_back({name, value.to(Device::CPU)});  // files do not depend on the device
    });
    std::map<std::string, std::string> meta = config_to_metadata(t.config);
    meta["step"] = std::to_string(t.steps_done);
    meta["adam_steps"] = std::to_string(t.optimizer->steps);
    meta["ema_updates"] = std::to_string(t.ema->updates);
    meta["noise_rng_offset"] = std::to_string(t.noise_rng.offset);
    meta["dropout_rng_offset"] = std::to_string(t.dropout_rng.offset);
    meta["sampler_epoch"] = std::to_string(t.sampler->state().epoch);
    meta["sampler_position"] = std::to_string(t.sampler->state().position);
    save_safetensors(path, tensors, meta);
}

RunConfig read_checkpoint_config(const std::string& path) {
    return config_from_metadata(load_safetensors(path).metadata, path);
}

void load_checkpoint(Trainer& t, const std::string& path) {
    SafetensorsFile file = load_safetensors(path);
    MetadataReader r{file.metadata, path};
    // The config must be the trainer's, key by key.
    std::map<std::string, std::string> expected = config_to_metadata(t.config);
    for (const auto& [key, value] : expected)
        VDM_CHECK(r.text(key) == value, path, ": checkpoint has ", key, " = ", r.text(key),
                  ", this run has ", value);
    size_t count = 0;
    for_each_group(t, [&](const std::string& name, size_t, Tensor& value) {
        restore(file, path, name, value);
        ++count;
    });
    VDM_CHECK(file.tensors.size() == count, path, ": checkpoint has ", file.tensors.size(),
              " tensors, this model has ", count);
    t.steps_done = r.integer("step");
    t.optimizer->steps = r.integer("adam_steps");
    t.ema->updates = r.integer("ema_updates");
    t.noise_rng.offset = uint64_t(r.integer("noise_rng_offset"));
    t.dropout_rng.offset = uint64_t(r.integer("dropout_rng_offset"));
    SamplerState state{r.integer("sampler_epoch"), r.integer("sampler_position")};
    VDM_CHECK(t.steps_done >= 0, path, ": negative step ", t.steps_done);
    t.sampler->restore(state);
}

TrainedModel load_ema_model(const std::string& path, Device device) {
    SafetensorsFile file = load_safetensors(path);
    TrainedModel out;
    out.config = config_from_metadata(file.metadata, path);
    out.step = MetadataReader{file.metadata, path}.integer("step");
    Rng unused(0);
    out.model = std::make_unique<Vdm>(out.config.model, DType::F32, unused);
    for (Parameter& p : out.model->parameters()) restore(file, path, "ema." + p.name, p.var.data()->value);
    out.model->to(device);
    return out;
}

}  // namespace vdm

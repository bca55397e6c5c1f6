// Shared by train_mnist and vdm_sample: the samplers by name, drawing n samples with
// a progress line at most once per second, and writing them as a square-ish PNG grid
// or a raw IDX file (apps/common/image_files.h).
//
// A sampler is one entry of samplers(): a name and a function that draws n images
// with the options and reports how many ScoreNet forward passes it took. A new
// sampler is one more entry (and its options, if any, in SamplerOptions).
#pragma once
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "apps/common/image_files.h"
#include "vdm/ddim.h"
#include "vdm/langevin.h"
#include "vdm/probability_flow.h"
#include "vdm/sampler.h"
#include "vdm/trajectory.h"

namespace vdm {

struct SamplerOptions {
    std::string sampler = "ancestral";
    int64_t steps = 1000;         // t = i / steps, i = steps..1
    double eta = 0.0;             // ddim: 0 deterministic .. 1 ancestral's variance
    int64_t langevin_iters = 1;   // langevin, pc: iterations per level
    double langevin_snr = 0.0;    // langevin, pc: target signal-to-noise ratio r (0: the default below)
    double rtol = 1e-5, atol = 1e-5;  // ode: the adaptive solver's tolerances
    SampleObserver observe;           // fixed-grid samplers: sample_loop's observer (may be empty)
};

// r when none is given: a corrector after each ancestral step only polishes (0.16, the
// score-SDE paper's); Langevin alone must also remove the noise of the level before,
// and each iteration shrinks excess noise only by about 1 - 2 r^2 (0.95 at r = 0.16),
// so it takes 0.5 (halving it per iteration) at tens to hundreds of levels
// (docs/vdm.md#annealed-langevin-dynamics).
inline double langevin_snr(const SamplerOptions& o) {
    return o.langevin_snr > 0.0 ? o.langevin_snr : o.sampler == "langevin" ? 0.5 : 0.16;
}

using SamplerFn = std::function<Samples(const Vdm& model, int64_t n, uint64_t seed,
                                        const SamplerOptions& options, const SampleProgress& progress)>;
struct SamplerEntry {
    std::string name;
    SamplerFn draw;
};

inline const std::vector<SamplerEntry>& samplers() {
    // Each fixed-grid sampler is the shared loop with its step rule.
    auto loop = [](auto make_rule) -> SamplerFn {
        return [make_rule](const Vdm& model, int64_t n, uint64_t seed, const SamplerOptions& o,
                           const SampleProgress& progress) {
            return sample_loop(model, make_rule(o), n, o.steps, seed, progress, o.observe);
        };
    };
    static const std::vector<SamplerEntry> table = {
        {"ancestral", loop([](const SamplerOptions&) { return ancestral_rule(); })},
        {"ddim", loop([](const SamplerOptions& o) { return ddim_rule(o.eta); })},
        {"langevin",
         loop([](const SamplerOptions& o) { return langevin_rule(o.langevin_iters, langevin_snr(o)); })},
        {"pc", loop([](const SamplerOptions& o) {
             return predictor_corrector_rule(o.langevin_iters, langevin_snr(o));
         })},
        // The probability-flow ODE: no grid; progress is the share of [0, 1] integrated.
        {"ode",
         [](const Vdm& model, int64_t n, uint64_t seed, const SamplerOptions& o, const SampleProgress& progress) {
             VDM_CHECK(!o.observe, "the ode sampler has no time grid to observe (use a fixed-grid sampler)");
             OdeOptions ode;
             ode.rtol = o.rtol;
             ode.atol = o.atol;
             if (progress) ode.progress = [progress](double t, int64_t) { progress(std::lround((1.0 - t) * 1000), 1000); };
             return ode_sample(model, n, seed, ode);
         }},
    };
    return table;
}

inline std::vector<std::string> sampler_names() {
    std::vector<std::string> names;
    for (const SamplerEntry& e : samplers()) names.push_back(e.name);
    return names;
}

// n samples with the named sampler, a progress line on stderr at most once per second.
inline Samples draw_samples(const Vdm& model, int64_t n, uint64_t seed, const SamplerOptions& options) {
    const SamplerEntry* entry = nullptr;
    for (const SamplerEntry& e : samplers())
        if (e.name == options.sampler) entry = &e;
    std::string names;
    for (const std::string& name : sampler_names()) names += (names.empty() ? "" : "|") + name;
    VDM_CHECK(entry != nullptr, "unknown sampler '", options.sampler, "' (", names, ")");
    auto start = std::chrono::steady_clock::now(), last = start;
    return entry->draw(model, n, seed, options, [&](int64_t done, int64_t total) {
        auto now = std::chrono::steady_clock::now();
        if (std::chrono::duration<double>(now - last).count() < 1.0 && done < total) return;
        last = now;
        double elapsed = std::chrono::duration<double>(now - start).count();
        std::fprintf(stderr, "sampling (%s): step %lld/%lld, ETA %.0fs\n", options.sampler.c_str(),
                     (long long)done, (long long)total, elapsed / double(done) * double(total - done));
    });
}

// The (C, H, W) of a model's images, for apps/common/image_files.h.
inline ImageDims image_dims(const Vdm& model) {
    const ScoreNetConfig& c = model.config.net;
    return {c.image_channels, c.height, c.width};
}

// Draws n samples with the options and writes them as a PNG grid.
inline Samples write_sample_grid(const Vdm& model, int64_t n, uint64_t seed,
                                 const SamplerOptions& options, const std::string& path) {
    Samples s = draw_samples(model, n, seed, options);
    write_png_grid(image_dims(model), s.images, n, path);
    return s;
}

}  // namespace vdm

// The pictures of a run, as SVG (datasets/svg_plot.h), and the schedule curve that
// vdm_plots draws too:
//   curves.svg    train and validation bpd and the bound's three terms against steps
//                 (log y), read back from metrics.jsonl so a resumed run draws it whole
//   schedule.svg  gamma(t) and log SNR(t) = -gamma(t); a learned schedule beside the
//                 linear one it started from (docs/vdm.md#schedules)
#pragma once
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "datasets/svg_plot.h"
#include "vdm/integrand.h"
#include "vdm/model.h"

namespace vdm {

// gamma(t) and SNR(t) of a schedule on `points` evenly spaced times in [0, 1].
struct ScheduleCurve {
    std::string label;
    std::vector<double> t, gamma, snr;
};

inline ScheduleCurve schedule_curve(const Schedule& schedule, const std::string& label, int points) {
    ScheduleCurve curve;
    curve.label = label;
    for (int i = 0; i < points; ++i) curve.t.push_back(double(i) / double(points - 1));
    for (const ScheduleValues& v : schedule_values(schedule, curve.t)) {
        curve.gamma.push_back(v.gamma);
        curve.snr.push_back(v.snr);
    }
    return curve;
}

// The numbers of one metrics.jsonl line ({"key": number, ...}); other values are skipped.
inline std::map<std::string, double> json_numbers(const std::string& line) {
    std::map<std::string, double> numbers;
    for (size_t at = line.find('"'); at != std::string::npos; at = line.find('"', at)) {
        const size_t key_end = line.find('"', at + 1);
        if (key_end == std::string::npos) break;
        const std::string key = line.substr(at + 1, key_end - at - 1);
        size_t value = line.find_first_not_of(" :", key_end + 1);
        at = key_end + 1;
        if (value == std::string::npos || line[value] == '"') {  // a string value: skip it
            if (value != std::string::npos) at = line.find('"', value + 1) + 1;
            if (at == 0) break;
            continue;
        }
        char* end = nullptr;
        const double x = std::strtod(line.c_str() + value, &end);
        if (end != line.c_str() + value) numbers[key] = x;
    }
    return numbers;
}

// curves.svg from metrics.jsonl: the training lines' bpd and terms, the evaluations' bpd.
inline void write_curves_svg(const std::string& path, const std::string& metrics_path) {
    PlotSeries train{"train bpd", {}, {}}, val{"validation bpd", {}, {}};
    PlotSeries terms[3] = {{"prior (train)", {}, {}}, {"reconstruction (train)", {}, {}},
                           {"diffusion (train)", {}, {}}};
    const char* term_keys[3] = {"prior", "recon", "diffusion"};
    std::ifstream in(metrics_path);
    for (std::string line; std::getline(in, line);) {
        const std::map<std::string, double> m = json_numbers(line);
        if (!m.count("step")) continue;
        const double step = m.at("step");
        if (m.count("train_bpd")) {
            train.x.push_back(step), train.y.push_back(m.at("train_bpd"));
            for (int k = 0; k < 3; ++k)
                if (m.count(term_keys[k]) && m.at(term_keys[k]) > 0.0)
                    terms[k].x.push_back(step), terms[k].y.push_back(m.at(term_keys[k]));
        }
        if (m.count("val_bpd")) val.x.push_back(step), val.y.push_back(m.at("val_bpd"));
    }
    LinePlot plot;
    plot.title = "bits per dimension during training";
    plot.x_label = "step";
    plot.y_label = "bits per dimension, log scale";
    plot.log_y = true;
    for (const PlotSeries& s : {train, val, terms[0], terms[1], terms[2]})
        if (!s.x.empty()) plot.series.push_back(s);
    if (!plot.series.empty()) write_svg_line_plot(path, plot);
}

// schedule.svg of a model; a learned schedule beside the linear one from its config.
inline void write_schedule_svg(const std::string& path, const Vdm& model, const VdmConfig& config) {
    const ScheduleCurve curve = schedule_curve(*model.schedule, config.schedule, 201);
    LinePlot plot;
    plot.title = "noise schedule \u03b3(t) and log SNR(t) = \u2212\u03b3(t)";
    plot.x_label = "t";
    plot.y_label = "\u03b3(t), log SNR(t)";
    std::vector<double> log_snr;
    for (double g : curve.gamma) log_snr.push_back(-g);
    plot.series.push_back({"\u03b3(t), " + config.schedule, curve.t, curve.gamma});
    plot.series.push_back({"log SNR(t), " + config.schedule, curve.t, log_snr});
    if (model.schedule->learned()) {
        std::vector<double> linear;
        for (double t : curve.t) linear.push_back(config.gamma_min + (config.gamma_max - config.gamma_min) * t);
        plot.series.push_back({"\u03b3(t), linear from the same start", curve.t, linear});
    }
    write_svg_line_plot(path, plot);
}

}  // namespace vdm

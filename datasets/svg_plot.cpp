// SVG line plots: checks, round-number ticks, then the document as text.
#include "datasets/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iterator>

#include "datasets/atomic_file.h"
#include "tensor/error.h"

namespace vdm {
namespace {

// Colour-blind-safe line colours, cycled.
const char* const kColors[] = {"#0072b2", "#d55e00", "#009e73", "#cc79a7",
                               "#e69f00", "#56b4e9", "#000000"};

std::string xml_escape(const std::string& text) {
    std::string out;
    for (char c : text) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&apos;"; break;
            default: out += c;
        }
    }
    return out;
}

std::string number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", v);
    return buf;
}

// Approximate width of a label in pixels at the 11 px font (UTF-8: count code points).
double text_width(const std::string& text) {
    double chars = 0;
    for (char c : text) chars += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    return 6.5 * chars;
}

// Data -> pixel along one axis: [lo, hi] (in log10 units on a log axis) onto [p0, p1].
struct AxisMap {
    double lo, hi, p0, p1;
    bool log;
    double operator()(double v) const {
        double u = log ? std::log10(v) : v;
        return p0 + (u - lo) / (hi - lo) * (p1 - p0);
    }
};

}  // namespace

Ticks linear_ticks(double lo, double hi, int target) {
    VDM_CHECK(std::isfinite(lo) && std::isfinite(hi) && lo <= hi && target >= 1,
              "linear_ticks: bad range [", lo, ", ", hi, "]");
    if (lo == hi) {
        double pad = lo != 0.0 ? 0.1 * std::fabs(lo) : 1.0;
        lo -= pad;
        hi += pad;
    }
    double raw = (hi - lo) / target;
    VDM_CHECK(std::isfinite(raw) && raw > 0.0, "linear_ticks: range [", lo, ", ", hi, "] too wide");
    double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
    double r = raw / magnitude;
    double step = (r < 1.5 ? 1.0 : r < 3.0 ? 2.0 : r < 7.0 ? 5.0 : 10.0) * magnitude;
    double k0 = std::floor(lo / step), k1 = std::ceil(hi / step);
    if (k0 * step > lo) k0 -= 1;  // rounding in lo / step
    if (k1 * step < hi) k1 += 1;
    Ticks ticks;
    for (double k = k0; k <= k1; k += 1) {
        ticks.values.push_back(k == 0.0 ? 0.0 : k * step);
        ticks.labels.push_back(tick_label(ticks.values.back(), step));
    }
    return ticks;
}

Ticks log_ticks(double lo, double hi) {
    VDM_CHECK(std::isfinite(lo) && std::isfinite(hi) && lo > 0.0 && lo <= hi,
              "log_ticks: bad range [", lo, ", ", hi, "]");
    int e0 = int(std::floor(std::log10(lo))), e1 = int(std::ceil(std::log10(hi)));
    while (std::pow(10.0, e0) > lo) --e0;  // rounding in log10
    while (std::pow(10.0, e1) < hi) ++e1;
    if (e1 == e0) ++e1;
    Ticks ticks;
    if (e1 - e0 <= 2) {  // few decades: 1, 2, 5 per decade, trimmed to just cover [lo, hi]
        std::vector<double> all;
        for (int e = e0; e < e1; ++e)
            for (double m : {1.0, 2.0, 5.0}) all.push_back(m * std::pow(10.0, e));
        all.push_back(std::pow(10.0, e1));
        size_t first = 0, last = all.size() - 1;
        while (first + 1 < all.size() && all[first + 1] <= lo) ++first;
        while (last > 0 && all[last - 1] >= hi) --last;
        if (last <= first) last = first + 1;  // lo == hi on a tick: keep two ticks
        for (size_t i = first; i <= last; ++i) {
            ticks.values.push_back(all[i]);
            ticks.labels.push_back(tick_label(all[i], all[i]));
        }
        return ticks;
    }
    // "10" and the exponent in superscript digits (UTF-8).
    static const char* const kSuperscript[] = {"\u2070", "\u00b9", "\u00b2", "\u00b3", "\u2074",
                                               "\u2075", "\u2076", "\u2077", "\u2078", "\u2079"};
    int stride = (e1 - e0 + 7) / 8;  // at most about 9 labels
    int start = int(std::floor(double(e0) / stride)) * stride;
    for (int e = start;; e += stride) {
        ticks.values.push_back(std::pow(10.0, e));
        std::string label = "10";
        if (e < 0) label += "\u207b";
        for (char digit : std::to_string(std::abs(e))) label += kSuperscript[digit - '0'];
        ticks.labels.push_back(label);
        if (e >= e1) break;
    }
    return ticks;
}

std::string tick_label(double value, double spacing) {
    spacing = std::fabs(spacing);
    if (std::fabs(value) <= 1e-9 * spacing) value = 0.0;  // k * step rounding near 0
    const bool scientific_spacing = spacing < 1e-3 || spacing >= 1e5;
    if (value == 0.0 && scientific_spacing) return "0";
    char buf[48];
    double magnitude = std::fabs(value);
    if (value != 0.0 && (magnitude < 1e-3 || magnitude >= 1e5)) {
        int exponent = int(std::floor(std::log10(magnitude)));
        double mantissa = value / std::pow(10.0, exponent);
        if (std::fabs(mantissa) >= 9.9999999) {  // 9.99999... rounds up to the next power
            mantissa /= 10.0;
            ++exponent;
        }
        int digits = std::clamp(exponent - int(std::floor(std::log10(spacing) + 1e-9)), 0, 6);
        std::snprintf(buf, sizeof buf, "%.*f", digits, mantissa);
        std::string m = buf;
        if (m.find('.') != std::string::npos) {
            while (m.back() == '0') m.pop_back();
            if (m.back() == '.') m.pop_back();
        }
        return m + "e" + std::to_string(exponent);
    }
    int decimals = std::clamp(-int(std::floor(std::log10(spacing) + 1e-9)), 0, 10);
    std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
    return buf;
}

std::string svg_line_plot(const LinePlot& plot) {
    const std::string name = "svg plot \"" + plot.title + "\"";
    VDM_CHECK(!plot.series.empty(), name, ": no series");
    VDM_CHECK(plot.width >= 200 && plot.height >= 150 && plot.width <= 10000 && plot.height <= 10000,
              name, ": size ", plot.width, "x", plot.height, " is outside 200x150 .. 10000x10000");
    double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
    for (const PlotSeries& s : plot.series) {
        VDM_CHECK(!s.x.empty(), name, ": series \"", s.label, "\" is empty");
        VDM_CHECK(s.x.size() == s.y.size(), name, ": series \"", s.label, "\" has ", s.x.size(),
                  " x values but ", s.y.size(), " y values");
        for (size_t i = 0; i < s.x.size(); ++i) {
            VDM_CHECK(std::isfinite(s.x[i]) && std::isfinite(s.y[i]), name, ": series \"", s.label,
                      "\" point ", i, " is (", s.x[i], ", ", s.y[i], "), not finite");
            VDM_CHECK(!plot.log_y || s.y[i] > 0.0, name, ": series \"", s.label, "\" point ", i,
                      " has y = ", s.y[i], " on a logarithmic axis");
            x_lo = std::min(x_lo, s.x[i]);
            x_hi = std::max(x_hi, s.x[i]);
            y_lo = std::min(y_lo, s.y[i]);
            y_hi = std::max(y_hi, s.y[i]);
        }
    }
    VDM_CHECK(std::isfinite(x_hi - x_lo) && std::isfinite(y_hi - y_lo), name,
              ": the values span too wide a range to plot");
    if (plot.y_from_zero && !plot.log_y) {
        y_lo = std::min(y_lo, 0.0);
        y_hi = std::max(y_hi, 0.0);
    }
    const Ticks x_ticks = linear_ticks(x_lo, x_hi);
    const Ticks y_ticks = plot.log_y ? log_ticks(y_lo, y_hi) : linear_ticks(y_lo, y_hi);

    // Layout: y tick labels and the y axis label on the left, the legend on the right.
    double widest_y_label = 0.0, widest_legend = 0.0;
    for (const std::string& label : y_ticks.labels)
        widest_y_label = std::max(widest_y_label, text_width(label));
    bool legend = false;
    for (const PlotSeries& s : plot.series) {
        widest_legend = std::max(widest_legend, text_width(s.label));
        legend = legend || !s.label.empty();
    }
    const double W = plot.width, H = plot.height;
    const double left = 30.0 + widest_y_label;
    const double right = W - (legend ? 46.0 + widest_legend : 20.0);
    const double top = plot.title.empty() ? 16.0 : 36.0;
    const double bottom = H - (plot.x_label.empty() ? 30.0 : 46.0);
    VDM_CHECK(right - left >= 60.0, name, ": labels leave no room for the plot at width ", plot.width);
    const std::vector<double>& xt = x_ticks.values;
    const std::vector<double>& yt = y_ticks.values;
    const AxisMap px{xt.front(), xt.back(), left, right, false};
    const AxisMap py{plot.log_y ? std::log10(yt.front()) : yt.front(),
                     plot.log_y ? std::log10(yt.back()) : yt.back(), bottom, top, plot.log_y};

    std::string svg;
    svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(plot.width) +
           "\" height=\"" + std::to_string(plot.height) + "\" viewBox=\"0 0 " +
           std::to_string(plot.width) + " " + std::to_string(plot.height) +
           "\" font-family=\"sans-serif\" font-size=\"11\">\n";
    svg += "<rect width=\"" + number(W) + "\" height=\"" + number(H) + "\" fill=\"white\"/>\n";
    if (!plot.title.empty())
        svg += "<text x=\"" + number(W / 2) + "\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">" +
               xml_escape(plot.title) + "</text>\n";

    // Grid lines, frame, ticks and their labels.
    svg += "<g stroke=\"#e0e0e0\" stroke-width=\"1\">\n";
    for (double t : xt)
        svg += "<line x1=\"" + number(px(t)) + "\" y1=\"" + number(top) + "\" x2=\"" +
               number(px(t)) + "\" y2=\"" + number(bottom) + "\"/>\n";
    for (double t : yt)
        svg += "<line x1=\"" + number(left) + "\" y1=\"" + number(py(t)) + "\" x2=\"" +
               number(right) + "\" y2=\"" + number(py(t)) + "\"/>\n";
    svg += "</g>\n";
    svg += "<rect x=\"" + number(left) + "\" y=\"" + number(top) + "\" width=\"" +
           number(right - left) + "\" height=\"" + number(bottom - top) +
           "\" fill=\"none\" stroke=\"#333333\"/>\n";
    svg += "<g text-anchor=\"middle\">\n";
    for (size_t i = 0; i < xt.size(); ++i)
        svg += "<text x=\"" + number(px(xt[i])) + "\" y=\"" + number(bottom + 15) + "\">" +
               xml_escape(x_ticks.labels[i]) + "</text>\n";
    svg += "</g>\n<g text-anchor=\"end\">\n";
    for (size_t i = 0; i < yt.size(); ++i)
        svg += "<text x=\"" + number(left - 5) + "\" y=\"" + number(py(yt[i]) + 4) + "\">" +
               xml_escape(y_ticks.labels[i]) + "</text>\n";
    svg += "</g>\n";
    if (!plot.x_label.empty())
        svg += "<text x=\"" + number((left + right) / 2) + "\" y=\"" + number(H - 10) +
               "\" text-anchor=\"middle\" font-size=\"12\">" + xml_escape(plot.x_label) + "</text>\n";
    if (!plot.y_label.empty()) {
        const std::string cx = "14", cy = number((top + bottom) / 2);
        svg += "<text x=\"" + cx + "\" y=\"" + cy + "\" text-anchor=\"middle\" font-size=\"12\" "
               "transform=\"rotate(-90 " + cx + " " + cy + ")\">" + xml_escape(plot.y_label) +
               "</text>\n";
    }

    // The series, then the legend.
    for (size_t k = 0; k < plot.series.size(); ++k) {
        const PlotSeries& s = plot.series[k];
        svg += "<polyline fill=\"none\" stroke=\"" + std::string(kColors[k % std::size(kColors)]) +
               "\" stroke-width=\"1.6\" stroke-linejoin=\"round\" points=\"";
        for (size_t i = 0; i < s.x.size(); ++i)
            svg += (i ? " " : "") + number(px(s.x[i])) + "," + number(py(s.y[i]));
        svg += "\"/>\n";
    }
    if (legend) {
        svg += "<g>\n";
        for (size_t k = 0; k < plot.series.size(); ++k) {
            const double y = top + 10 + 18.0 * double(k);
            svg += "<line x1=\"" + number(right + 10) + "\" y1=\"" + number(y) + "\" x2=\"" +
                   number(right + 32) + "\" y2=\"" + number(y) + "\" stroke=\"" +
                   kColors[k % std::size(kColors)] + "\" stroke-width=\"2\"/>\n";
            svg += "<text x=\"" + number(right + 37) + "\" y=\"" + number(y + 4) + "\">" +
                   xml_escape(plot.series[k].label) + "</text>\n";
        }
        svg += "</g>\n";
    }
    svg += "</svg>\n";
    return svg;
}

void write_svg_line_plot(const std::string& path, const LinePlot& plot) {
    std::string svg;
    try {
        svg = svg_line_plot(plot);
    } catch (const Error& e) {
        fail(path, ": ", e.what());
    }
    write_atomically(path, {{svg.data(), svg.size()}});
}

}  // namespace vdm

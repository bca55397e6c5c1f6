// Line plots as SVG files, for the figures of docs/vdm.md: one or more series of
// (x, y) points drawn as polylines on a fixed-size canvas, with a title, axis labels,
// tick marks at round numbers, a legend, and optionally a logarithmic y axis.
// Text only, no dependencies; not a general plotting library (no bars, no markers,
// no second axis). Bad input (NaN or infinite values, empty or mismatched series,
// y <= 0 on a log axis) is a one-line vdm::Error.
#pragma once
#include <string>
#include <vector>

namespace vdm {

struct PlotSeries {
    std::string label;          // shown in the legend (escaped for XML)
    std::vector<double> x, y;   // the same number of points, at least one
};

struct LinePlot {
    std::string title, x_label, y_label;
    bool log_y = false;         // y axis in powers of ten; every y must be > 0
    bool y_from_zero = false;   // linear y axis: include 0 (when areas matter)
    int width = 640, height = 400;  // pixels
    std::vector<PlotSeries> series;
};

// The SVG document: starts with "<svg", one <polyline> per series, in order.
std::string svg_line_plot(const LinePlot& plot);

// svg_line_plot written atomically to path (temp file, fsync, rename).
void write_svg_line_plot(const std::string& path, const LinePlot& plot);

// Axis ticks: positions and their labels.
struct Ticks {
    std::vector<double> values;
    std::vector<std::string> labels;
};

// Ticks at round numbers (1, 2 or 5 times a power of ten apart), about `target` of
// them, the first <= lo and the last >= hi: the axis runs from the first to the last.
// lo == hi gets a range around the value. Labels from tick_label.
Ticks linear_ticks(double lo, double hi, int target = 6);
// Ticks for a log axis over [lo, hi], 0 < lo <= hi, the first <= lo and the last >= hi:
// over more than two decades, powers of ten (every k-th one when there are many),
// labelled 10 with a superscript exponent ("10⁻²"); over fewer, 1, 2 and 5 times the
// powers of ten, labelled as plain numbers.
Ticks log_ticks(double lo, double hi);
// A tick's label: no more digits than the spacing needs ("0.2", "-13", "1e-5").
std::string tick_label(double value, double spacing);

}  // namespace vdm

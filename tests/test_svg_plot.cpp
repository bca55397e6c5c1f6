// SVG line plots, checked by parsing the written document here: well-formed (every
// tag closed in order, text escaped), one <polyline> per series with one point per
// data point inside the plot frame, labels escaped, ticks at round numbers that cover
// the data; and one-line errors for input that cannot be plotted.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "datasets/svg_plot.h"
#include "tensor/error.h"
#include "tests/helpers.h"

namespace fs = std::filesystem;

using vdm::test::check_error;

namespace {

struct Element {
    std::string name;
    std::map<std::string, std::string> attributes;
    std::string text;  // character data directly inside, entities left as written
};

// The elements of an XML document in document order, after checking that tags nest
// and close in order, attributes are quoted, and character data holds no raw '<' or
// '>' and no '&' outside the five predefined entities.
std::vector<Element> parse_xml(const std::string& doc) {
    std::vector<Element> elements;
    std::vector<size_t> open;  // indices into elements
    auto check_text = [](const std::string& text) {
        for (size_t i = 0; i < text.size(); ++i) {
            INFO("text: " << text);
            REQUIRE(text[i] != '>');
            if (text[i] != '&') continue;
            bool entity = false;
            for (const char* e : {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"})
                entity = entity || text.compare(i, std::string(e).size(), e) == 0;
            REQUIRE(entity);
        }
    };
    size_t at = 0;
    while (at < doc.size()) {
        size_t lt = doc.find('<', at);
        std::string text = doc.substr(at, lt == std::string::npos ? std::string::npos : lt - at);
        check_text(text);
        if (!open.empty()) elements[open.back()].text += text;
        if (lt == std::string::npos) break;
        size_t gt = doc.find('>', lt);
        REQUIRE(gt != std::string::npos);
        std::string tag = doc.substr(lt + 1, gt - lt - 1);
        at = gt + 1;
        INFO("tag: <" << tag << ">");
        REQUIRE(tag.find('<') == std::string::npos);
        if (tag[0] == '/') {
            REQUIRE(!open.empty());
            CHECK(tag.substr(1) == elements[open.back()].name);
            open.pop_back();
            continue;
        }
        bool self_closing = tag.back() == '/';
        if (self_closing) tag.pop_back();
        Element e;
        size_t i = 0;
        while (i < tag.size() && (std::isalnum((unsigned char)tag[i]) || tag[i] == '-')) ++i;
        e.name = tag.substr(0, i);
        REQUIRE(!e.name.empty());
        while (true) {  // name="value" pairs
            while (i < tag.size() && tag[i] == ' ') ++i;
            if (i == tag.size()) break;
            size_t eq = tag.find('=', i);
            REQUIRE(eq != std::string::npos);
            REQUIRE(eq + 1 < tag.size());
            REQUIRE(tag[eq + 1] == '"');
            size_t close = tag.find('"', eq + 2);
            REQUIRE(close != std::string::npos);
            std::string value = tag.substr(eq + 2, close - eq - 2);
            check_text(value);
            e.attributes[tag.substr(i, eq - i)] = value;
            i = close + 1;
        }
        elements.push_back(e);
        if (!self_closing) open.push_back(elements.size() - 1);
    }
    CHECK(open.empty());
    return elements;
}

std::vector<std::pair<double, double>> polyline_points(const Element& e) {
    std::vector<std::pair<double, double>> points;
    std::istringstream in(e.attributes.at("points"));
    std::string pair;
    while (in >> pair) {
        size_t comma = pair.find(',');
        REQUIRE(comma != std::string::npos);
        points.push_back({std::stod(pair.substr(0, comma)), std::stod(pair.substr(comma + 1))});
    }
    return points;
}

std::vector<std::string> texts(const std::vector<Element>& elements) {
    std::vector<std::string> out;
    for (const Element& e : elements)
        if (e.name == "text") out.push_back(e.text);
    return out;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

vdm::LinePlot two_series_plot() {
    vdm::LinePlot plot;
    plot.title = "gamma & friends <test>";
    plot.x_label = "t";
    plot.y_label = "gamma(t)";
    plot.series.push_back({"a & b", {0.0, 0.25, 0.5, 0.75, 1.0}, {-13.3, -8.7, -4.15, 0.43, 5.0}});
    plot.series.push_back({"x < y", {0.1, 0.5, 0.9}, {-2.0, 1.0, 3.5}});
    return plot;
}

}  // namespace

TEST_CASE("svg plot: well-formed, one polyline per series inside the frame, labels escaped") {
    const vdm::LinePlot plot = two_series_plot();
    const std::string svg = vdm::svg_line_plot(plot);
    CHECK(svg.rfind("<svg ", 0) == 0);
    CHECK(svg.size() >= 7);
    CHECK(svg.compare(svg.size() - 7, 7, "</svg>\n") == 0);
    const std::vector<Element> elements = parse_xml(svg);
    REQUIRE(!elements.empty());
    CHECK(elements[0].name == "svg");
    CHECK(elements[0].attributes.at("width") == "640");
    CHECK(elements[0].attributes.at("height") == "400");
    CHECK(elements[0].attributes.at("xmlns") == "http://www.w3.org/2000/svg");

    // The plot frame: the unfilled rectangle.
    double fx0 = 0, fy0 = 0, fx1 = 0, fy1 = 0;
    int frames = 0;
    for (const Element& e : elements)
        if (e.name == "rect" && e.attributes.count("fill") && e.attributes.at("fill") == "none") {
            fx0 = std::stod(e.attributes.at("x"));
            fy0 = std::stod(e.attributes.at("y"));
            fx1 = fx0 + std::stod(e.attributes.at("width"));
            fy1 = fy0 + std::stod(e.attributes.at("height"));
            ++frames;
        }
    REQUIRE(frames == 1);
    CHECK(fx0 > 0);
    CHECK(fx1 < 640);
    CHECK(fy0 > 0);
    CHECK(fy1 < 400);

    std::vector<const Element*> polylines;
    for (const Element& e : elements)
        if (e.name == "polyline") polylines.push_back(&e);
    REQUIRE(polylines.size() == plot.series.size());
    for (size_t k = 0; k < polylines.size(); ++k) {
        auto points = polyline_points(*polylines[k]);
        REQUIRE(points.size() == plot.series[k].x.size());
        for (size_t i = 0; i < points.size(); ++i) {
            CHECK(points[i].first >= fx0 - 0.01);
            CHECK(points[i].first <= fx1 + 0.01);
            CHECK(points[i].second >= fy0 - 0.01);
            CHECK(points[i].second <= fy1 + 0.01);
            if (i > 0) CHECK(points[i].first > points[i - 1].first);  // x increases to the right
        }
        // y up: the largest y value is the highest point (smallest pixel y).
        CHECK(points.back().second < points.front().second);
    }
    // Distinct colours per series.
    CHECK(polylines[0]->attributes.at("stroke") != polylines[1]->attributes.at("stroke"));

    const std::vector<std::string> text = texts(elements);
    CHECK(contains(text, "a &amp; b"));
    CHECK(contains(text, "x &lt; y"));
    CHECK(contains(text, "gamma &amp; friends &lt;test&gt;"));
    CHECK(contains(text, "t"));
    CHECK(contains(text, "gamma(t)"));
    CHECK(svg.find("a & b") == std::string::npos);
    CHECK(svg.find("x < y") == std::string::npos);
    // y data in [-13.3, 5]: ticks every 5 from -15 to 5; x in [0, 1]: every 0.2.
    const vdm::Ticks y_ticks = vdm::linear_ticks(-13.3, 5.0);
    CHECK(y_ticks.values == std::vector<double>{-15.0, -10.0, -5.0, 0.0, 5.0});
    for (const char* label : {"-15", "-10", "-5", "0", "5", "0.0", "0.2", "0.4", "0.6", "0.8", "1.0"})
        CHECK_MESSAGE(contains(text, label), label);
}

TEST_CASE("svg plot: ticks are round, evenly spaced, and cover the data range") {
    const std::vector<std::pair<double, double>> ranges = {
        {0.0, 1.0},     {-13.3, 5.0},    {0.005, 0.995}, {3.0, 3.0},   {0.0, 0.0},
        {-1e-4, 3e-4},  {1234.5, 98765}, {-7.0, -6.99},  {2.5, 2.5e6}, {0.1, 0.30000000000000004}};
    for (const auto& range : ranges) {  // named members: clang rejects bindings in INFO
        const double lo = range.first, hi = range.second;
        INFO("range [" << lo << ", " << hi << "]");
        const vdm::Ticks t = vdm::linear_ticks(lo, hi);
        const std::vector<double>& ticks = t.values;
        REQUIRE(t.labels.size() == ticks.size());
        REQUIRE(ticks.size() >= 3);
        CHECK(ticks.size() <= 13);
        CHECK(ticks.front() <= lo);
        CHECK(ticks.back() >= hi);
        const double step = ticks[1] - ticks[0];
        const double mantissa = step / std::pow(10.0, std::floor(std::log10(step)));
        CHECK((std::fabs(mantissa - 1) < 1e-9 || std::fabs(mantissa - 2) < 1e-9 ||
               std::fabs(mantissa - 5) < 1e-9));
        std::vector<std::string> labels;
        for (size_t i = 0; i < ticks.size(); ++i) {
            if (i > 0) CHECK(std::fabs(ticks[i] - ticks[i - 1] - step) <= 1e-9 * step);
            labels.push_back(t.labels[i]);
            CHECK(labels.back() == vdm::tick_label(ticks[i], step));
            CHECK(labels.back().size() <= 8);
            CHECK(std::stod(labels.back()) == doctest::Approx(ticks[i]).epsilon(1e-9));
        }
        std::sort(labels.begin(), labels.end());
        CHECK(std::unique(labels.begin(), labels.end()) == labels.end());
    }
    CHECK(vdm::tick_label(0.6000000000000001, 0.2) == "0.6");
    CHECK(vdm::tick_label(-14.0, 2.0) == "-14");
    CHECK(vdm::tick_label(1e-17, 0.2) == "0.0");
    CHECK(vdm::tick_label(0.0, 5.0) == "0");
    CHECK(vdm::tick_label(0.0, 1e-4) == "0");
    CHECK(vdm::tick_label(2e-4, 1e-4) == "2e-4");
    CHECK(vdm::tick_label(150000.0, 50000.0) == "1.5e5");

    const std::vector<std::pair<double, double>> log_ranges = {
        {6.7e-3, 6e5}, {3.0, 40.0}, {1.0, 1.0}, {10.0, 10.0}, {2e-300, 1e300}, {0.05, 0.07}};
    for (const auto& range : log_ranges) {
        const double lo = range.first, hi = range.second;
        INFO("log range [" << lo << ", " << hi << "]");
        const vdm::Ticks t = vdm::log_ticks(lo, hi);
        const std::vector<double>& ticks = t.values;
        REQUIRE(t.labels.size() == ticks.size());
        REQUIRE(ticks.size() >= 2);
        CHECK(ticks.size() <= 13);
        CHECK(ticks.front() <= lo);
        CHECK(ticks.back() >= hi);
        for (size_t i = 1; i < ticks.size(); ++i) CHECK(ticks[i] > ticks[i - 1]);
    }
    CHECK(vdm::log_ticks(3.0, 40.0).values == std::vector<double>{2.0, 5.0, 10.0, 20.0, 50.0});
    CHECK(vdm::log_ticks(3.0, 40.0).labels == std::vector<std::string>{"2", "5", "10", "20", "50"});
    CHECK(vdm::log_ticks(0.05, 0.07).labels == std::vector<std::string>{"0.05", "0.1"});
    // Many decades: powers of ten with superscript exponents, every second one here.
    const vdm::Ticks snr = vdm::log_ticks(6.7e-3, 6e5);
    CHECK(snr.values == std::vector<double>{1e-4, 1e-2, 1.0, 1e2, 1e4, 1e6});
    CHECK(snr.labels == std::vector<std::string>{"10\u207b\u2074", "10\u207b\u00b2", "10\u2070",
                                                 "10\u00b2", "10\u2074", "10\u2076"});
    CHECK(vdm::tick_label(1e-5, 1e-5) == "1e-5");
    CHECK(vdm::tick_label(0.001, 0.001) == "0.001");
    CHECK(vdm::tick_label(1e6, 1e6) == "1e6");
}

TEST_CASE("svg plot: a log y axis labels powers of ten and keeps every point in the frame") {
    vdm::LinePlot plot;
    plot.title = "SNR";
    plot.log_y = true;
    std::vector<double> t, snr;
    for (int i = 0; i <= 50; ++i) {
        t.push_back(i / 50.0);
        snr.push_back(std::exp(13.3 - 18.3 * i / 50.0));  // exp(-gamma), linear gamma
    }
    plot.series.push_back({"", t, snr});
    const std::vector<Element> elements = parse_xml(vdm::svg_line_plot(plot));
    const std::vector<std::string> text = texts(elements);
    for (const std::string& label : vdm::log_ticks(snr.back(), snr.front()).labels)
        CHECK(contains(text, label));
    CHECK(contains(text, "10\u2076"));  // 10^6
    int polylines = 0, legend_lines = 0;
    for (const Element& e : elements) {
        if (e.name == "polyline") {
            ++polylines;
            auto points = polyline_points(e);
            CHECK(points.size() == 51);
            for (size_t i = 1; i < points.size(); ++i) {
                // a straight line on a log axis: equal pixel steps
                double dy = points[i].second - points[i - 1].second;
                double dy0 = points[1].second - points[0].second;
                CHECK(dy == doctest::Approx(dy0).epsilon(0.01));
            }
        }
        if (e.name == "line" && e.attributes.count("stroke-width") &&
            e.attributes.at("stroke-width") == "2")
            ++legend_lines;
    }
    CHECK(polylines == 1);
    CHECK(legend_lines == 0);  // one unlabeled series: no legend
}

TEST_CASE("svg plot: y_from_zero puts 0 on a linear y axis") {
    vdm::LinePlot plot;
    plot.series.push_back({"integrand", {0.1, 0.5, 0.9}, {12.9, 13.2, 13.0}});
    auto lowest_tick = [](const std::vector<Element>& elements) {
        std::vector<std::string> labels;  // y tick labels: the right-aligned group
        bool in_y = false;
        for (const Element& e : elements) {
            if (e.name == "g") in_y = e.attributes.count("text-anchor") &&
                                      e.attributes.at("text-anchor") == "end";
            if (in_y && e.name == "text") labels.push_back(e.text);
        }
        REQUIRE(!labels.empty());
        return std::stod(labels.front());
    };
    CHECK(lowest_tick(parse_xml(vdm::svg_line_plot(plot))) > 12.0);
    plot.y_from_zero = true;
    CHECK(lowest_tick(parse_xml(vdm::svg_line_plot(plot))) == 0.0);
}

TEST_CASE("svg plot: written atomically; bad input is a one-line error and writes nothing") {
    vdm::test::TempDir tmp("vdm_test_svg_");
    const std::string path = tmp.file("plot.svg");
    const vdm::LinePlot good = two_series_plot();
    vdm::write_svg_line_plot(path, good);
    std::ifstream file(path);
    std::string written{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
    CHECK(written == vdm::svg_line_plot(good));
    CHECK_FALSE(fs::exists(path + ".tmp"));

    auto with = [&](auto change) {
        vdm::LinePlot p = two_series_plot();
        change(p);
        return p;
    };
    const std::vector<std::pair<vdm::LinePlot, std::string>> bad = {
        {with([](vdm::LinePlot& p) { p.series.clear(); }), "no series"},
        {with([](vdm::LinePlot& p) { p.series[1].x.clear(); p.series[1].y.clear(); }),
         "series \"x < y\" is empty"},
        {with([](vdm::LinePlot& p) { p.series[0].y.pop_back(); }), "has 5 x values but 4 y values"},
        {with([](vdm::LinePlot& p) { p.series[0].y[2] = NAN; }), "point 2 is (0.5, nan), not finite"},
        {with([](vdm::LinePlot& p) { p.series[1].x[0] = INFINITY; }), "not finite"},
        {with([](vdm::LinePlot& p) { p.log_y = true; }), "on a logarithmic axis"},
        {with([](vdm::LinePlot& p) { p.width = 10; }), "is outside"},
        {with([](vdm::LinePlot& p) { p.series[0].y[0] = -1e308; p.series[0].y[1] = 1e308; }),
         "too wide"},
    };
    for (const auto& bad_case : bad) {  // named members: clang rejects bindings in lambdas
        const vdm::LinePlot& plot = bad_case.first;
        const std::string& expected = bad_case.second;
        check_error([&] { vdm::svg_line_plot(plot); }, expected);
        const std::string other = tmp.file("bad.svg");
        check_error([&] { vdm::write_svg_line_plot(other, plot); }, other + ": svg plot");
        CHECK_FALSE(fs::exists(other));
        CHECK_FALSE(fs::exists(other + ".tmp"));
    }
    check_error([&] { vdm::write_svg_line_plot(tmp.file("no/such/dir/plot.svg"), good); },
                "cannot create");
}

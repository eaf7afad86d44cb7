// svg.hpp — the plots of vernier's HTML reports, drawn as inline SVG (no scripts, no fonts fetched).
//
// A Plot is one chart: a frame with axes (linear or log10), ticks, axis titles and a legend; marks are
// added in data coordinates and clipped to the frame. Every chart scales with its container (viewBox),
// so it stays readable from a laptop's width down.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace vernier::report {

std::string escape(std::string_view text);  // &, <, >, " for HTML and SVG text

struct Axis {
  std::string title;  // with its unit: "bits per weight", "mean KLD (nats, log scale)"
  double lo = 0, hi = 1;
  bool log = false;   // log10: lo and hi must be positive
  bool log2_ticks = false;  // log axis ticked at powers of two (contexts)
};

// A sequential colour scale (dark blue → yellow, perceptually ordered and readable in grey).
std::string color_scale(double t);  // t in [0, 1]
// Distinct colours for categories (methods, KV formats).
std::string category_color(size_t i);

class Plot {
 public:
  Plot(std::string title, Axis x, Axis y, int width = 720, int height = 420);
  // Marks in data coordinates; `tip` becomes the mark's <title> (shown on hover).
  void point(double x, double y, const std::string& color, const std::string& tip, const std::string& label = "", bool ring = false);
  void polyline(const std::vector<std::pair<double, double>>& xy, const std::string& color, const std::string& dash = "", double width = 2);
  void vline(double x, const std::string& color, double y0_frac = 0, double y1_frac = 1, double width = 1);
  void hline(double y, const std::string& color, const std::string& label, const std::string& dash = "6 4");
  void bar(double x0, double x1, double y0, double y1, const std::string& color, const std::string& tip);
  void legend(const std::string& name, const std::string& color, bool line = false);
  void legend_left() { legend_left_ = true; }  // the legend in the top-left corner (rising curves)
  std::string svg() const;
  int marks() const { return marks_; }

  double px(double x) const;  // data → pixels
  double py(double y) const;

 private:
  std::string title_;
  Axis x_, y_;
  int w_, h_;
  double left_ = 78, right_ = 24, top_ = 34, bottom_ = 56;
  std::string body_;
  std::vector<std::pair<std::string, std::pair<std::string, bool>>> legend_;
  int marks_ = 0;
  bool legend_left_ = false;
  std::string ticks(const Axis& a, bool horizontal) const;
};

// A grid of coloured cells (rows × cols), NaN cells hatched as "not known"; values mapped through
// color_scale over [lo, hi].
struct Heatmap {
  std::string title;
  std::vector<std::string> row_labels, col_labels;
  std::vector<std::vector<double>> values;  // [row][col]
  double lo = 0, hi = 1;
  std::string unit;  // "dB"
  std::string svg(int cell = 26) const;
  int cells() const;  // cells with a finite value
};

// The colour legend of a Heatmap scale: lo → hi with the unit.
std::string color_legend(double lo, double hi, const std::string& title, int width = 360);

}  // namespace vernier::report

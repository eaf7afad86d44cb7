// svg.cpp — inline SVG charts for the HTML reports.
#include "svg.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace vernier::report {

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string color_scale(double t) {
  // a viridis-like ramp through 5 stops, linearly interpolated in sRGB
  static constexpr double stops[5][3] = {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
  if (!std::isfinite(t)) t = 0;
  t = std::clamp(t, 0.0, 1.0) * 4.0;
  const int i = std::min(3, static_cast<int>(t));
  const double f = t - i;
  int rgb[3];
  for (int k = 0; k < 3; ++k) rgb[k] = static_cast<int>(std::lround(stops[i][k] + f * (stops[i + 1][k] - stops[i][k])));
  return fmt::format("#{:02x}{:02x}{:02x}", rgb[0], rgb[1], rgb[2]);
}

std::string category_color(size_t i) {
  static constexpr const char* c[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"};
  return c[i % (sizeof c / sizeof c[0])];
}

namespace {
std::string tick_label(double v) {
  if (v == 0) return "0";
  const double a = std::fabs(v);
  if (a >= 1e9) return fmt::format("{:g}G", v / 1e9);
  if (a >= 1e6) return fmt::format("{:g}M", v / 1e6);
  if (a >= 1e4) return fmt::format("{:g}k", v / 1e3);
  if (a < 1e-3) return fmt::format("{:.0e}", v);
  return fmt::format("{:g}", v);
}

double to_axis(const Axis& a, double v) { return a.log ? std::log10(std::max(v, 1e-300)) : v; }
}  // namespace

Plot::Plot(std::string title, Axis x, Axis y, int width, int height) : title_(std::move(title)), x_(std::move(x)), y_(std::move(y)), w_(width), h_(height) {
  for (Axis* a : {&x_, &y_}) {
    if (a->log) {
      a->lo = std::max(a->lo, 1e-12);
      a->hi = std::max(a->hi, a->lo * 10);
    }
    if (!(a->hi > a->lo)) a->hi = a->lo + 1;
  }
}

double Plot::px(double x) const {
  const double lo = to_axis(x_, x_.lo), hi = to_axis(x_, x_.hi);
  return left_ + (to_axis(x_, x) - lo) / (hi - lo) * (w_ - left_ - right_);
}

double Plot::py(double y) const {
  const double lo = to_axis(y_, y_.lo), hi = to_axis(y_, y_.hi);
  return h_ - bottom_ - (to_axis(y_, y) - lo) / (hi - lo) * (h_ - top_ - bottom_);
}

void Plot::point(double x, double y, const std::string& color, const std::string& tip, const std::string& label, bool ring) {
  if (!std::isfinite(x) || !std::isfinite(y) || (y_.log && y <= 0) || (x_.log && x <= 0)) return;
  const double X = px(x), Y = py(y);
  body_ += fmt::format(R"~(<circle class="mark" cx="{:.1f}" cy="{:.1f}" r="5" fill="{}" fill-opacity="0.85" stroke="{}" stroke-width="{}"><title>{}</title></circle>)~",
                       X, Y, color, ring ? "#000" : "#fff", ring ? 2 : 1, escape(tip));
  if (!label.empty()) {
    // a label that would run past the frame's right edge is written to the left of its point
    const bool left = X + 7 + 6.0 * static_cast<double>(label.size()) > w_ - right_;
    body_ += fmt::format(R"~(<text x="{:.1f}" y="{:.1f}" class="pl"{}>{}</text>)~", left ? X - 7 : X + 7, Y - 6, left ? R"( text-anchor="end")" : "",
                         escape(label));
  }
  ++marks_;
}

void Plot::polyline(const std::vector<std::pair<double, double>>& xy, const std::string& color, const std::string& dash, double width) {
  std::string pts;
  for (const auto& [x, y] : xy) {
    if (!std::isfinite(x) || !std::isfinite(y) || (y_.log && y <= 0) || (x_.log && x <= 0)) continue;
    pts += fmt::format("{:.1f},{:.1f} ", px(x), py(y));
  }
  if (pts.empty()) return;
  body_ += fmt::format(R"~(<polyline class="mark" points="{}" fill="none" stroke="{}" stroke-width="{}"{}/>)~", pts, color, width,
                       dash.empty() ? "" : " stroke-dasharray=\"" + dash + "\"");
  ++marks_;
}

void Plot::vline(double x, const std::string& color, double y0_frac, double y1_frac, double width) {
  const double X = px(x), Y0 = h_ - bottom_ - y0_frac * (h_ - top_ - bottom_), Y1 = h_ - bottom_ - y1_frac * (h_ - top_ - bottom_);
  body_ += fmt::format(R"~(<line class="mark" x1="{:.1f}" x2="{:.1f}" y1="{:.1f}" y2="{:.1f}" stroke="{}" stroke-width="{}"/>)~", X, X, Y0, Y1, color, width);
  ++marks_;
}

void Plot::hline(double y, const std::string& color, const std::string& label, const std::string& dash) {
  const double Y = py(y);
  body_ += fmt::format(R"~(<line x1="{}" x2="{}" y1="{:.1f}" y2="{:.1f}" stroke="{}" stroke-width="1.5" stroke-dasharray="{}"/>)~", left_, w_ - right_, Y, Y,
                       color, dash);
  body_ += fmt::format(R"~(<text x="{}" y="{:.1f}" class="pl" text-anchor="end" fill="{}">{}</text>)~", w_ - right_ - 4, Y - 5, color, escape(label));
}

void Plot::bar(double x0, double x1, double y0, double y1, const std::string& color, const std::string& tip) {
  const double X0 = px(x0), X1 = px(x1), Y0 = py(y0), Y1 = py(y1);
  body_ += fmt::format(R"~(<rect class="mark" x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="{}"><title>{}</title></rect>)~", std::min(X0, X1),
                       std::min(Y0, Y1), std::fabs(X1 - X0), std::fabs(Y1 - Y0), color, escape(tip));
  ++marks_;
}

void Plot::legend(const std::string& name, const std::string& color, bool line) { legend_.push_back({name, {color, line}}); }

std::string Plot::ticks(const Axis& a, bool horizontal) const {
  std::vector<double> t;
  if (a.log) {
    const double step = a.log2_ticks ? std::log10(2.0) : 1.0;
    const double lo = std::log10(a.lo), hi = std::log10(a.hi);
    double e = std::ceil(lo / step - 1e-9) * step;
    int n = static_cast<int>((hi - e) / step) + 1;
    const int every = std::max(1, n / 10);
    for (int i = 0; e + i * step <= hi + 1e-9; i += every) t.push_back(std::pow(10.0, e + i * step));
  } else {
    const double span = a.hi - a.lo;
    const double raw = span / 8, mag = std::pow(10.0, std::floor(std::log10(raw)));
    const double step = raw / mag < 2 ? 2 * mag : raw / mag < 5 ? 5 * mag : 10 * mag;
    for (double v = std::ceil(a.lo / step) * step; v <= a.hi + 1e-9 * span; v += step) t.push_back(std::fabs(v) < 1e-12 * span ? 0 : v);
  }
  std::string s;
  for (double v : t) {
    if (horizontal) {
      const double X = px(v);
      s += fmt::format(R"~(<line x1="{0:.1f}" x2="{0:.1f}" y1="{1}" y2="{2}" class="grid"/><text x="{0:.1f}" y="{3}" class="tk" text-anchor="middle">{4}</text>)~", X, top_,
                       h_ - bottom_, h_ - bottom_ + 16, a.log2_ticks ? fmt::format("{:g}", std::round(v)) : tick_label(v));
    } else {
      const double Y = py(v);
      s += fmt::format(R"~(<line x1="{0}" x2="{1}" y1="{2:.1f}" y2="{2:.1f}" class="grid"/><text x="{3}" y="{4:.1f}" class="tk" text-anchor="end">{5}</text>)~", left_,
                       w_ - right_, Y, left_ - 6, Y + 4, tick_label(v));
    }
  }
  return s;
}

std::string Plot::svg() const {
  std::string s = fmt::format(R"~(<svg class="plot" viewBox="0 0 {} {}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">)~", w_, h_, escape(title_));
  s += fmt::format(R"~(<text x="{}" y="20" class="pt">{}</text>)~", left_, escape(title_));
  s += ticks(x_, true) + ticks(y_, false);
  s += fmt::format(R"~(<rect x="{}" y="{}" width="{}" height="{}" class="frame"/>)~", left_, top_, w_ - left_ - right_, h_ - top_ - bottom_);
  s += fmt::format(R"~(<text x="{}" y="{}" class="at" text-anchor="middle">{}</text>)~", left_ + (w_ - left_ - right_) / 2, h_ - 14, escape(x_.title));
  s += fmt::format(R"~(<text transform="translate(16 {}) rotate(-90)" class="at" text-anchor="middle">{}</text>)~", top_ + (h_ - top_ - bottom_) / 2,
                   escape(y_.title));
  s += fmt::format(R"~(<svg x="{}" y="{}" width="{}" height="{}" viewBox="{} {} {} {}" overflow="hidden">)~", left_, top_, w_ - left_ - right_, h_ - top_ - bottom_,
                   left_, top_, w_ - left_ - right_, h_ - top_ - bottom_);
  s += body_ + "</svg>";
  // text right-aligned at lx (top right), or left-aligned after the swatch (top left)
  const double lx = legend_left_ ? left_ + 34 : w_ - right_ - 8;
  double ly = top_ + 16;
  for (const auto& [name, cl] : legend_) {
    const auto& [color, line] = cl;
    const double sx = legend_left_ ? left_ + 8 : lx - 7.0 * static_cast<double>(name.size()) - 26;  // the swatch's left end
    s += line ? fmt::format(R"~(<line x1="{:.1f}" x2="{:.1f}" y1="{:.1f}" y2="{:.1f}" stroke="{}" stroke-width="3"/>)~", sx, sx + 18, ly - 4, ly - 4, color)
              : fmt::format(R"~(<circle cx="{:.1f}" cy="{:.1f}" r="5" fill="{}"/>)~", sx + 9, ly - 4, color);
    s += fmt::format(R"~(<text x="{:.1f}" y="{:.1f}" class="lg" text-anchor="{}">{}</text>)~", lx, ly, legend_left_ ? "start" : "end", escape(name));
    ly += 18;
  }
  return s + "</svg>";
}

int Heatmap::cells() const {
  int n = 0;
  for (const auto& r : values)
    for (double v : r) n += std::isfinite(v) ? 1 : 0;
  return n;
}

std::string Heatmap::svg(int cell) const {
  const int left = 16 + 7 * static_cast<int>(std::max_element(row_labels.begin(), row_labels.end(), [](auto& a, auto& b) { return a.size() < b.size(); })->size());
  const int top = 70;
  const int w = left + cell * static_cast<int>(col_labels.size()) + 10, h = top + cell * static_cast<int>(row_labels.size()) + 8;
  std::string s = fmt::format(R"~(<svg class="heat" viewBox="0 0 {} {}" width="{}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">)~", w, h, w,
                              escape(title));
  s += fmt::format(R"~(<text x="4" y="16" class="pt">{}</text>)~", escape(title));
  for (size_t c = 0; c < col_labels.size(); ++c) {
    s += fmt::format(R"~(<text transform="translate({} {}) rotate(-50)" class="tk">{}</text>)~", left + cell * static_cast<int>(c) + cell / 2, top - 4,
                     escape(col_labels[c]));
  }
  for (size_t r = 0; r < row_labels.size(); ++r) {
    const int y = top + cell * static_cast<int>(r);
    s += fmt::format(R"~(<text x="{}" y="{}" class="tk" text-anchor="end">{}</text>)~", left - 4, y + cell / 2 + 4, escape(row_labels[r]));
    for (size_t c = 0; c < col_labels.size(); ++c) {
      const double v = r < values.size() && c < values[r].size() ? values[r][c] : NAN;
      const int x = left + cell * static_cast<int>(c);
      if (std::isfinite(v)) {
        const double t = (v - lo) / (hi - lo > 0 ? hi - lo : 1);
        s += fmt::format(R"~(<rect class="mark" x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{} {}: {:.2f} {}</title></rect>)~", x, y, cell - 1, cell - 1,
                         color_scale(t), escape(row_labels[r]), escape(col_labels[c]), v, escape(unit));
        if (cell >= 26) {
          s += fmt::format(R"~(<text x="{}" y="{}" class="cv" fill="{}" text-anchor="middle">{:.0f}</text>)~", x + cell / 2, y + cell / 2 + 4,
                           t > 0.6 ? "#000" : "#fff", v);
        }
      } else {
        s += fmt::format(R"~(<rect x="{}" y="{}" width="{}" height="{}" fill="url(#hatch)"><title>{} {}: not known for this method</title></rect>)~", x, y,
                         cell - 1, cell - 1, escape(row_labels[r]), escape(col_labels[c]));
      }
    }
  }
  return s + "</svg>";
}

std::string color_legend(double lo, double hi, const std::string& title, int width) {
  width = std::max<int>(width, 60 + 7 * static_cast<int>(title.size()));
  std::string s = fmt::format(R"~(<svg class="legend" viewBox="0 0 {} 46" width="{}" xmlns="http://www.w3.org/2000/svg"><text x="0" y="12" class="lg">{}</text>)~",
                              width, width, escape(title));
  const int n = 40;
  const double cw = (width - 20.0) / n;
  for (int i = 0; i < n; ++i) {
    s += fmt::format(R"~(<rect x="{:.1f}" y="18" width="{:.1f}" height="12" fill="{}"/>)~", 10 + i * cw, cw + 0.5, color_scale((i + 0.5) / n));
  }
  s += fmt::format(R"~(<text x="10" y="44" class="tk">{:.1f}</text><text x="{}" y="44" class="tk" text-anchor="end">{:.1f}</text>)~", lo, width - 10, hi);
  return s + "</svg>";
}

}  // namespace vernier::report

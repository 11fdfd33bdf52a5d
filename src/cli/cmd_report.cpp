// loom report RUN_DIR [--out FILE]: one self-contained HTML page of a run (no scripts, no
// network resources): an inline SVG plot per numeric key of RUN_DIR/metrics.jsonl (steps on x,
// min/max ticks on both axes), a table of each key's first and last value, and the run's
// effective configuration. Default output RUN_DIR/report.html, written atomically.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/command_line.h"
#include "cli/commands.h"
#include "core/check.h"
#include "io/atomic_file.h"
#include "train/config_file.h"

namespace loom::cli {

namespace fs = std::filesystem;

namespace {

// One numeric key's (step, value) points in file order.
struct Series {
  std::string key;
  std::vector<std::pair<int64_t, double>> points;
};

struct RunLog {
  size_t records = 0;    // records with a step
  nlohmann::json header;  // the first record without a step (a run header), or null
  std::vector<Series> series;  // in plotting order
};

// Where a key goes on the page: the training curves first, then rewards, KL, accuracies, the rest.
int plot_rank(const std::string& key) {
  static const char* const leading[] = {"loss", "eval_loss", "learning_rate", "grad_norm"};
  for (int i = 0; i < 4; ++i) {
    if (key == leading[i]) return i;
  }
  if (key.find("accurac") != std::string::npos) return 6;  // before "reward": rewards/accuracies
  if (key.find("reward") != std::string::npos) return 4;
  if (key.find("kl") != std::string::npos) return 5;
  return 7;
}

RunLog read_metrics(const std::string& path) {
  std::ifstream in(path);
  LOOM_REQUIRE(in, path, ": cannot open (a run directory holds metrics.jsonl)");
  RunLog run;
  std::map<std::string, size_t> index_of;  // key -> position in run.series
  int line_number = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const nlohmann::json record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    LOOM_REQUIRE(!record.is_discarded(), path, ":", line_number, ": not valid JSON");
    LOOM_REQUIRE(record.is_object(), path, ":", line_number, ": not a JSON object");
    if (!record.contains("step")) {
      if (run.header.is_null()) run.header = record;
      continue;
    }
    LOOM_REQUIRE(record["step"].is_number_integer(), path, ":", line_number, ": \"step\" is not an integer");
    const int64_t step = record["step"].get<int64_t>();
    ++run.records;
    for (const auto& [key, value] : record.items()) {
      if (key == "step" || !value.is_number()) continue;
      auto [it, added] = index_of.emplace(key, run.series.size());
      if (added) run.series.push_back({key, {}});
      run.series[it->second].points.emplace_back(step, value.get<double>());
    }
  }
  LOOM_REQUIRE(run.records > 0, path, ": no records with a \"step\"");
  std::stable_sort(run.series.begin(), run.series.end(),
                   [](const Series& a, const Series& b) { return plot_rank(a.key) < plot_rank(b.key); });
  return run;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The run's effective configuration and where it came from: RUN_DIR/config.ini, else the
// loom_config.ini of the run dir or of its newest checkpoint, else the header record.
std::pair<std::string, std::string> effective_config(const fs::path& run_dir, const RunLog& run) {
  for (const char* name : {"config.ini", kEffectiveConfigFileName}) {
    if (fs::is_regular_file(run_dir / name)) return {name, read_text(run_dir / name)};
  }
  int64_t newest = -1;
  for (const auto& entry : fs::directory_iterator(run_dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("checkpoint-", 0) != 0 || !fs::is_regular_file(entry.path() / kEffectiveConfigFileName)) continue;
    const std::string digits = name.substr(11);
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    newest = std::max(newest, static_cast<int64_t>(std::stoll(digits)));
  }
  if (newest >= 0) {
    const std::string name = cat("checkpoint-", newest, "/", kEffectiveConfigFileName);
    return {name, read_text(run_dir / name)};
  }
  if (!run.header.is_null()) return {"the header record of metrics.jsonl", run.header.dump(2)};
  return {"", ""};
}

std::string escape_html(const std::string& text) {
  std::string out;
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

std::string number(double value, int digits = 6) {
  char text[48];
  std::snprintf(text, sizeof text, "%.*g", digits, value);
  return text;
}

// One plot: the series as a polyline (and dots when there are few points) in a frame with the
// first/last step and the min/max value as ticks, "step" under the x axis, the key beside y.
std::string svg_plot(const Series& series) {
  constexpr double kWidth = 420, kHeight = 250, kLeft = 78, kRight = 16, kTop = 14, kBottom = 44;
  constexpr double kPlotW = kWidth - kLeft - kRight, kPlotH = kHeight - kTop - kBottom;
  int64_t step_lo = series.points.front().first, step_hi = step_lo;
  double lo = series.points.front().second, hi = lo;
  for (const auto& [step, value] : series.points) {
    step_lo = std::min(step_lo, step), step_hi = std::max(step_hi, step);
    lo = std::min(lo, value), hi = std::max(hi, value);
  }
  // The values keep 5% off the frame's top and bottom; a constant series or a single step
  // still spans the frame (the degenerate range is padded).
  const double x0 = step_lo == step_hi ? step_lo - 1.0 : static_cast<double>(step_lo);
  const double x1 = step_lo == step_hi ? step_hi + 1.0 : static_cast<double>(step_hi);
  const double pad = lo == hi ? (lo == 0.0 ? 1.0 : std::fabs(lo) * 0.1) : (hi - lo) * 0.05;
  const double y0 = lo - pad, y1 = hi + pad;
  auto px = [&](double step) { return kLeft + (step - x0) / (x1 - x0) * kPlotW; };
  auto py = [&](double value) { return kTop + (y1 - value) / (y1 - y0) * kPlotH; };

  std::string svg = cat("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"", kWidth, "\" height=\"", kHeight,
                        "\" viewBox=\"0 0 ", kWidth, " ", kHeight, "\" role=\"img\" aria-label=\"",
                        escape_html(series.key), " against step\">\n");
  svg += cat("<rect x=\"", kLeft, "\" y=\"", kTop, "\" width=\"", kPlotW, "\" height=\"", kPlotH,
             "\" fill=\"#fff\" stroke=\"#888\"/>\n");
  // y ticks: min and max of the values (with a light grid line), x ticks: first and last step.
  for (double value : {lo, hi}) {
    const double y = py(value);
    svg += cat("<line x1=\"", kLeft - 4, "\" y1=\"", y, "\" x2=\"", kLeft + kPlotW, "\" y2=\"", y,
               "\" stroke=\"#ddd\"/><text x=\"", kLeft - 6, "\" y=\"", y + 4, "\" text-anchor=\"end\" class=\"tick\">",
               number(value, 4), "</text>\n");
    if (lo == hi) break;
  }
  for (int64_t step : {step_lo, step_hi}) {
    const double x = px(static_cast<double>(step));
    svg += cat("<line x1=\"", x, "\" y1=\"", kTop + kPlotH, "\" x2=\"", x, "\" y2=\"", kTop + kPlotH + 4,
               "\" stroke=\"#888\"/><text x=\"", x, "\" y=\"", kTop + kPlotH + 17,
               "\" text-anchor=\"middle\" class=\"tick\">", step, "</text>\n");
    if (step_lo == step_hi) break;
  }
  svg += cat("<text x=\"", kLeft + kPlotW / 2, "\" y=\"", kHeight - 6, "\" text-anchor=\"middle\" class=\"axis\">step</text>\n");
  svg += cat("<text transform=\"translate(14 ", kTop + kPlotH / 2, ") rotate(-90)\" text-anchor=\"middle\" class=\"axis\">",
             escape_html(series.key), "</text>\n");
  std::string points;
  for (const auto& [step, value] : series.points) {
    points += cat(number(px(static_cast<double>(step)), 6), ",", number(py(value), 6), " ");
  }
  svg += cat("<polyline fill=\"none\" stroke=\"#1f6fb4\" stroke-width=\"1.6\" points=\"", points, "\"/>\n");
  if (series.points.size() <= 60) {
    for (const auto& [step, value] : series.points) {
      svg += cat("<circle cx=\"", number(px(static_cast<double>(step)), 6), "\" cy=\"", number(py(value), 6),
                 "\" r=\"2.5\" fill=\"#1f6fb4\"/>\n");
    }
  }
  return svg + "</svg>\n";
}

std::string summary_table(const RunLog& run) {
  std::string html =
      "<table>\n<tr><th>key</th><th>points</th><th>first step</th><th>first</th><th>last step</th><th>last</th>"
      "<th>min</th><th>max</th></tr>\n";
  for (const Series& s : run.series) {
    double lo = s.points.front().second, hi = lo;
    for (const auto& point : s.points) lo = std::min(lo, point.second), hi = std::max(hi, point.second);
    html += cat("<tr><td>", escape_html(s.key), "</td><td>", s.points.size(), "</td><td>", s.points.front().first,
                "</td><td>", number(s.points.front().second), "</td><td>", s.points.back().first, "</td><td>",
                number(s.points.back().second), "</td><td>", number(lo), "</td><td>", number(hi), "</td></tr>\n");
  }
  return html + "</table>\n";
}

std::string report_page(const std::string& run_dir, const RunLog& run,
                        const std::pair<std::string, std::string>& config) {
  const std::string title = cat("loom run ", escape_html(run_dir));
  std::string html = cat(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>", title, "</title>\n<style>\n",
      "body{font-family:sans-serif;margin:16px;color:#222}\n",
      ".plots{display:flex;flex-wrap:wrap;gap:8px}\n",
      "figure{margin:0;border:1px solid #ddd;padding:4px}\nfigcaption{font-weight:bold;font-size:14px}\n",
      ".tick{font-size:11px;fill:#444}\n.axis{font-size:12px;fill:#222}\n",
      "table{border-collapse:collapse}\ntd,th{border:1px solid #ccc;padding:2px 8px;text-align:right}\n",
      "td:first-child,th:first-child{text-align:left}\npre{background:#f6f6f6;padding:8px;font-size:12px}\n",
      "</style>\n</head>\n<body>\n<h1>", title, "</h1>\n<p>", run.records, " records of metrics.jsonl, ",
      run.series.size(), " numeric keys.</p>\n<h2>Metrics</h2>\n<div class=\"plots\">\n");
  for (const Series& s : run.series) {
    html += cat("<figure>\n<figcaption>", escape_html(s.key), "</figcaption>\n", svg_plot(s), "</figure>\n");
  }
  html += cat("</div>\n<h2>Summary</h2>\n", summary_table(run), "<h2>Configuration</h2>\n");
  if (config.first.empty()) {
    html += "<p>No config.ini, loom_config.ini or header record found.</p>\n";
  } else {
    html += cat("<p>From ", escape_html(config.first), ".</p>\n<pre>", escape_html(config.second), "</pre>\n");
  }
  return html + "</body>\n</html>\n";
}

}  // namespace

int run_report(int argc, char** argv) {
  po::options_description options("report options");
  options.add_options()("run-dir", po::value<std::string>()->required(), "a run's output_dir (holds metrics.jsonl)")(
      "out", po::value<std::string>(), "the HTML file to write (default RUN_DIR/report.html)");
  po::positional_options_description positional;
  positional.add("run-dir", 1);
  po::variables_map vm;
  if (!parse_command_line(argc, argv, "loom report RUN_DIR [--out report.html]", options, positional, &vm)) return 0;

  const std::string run_dir = vm["run-dir"].as<std::string>();
  LOOM_REQUIRE(fs::is_directory(run_dir), run_dir, ": not a directory");
  const RunLog run = read_metrics((fs::path(run_dir) / "metrics.jsonl").string());
  const std::string out = vm.count("out") ? vm["out"].as<std::string>() : (fs::path(run_dir) / "report.html").string();
  write_file_atomically(out, report_page(run_dir, run, effective_config(run_dir, run)));
  std::printf("loom report: wrote %s (%zu plots from %zu records)\n", out.c_str(), run.series.size(), run.records);
  return 0;
}

}  // namespace loom::cli

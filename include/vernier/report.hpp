// vernier/report.hpp — results as JSON (compare's and advise's --json, the input of `vernier report`)
// and as one self-contained HTML page with plots (inline SVG and CSS: nothing fetched, no scripts).
//
// The JSON documents: {"kind": "vernier.compare", "version": 1, …} and {"kind": "vernier.advise",
// "version": 1, …, "compare": {…} when candidates were measured}. docs/report.md says how to read the
// page.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "vernier/advise.hpp"
#include "vernier/compare.hpp"

namespace vernier {

nlohmann::json compare_json(const CompareResult& r);
nlohmann::json advice_json(const Advice& a, const ModelShape& shape);

// The page for a compare or advise document; throws a bad_input Error naming what is missing for
// anything else (`source` names the file in the message).
std::string render_html_report(const nlohmann::json& doc, const std::string& source = "results");

}  // namespace vernier

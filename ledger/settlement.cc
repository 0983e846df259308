#include "ledger/settlement.h"

#include <map>

namespace gongji {

const char* article_of(const std::string& rule) {
  static const std::map<std::string, const char*> articles = {
      {"T-START", "N§1; Art.40"},      {"P-SCHEME", "N§1"},          {"P-CHANGE", "Art.11"},
      {"P-MINOR", "Art.11"},           {"P-STUDENT", "Art.20"},      {"P-ELIG", "Art.7"},
      {"F-LEVEL", "Art.11"},           {"F-TCM", "Art.18"},          {"ORD-DED", "Art.11"},
      {"ORD-LIM", "Art.10; Art.11"},   {"ORD-RATIO", "Art.11"},      {"ORD-TYPE", "Art.11"},
      {"ORD-DESIG", "Art.28; N§2(二)"}, {"ORD-SCOPE", "N§2(三)"},     {"ORD-ACU", "N§2(三); Annex 1"},
      {"ORD-PED", "Annex 1"},          {"ORD-AWAY", "Art.19; N§2(三)"}, {"ORD-INPT", "N§2(三)"},
      {"ORD-INC", "Art.12"},           {"RND", "POLICY.md RND"},      {"SETTLE", "POLICY.md §4"},
      {"TIME-DATED", "POLICY.md §6"},  {"TIME-ORDER", "POLICY.md §6"},
      {"CHR-EXCL", "N§3(一); Annex 2"}, {"CHR-UNREG", "N§3(三)"},     {"CHR-FAC", "N§3(二)"},
      {"CHR-ART17", "Art.17"},         {"CHR-REG", "N§3(三)"},        {"CHR-LIM", "N§3(一); Annex 2; Art.16"},
      {"CHR-DED", "Art.14"},           {"CHR-RATIO", "Art.14; Art.18"}, {"CHR-INPT", "Art.16"},
      {"CHR-PRORATE", "N§3(一)"},       {"CHR-SUSP", "N§3(三)"},        {"CHR-SEP", "Art.16"},
      {"ACC-INSVC", "Art.23"},         {"ACC-RET", "Art.24"},          {"ACC-FLEX", "Art.25"},
      {"ACC-USE", "Art.26"},
  };
  auto it = articles.find(rule);
  return it == articles.end() ? "" : it->second;
}

void Settlement::refuse(const std::string& status_, const std::string& reason, const std::string& rule,
                        const std::string& detail) {
  status = status_;
  reasons.insert(reason);
  eligible = self_first = deductible = covered = fund = 0;
  ratio = 0;
  step(rule, detail);
}

nlohmann::json Settlement::to_json(const std::string& policy_version) const {
  nlohmann::json trace_j = nlohmann::json::array(), rules = nlohmann::json::array();
  std::set<std::string> seen;
  for (const auto& s : trace) {
    trace_j.push_back({{"rule", s.rule}, {"article", article_of(s.rule)}, {"detail", s.detail}});
    if (seen.insert(s.rule).second) rules.push_back(s.rule);
  }
  nlohmann::json j = {{"kind", "settlement"},
                      {"claim", claim},
                      {"person", person},
                      {"event", event},
                      {"date", format_date(date)},
                      {"benefit", benefit},
                      {"status", status},
                      {"reasons", std::vector<std::string>(reasons.begin(), reasons.end())},
                      {"total", format_money(total)},
                      {"eligible", format_money(eligible)},
                      {"self_first", format_money(self_first)},
                      {"deductible", format_money(deductible)},
                      {"covered", format_money(covered)},
                      {"ratio", format_rate(ratio)},
                      {"fund", format_money(fund)},
                      {"patient", format_money(patient())},
                      {"policy_version", policy_version},
                      {"rules", rules},
                      {"trace", trace_j},
                      {"after", after}};
  if (!facility.empty()) j["facility"] = facility;
  if (!scheme.empty()) j["scheme"] = scheme;
  if (level) j["level"] = level;
  return j;
}

}  // namespace gongji

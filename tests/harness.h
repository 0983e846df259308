// Test harness: folds events through the pure ledger over in-memory state (no RocksDB), one partition.
#pragma once
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "events/event_json.h"
#include "ledger/ledger.h"
#include "ledger/mem_state.h"
#include "ops/generator.h"
#include "replay/person_view.h"

namespace gongji::test {

inline nlohmann::json item(const std::string& category, const std::string& amount) {
  return {{"category", category}, {"amount", amount}};
}
inline nlohmann::json tcm(const std::string& category, const std::string& amount, const std::string& therapy) {
  return {{"category", category}, {"amount", amount}, {"therapy", therapy}};
}
inline nlohmann::json items(std::initializer_list<nlohmann::json> l) { return nlohmann::json(l); }
inline std::vector<std::string> reasons(const nlohmann::json& s) {
  return s["reasons"].get<std::vector<std::string>>();
}
inline bool has_reason(const nlohmann::json& s, const std::string& r) {
  auto v = reasons(s);
  return std::find(v.begin(), v.end(), r) != v.end();
}

// A ledger in memory with a few standard facilities:
//   T1  township health centre, level 1      T1V village clinic, extension of T1
//   C1  community health centre, level 1     H2  hospital level 2     H3 hospital level 3
//   H2T TCM hospital level 2                 H1T TCM hospital level 1
class Ledger {
 public:
  explicit Ledger(const Policy& policy = default_policy(), bool with_facilities = true) : policy_(policy) {
    if (!with_facilities) return;
    fac("T1", 1, "township_health_center");
    fac("T1V", 1, "village_clinic", false, "T1");
    fac("C1", 1, "community_health_center");
    fac("H2", 2, "hospital");
    fac("H3", 3, "hospital");
    fac("H2T", 2, "hospital", true);
    fac("H1T", 1, "hospital", true);
  }

  // The output records of one event, as the fold returns them (also kept as JSON in `outputs`).
  std::vector<Output> apply_records(const nlohmann::json& j) {
    Event e = event_from_json(j);
    FoldContext ctx{&policy_, 0, 1, true};
    std::vector<Output> records = apply_event(e, state, ctx);
    for (const Output& o : records) outputs.push_back(nlohmann::json::parse(o.line()));
    return records;
  }
  std::vector<nlohmann::json> apply(const nlohmann::json& j) {
    std::vector<nlohmann::json> out;
    for (const Output& o : apply_records(j)) out.push_back(nlohmann::json::parse(o.line()));
    return out;
  }
  std::string next_id() { return "t" + std::to_string(++seq_); }

  void fac(const std::string& id, int level, const std::string& kind, bool tcm = false, const std::string& parent = "",
           const std::string& at = "2022-01-01", bool ordinary = true) {
    nlohmann::json j = {{"type", "facility_registered"}, {"id", next_id()}, {"at", at}, {"facility", id},
                        {"level", level}, {"kind", kind}, {"tcm", tcm}, {"ordinary_outpatient", ordinary}};
    if (!parent.empty()) j["parent"] = parent;
    apply(j);
  }
  void employee(const std::string& p, const std::string& birth = "1980-06-15", const std::string& status = "in_service",
                const std::string& at = "2022-01-01") {
    apply({{"type", "person_enrolled"}, {"id", next_id()}, {"at", at}, {"person", p}, {"birth_date", birth},
           {"scheme", "employee"}, {"status", status}});
  }
  void resident(const std::string& p, int tier, const std::string& birth = "1960-06-15",
                const std::string& at = "2022-01-01", bool student = false) {
    nlohmann::json j = {{"type", "person_enrolled"}, {"id", next_id()}, {"at", at}, {"person", p},
                        {"birth_date", birth}, {"scheme", "resident"}, {"tier", tier}};
    if (student) j["student"] = true;
    apply(j);
  }
  // A scheme_changed to the resident scheme (tier) or to the employee scheme (status).
  void to_resident(const std::string& p, const std::string& at, int tier = 2) {
    apply({{"type", "scheme_changed"}, {"id", next_id()}, {"at", at}, {"person", p}, {"scheme", "resident"},
           {"tier", tier}});
  }
  void to_employee(const std::string& p, const std::string& at, const std::string& status = "in_service") {
    apply({{"type", "scheme_changed"}, {"id", next_id()}, {"at", at}, {"person", p}, {"scheme", "employee"},
           {"status", status}});
  }
  std::vector<nlohmann::json> designate(const std::string& p, const std::string& f, const std::string& at) {
    return apply({{"type", "outpatient_designated"}, {"id", next_id()}, {"at", at}, {"person", p}, {"facility", f}});
  }
  std::vector<nlohmann::json> simple(const std::string& type, const std::string& p, const std::string& at) {
    return apply({{"type", type}, {"id", next_id()}, {"at", at}, {"person", p}});
  }
  // A claim; `items` like {{"drug","100.00"}} or with eligible / therapy via item().
  nlohmann::json claim(const std::string& p, const std::string& facility, const std::string& date,
                       nlohmann::json items, nlohmann::json extra = nlohmann::json::object()) {
    nlohmann::json j = {{"type", "claim"}, {"id", next_id()}, {"claim", "K" + std::to_string(++claims_)},
                        {"person", p}, {"date", date}, {"benefit", "ordinary"}, {"items", items}};
    if (!facility.empty()) j["facility"] = facility;
    for (auto& [k, v] : extra.items()) j[k] = v;
    auto out = apply(j);
    EXPECT_EQ(out.size(), 1u);
    return out.empty() ? nlohmann::json() : out[0];
  }
  // Closes every month from `from` through `to` ("YYYY-MM"), each on the first day of the next month.
  std::vector<nlohmann::json> close(const std::string& from, const std::string& to) {
    std::vector<nlohmann::json> all;
    for (Month m = *parse_month(from); m <= *parse_month(to); ++m) {
      auto out = apply({{"type", "period_closed"}, {"id", next_id()}, {"at", format_date(first_day(m + 1))},
                        {"month", format_month(m)}});
      all.insert(all.end(), out.begin(), out.end());
    }
    return all;
  }
  std::vector<nlohmann::json> approve(const std::string& p, const std::string& disease, const std::string& at,
                                      nlohmann::json extra = nlohmann::json::object()) {
    nlohmann::json j = {{"type", "chronic_disease_approved"}, {"id", next_id()}, {"at", at}, {"person", p},
                        {"disease", disease}};
    for (auto& [k, v] : extra.items()) j[k] = v;
    return apply(j);
  }
  std::vector<nlohmann::json> chronic_facility(const std::string& p, const std::string& f, const std::string& at,
                                               nlohmann::json extra = nlohmann::json::object()) {
    nlohmann::json j = {{"type", "chronic_facility_designated"}, {"id", next_id()}, {"at", at}, {"person", p}};
    if (!f.empty()) j["facility"] = f;
    for (auto& [k, v] : extra.items()) j[k] = v;
    return apply(j);
  }
  nlohmann::json chronic_claim(const std::string& p, const std::string& f, const std::string& date,
                               const std::string& disease, const std::string& amount) {
    return claim(p, f, date, items({item("drug", amount)}), {{"benefit", "chronic"}, {"disease", disease}});
  }
  nlohmann::json person(const std::string& p, const std::string& as_of) {
    return person_view(state.persons.at(p), *parse_date(as_of), policy_, [](const std::string&) { return nullptr; });
  }

  MemState state;
  std::vector<nlohmann::json> outputs;

 private:
  const Policy& policy_;
  int seq_ = 0, claims_ = 0;
};

// Every output record of `people` generated people (ops/generator.h, `seed`), folded in memory under the default
// policy, in order; the state the fold left, when `state` is given.
inline void for_each_generated_output(int people, uint64_t seed, const std::function<void(const Output&)>& fn,
                                      MemState* state = nullptr) {
  GeneratorOptions opt;
  opt.people = people;
  opt.seed = seed;
  MemState own;
  MemState& folded = state ? *state : own;
  FoldContext ctx;
  ctx.policy = &default_policy();
  generate_population(opt, [&](const std::string& event) {
    for (const Output& o : apply_event(parse_event(event), folded, ctx)) fn(o);
  });
}

}  // namespace gongji::test

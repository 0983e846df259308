#include "ops/generator.h"

#include <algorithm>
#include <map>
#include <vector>

#include <nlohmann/json.hpp>

#include "events/date.h"
#include "events/money.h"

namespace gongji {
namespace {

using nlohmann::json;

// splitmix64: a tiny, portable generator (std:: distributions differ between standard libraries).
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  int below(int n) { return static_cast<int>(next() % static_cast<uint64_t>(n)); }
  bool chance(double p) { return static_cast<double>(next() >> 11) / 9007199254740992.0 < p; }
  double unit() { return static_cast<double>(next() >> 11) / 9007199254740992.0; }
};

struct Fac {
  std::string id, kind, parent;
  int level;
  bool tcm;
};

struct Person {
  std::string id;
  Date birth;
  std::string scheme, status;
  int tier = 0;
  bool student = false;
  std::string designated;  // planned designation ("" = chosen by the first claim)
  std::string home;        // the unit they usually visit
  std::string chronic_facility, chronic_bucket;
  std::vector<std::string> diseases;
};

struct Timed {
  Date date;
  int order;  // ties: global events first, then in creation order
  uint64_t seq;
  json event;
};

std::string money(Money m) { return format_money(m); }

}  // namespace

void generate_population(const GeneratorOptions& opt, const std::function<void(const std::string&)>& emit) {
  Rng rng{opt.seed};
  std::vector<Timed> events;
  uint64_t seq = 0;
  uint64_t claim_seq = 0;
  auto add = [&](Date d, int order, json e) {
    e["id"] = "g" + std::to_string(++seq);
    events.push_back({d, order, seq, std::move(e)});
  };
  const Date start = *parse_date("2022-12-01");
  const Date end = dec31(opt.last_year);
  const Date reg = *parse_date("2022-07-01");

  // Facilities: township centres with village clinics, community centres with stations, hospitals of each level
  // (some of them TCM hospitals), clinics and pharmacies.
  std::vector<Fac> facs;
  const int towns = std::max(2, opt.people / 400);
  for (int t = 0; t < towns; ++t) {
    Fac c{"TH" + std::to_string(t), t % 3 == 0 ? "community_health_center" : "township_health_center", "", 1, false};
    facs.push_back(c);
    for (int v = 0; v < 3; ++v)
      facs.push_back({c.id + "V" + std::to_string(v),
                      c.kind == "township_health_center" ? "village_clinic" : "community_health_station", c.id,
                      v == 0 ? 0 : 1, false});
    if (t % 4 == 0) facs.push_back({"CS" + std::to_string(t), "community_health_station", "", 1, false});
  }
  const int hospitals = std::max(3, opt.people / 2000);
  for (int h = 0; h < hospitals; ++h)
    facs.push_back({"HP" + std::to_string(h), "hospital", "", 1 + h % 3, h % 4 == 1});
  for (int c = 0; c < std::max(1, opt.people / 3000); ++c) facs.push_back({"CL" + std::to_string(c), "clinic", "", 0, false});
  for (const Fac& f : facs) {
    json e = {{"type", "facility_registered"}, {"at", format_date(reg)}, {"facility", f.id}, {"level", f.level},
              {"tcm", f.tcm}, {"kind", f.kind}, {"ordinary_outpatient", f.kind != "clinic"},
              {"name", (f.tcm ? "中医院 " : "") + f.id}};
    if (!f.parent.empty()) e["parent"] = f.parent;
    add(reg, 0, e);
  }
  // A hospital is promoted a level at the start of the second half of the first year.
  add(date_from_ymd(opt.first_year, 7, 1), 0,
      {{"type", "facility_updated"}, {"at", format_date(date_from_ymd(opt.first_year, 7, 1))}, {"facility", "HP0"}, {"level", 2}});
  std::vector<const Fac*> units, hosp;
  for (const Fac& f : facs) {
    if (f.parent.empty() && f.kind != "hospital" && f.kind != "clinic") units.push_back(&f);
    if (f.kind == "hospital") hosp.push_back(&f);
  }

  // People.
  std::vector<Person> people;
  for (int i = 0; i < opt.people; ++i) {
    Person p;
    char id[16];
    std::snprintf(id, sizeof id, "P%07d", i);
    p.id = id;
    double u = rng.unit();
    int age = u < 0.17 ? rng.below(18) : u < 0.80 ? 18 + rng.below(42) : 60 + rng.below(30);
    p.birth = date_from_ymd(opt.first_year - age - 1, 1 + rng.below(12), 1 + rng.below(28));
    if (age >= 18 && rng.chance(age >= 60 ? 0.45 : 0.6)) {
      p.scheme = "employee";
      p.status = age >= 60 ? "retired" : rng.chance(0.85) ? "in_service" : rng.chance(0.8) ? "flexible" : "old_urban";
    } else {
      p.scheme = "resident";
      p.tier = rng.chance(0.6) ? 1 : 2;
      p.student = age >= 18 && age <= 22 && rng.chance(0.3);
    }
    const Fac* home = units[rng.below(static_cast<int>(units.size()))];
    if (p.scheme == "employee" && rng.chance(0.3)) home = hosp[rng.below(static_cast<int>(hosp.size()))];
    p.home = home->id;
    p.designated = rng.chance(0.7) ? home->id : "";
    const Date enrolled = std::max(*parse_date("2022-01-01"), p.birth);
    json e = {{"type", "person_enrolled"}, {"at", format_date(enrolled)}, {"person", p.id},
              {"birth_date", format_date(p.birth)}, {"scheme", p.scheme}};
    if (p.scheme == "employee") e["status"] = p.status;
    else e["tier"] = p.tier;
    if (p.student) e["student"] = true;
    add(std::max(reg, enrolled), 1, e);
    if (enrolled > start - 30) p.designated.clear();
    if (age >= 45 && rng.chance(age >= 60 ? 0.25 : 0.1)) {  // a chronic disease or two, from December filings
      static const char* common[] = {"C17", "C20", "C13", "C15", "C35", "C49", "C50", "C73", "C31", "C30", "C08"};
      const Fac* cf = hosp[rng.below(static_cast<int>(hosp.size()))];
      p.chronic_facility = cf->id;
      json f = {{"type", "chronic_facility_designated"}, {"at", "2022-12-05"}, {"person", p.id}, {"facility", cf->id}};
      if (p.scheme == "resident") f["bucket"] = p.tier == 2 && rng.chance(0.5) ? "specific" : "ordinary";
      p.chronic_bucket = p.scheme == "resident" ? f["bucket"].get<std::string>() : "";
      add(*parse_date("2022-12-05"), 1, f);
      int n = 1 + rng.below(3);
      for (int k = 0; k < n; ++k) {
        std::string dis = common[rng.below(p.scheme == "resident" && p.chronic_bucket == "ordinary" ? 10 : 11)];
        if (std::find(p.diseases.begin(), p.diseases.end(), dis) != p.diseases.end()) continue;
        Date at = k == 0 ? *parse_date("2022-12-10") : date_from_ymd(opt.first_year, 2 + rng.below(9), 1 + rng.below(28));
        json a = {{"type", "chronic_disease_approved"}, {"at", format_date(at)}, {"person", p.id}, {"disease", dis}};
        if (!p.chronic_bucket.empty()) a["bucket"] = p.chronic_bucket;
        add(at, 1, a);
        p.diseases.push_back(dis);
      }
    }
    if (i > 0 && rng.chance(0.08)) {  // family: a link to the previous person
      add(*parse_date("2023-01-02"), 1, {{"type", "family_linked"}, {"at", "2023-01-02"}, {"person", p.id},
                                         {"relative", people.back().id}, {"relation", rng.chance(0.5) ? "spouse" : "child"}});
    }
    if (!p.designated.empty()) {
      Date d = start - 30 + rng.below(60);
      add(d, 1, {{"type", "outpatient_designated"}, {"at", format_date(d)}, {"person", p.id}, {"facility", p.designated}});
    }
    people.push_back(p);
  }

  // Month by month: visits with seasonal and age-dependent rates, contributions, life events, period closes.
  std::map<std::string, std::vector<std::string>> settled_claims;
  for (Month m = month_of(start); m <= month_of(end); ++m) {
    const int y = year_of_month(m);
    const unsigned mn = month_number(m);
    const Date first = first_day(m);
    const int days = (mn == 12 ? jan1(y + 1) : first_day(m + 1)) - first;
    const double season = (mn <= 2 || mn == 12) ? 1.4 : (mn >= 6 && mn <= 8) ? 0.8 : 1.0;
    for (Person& p : people) {
      if (p.birth > first) continue;  // not born yet
      int age = age_on(p.birth, first);
      double rate = (age < 7 ? 0.9 : age < 18 ? 0.45 : age < 60 ? 0.35 : 0.8) * season;
      int visits = static_cast<int>(rate) + (rng.chance(rate - static_cast<int>(rate)) ? 1 : 0);
      for (int v = 0; v < visits; ++v) {
        Date d = first + rng.below(days);
        json c = {{"type", "claim"}, {"claim", "CL" + std::to_string(++claim_seq)}, {"person", p.id},
                  {"date", format_date(d)}, {"benefit", "ordinary"}};
        json items = json::array();
        Money drug = 2000 + static_cast<Money>(rng.below(age >= 60 ? 40000 : 20000));
        items.push_back({{"category", "drug"}, {"amount", money(drug)}});
        if (rng.chance(0.5)) items.push_back({{"category", "general_consultation"}, {"amount", money(1000)}});
        if (rng.chance(0.25)) {
          Money ex = 3000 + rng.below(30000);
          json it = {{"category", rng.chance(0.5) ? "exam" : "lab"}, {"amount", money(ex)}};
          if (rng.chance(0.3)) it["eligible"] = money(ex * 8 / 10);
          items.push_back(it);
        }
        double where = rng.unit();
        if (where < 0.02) {
          c["away"] = {{"mode", rng.chance(0.6) ? "temporary" : "long_term"}, {"level", 1 + rng.below(3)}};
        } else if (where < 0.04) {
          c["benefit"] = "emergency";
          c["outcome"] = rng.chance(0.9) ? "treated" : rng.chance(0.8) ? "admitted" : "died";
          c["facility"] = hosp[rng.below(static_cast<int>(hosp.size()))]->id;
          items.push_back({{"category", "treatment"}, {"amount", money(20000 + rng.below(200000))}});
        } else if (where < 0.07) {
          c["facility"] = facs[rng.below(static_cast<int>(facs.size()))].id;  // often not their designated unit
        } else if (where < 0.12 && p.home.rfind("TH", 0) == 0) {
          c["facility"] = p.home + "V" + std::to_string(rng.below(3));  // an extension unit
        } else {
          c["facility"] = p.home;
        }
        if (p.scheme == "resident" && age <= 8 && rng.chance(0.15)) {
          static const char* conds[] = {"fever", "cold", "cough", "anorexia", "diarrhea", "amblyopia"};
          c["diagnosis"] = conds[rng.below(6)];
          items = json::array({{{"category", "pediatric_massage"}, {"amount", money(4000)}},
                               {{"category", "pediatric_massage"}, {"amount", money(3000)}}});
        } else if (p.scheme == "resident" && age >= 40 && rng.chance(0.08)) {
          static const char* diags[] = {"headache", "sprain", "vertigo", "elbow_strain", "menopausal"};
          c["diagnosis"] = diags[rng.below(5)];
          items = json::array({{{"category", "acupuncture"}, {"amount", money(4500)}, {"therapy", "T01"}},
                               {{"category", "tcm_other"}, {"amount", money(2500)}, {"therapy", "T20"}},
                               {{"category", "drug"}, {"amount", money(3000)}}});
          if (rng.chance(0.3)) items.push_back({{"category", "acupuncture"}, {"amount", money(1500)}, {"therapy", "T-EA"}});
        }
        if (rng.chance(0.01)) items.push_back({{"category", "nucleic_acid"}, {"amount", money(1600)}});
        if (c["benefit"] == "ordinary" && age >= 20 && age < 45 && rng.chance(0.03)) c["benefit"] = "prenatal";
        c["items"] = items;
        settled_claims[p.id].push_back(c["claim"]);
        add(d, 2, c);
        if (rng.chance(0.01)) {  // a refund: the claim reversed a few days later
          Date r = d + 1 + rng.below(20);
          add(r, 2, {{"type", "claim_reversed"}, {"at", format_date(r)}, {"person", p.id}, {"claim", c["claim"]}});
        }
      }
      if (!p.diseases.empty() && m >= make_month(2023, 1) && rng.chance(0.6)) {  // a chronic visit
        Date d = first + rng.below(days);
        json c = {{"type", "claim"}, {"claim", "CL" + std::to_string(++claim_seq)}, {"person", p.id},
                  {"date", format_date(d)}, {"benefit", "chronic"}, {"disease", p.diseases[rng.below(static_cast<int>(p.diseases.size()))]},
                  {"facility", p.chronic_facility},
                  {"items", json::array({{{"category", "drug"}, {"amount", money(10000 + rng.below(120000))}}})}};
        add(d, 2, c);
      }
      if (p.scheme == "employee" && rng.chance(0.02)) {  // the personal account pays for something
        Date d = first + rng.below(days);
        static const char* purposes[] = {"medical_out_of_pocket", "drug_purchase", "fitness", "device_purchase"};
        add(d, 2, {{"type", "account_payment"}, {"at", format_date(d)}, {"person", p.id}, {"beneficiary", p.id},
                   {"purpose", purposes[rng.below(4)]}, {"amount", money(2000 + rng.below(30000))}});
      }
      if (p.scheme == "employee" && p.status == "in_service" && rng.chance(0.001)) {
        Date d = first + rng.below(days);
        add(d, 1, {{"type", "contribution_interrupted"}, {"at", format_date(d)}, {"person", p.id}});
      }
      if (opt.contributions && p.scheme == "employee" && p.status == "in_service" && m >= make_month(2023, 1)) {
        Date d = first + 9;
        add(d, 1, {{"type", "contribution_paid"}, {"at", format_date(d)}, {"person", p.id},
                   {"month", format_month(m)}, {"base", money(300000 + static_cast<Money>(p.id.back() - '0') * 50000)}});
      }
      // Life events, rare.
      if (p.scheme == "employee" && p.status == "in_service" && age >= 59 && rng.chance(0.08)) {
        Date d = first + rng.below(days);
        add(d, 1, {{"type", "retirement_confirmed"}, {"at", format_date(d)}, {"person", p.id}});
        p.status = "retired";
      } else if (rng.chance(0.002)) {
        Date d = first + rng.below(days);
        add(d, 1, {{"type", "inpatient_admitted"}, {"at", format_date(d)}, {"person", p.id},
                   {"facility", hosp[rng.below(static_cast<int>(hosp.size()))]->id}});
        Date out = d + 2 + rng.below(10);
        add(out, 1, {{"type", "inpatient_discharged"}, {"at", format_date(out)}, {"person", p.id}});
        add(out, 1, {{"type", "inpatient_settled"}, {"at", format_date(out)}, {"person", p.id},
                     {"covered", money(300000 + rng.below(2000000))}});
      } else if (rng.chance(0.002)) {
        Date d = first + rng.below(days);
        const Fac* u = units[rng.below(static_cast<int>(units.size()))];
        add(d, 1, {{"type", "outpatient_designated"}, {"at", format_date(d)}, {"person", p.id}, {"facility", u->id}});
        p.home = u->id;
      } else if (p.scheme == "resident" && age >= 18 && !p.student && rng.chance(0.001)) {
        Date d = first;
        add(d, 1, {{"type", "scheme_changed"}, {"at", format_date(d)}, {"person", p.id}, {"scheme", "employee"},
                   {"status", "flexible"}});
        p.scheme = "employee";
        p.status = "flexible";
      }
    }
    Date close = m == month_of(end) ? end : first_day(m + 1);
    add(close, 3, {{"type", "period_closed"}, {"at", format_date(close)}, {"month", format_month(m)}});
  }

  std::stable_sort(events.begin(), events.end(), [](const Timed& a, const Timed& b) {
    if (a.date != b.date) return a.date < b.date;
    if (a.order != b.order) return a.order < b.order;
    return a.seq < b.seq;
  });
  for (const Timed& t : events) emit(t.event.dump());
}

}  // namespace gongji

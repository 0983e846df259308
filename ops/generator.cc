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

template <typename T>
const T& pick(Rng& rng, const std::vector<T>& v) { return v[rng.below(static_cast<int>(v.size()))]; }

// One run of the generator: the facilities, the people and every event, in creation order until `emit_sorted`.
// The order of the random draws is the output's contract (the same seed gives the same bytes): keep it when editing.
class Generator {
 public:
  explicit Generator(const GeneratorOptions& opt) : opt_(opt), rng_{opt.seed} {}

  void run() {
    make_facilities();
    for (int i = 0; i < opt_.people; ++i) make_person(i);
    // Month by month: visits with seasonal and age-dependent rates, contributions, life events, period closes.
    for (Month m = month_of(start_); m <= month_of(end_); ++m) make_month_events(m);
  }

  void emit_sorted(const std::function<void(const std::string&)>& emit) {
    std::stable_sort(events_.begin(), events_.end(), [](const Timed& a, const Timed& b) {
      if (a.date != b.date) return a.date < b.date;
      if (a.order != b.order) return a.order < b.order;
      return a.seq < b.seq;
    });
    for (const Timed& t : events_) emit(t.event.dump());
  }

 private:
  // The days of one month, for the events of one person in it.
  struct MonthSpan {
    Month m;
    Date first;
    int days;
  };

  void add(Date d, int order, json e) {
    e["id"] = "g" + std::to_string(++seq_);
    events_.push_back({d, order, seq_, std::move(e)});
  }
  Date day_in(const MonthSpan& s) { return s.first + rng_.below(s.days); }

  // Facilities: township centres with village clinics, community centres with stations, hospitals of each level
  // (some of them TCM hospitals), clinics and pharmacies.
  void make_facilities() {
    const int towns = std::max(2, opt_.people / 400);
    for (int t = 0; t < towns; ++t) {
      Fac c{"TH" + std::to_string(t), t % 3 == 0 ? "community_health_center" : "township_health_center", "", 1, false};
      facs_.push_back(c);
      for (int v = 0; v < 3; ++v)
        facs_.push_back({c.id + "V" + std::to_string(v),
                         c.kind == "township_health_center" ? "village_clinic" : "community_health_station", c.id,
                         v == 0 ? 0 : 1, false});
      if (t % 4 == 0) facs_.push_back({"CS" + std::to_string(t), "community_health_station", "", 1, false});
    }
    const int hospitals = std::max(3, opt_.people / 2000);
    for (int h = 0; h < hospitals; ++h)
      facs_.push_back({"HP" + std::to_string(h), "hospital", "", 1 + h % 3, h % 4 == 1});
    for (int c = 0; c < std::max(1, opt_.people / 3000); ++c)
      facs_.push_back({"CL" + std::to_string(c), "clinic", "", 0, false});
    for (const Fac& f : facs_) {
      json e = {{"type", "facility_registered"}, {"at", format_date(reg_)}, {"facility", f.id}, {"level", f.level},
                {"tcm", f.tcm}, {"kind", f.kind}, {"ordinary_outpatient", f.kind != "clinic"},
                {"name", (f.tcm ? "中医院 " : "") + f.id}};
      if (!f.parent.empty()) e["parent"] = f.parent;
      add(reg_, 0, e);
    }
    // A hospital is promoted a level at the start of the second half of the first year.
    const Date promoted = date_from_ymd(opt_.first_year, 7, 1);
    add(promoted, 0, {{"type", "facility_updated"}, {"at", format_date(promoted)}, {"facility", "HP0"}, {"level", 2}});
    for (const Fac& f : facs_) {
      if (f.parent.empty() && f.kind != "hospital" && f.kind != "clinic") units_.push_back(&f);
      if (f.kind == "hospital") hosp_.push_back(&f);
    }
  }

  // Person i: enrolment, chronic filings, a family link, an outpatient designation.
  void make_person(int i) {
    Person p;
    char id[16];
    std::snprintf(id, sizeof id, "P%07d", i);
    p.id = id;
    double u = rng_.unit();
    int age = u < 0.17 ? rng_.below(18) : u < 0.80 ? 18 + rng_.below(42) : 60 + rng_.below(30);
    p.birth = date_from_ymd(opt_.first_year - age - 1, 1 + rng_.below(12), 1 + rng_.below(28));
    if (age >= 18 && rng_.chance(age >= 60 ? 0.45 : 0.6)) {
      p.scheme = "employee";
      p.status = age >= 60 ? "retired" : rng_.chance(0.85) ? "in_service" : rng_.chance(0.8) ? "flexible" : "old_urban";
    } else {
      p.scheme = "resident";
      p.tier = rng_.chance(0.6) ? 1 : 2;
      p.student = age >= 18 && age <= 22 && rng_.chance(0.3);
    }
    const Fac* home = pick(rng_, units_);
    if (p.scheme == "employee" && rng_.chance(0.3)) home = pick(rng_, hosp_);
    p.home = home->id;
    p.designated = rng_.chance(0.7) ? home->id : "";
    const Date enrolled = std::max(*parse_date("2022-01-01"), p.birth);
    json e = {{"type", "person_enrolled"}, {"at", format_date(enrolled)}, {"person", p.id},
              {"birth_date", format_date(p.birth)}, {"scheme", p.scheme}};
    if (p.scheme == "employee") e["status"] = p.status;
    else e["tier"] = p.tier;
    if (p.student) e["student"] = true;
    add(std::max(reg_, enrolled), 1, e);
    if (enrolled > start_ - 30) p.designated.clear();
    if (age >= 45 && rng_.chance(age >= 60 ? 0.25 : 0.1)) make_chronic_filings(p);
    if (i > 0 && rng_.chance(0.08)) {  // family: a link to the previous person
      add(*parse_date("2023-01-02"), 1, {{"type", "family_linked"}, {"at", "2023-01-02"}, {"person", p.id},
                                         {"relative", people_.back().id},
                                         {"relation", rng_.chance(0.5) ? "spouse" : "child"}});
    }
    if (!p.designated.empty()) {
      Date d = start_ - 30 + rng_.below(60);
      add(d, 1, {{"type", "outpatient_designated"}, {"at", format_date(d)}, {"person", p.id},
                 {"facility", p.designated}});
    }
    people_.push_back(p);
  }

  // A chronic disease or two, from December filings.
  void make_chronic_filings(Person& p) {
    static const char* common[] = {"C17", "C20", "C13", "C15", "C35", "C49", "C50", "C73", "C31", "C30", "C08"};
    const Fac* cf = pick(rng_, hosp_);
    p.chronic_facility = cf->id;
    json f = {{"type", "chronic_facility_designated"}, {"at", "2022-12-05"}, {"person", p.id}, {"facility", cf->id}};
    if (p.scheme == "resident") f["bucket"] = p.tier == 2 && rng_.chance(0.5) ? "specific" : "ordinary";
    p.chronic_bucket = p.scheme == "resident" ? f["bucket"].get<std::string>() : "";
    add(*parse_date("2022-12-05"), 1, f);
    int n = 1 + rng_.below(3);
    for (int k = 0; k < n; ++k) {
      std::string dis = common[rng_.below(p.scheme == "resident" && p.chronic_bucket == "ordinary" ? 10 : 11)];
      if (std::find(p.diseases.begin(), p.diseases.end(), dis) != p.diseases.end()) continue;
      Date at = k == 0 ? *parse_date("2022-12-10")
                       : date_from_ymd(opt_.first_year, 2 + rng_.below(9), 1 + rng_.below(28));
      json a = {{"type", "chronic_disease_approved"}, {"at", format_date(at)}, {"person", p.id}, {"disease", dis}};
      if (!p.chronic_bucket.empty()) a["bucket"] = p.chronic_bucket;
      add(at, 1, a);
      p.diseases.push_back(dis);
    }
  }

  void make_month_events(Month m) {
    const int y = year_of_month(m);
    const unsigned mn = month_number(m);
    const Date first = first_day(m);
    const MonthSpan span{m, first, (mn == 12 ? jan1(y + 1) : first_day(m + 1)) - first};
    const double season = (mn <= 2 || mn == 12) ? 1.4 : (mn >= 6 && mn <= 8) ? 0.8 : 1.0;
    for (Person& p : people_) {
      if (p.birth > first) continue;  // not born yet
      int age = age_on(p.birth, first);
      double rate = (age < 7 ? 0.9 : age < 18 ? 0.45 : age < 60 ? 0.35 : 0.8) * season;
      int visits = static_cast<int>(rate) + (rng_.chance(rate - static_cast<int>(rate)) ? 1 : 0);
      for (int v = 0; v < visits; ++v) make_ordinary_visit(p, age, span);
      make_regular_events(p, span);
      make_life_event(p, age, span);
    }
    Date close = m == month_of(end_) ? end_ : first_day(m + 1);
    add(close, 3, {{"type", "period_closed"}, {"at", format_date(close)}, {"month", format_month(m)}});
  }

  // An outpatient visit (ordinary, away, emergency, prenatal; some pediatric massage or TCM), sometimes refunded.
  void make_ordinary_visit(const Person& p, int age, const MonthSpan& span) {
    Date d = day_in(span);
    json c = {{"type", "claim"}, {"claim", "CL" + std::to_string(++claim_seq_)}, {"person", p.id},
              {"date", format_date(d)}, {"benefit", "ordinary"}};
    json items = json::array();
    Money drug = 2000 + static_cast<Money>(rng_.below(age >= 60 ? 40000 : 20000));
    items.push_back({{"category", "drug"}, {"amount", money(drug)}});
    if (rng_.chance(0.5)) items.push_back({{"category", "general_consultation"}, {"amount", money(1000)}});
    if (rng_.chance(0.25)) {
      Money ex = 3000 + rng_.below(30000);
      json it = {{"category", rng_.chance(0.5) ? "exam" : "lab"}, {"amount", money(ex)}};
      if (rng_.chance(0.3)) it["eligible"] = money(ex * 8 / 10);
      items.push_back(it);
    }
    choose_visit_place(p, c, items);
    choose_special_items(p, age, c, items);
    if (rng_.chance(0.01)) items.push_back({{"category", "nucleic_acid"}, {"amount", money(1600)}});
    if (c["benefit"] == "ordinary" && age >= 20 && age < 45 && rng_.chance(0.03)) c["benefit"] = "prenatal";
    c["items"] = items;
    add(d, 2, c);
    if (rng_.chance(0.01)) {  // a refund: the claim reversed a few days later
      Date r = d + 1 + rng_.below(20);
      add(r, 2, {{"type", "claim_reversed"}, {"at", format_date(r)}, {"person", p.id}, {"claim", c["claim"]}});
    }
  }

  // Where the visit happens: away, an emergency, another unit, an extension unit, or the person's usual unit.
  void choose_visit_place(const Person& p, json& c, json& items) {
    double where = rng_.unit();
    if (where < 0.02) {
      c["away"] = {{"mode", rng_.chance(0.6) ? "temporary" : "long_term"}, {"level", 1 + rng_.below(3)}};
    } else if (where < 0.04) {
      c["benefit"] = "emergency";
      c["outcome"] = rng_.chance(0.9) ? "treated" : rng_.chance(0.8) ? "admitted" : "died";
      c["facility"] = pick(rng_, hosp_)->id;
      items.push_back({{"category", "treatment"}, {"amount", money(20000 + rng_.below(200000))}});
    } else if (where < 0.07) {
      c["facility"] = pick(rng_, facs_).id;  // often not their designated unit
    } else if (where < 0.12 && p.home.rfind("TH", 0) == 0) {
      c["facility"] = p.home + "V" + std::to_string(rng_.below(3));  // an extension unit
    } else {
      c["facility"] = p.home;
    }
  }

  // Residents' pediatric massage (age 8 and under) and TCM therapies (40 and over) replace the usual items.
  void choose_special_items(const Person& p, int age, json& c, json& items) {
    if (p.scheme == "resident" && age <= 8 && rng_.chance(0.15)) {
      static const char* conds[] = {"fever", "cold", "cough", "anorexia", "diarrhea", "amblyopia"};
      c["diagnosis"] = conds[rng_.below(6)];
      items = json::array({{{"category", "pediatric_massage"}, {"amount", money(4000)}},
                           {{"category", "pediatric_massage"}, {"amount", money(3000)}}});
    } else if (p.scheme == "resident" && age >= 40 && rng_.chance(0.08)) {
      static const char* diags[] = {"headache", "sprain", "vertigo", "elbow_strain", "menopausal"};
      c["diagnosis"] = diags[rng_.below(5)];
      items = json::array({{{"category", "acupuncture"}, {"amount", money(4500)}, {"therapy", "T01"}},
                           {{"category", "tcm_other"}, {"amount", money(2500)}, {"therapy", "T20"}},
                           {{"category", "drug"}, {"amount", money(3000)}}});
      if (rng_.chance(0.3))
        items.push_back({{"category", "acupuncture"}, {"amount", money(1500)}, {"therapy", "T-EA"}});
    }
  }

  // A chronic visit, an account payment, an interruption, the monthly contribution.
  void make_regular_events(const Person& p, const MonthSpan& span) {
    if (!p.diseases.empty() && span.m >= make_month(2023, 1) && rng_.chance(0.6)) {  // a chronic visit
      Date d = day_in(span);
      json c = {{"type", "claim"}, {"claim", "CL" + std::to_string(++claim_seq_)}, {"person", p.id},
                {"date", format_date(d)}, {"benefit", "chronic"}, {"disease", pick(rng_, p.diseases)},
                {"facility", p.chronic_facility},
                {"items", json::array({{{"category", "drug"}, {"amount", money(10000 + rng_.below(120000))}}})}};
      add(d, 2, c);
    }
    if (p.scheme == "employee" && rng_.chance(0.02)) {  // the personal account pays for something
      Date d = day_in(span);
      static const char* purposes[] = {"medical_out_of_pocket", "drug_purchase", "fitness", "device_purchase"};
      add(d, 2, {{"type", "account_payment"}, {"at", format_date(d)}, {"person", p.id}, {"beneficiary", p.id},
                 {"purpose", purposes[rng_.below(4)]}, {"amount", money(2000 + rng_.below(30000))}});
    }
    if (p.scheme == "employee" && p.status == "in_service" && rng_.chance(0.001)) {
      Date d = day_in(span);
      add(d, 1, {{"type", "contribution_interrupted"}, {"at", format_date(d)}, {"person", p.id}});
    }
    if (opt_.contributions && p.scheme == "employee" && p.status == "in_service" && span.m >= make_month(2023, 1)) {
      Date d = span.first + 9;
      Money base = 300000 + static_cast<Money>(p.id.back() - '0') * 50000;
      add(d, 1, {{"type", "contribution_paid"}, {"at", format_date(d)}, {"person", p.id},
                 {"month", format_month(span.m)}, {"base", money(base)}});
    }
  }

  // Life events, rare: retirement, a hospital stay, a new designated unit, a change of scheme.
  void make_life_event(Person& p, int age, const MonthSpan& span) {
    if (p.scheme == "employee" && p.status == "in_service" && age >= 59 && rng_.chance(0.08)) {
      Date d = day_in(span);
      add(d, 1, {{"type", "retirement_confirmed"}, {"at", format_date(d)}, {"person", p.id}});
      p.status = "retired";
    } else if (rng_.chance(0.002)) {
      Date d = day_in(span);
      add(d, 1, {{"type", "inpatient_admitted"}, {"at", format_date(d)}, {"person", p.id},
                 {"facility", pick(rng_, hosp_)->id}});
      Date out = d + 2 + rng_.below(10);
      add(out, 1, {{"type", "inpatient_discharged"}, {"at", format_date(out)}, {"person", p.id}});
      add(out, 1, {{"type", "inpatient_settled"}, {"at", format_date(out)}, {"person", p.id},
                   {"covered", money(300000 + rng_.below(2000000))}});
    } else if (rng_.chance(0.002)) {
      Date d = day_in(span);
      const Fac* u = pick(rng_, units_);
      add(d, 1, {{"type", "outpatient_designated"}, {"at", format_date(d)}, {"person", p.id}, {"facility", u->id}});
      p.home = u->id;
    } else if (p.scheme == "resident" && age >= 18 && !p.student && rng_.chance(0.001)) {
      Date d = span.first;
      add(d, 1, {{"type", "scheme_changed"}, {"at", format_date(d)}, {"person", p.id}, {"scheme", "employee"},
                 {"status", "flexible"}});
      p.scheme = "employee";
      p.status = "flexible";
    }
  }

  const GeneratorOptions& opt_;
  Rng rng_;
  std::vector<Timed> events_;
  uint64_t seq_ = 0;
  uint64_t claim_seq_ = 0;
  const Date start_ = *parse_date("2022-12-01");
  const Date end_ = dec31(opt_.last_year);
  const Date reg_ = *parse_date("2022-07-01");
  std::vector<Fac> facs_;
  std::vector<const Fac*> units_, hosp_;  // point into facs_, which no longer grows once they are taken
  std::vector<Person> people_;
};

}  // namespace

void generate_population(const GeneratorOptions& opt, const std::function<void(const std::string&)>& emit) {
  Generator g(opt);
  g.run();
  g.emit_sorted(emit);
}

}  // namespace gongji

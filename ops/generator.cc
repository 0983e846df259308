#include "ops/generator.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <vector>

#include "events/money.h"

namespace gongji {
namespace {

// splitmix64: a tiny, portable generator (std:: distributions differ between standard libraries).
uint64_t finish(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
uint64_t mix(uint64_t z) { return finish(z + 0x9e3779b97f4a7c15ull); }

struct Rng {
  uint64_t s;
  uint64_t next() { return finish(s += 0x9e3779b97f4a7c15ull); }
  int below(int n) { return static_cast<int>(next() % static_cast<uint64_t>(n)); }
  double unit() { return static_cast<double>(next() >> 11) / 9007199254740992.0; }
  bool chance(double p) { return unit() < p; }
};

// The random stream of one person in one month (stream 1), of one person's enrolment and filings (stream 2), or of
// their sex (stream 3): a person's draws never depend on another person's, so each month can be made on its own.
Rng rng_for(uint64_t seed, uint64_t person, int64_t month, uint64_t stream) {
  return Rng{mix(mix(mix(seed) ^ (person + 1)) ^ static_cast<uint64_t>(month + 100000)) ^ stream};
}

// One JSON object, its keys sorted when rendered (the canonical order). Values are ids, codes, dates, numbers and
// names the generator makes: none holds a quote, a backslash or a control character, so none needs escaping.
// The text of a date, made once per day (format_date formats with printf).
const std::string& date_text(Date d) {
  static const Date first = date_from_ymd(1900, 1, 1), last = date_from_ymd(2199, 12, 31);
  static std::vector<std::string> cache(static_cast<size_t>(last - first + 1));
  std::string& s = cache.at(static_cast<size_t>(d - first));
  if (s.empty()) s = format_date(d);
  return s;
}

class Obj {
 public:
  Obj() { f_.reserve(12); }
  Obj& str(const char* k, std::string_view v) { return raw(k, "\"" + std::string(v) + "\""); }
  Obj& num(const char* k, int64_t v) { return raw(k, std::to_string(v)); }
  Obj& flag(const char* k, bool v) { return raw(k, v ? "true" : "false"); }
  Obj& money(const char* k, Money v) { return str(k, format_money(v)); }
  Obj& date(const char* k, Date d) { return str(k, date_text(d)); }
  Obj& raw(const char* k, std::string v) {
    f_.emplace_back(k, std::move(v));
    return *this;
  }
  std::string dump() {
    std::sort(f_.begin(), f_.end(), [](const auto& a, const auto& b) { return std::strcmp(a.first, b.first) < 0; });
    std::string out = "{";
    out.reserve(320);
    for (const auto& [k, v] : f_) {
      if (out.size() > 1) out += ',';
      out += '"';
      out += k;
      out += "\":";
      out += v;
    }
    return out + "}";
  }

 private:
  std::vector<std::pair<const char*, std::string>> f_;
};

std::string array(std::vector<Obj>& items) {
  std::string out = "[";
  for (Obj& o : items) out += (out.size() > 1 ? "," : "") + o.dump();
  return out + "]";
}

struct Fac {
  std::string id;
  const char* kind;
  std::string parent;
  int level;
  bool tcm;
};

enum Standing : uint8_t { kInService, kRetired, kFlexible, kOldUrban, kResident };
const char* const kStatusName[] = {"in_service", "retired", "flexible", "old_urban"};
const char* const kDiseases[] = {"C17", "C20", "C13", "C15", "C35", "C49", "C50", "C73", "C31", "C30", "C08"};

// What the generator keeps of a person for the whole run (24 bytes): the draws of its enrolment stream, and what
// its life events changed since.
struct Person {
  Date birth;
  int32_t home;         // facility index of the unit usually visited
  int32_t chronic_fac;  // facility index, -1: no chronic filing
  Standing standing;
  uint8_t tier;         // resident tier 1 or 2
  bool student;
  uint8_t bucket;       // resident chronic bucket: 0 none, 1 ordinary, 2 specific
  uint8_t ndis;
  uint8_t dis[3];       // indices into kDiseases
  bool female;          // not an event field (EVENTS.md has none): only women have prenatal or menopausal visits
  bool employee() const { return standing != kResident; }
};
static_assert(sizeof(Person) <= 24);

// An event made but not yet written: when it is logged, its tie-breaking order, its creation sequence.
struct Key {
  Date logged;
  uint8_t order;  // 0 reference data, 1 person events, 2 claims and payments, 3 period closes
  uint64_t seq;
  bool operator<(const Key& o) const {
    if (logged != o.logged) return logged < o.logged;
    if (order != o.order) return order < o.order;
    return seq < o.seq;
  }
};

const Date kReg = date_from_ymd(2022, 7, 1);     // facilities registered; enrolment at the earliest
const Date kStart = date_from_ymd(2022, 12, 1);  // T-START: designations are made around it
const Month kLastSetupMonth = make_month(2023, 10);  // the last filing of a person's enrolment stream
constexpr int kBaseYear = 2023;                      // ages are drawn as of this year

template <typename T>
T clamp_count(T v, T lo, T hi) { return std::max(lo, std::min(hi, v)); }

// One run: the facilities, every person's enrolment stream, then month by month every person's month, each month
// written (sorted) before the next is made. Events logged in a later month wait in `pending_`.
class Generator {
 public:
  Generator(const GeneratorOptions& opt, const std::function<void(const std::string&)>& emit)
      : opt_(opt), emit_(emit) {}

  void run() {
    cur_ = kGeneratorFirstMonth;
    make_facilities();
    people_.resize(static_cast<size_t>(opt_.people));
    for (int i = 0; i < opt_.people; ++i) enrolment(i, -1);
    for (Month m = kGeneratorFirstMonth; m <= opt_.to; ++m) build_month(m);
    std::sort(pending_.begin(), pending_.end());  // what is logged after the last month
    for (const auto& [k, text] : pending_) emit_(text);
  }

 private:
  struct Slot {
    Key key;
    uint64_t off;
    uint32_t len;
  };
  struct Span {  // the days of one month
    Month m;
    Date first;
    int days;
  };

  // Gives the event its id and files it under the month it is logged in.
  void add(Date logged, int order, Obj& e) {
    e.str("id", "g" + std::to_string(++seq_));
    const Key k{logged, static_cast<uint8_t>(order), seq_};
    std::string text = e.dump();
    if (month_of(logged) != cur_) return void(pending_.emplace_back(k, std::move(text)));
    keep(k, text);
  }

  // Files an event of the month being made. Its text goes into chunks of kChunk bytes that are never reallocated,
  // so the month's memory is its events' bytes, never twice that.
  static constexpr size_t kChunk = 32u << 20;
  void keep(const Key& k, const std::string& text) {
    if (used_ == 0 || chunks_[used_ - 1].size() + text.size() > kChunk) {
      if (used_ == chunks_.size()) chunks_.emplace_back().reserve(kChunk);
      else chunks_[used_].clear();
      ++used_;
    }
    std::string& c = chunks_[used_ - 1];
    slots_.push_back({k, (static_cast<uint64_t>(used_ - 1) << 32) | c.size(), static_cast<uint32_t>(text.size())});
    c += text;
  }

  void build_month(Month m) {
    cur_ = m;
    auto later = std::stable_partition(pending_.begin(), pending_.end(),
                                       [&](const auto& p) { return month_of(p.first.logged) != m; });
    for (auto it = later; it != pending_.end(); ++it) keep(it->first, it->second);
    pending_.erase(later, pending_.end());
    if (m == make_month(2023, 7)) {  // a hospital is promoted a level in the middle of the first year
      Obj e;
      e.str("type", "facility_updated").date("at", first_day(m)).str("facility", "HP0").num("level", 2);
      add(first_day(m), 0, e);
    }
    if (m <= kLastSetupMonth)
      for (int i = 0; i < opt_.people; ++i) enrolment(i, m);
    if (m >= opt_.from) {
      const Date first = first_day(m);
      const Span span{m, first, first_day(m + 1) - first};
      for (int i = 0; i < opt_.people; ++i) person_month(i, span);
      Date close = m == opt_.to ? first_day(m + 1) - 1 : first_day(m + 1);
      Obj e;
      e.str("type", "period_closed").date("at", close).str("month", format_month(m));
      add(close, 3, e);
    }
    write_month();
  }

  void write_month() {
    std::sort(slots_.begin(), slots_.end(), [](const Slot& a, const Slot& b) { return a.key < b.key; });
    std::string line;
    for (const Slot& s : slots_) {
      line.assign(chunks_[s.off >> 32], s.off & 0xffffffffu, s.len);
      emit_(line);
    }
    slots_.clear();
    used_ = 0;
  }

  void make_facilities() {
    const int towns = clamp_count(opt_.people / 400, 2, 72);
    const int ext = clamp_count(opt_.people / (towns * 1200), 3, 35);
    ext_ = ext;
    for (int t = 0; t < towns; ++t) {
      const bool community = t % 3 == 0;
      Fac c{"TH" + std::to_string(t), community ? "community_health_center" : "township_health_center", "", 1, false};
      facs_.push_back(c);
      for (int v = 0; v < ext; ++v)
        facs_.push_back({c.id + "V" + std::to_string(v), community ? "community_health_station" : "village_clinic",
                         c.id, v % 3 == 0 ? 0 : 1, false});
      if (t % 4 == 0) facs_.push_back({"CS" + std::to_string(t), "community_health_station", "", 1, false});
    }
    for (int h = 0; h < clamp_count(opt_.people / 2000, 3, 60); ++h)
      facs_.push_back({"HP" + std::to_string(h), "hospital", "", 1 + h % 3, h % 4 == 1});
    for (int c = 0; c < clamp_count(opt_.people / 3000, 1, 900); ++c)
      facs_.push_back({"CL" + std::to_string(c), "clinic", "", 0, false});
    for (size_t i = 0; i < facs_.size(); ++i) {
      const Fac& f = facs_[i];
      Obj e;
      e.str("type", "facility_registered").date("at", kReg).str("facility", f.id).num("level", f.level);
      e.flag("tcm", f.tcm).str("kind", f.kind).flag("ordinary_outpatient", std::strcmp(f.kind, "clinic") != 0);
      e.str("name", (f.tcm ? "中医院 " : "") + f.id);
      if (!f.parent.empty()) e.str("parent", f.parent);
      add(kReg, 0, e);
      const bool hospital = std::strcmp(f.kind, "hospital") == 0;
      if (f.parent.empty() && !hospital && std::strcmp(f.kind, "clinic") != 0) units_.push_back(static_cast<int>(i));
      if (hospital) hosp_.push_back(static_cast<int>(i));
    }
  }

  static std::string pid(int i) {  // P%07d
    std::string id = "P0000000";
    for (size_t k = 7; i > 0 && k > 0; --k, i /= 10) id[k] = static_cast<char>('0' + i % 10);
    return id;
  }
  int pick(Rng& r, const std::vector<int>& v) { return v[static_cast<size_t>(r.below(static_cast<int>(v.size())))]; }

  // Person i's enrolment stream: who they are, and their enrolment, filings, family link and designation. The draws
  // are the same on every call; the events dated in `month` are added (none for month -1, which fills people_).
  void enrolment(int i, Month month) {
    Rng r = rng_for(opt_.seed, static_cast<uint64_t>(i), 0, 2);
    Person p{};
    p.female = generated_woman(opt_.seed, i);
    double u = r.unit();
    int age = u < 0.15 ? r.below(18) : u < 0.73 ? 18 + r.below(42) : 60 + std::min(r.below(35), r.below(35));
    p.birth = date_from_ymd(kBaseYear - age - 1, 1 + static_cast<unsigned>(r.below(12)),
                            1 + static_cast<unsigned>(r.below(28)));
    p.chronic_fac = -1;
    if (age >= 18 && r.chance(age >= 60 ? 0.42 : 0.58)) {
      p.standing = age >= 60 ? kRetired : r.chance(0.85) ? kInService : r.chance(0.8) ? kFlexible : kOldUrban;
    } else {
      p.standing = kResident;
      p.tier = r.chance(0.6) ? 1 : 2;
      p.student = age >= 18 && age <= 22 && r.chance(0.3);
    }
    p.home = pick(r, units_);
    if (p.employee() && r.chance(0.3)) p.home = pick(r, hosp_);
    bool designated = r.chance(0.7);
    const Date enrolled = std::max(date_from_ymd(2022, 1, 1), p.birth);
    if (month_of(std::max(kReg, enrolled)) == month) {
      Obj e;
      e.str("type", "person_enrolled").date("at", enrolled).str("person", pid(i)).date("birth_date", p.birth);
      e.str("scheme", p.employee() ? "employee" : "resident");
      if (p.employee()) e.str("status", kStatusName[p.standing]);
      else e.num("tier", p.tier);
      if (p.student) e.flag("student", true);
      add(std::max(kReg, enrolled), 1, e);
    }
    if (enrolled > kStart - 30) designated = false;
    if (age >= 45 && r.chance(age >= 60 ? 0.25 : 0.1)) chronic_filings(r, i, p, month);
    if (i > 0 && r.chance(0.08)) {  // family: a link to the previous person
      const Date d = date_from_ymd(2023, 1, 2);
      const char* relation = r.chance(0.5) ? "spouse" : "child";
      Obj e;
      if (month_of(d) == month)
        add(d, 1, e.str("type", "family_linked").date("at", d).str("person", pid(i)).str("relative", pid(i - 1))
                      .str("relation", relation));
    }
    if (designated) {
      const Date d = kStart - 30 + r.below(60);
      Obj e;
      if (month_of(d) == month)
        add(d, 1, e.str("type", "outpatient_designated").date("at", d).str("person", pid(i))
                      .str("facility", facs_[static_cast<size_t>(p.home)].id));
    }
    if (month == -1) people_[static_cast<size_t>(i)] = p;
  }

  // A chronic disease or two, from December filings, some approved during 2023.
  void chronic_filings(Rng& r, int i, Person& p, Month month) {
    p.chronic_fac = pick(r, hosp_);
    const Date filed = date_from_ymd(2022, 12, 5);
    Obj f;
    f.str("type", "chronic_facility_designated").date("at", filed).str("person", pid(i));
    f.str("facility", facs_[p.chronic_fac].id);
    if (!p.employee()) {
      p.bucket = p.tier == 2 && r.chance(0.5) ? 2 : 1;
      f.str("bucket", p.bucket == 2 ? "specific" : "ordinary");
    }
    if (month_of(filed) == month) add(filed, 1, f);
    int n = 1 + r.below(3);
    for (int k = 0; k < n; ++k) {
      const int dis = r.below(p.bucket == 1 ? 10 : 11);
      if (std::find(p.dis, p.dis + p.ndis, dis) != p.dis + p.ndis) continue;
      Date at = k == 0 ? date_from_ymd(2022, 12, 10)
                       : date_from_ymd(2023, 2 + static_cast<unsigned>(r.below(9)),
                                       1 + static_cast<unsigned>(r.below(28)));
      if (month_of(at) == month) {
        Obj a;
        a.str("type", "chronic_disease_approved").date("at", at).str("person", pid(i)).str("disease", kDiseases[dis]);
        if (p.bucket) a.str("bucket", p.bucket == 2 ? "specific" : "ordinary");
        add(at, 1, a);
      }
      p.dis[p.ndis++] = static_cast<uint8_t>(dis);
    }
  }

  // Person i's month: visits at seasonal and age-dependent rates, chronic visits, payments, contributions, life
  // events. Its own random stream: the month of one person never changes another's.
  void person_month(int i, const Span& span) {
    Person& p = people_[static_cast<size_t>(i)];
    if (p.birth > span.first) return;  // not born yet
    Rng r = rng_for(opt_.seed, static_cast<uint64_t>(i), span.m, 1);
    const int age = age_on(p.birth, span.first);
    const unsigned mn = month_number(span.m);
    const double season = (mn <= 2 || mn == 12) ? 1.4 : (mn >= 6 && mn <= 8) ? 0.8 : 1.0;
    const double rate = (age < 7 ? 0.9 : age < 18 ? 0.45 : age < 60 ? 0.35 : 0.8) * season;
    const int visits = static_cast<int>(rate) + (r.chance(rate - static_cast<int>(rate)) ? 1 : 0);
    for (int v = 0; v < visits; ++v) ordinary_visit(r, i, p, age, span);
    regular_events(r, i, p, span);
    life_event(r, i, p, age, span);
  }

  Date day_in(Rng& r, const Span& s) { return s.first + r.below(s.days); }

  // When a claim of service date d is logged: most the same day; opt_.late_share of them 3 to 10 weeks later.
  Date logged_on(Rng& r, Date d) { return r.chance(opt_.late_share) ? d + 21 + r.below(50) : d; }

  // What a visit's claim is made of, before it is rendered.
  struct Visit {
    const char* benefit = "ordinary";
    std::string facility, diagnosis, outcome;
    std::string away;  // rendered object, "" when in the area
    std::vector<Obj> items;
  };

  static Obj item(const char* category, Money amount, const char* therapy = nullptr) {
    Obj it;
    it.str("category", category).money("amount", amount);
    if (therapy) it.str("therapy", therapy);
    return it;
  }

  // An outpatient visit (ordinary, away, emergency, prenatal; some pediatric massage or TCM), sometimes refunded.
  void ordinary_visit(Rng& r, int i, const Person& p, int age, const Span& span) {
    const Date d = day_in(r, span);
    Visit v;
    v.items.push_back(item("drug", 2000 + static_cast<Money>(r.below(age >= 60 ? 40000 : 20000))));
    if (r.chance(0.5)) v.items.push_back(item("general_consultation", 1000));
    if (r.chance(0.25)) {
      const Money ex = 3000 + r.below(30000);
      Obj it = item(r.chance(0.5) ? "exam" : "lab", ex);
      if (r.chance(0.3)) it.money("eligible", ex * 8 / 10);
      v.items.push_back(std::move(it));
    }
    visit_place(r, p, v);
    special_items(r, p, age, v);
    if (r.chance(0.01)) v.items.push_back(item("nucleic_acid", 1600));
    // Women only, as often as 3% of everyone's visits were (the same draw, so the other events stay as they were).
    if (std::strcmp(v.benefit, "ordinary") == 0 && age >= 20 && age < 45 && r.chance(p.female ? 0.06 : 0.0))
      v.benefit = "prenatal";
    const std::string claim = "CL" + std::to_string(++claim_seq_);
    Obj c;
    c.str("type", "claim").str("claim", claim).str("person", pid(i)).date("date", d).str("benefit", v.benefit);
    if (!v.facility.empty()) c.str("facility", v.facility);
    if (!v.away.empty()) c.raw("away", v.away);
    if (!v.outcome.empty()) c.str("outcome", v.outcome);
    if (!v.diagnosis.empty()) c.str("diagnosis", v.diagnosis);
    c.raw("items", array(v.items));
    const Date logged = logged_on(r, d);
    add(logged, 2, c);
    if (r.chance(0.01)) {  // a refund: the claim reversed a few days later (never before it is logged)
      const Date at = std::max(d + 1 + r.below(20), logged);
      Obj e;
      e.str("type", "claim_reversed").date("at", at).str("person", pid(i)).str("claim", claim);
      add(at, 2, e);
    }
  }

  // Where: out of the area (3%), an emergency, another unit, an extension unit, or the person's usual unit.
  void visit_place(Rng& r, const Person& p, Visit& v) {
    const double where = r.unit();
    const std::string& home = facs_[static_cast<size_t>(p.home)].id;
    if (where < 0.03) {
      Obj away;
      away.str("mode", r.chance(0.6) ? "temporary" : "long_term").num("level", 1 + r.below(3));
      v.away = away.dump();
    } else if (where < 0.05) {
      v.benefit = "emergency";
      v.outcome = r.chance(0.9) ? "treated" : r.chance(0.8) ? "admitted" : "died";
      v.facility = facs_[static_cast<size_t>(pick(r, hosp_))].id;
      v.items.push_back(item("treatment", 20000 + r.below(200000)));
    } else if (where < 0.08) {
      v.facility = facs_[static_cast<size_t>(r.below(static_cast<int>(facs_.size())))].id;  // often not theirs
    } else if (where < 0.13 && home.rfind("TH", 0) == 0) {
      v.facility = home + "V" + std::to_string(r.below(ext_));  // an extension unit
    } else {
      v.facility = home;
    }
  }

  // Residents' pediatric massage (age 8 and under) and TCM therapies (40 and over) replace the usual items.
  void special_items(Rng& r, const Person& p, int age, Visit& v) {
    if (p.employee()) return;
    if (age <= 8 && r.chance(0.15)) {
      static const char* conds[] = {"fever", "cold", "cough", "anorexia", "diarrhea", "amblyopia"};
      v.diagnosis = conds[r.below(6)];
      v.items.clear();
      v.items.push_back(item("pediatric_massage", 4000));
      v.items.push_back(item("pediatric_massage", 3000));
    } else if (age >= 40 && r.chance(0.08)) {
      static const char* diags[] = {"headache", "sprain", "vertigo", "elbow_strain", "menopausal"};
      // Menopausal (the last) for women only: a man's is another of the four, by a hash of where the stream stands
      // (no draw), so every other visit keeps the diagnosis it had.
      const int k = r.below(5);
      v.diagnosis = diags[k == 4 && !p.female ? finish(r.s ^ 0x5bd1e9955bd1e995ull) % 4 : static_cast<uint64_t>(k)];
      v.items.clear();
      v.items.push_back(item("acupuncture", 4500, "T01"));
      v.items.push_back(item("tcm_other", 2500, "T20"));
      v.items.push_back(item("drug", 3000));
      if (r.chance(0.3)) v.items.push_back(item("acupuncture", 1500, "T-EA"));
    } else if (const uint64_t h = finish(r.s ^ 0x7c3a5e91d2b4f608ull); age >= 40 && h % 50 == 0) {
      // One in 50 of the other visits of residents 40+: TCM led by other therapy (more tcm_other than acupuncture),
      // whose TCM items ORD-ACU refuses. Chosen by a hash of the person-month's stream where it stands, not by a
      // draw: the stream is not advanced, so every other event stays as it was, and the choice depends on this
      // person's month alone.
      static const char* diags[] = {"headache", "sprain", "vertigo", "elbow_strain", "hypochondriac_pain"};
      v.diagnosis = diags[(h / 50) % 5];
      v.items.clear();
      v.items.push_back(item("acupuncture", 2000, "T01"));
      v.items.push_back(item("tcm_other", 4500, "T20"));
      v.items.push_back(item("drug", 3000));
    }
  }

  // A chronic visit, an account payment, an interruption, the monthly contribution.
  void regular_events(Rng& r, int i, const Person& p, const Span& span) {
    if (p.ndis && span.m >= make_month(2023, 1) && r.chance(0.6)) {  // a chronic visit
      const Date d = day_in(r, span);
      const char* dis = kDiseases[p.dis[r.below(p.ndis)]];
      std::vector<Obj> items;
      items.push_back(item("drug", 10000 + r.below(120000)));
      Obj c;
      c.str("type", "claim").str("claim", "CL" + std::to_string(++claim_seq_)).str("person", pid(i));
      c.date("date", d).str("benefit", "chronic").str("disease", dis);
      c.str("facility", facs_[static_cast<size_t>(p.chronic_fac)].id).raw("items", array(items));
      add(logged_on(r, d), 2, c);
    }
    if (p.employee() && r.chance(0.02)) {  // the personal account pays for something
      const Date d = day_in(r, span);
      static const char* purposes[] = {"medical_out_of_pocket", "drug_purchase", "fitness", "device_purchase"};
      Obj e;
      e.str("type", "account_payment").date("at", d).str("person", pid(i)).str("beneficiary", pid(i));
      e.str("purpose", purposes[r.below(4)]).money("amount", 2000 + r.below(30000));
      add(d, 2, e);
    }
    if (p.standing == kInService && r.chance(0.001)) {
      const Date d = day_in(r, span);
      Obj e;
      e.str("type", "contribution_interrupted").date("at", d).str("person", pid(i));
      add(d, 1, e);
    }
    if (opt_.contributions && p.standing == kInService && span.m >= make_month(2023, 1)) {
      const Date d = span.first + 9;
      Obj e;
      e.str("type", "contribution_paid").date("at", d).str("person", pid(i)).str("month", format_month(span.m));
      e.money("base", 300000 + static_cast<Money>(i % 10) * 50000);
      add(d, 1, e);
    }
  }

  // Life events, rare: retirement, a hospital stay, a new designated unit, a change of scheme.
  void life_event(Rng& r, int i, Person& p, int age, const Span& span) {
    Obj e;
    if (p.standing == kInService && age >= 59 && r.chance(0.08)) {
      const Date d = day_in(r, span);
      add(d, 1, e.str("type", "retirement_confirmed").date("at", d).str("person", pid(i)));
      p.standing = kRetired;
    } else if (r.chance(0.002)) {
      const Date d = day_in(r, span);
      e.str("type", "inpatient_admitted").date("at", d).str("person", pid(i));
      add(d, 1, e.str("facility", facs_[static_cast<size_t>(pick(r, hosp_))].id));
      const Date out = d + 2 + r.below(10);
      Obj dis, settled;
      add(out, 1, dis.str("type", "inpatient_discharged").date("at", out).str("person", pid(i)));
      settled.str("type", "inpatient_settled").date("at", out).str("person", pid(i));
      add(out, 1, settled.money("covered", 300000 + r.below(2000000)));
    } else if (r.chance(0.002)) {
      const Date d = day_in(r, span);
      p.home = pick(r, units_);
      e.str("type", "outpatient_designated").date("at", d).str("person", pid(i));
      add(d, 1, e.str("facility", facs_[static_cast<size_t>(p.home)].id));
    } else if (!p.employee() && age >= 18 && !p.student && r.chance(0.001)) {
      e.str("type", "scheme_changed").date("at", span.first).str("person", pid(i)).str("scheme", "employee");
      add(span.first, 1, e.str("status", "flexible"));
      p.standing = kFlexible;
    }
  }

  const GeneratorOptions& opt_;
  const std::function<void(const std::string&)>& emit_;
  Month cur_ = 0;                // the month being made
  std::vector<std::string> chunks_;  // its events' text, back to back (the first used_ of them)
  size_t used_ = 0;
  std::vector<Slot> slots_;  // and where each one is: its chunk (high 32 bits of off) and offset
  std::vector<std::pair<Key, std::string>> pending_;  // events logged in a later month
  uint64_t seq_ = 0;
  uint64_t claim_seq_ = 0;
  std::vector<Fac> facs_;
  std::vector<int> units_, hosp_;  // indices into facs_
  int ext_ = 3;                    // extension units per township or community centre
  std::vector<Person> people_;
};

}  // namespace

bool generated_woman(uint64_t seed, int index) {  // a stream of its own: no other draw depends on it
  return rng_for(seed, static_cast<uint64_t>(index), 0, 3).next() & 1;
}

const char* generator_assumptions() {
  return R"(Assumptions (each one this generator's, not official data; Weihai has about 2.9 million insured):
  sex: half the persons are women (a hash of the seed and their index; events carry no sex)
  ages: 15% under 18, 58% 18-59, 27% 60 and over (thinning with age up to 94): Weihai's 2020 census, rounded
  schemes: employees are 58% of those 18-59 and 42% of those 60+ (about 45% of the insured, a quarter retired);
    working-age employees 85% in service, 12% flexible, 3% old-urban; everyone else a resident, tier 1 (60%) or
    tier 2 (40%); 30% of residents aged 18-22 are students; 0.1% a month of adult residents become flexible employees
  facilities: a township or community centre per 400 insured, at most Weihai's 72, one in three a community centre;
    each runs 3 extension units (village clinics or community stations), more once the 72 are reached (one per
    1,200 insured, at most 35 each; one in three unrated); a community station of its own for one centre in four;
    a hospital per 2,000 insured (at most 60: levels 1, 2, 3 in turn, one in four a TCM hospital); a private clinic
    per 3,000 (at most 900, outside ordinary outpatient); one hospital promoted a level on 2023-07-01
  a fixed cohort: ages are drawn as of 2023, everyone is born by the end of 2022 and enrolled on 2022-01-01 (at
    birth, if later; logged from 2022-07-01); nobody is born or enrolled after 2022, so several years age one cohort
  usual unit: a township or community centre; 30% of employees a hospital instead; 70% designate it around
    T-START (2022-11-01..2022-12-30), where nobody enrolled after 2022-11-01 designates; 0.2% a month designate
    another centre
  visits a month: 0.9 under 7, 0.45 at 7-17, 0.35 at 18-59, 0.8 at 60+; x1.4 in December-February, x0.8 in
    June-August; 3% out of the area (temporary or long-term residence elsewhere), 2% emergencies, 3% at another
    facility, 5% at an extension unit of the person's centre, the rest at the usual unit; 3% of visits of people
    aged 20-44 prenatal, all of them women's (6% of theirs); 1% with a nucleic acid test; 1% refunded (reversed)
    within 20 days
  TCM: 15% of the visits of resident children up to 8 are paediatric massage; 8% of the visits of residents 40+
    acupuncture-led (T01, T20, 30% with electro-acupuncture; menopausal complaints for women only); one in 50 of
    their other visits TCM led by other therapy (more T20 than T01), whose TCM items ORD-ACU refuses
  chronic: 25% of people 60+ and 10% of people 45-59 file 1-3 diseases (December 2022, some approved in 2023) at a
    hospital, and no others later; a chronic visit in 60% of months from 2023-01
  accounts: 2% of employees a month pay from the personal account; employees in service pay a contribution every
    month from 2023-01 on a base of 3,000-7,500 yuan; 0.1% a month interrupt it; 8% a month of in-service employees
    aged 59+ retire
  hospital stays: 0.2% a month; family links: 8% of persons linked to the previous one (spouse or child)
  late claims: --late-share (default 8%) of claims reach the log 3-10 weeks after their service date, behind later
    events of the same person: about 5% of claims are logged after a later-dated event of their person)";
}

std::string check_generator_options(const GeneratorOptions& opt) {
  if (opt.people < 1 || opt.people > kMaxPeople)
    return "--people: " + std::to_string(opt.people) + " is outside 1.." + std::to_string(kMaxPeople);
  if (opt.from < kGeneratorFirstMonth || opt.from > kGeneratorLastMonth)
    return "--from: " + format_month(opt.from) + " is outside the policy window 2022-07..2027-06";
  if (opt.to < kGeneratorFirstMonth || opt.to > kGeneratorLastMonth)
    return "--to: " + format_month(opt.to) + " is outside the policy window 2022-07..2027-06";
  if (opt.to < opt.from) return "--to: " + format_month(opt.to) + " is before --from " + format_month(opt.from);
  if (!(opt.late_share >= 0 && opt.late_share <= 1)) return "--late-share: must be within 0..1";
  return "";
}

void generate_population(const GeneratorOptions& opt, const std::function<void(const std::string&)>& emit) {
  if (std::string why = check_generator_options(opt); !why.empty()) throw std::invalid_argument(why);
  Generator g(opt, emit);
  g.run();
}

}  // namespace gongji

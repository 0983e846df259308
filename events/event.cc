#include "events/event.h"
#include "events/text.h"

#include <algorithm>
#include <array>
#include <map>
#include <set>
#include <variant>

#include <xxhash.h>

namespace gongji {

using nlohmann::json;

namespace {

const std::array<const char*, kEventTypeCount> kTypeNames = {
    "facility_registered",  "facility_updated",      "person_enrolled",
    "scheme_changed",       "retirement_confirmed",  "enrollment_suspended",
    "enrollment_resumed",   "family_linked",         "contribution_paid",
    "contribution_interrupted", "account_payment",   "period_closed",
    "outpatient_designated", "chronic_facility_designated", "chronic_disease_approved",
    "chronic_disease_revoked", "inpatient_admitted", "inpatient_discharged",
    "inpatient_settled",    "claim",                 "claim_reversed",
};

using Codes = std::set<std::string, std::less<>>;

Codes disease_codes() {
  Codes c;
  for (int i = 1; i <= 78; ++i) {
    char b[8];
    std::snprintf(b, sizeof b, "C%02d", i);
    c.insert(b);
  }
  for (const char* x : {"X-CEREBRAL-PALSY", "X-LIMB", "X-AUTISM", "X-INTELLECT", "X-VISION", "X-HEARING", "X-SPEECH",
                        "X-DIALYSIS", "X-TRANSPLANT", "X-CATARACT"})
    c.insert(x);
  return c;
}

Codes therapy_codes() {
  Codes c{"T-IR", "T-EA"};
  for (int i = 1; i <= 21; ++i) {
    char b[8];
    std::snprintf(b, sizeof b, "T%02d", i);
    c.insert(b);
  }
  return c;
}

// The list a policy owns for `field`, or nullptr for a field whose codes are the contract's alone.
const Codes* policy_list(const CodeLists& codes, std::string_view field) {
  if (field == "disease") return &codes.disease;
  if (field == "diagnosis") return &codes.diagnosis;
  if (field == "therapy") return &codes.therapy;
  if (field == "category") return &codes.category;
  return nullptr;
}

// One member per field name: the same name means the same thing in every event type.
// Date and Month are int32 like int: the Kind tells them apart. A code is its enum (codes.h).
using Member = std::variant<std::optional<std::string> Event::*, std::optional<int> Event::*,
                            std::optional<bool> Event::*, std::optional<Money> Event::*,
                            std::optional<FacilityKind> Event::*, std::optional<Specialty> Event::*,
                            std::optional<Scheme> Event::*, std::optional<EmployeeStatus> Event::*,
                            std::optional<Relation> Event::*, std::optional<Purpose> Event::*,
                            std::optional<ResidentBucket> Event::*, std::optional<Variant> Event::*,
                            std::optional<Benefit> Event::*, std::optional<Outcome> Event::*>;

template <typename T>
concept CodeEnum = requires { CodeTable<T>::names; };

enum class Kind { text, code, integer, boolean, date, month, money };

struct Field {
  Kind kind;
  Member member;
};

const std::map<std::string, Field, std::less<>>& fields() {
  static const std::map<std::string, Field, std::less<>> f = {
      {"person", {Kind::text, &Event::person}},
      {"facility", {Kind::text, &Event::facility}},
      {"name", {Kind::text, &Event::name}},
      {"kind", {Kind::code, &Event::kind}},
      {"parent", {Kind::text, &Event::parent}},
      {"specialty", {Kind::code, &Event::specialty}},
      {"scheme", {Kind::code, &Event::scheme}},
      {"status", {Kind::code, &Event::status}},
      {"relative", {Kind::text, &Event::relative}},
      {"relation", {Kind::code, &Event::relation}},
      {"beneficiary", {Kind::text, &Event::beneficiary}},
      {"purpose", {Kind::code, &Event::purpose}},
      {"specialty_facility", {Kind::text, &Event::specialty_facility}},
      {"bucket", {Kind::code, &Event::bucket}},
      {"disease", {Kind::code, &Event::disease}},
      {"variant", {Kind::code, &Event::variant}},
      {"claim", {Kind::text, &Event::claim}},
      {"benefit", {Kind::code, &Event::benefit}},
      {"diagnosis", {Kind::code, &Event::diagnosis}},
      {"outcome", {Kind::code, &Event::outcome}},
      {"level", {Kind::integer, &Event::level}},
      {"tier", {Kind::integer, &Event::tier}},
      {"tcm", {Kind::boolean, &Event::tcm}},
      {"ordinary_outpatient", {Kind::boolean, &Event::ordinary_outpatient}},
      {"student", {Kind::boolean, &Event::student}},
      {"old_urban", {Kind::boolean, &Event::old_urban}},
      {"birth_date", {Kind::date, &Event::birth_date}},
      {"retired_on", {Kind::date, &Event::retired_on}},
      {"applied", {Kind::date, &Event::applied}},
      {"course_start", {Kind::date, &Event::course_start}},
      {"month", {Kind::month, &Event::month}},
      {"base", {Kind::money, &Event::base}},
      {"amount", {Kind::money, &Event::amount}},
      {"covered", {Kind::money, &Event::covered}},
  };
  return f;
}

struct Shape {
  std::vector<std::string> required;  // besides type and id
  std::vector<std::string> optional;
};

// What each event type carries (EVENTS.md). "at" is the business date; a claim has "date" instead.
const Shape& shape(EventType t) {
  static const std::array<Shape, kEventTypeCount> shapes = {{
      {{"at", "facility", "level", "kind"}, {"name", "tcm", "parent", "ordinary_outpatient", "specialty"}},
      {{"at", "facility"}, {"name", "level", "tcm", "kind", "parent", "ordinary_outpatient", "specialty"}},
      {{"at", "person", "birth_date", "scheme"}, {"status", "tier", "student", "retired_on", "old_urban"}},
      {{"at", "person", "scheme"}, {"status", "tier", "student", "old_urban"}},
      {{"at", "person"}, {}},
      {{"at", "person"}, {}},
      {{"at", "person"}, {}},
      {{"at", "person", "relative", "relation"}, {}},
      {{"at", "person", "month", "base"}, {"amount"}},
      {{"at", "person"}, {}},
      {{"at", "person", "beneficiary", "purpose", "amount"}, {}},
      {{"at", "month"}, {}},
      {{"at", "person", "facility"}, {}},
      {{"at", "person"}, {"facility", "specialty_facility", "bucket"}},
      {{"at", "person", "disease"}, {"bucket", "variant", "applied"}},
      {{"at", "person", "disease"}, {}},
      {{"at", "person", "facility"}, {}},
      {{"at", "person"}, {}},
      {{"at", "person", "covered"}, {}},
      {{"claim", "person", "date", "benefit", "items"},
       {"facility", "away", "diagnosis", "disease", "outcome", "course_start"}},
      {{"at", "person", "claim"}, {}},
  }};
  return shapes[static_cast<size_t>(t)];
}

bool is_raw_number(const json& v) { return v.is_string() && !v.get_ref<const std::string&>().empty() &&
                                           v.get_ref<const std::string&>()[0] == kRawNumberMark; }

std::string describe(const json& v) {
  if (is_raw_number(v)) return v.get<std::string>().substr(1);
  std::string s = v.dump();
  return s.size() > 40 ? s.substr(0, 40) + "..." : s;
}

std::string text_of(const json& v, const std::string& name) {
  if (!v.is_string() || is_raw_number(v)) throw EventError(name, "expected a string, got " + describe(v));
  const std::string& s = v.get_ref<const std::string&>();
  if (s.empty()) throw EventError(name, "must not be empty");
  return s;
}

// An integer JSON value that fits an int (a larger one is refused, never wrapped into range).
int int_of(const json& v, const std::string& name) {
  if (!v.is_number_integer()) throw EventError(name, "expected an integer, got " + describe(v));
  bool fits = v.is_number_unsigned() ? v.get<uint64_t>() <= INT32_MAX
                                     : v.get<int64_t>() >= INT32_MIN && v.get<int64_t>() <= INT32_MAX;
  if (!fits) throw EventError(name, "integer " + v.dump() + " is out of range");
  return v.get<int>();
}

Money money_of(const json& v, const std::string& name) {
  std::string text;
  // More than 15 whole digits cannot be held in fen without overflow; far beyond every bound anyway.
  auto too_large = [&](const std::string& t) { return EventError(name, "amount " + t + " is out of range"); };
  if (v.is_number_unsigned()) {
    if (v.get<uint64_t>() > 999999999999999ULL) throw too_large(v.dump());
    return static_cast<Money>(v.get<uint64_t>()) * 100;
  }
  if (v.is_number_integer()) throw EventError(name, "negative amount " + v.dump());
  if (is_raw_number(v)) text = v.get<std::string>().substr(1);
  else if (v.is_string()) text = v.get<std::string>();
  else throw EventError(name, "expected an amount in yuan, got " + describe(v));
  if (!text.empty() && text[0] == '-') throw EventError(name, "negative amount " + text);
  if (text.find_first_not_of("0123456789") > 15 && text.size() > 15) throw too_large(text.substr(0, 40));
  auto m = parse_yuan(text);
  if (!m) throw EventError(name, "not an amount in yuan with at most 2 decimals: \"" + text + "\"");
  return *m;
}

Date date_of(const json& v, const std::string& name) {
  auto d = v.is_string() ? parse_date(v.get<std::string>()) : std::nullopt;
  if (!d) throw EventError(name, "expected a date YYYY-MM-DD, got " + describe(v));
  return *d;
}

// The codes a policy owns are text, checked by validate_event against the lists it is given (the others are enums).
void check_code(const std::string& name, const std::string& value, const CodeLists& codes) {
  const Codes* list = policy_list(codes, name);
  if (list && !list->count(value)) throw EventError(name, "unknown code \"" + value + "\"");
}

void set_field(Event& e, const std::string& name, const json& v) {
  const Field& f = fields().at(name);
  std::visit(
      [&](auto member) {
        using T = typename std::remove_reference_t<decltype(e.*member)>::value_type;
        if constexpr (CodeEnum<T>) {
          e.*member = code_for_field<T>(name, text_of(v, name));
        } else if constexpr (std::is_same_v<T, std::string>) {
          e.*member = text_of(v, name);
        } else if constexpr (std::is_same_v<T, int>) {
          if (f.kind == Kind::month) {
            auto m = v.is_string() ? parse_month(v.get<std::string>()) : std::nullopt;
            if (!m) throw EventError(name, "expected a month YYYY-MM, got " + describe(v));
            e.*member = *m;
          } else if (f.kind == Kind::date) {
            e.*member = date_of(v, name);
          } else {
            e.*member = int_of(v, name);
          }
        } else if constexpr (std::is_same_v<T, bool>) {
          if (!v.is_boolean()) throw EventError(name, "expected true or false, got " + describe(v));
          e.*member = v.get<bool>();
        } else {
          e.*member = money_of(v, name);
        }
      },
      f.member);
}

json field_json(const Event& e, const std::string& name) {
  const Field& f = fields().at(name);
  json out;
  std::visit(
      [&](auto member) {
        using T = typename std::remove_reference_t<decltype(e.*member)>::value_type;
        const auto& opt = e.*member;
        if (!opt) return;
        if constexpr (CodeEnum<T>) out = spelled(*opt);
        else if constexpr (std::is_same_v<T, Money>) out = format_money(*opt);
        else if constexpr (std::is_same_v<T, int>)
          out = f.kind == Kind::month  ? json(format_month(*opt))
                : f.kind == Kind::date ? json(format_date(*opt))
                                       : json(*opt);
        else out = *opt;
      },
      f.member);
  return out;
}

std::vector<Item> items_of(const json& v) {
  if (!v.is_array() || v.empty()) throw EventError("items", "expected a non-empty array of items");
  std::vector<Item> items;
  for (size_t i = 0; i < v.size(); ++i) {
    const json& o = v[i];
    std::string at = "items[" + std::to_string(i) + "]";
    if (!o.is_object()) throw EventError(at, "expected an object");
    for (auto& [k, _] : o.items())
      if (k != "category" && k != "amount" && k != "eligible" && k != "therapy")
        throw EventError(at + "." + k, "unknown field");
    if (!o.contains("category")) throw EventError(at + ".category", "missing");
    if (!o.contains("amount")) throw EventError(at + ".amount", "missing");
    Item it;
    // The policy's list of categories: validate_event.
    it.category = code_for_field<ItemCategory>(at + ".category", text_of(o["category"], at + ".category"));
    it.amount = money_of(o["amount"], at + ".amount");
    if (o.contains("eligible")) {
      it.eligible = money_of(o["eligible"], at + ".eligible");
      if (*it.eligible > it.amount)
        throw EventError(at + ".eligible", "eligible " + format_money(*it.eligible) + " is above amount " +
                                               format_money(it.amount));
    }
    if (o.contains("therapy")) {
      it.therapy = text_of(o["therapy"], at + ".therapy");
      if (it.category != ItemCategory::acupuncture && it.category != ItemCategory::tcm_other)
        throw EventError(at + ".therapy", "only acupuncture and tcm_other items carry a therapy");
    }
    items.push_back(std::move(it));
  }
  return items;
}

Away away_of(const json& v) {
  if (!v.is_object()) throw EventError("away", "expected an object {mode, level}");
  for (auto& [k, _] : v.items())
    if (k != "mode" && k != "level") throw EventError("away." + k, "unknown field");
  if (!v.contains("mode")) throw EventError("away.mode", "missing");
  if (!v.contains("level")) throw EventError("away.level", "missing");
  Away a;
  a.mode = code_for_field<AwayMode>("away.mode", text_of(v["mode"], "away.mode"));
  a.level = int_of(v["level"], "away.level");
  if (a.level < 0 || a.level > 3) throw EventError("away.level", "must be 0, 1, 2 or 3");
  return a;
}

// Rules that tie fields together (EVENTS.md).
void check_consistency(const Event& e) {
  auto forbid = [](bool present, const char* f, const char* why) {
    if (present) throw EventError(f, why);
  };
  switch (e.type) {
    case EventType::facility_registered:
    case EventType::facility_updated:
      if (e.level && (*e.level < 0 || *e.level > 3)) throw EventError("level", "must be 0, 1, 2 or 3");
      if (e.parent && *e.parent == *e.facility) throw EventError("parent", "a facility cannot be its own parent");
      break;
    case EventType::person_enrolled:
    case EventType::scheme_changed:
      if (*e.scheme == Scheme::employee) {
        if (!e.status) throw EventError("status", "missing (an employee carries a status)");
        forbid(e.tier.has_value(), "tier", "only a resident has a tier");
        forbid(e.student.has_value(), "student", "only a resident can be a student");
        forbid(e.retired_on && *e.status != EmployeeStatus::retired, "retired_on", "only with status retired");
        forbid(e.old_urban && *e.status != EmployeeStatus::retired, "old_urban", "only with status retired");
      } else {
        if (!e.tier) throw EventError("tier", "missing (a resident carries a tier)");
        if (*e.tier != 1 && *e.tier != 2) throw EventError("tier", "must be 1 or 2");
        forbid(e.status.has_value(), "status", "only an employee has a status");
        forbid(e.retired_on.has_value(), "retired_on", "only an employee can be retired");
        forbid(e.old_urban.has_value(), "old_urban", "only an employee can be old-urban");
      }
      if (e.birth_date && *e.birth_date > e.at) throw EventError("birth_date", "after the enrolment date");
      break;
    case EventType::family_linked:
      if (*e.relative == *e.person) throw EventError("relative", "a person cannot be linked to themself");
      break;
    case EventType::chronic_facility_designated:
      if (!e.facility && !e.specialty_facility)
        throw EventError("facility", "missing (give facility, specialty_facility or both)");
      break;
    case EventType::claim:
      if (e.facility.has_value() == e.away.has_value())
        throw EventError("facility", "give exactly one of facility and away");
      if ((*e.benefit == Benefit::emergency) != e.outcome.has_value())
        throw EventError("outcome", *e.benefit == Benefit::emergency ? "missing (an emergency carries its outcome)"
                                                                     : "only an emergency carries an outcome");
      if (*e.benefit == Benefit::chronic && !e.disease)
        throw EventError("disease", "missing (a chronic claim names it)");
      if (*e.benefit != Benefit::chronic && e.disease)
        throw EventError("disease", "only a chronic claim names a disease");
      if (e.course_start && *e.course_start > e.at)
        throw EventError("course_start", "course_start " + format_date(*e.course_start) + " is after the claim date");
      break;
    default:
      break;
  }
}

}  // namespace

const char* type_name(EventType t) { return kTypeNames[static_cast<size_t>(t)]; }

const CodeLists& events_md_codes() {
  static const CodeLists codes = [] {
    CodeLists c;
    c.disease = disease_codes();
    c.therapy = therapy_codes();
    c.diagnosis = {"headache", "elbow_strain", "sprain", "cough", "vertigo", "dementia", "consumptive",
                   "hypochondriac_pain", "abdominal_pain", "psoriasis", "metrorrhagia", "menopausal",
                   "breast_hyperplasia", "uterine_prolapse", "fever", "cold", "anorexia", "constipation",
                   "diarrhea", "night_crying", "sweating", "enuresis", "amblyopia", "torticollis", "adenoid"};
    for (std::string_view name : CodeTable<ItemCategory>::names) c.category.emplace(name);
    return c;
  }();
  return codes;
}

bool is_known_code(std::string_view field, std::string_view value) {
  const Codes* list = policy_list(events_md_codes(), field);
  return list && list->count(value) > 0;
}

std::optional<EventType> type_from_name(std::string_view s) {
  for (size_t i = 0; i < kTypeNames.size(); ++i)
    if (s == kTypeNames[i]) return static_cast<EventType>(i);
  return std::nullopt;
}

namespace {
// A DOM builder that stores non-integer numbers as their text (see kRawNumberMark).
struct ExactSax : nlohmann::detail::json_sax_dom_parser<json> {
  using base = nlohmann::detail::json_sax_dom_parser<json>;
  using base::base;
  bool number_float(double, const std::string& raw) {
    std::string s = std::string(1, kRawNumberMark) + raw;
    return base::string(s);
  }
  bool key(std::string& k) {
    if (!keys_.empty() && !keys_.back().insert(k).second) throw EventError(k, "field given twice");
    return base::key(k);
  }
  bool start_object(std::size_t n) {
    keys_.emplace_back();
    return base::start_object(n);
  }
  bool end_object() {
    keys_.pop_back();
    return base::end_object();
  }
  std::vector<std::set<std::string>> keys_;
};
}  // namespace

json parse_json_exact(std::string_view text) {
  json j;
  ExactSax sax(j, true);
  try {
    json::sax_parse(text.begin(), text.end(), &sax);
  } catch (const json::exception& ex) {
    std::string what = ex.what();
    auto p = what.find("] ");
    throw EventError("", "not valid JSON: " + (p == std::string::npos ? what : what.substr(p + 2)));
  }
  return j;
}

Event event_from_json(const json& j, const CodeLists& codes) {
  if (!j.is_object()) throw EventError("", "expected a JSON object");
  if (!j.contains("type")) throw EventError("type", "missing");
  if (!j["type"].is_string()) throw EventError("type", "expected a string");
  auto type = type_from_name(j["type"].get<std::string>());
  if (!type) throw EventError("type", "unknown event type \"" + j["type"].get<std::string>() + "\"");
  Event e;
  e.type = *type;
  if (!j.contains("id")) throw EventError("id", "missing");
  e.id = text_of(j["id"], "id");
  const Shape& sh = shape(*type);
  auto allowed = [&](const std::string& k) {
    return k == "type" || k == "id" || std::find(sh.required.begin(), sh.required.end(), k) != sh.required.end() ||
           std::find(sh.optional.begin(), sh.optional.end(), k) != sh.optional.end();
  };
  for (auto& [k, _] : j.items())
    if (!allowed(k)) throw EventError(k, std::string("unknown field for ") + type_name(*type));
  for (const auto& k : sh.required)
    if (!j.contains(k)) throw EventError(k, "missing");
  for (auto& [k, v] : j.items()) {
    if (k == "type" || k == "id") continue;
    if (k == "at" || k == "date") e.at = date_of(v, k);
    else if (k == "items") e.items = items_of(v);
    else if (k == "away") e.away = away_of(v);
    else set_field(e, k, v);
  }
  validate_event(e, true, codes);  // the one validation entry point, shared with decode_event (bounds included)
  return e;
}

bool set_event_field(Event& e, std::string_view name, std::variant<std::string, int32_t, bool, int64_t> value) {
  auto f = fields().find(name);
  if (f == fields().end()) return false;
  bool ok = true;
  std::visit(
      [&](auto member) {
        using T = typename std::remove_reference_t<decltype(e.*member)>::value_type;
        if constexpr (CodeEnum<T>) {
          if (auto* v = std::get_if<std::string>(&value)) e.*member = code_for_field<T>(std::string(name), *v);
          else ok = false;
        } else if constexpr (std::is_same_v<T, std::string>) {
          if (auto* v = std::get_if<std::string>(&value)) e.*member = std::move(*v); else ok = false;
        } else if constexpr (std::is_same_v<T, int>) {
          if (auto* v = std::get_if<int32_t>(&value)) e.*member = *v; else ok = false;
        } else if constexpr (std::is_same_v<T, bool>) {
          if (auto* v = std::get_if<bool>(&value)) e.*member = *v; else ok = false;
        } else {
          if (auto* v = std::get_if<int64_t>(&value)) e.*member = *v; else ok = false;
        }
      },
      f->second.member);
  if (!ok) throw EventError(std::string(name), "stored with the wrong type");
  return true;
}

namespace {

// Why `s` is not acceptable text, or "" (README "Validation bounds"): strict UTF-8 (no overlong forms, no
// surrogates, nothing above U+10FFFF); when `identifier`, also no control character (C0, DEL, C1).
std::string text_problem(std::string_view s, bool identifier) {
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    // built only when returned: this loop runs for every byte of every text field (ingest's and the fold's hot path)
    auto bad_utf8 = [i] { return "is not valid UTF-8 (byte " + std::to_string(i) + ")"; };
    if (n == 0 || i + n > s.size()) return bad_utf8();
    uint32_t cp = n == 1 ? c : c & (0x7F >> n);
    for (size_t k = 1; k < n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return bad_utf8();
      cp = cp << 6 | (cc & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
      return bad_utf8();
    if (identifier && (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)))
      return "contains a control character (byte " + std::to_string(i) + ")";
    i += n;
  }
  return "";
}

}  // namespace

std::string text_field_problem(std::string_view s, bool identifier) {
  if (s.empty()) return "must not be empty";
  if (s.size() > kMaxTextBytes)
    return "is " + std::to_string(s.size()) + " bytes long, above the maximum of " + std::to_string(kMaxTextBytes);
  return text_problem(s, identifier);
}

namespace {

// Every text field: not empty, at most kMaxTextBytes, valid UTF-8, no control characters (names included).
void check_text(const std::string& field, const std::string& s, bool identifier) {
  if (std::string why = text_field_problem(s, identifier); !why.empty()) throw EventError(field, why);
}

}  // namespace

void refuse_code(const std::string& field, std::string_view text) {
  if (std::string why = text_problem(text, true); !why.empty()) throw EventError(field, why);
  throw EventError(field, "unknown code \"" + std::string(text) + "\"");
}

namespace {

void check_money(const std::string& field, Money m, Money max, const char* per) {
  if (m < 0) throw EventError(field, "negative amount " + format_money(m));
  if (m > max)
    throw EventError(field, "amount " + format_money(m) + " is above the maximum of " + format_money(max) + per);
}

const Date kMinDate = date_from_ymd(1900, 1, 1), kMaxDate = date_from_ymd(2199, 12, 31);

void check_integer(const std::string& field, Kind kind, int v) {
  if (kind == Kind::date && (v < kMinDate || v > kMaxDate))
    throw EventError(field, "date is outside 1900-01-01..2199-12-31 (day number " + std::to_string(v) + ")");
  if (kind == Kind::month && (v < make_month(1900, 1) || v > make_month(2199, 12)))
    throw EventError(field, "month is outside 1900-01..2199-12 (month number " + std::to_string(v) + ")");
  if (field == "level" && (v < 0 || v > 3)) throw EventError(field, "must be 0, 1, 2 or 3, got " + std::to_string(v));
  if (field == "tier" && v != 1 && v != 2) throw EventError(field, "must be 1 or 2, got " + std::to_string(v));
}

void check_code_text(const std::string& field, const Codes& list, const std::string& v) {
  check_text(field, v, true);
  if (!list.count(v)) throw EventError(field, "unknown code \"" + v + "\"");
}

// Items: 1..kMaxItems; each amount and eligible within 0..kMaxItemMoney; their sum (checked) within kMaxClaimMoney.
void check_items(const std::vector<Item>& items, const CodeLists& codes) {
  if (items.size() > kMaxItems)
    throw EventError("items", std::to_string(items.size()) + " items, above the maximum of " +
                                  std::to_string(kMaxItems));
  Money total = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    const Item& it = items[i];
    std::string at = "items[" + std::to_string(i) + "]";
    if (!codes.category.count(spelling(it.category)))
      throw EventError(at + ".category", "unknown code \"" + spelled(it.category) + "\"");
    check_money(at + ".amount", it.amount, kMaxItemMoney, " per item");
    if (it.eligible) {
      check_money(at + ".eligible", *it.eligible, kMaxItemMoney, " per item");
      if (*it.eligible > it.amount)
        throw EventError(at + ".eligible", "eligible " + format_money(*it.eligible) + " is above amount " +
                                               format_money(it.amount));
    }
    if (it.therapy) {
      check_code_text(at + ".therapy", codes.therapy, *it.therapy);
      if (it.category != ItemCategory::acupuncture && it.category != ItemCategory::tcm_other)
        throw EventError(at + ".therapy", "only acupuncture and tcm_other items carry a therapy");
    }
    if (__builtin_add_overflow(total, it.amount, &total)) throw EventError("items", "the item amounts overflow");
  }
  if (total > kMaxClaimMoney)
    throw EventError("items", "the item amounts sum to " + format_money(total) + ", above the maximum of " +
                                  format_money(kMaxClaimMoney) + " per claim");
}

void check_fields(const Event& e, const CodeLists& codes) {
  for (const auto& [name, f] : fields()) {
    std::visit(
        [&](auto member) {
          const auto& opt = e.*member;
          if (!opt) return;
          using T = typename std::remove_reference_t<decltype(opt)>::value_type;
          if constexpr (std::is_same_v<T, std::string>) {
            check_text(name, *opt, true);  // `name` too: a name starting with U+0001 broke the JSON round trip
            if (f.kind == Kind::code) check_code(name, *opt, codes);
          } else if constexpr (std::is_same_v<T, int>) {
            check_integer(name, f.kind, *opt);
          } else if constexpr (std::is_same_v<T, Money>) {
            check_money(name, *opt, kMaxFieldMoney, "");
          }
        },
        f.member);
  }
}

}  // namespace

void validate_event(const Event& e, bool has_at, const CodeLists& codes) {
  check_text("id", e.id, true);
  const Shape& sh = shape(e.type);
  auto present = [&](const std::string& k) -> bool {
    if (k == "at" || k == "date") return has_at;
    if (k == "items") return !e.items.empty();
    if (k == "away") return e.away.has_value();
    bool has = false;
    std::visit([&](auto member) { has = (e.*member).has_value(); }, fields().at(k).member);
    return has;
  };
  for (const auto& k : sh.required)
    if (!present(k)) throw EventError(k, "missing");
  if (has_at) check_integer(e.type == EventType::claim ? "date" : "at", Kind::date, e.at);
  check_fields(e, codes);
  check_items(e.items, codes);
  if (e.away) {
    if (e.away->level < 0 || e.away->level > 3)
      throw EventError("away.level", "must be 0, 1, 2 or 3, got " + std::to_string(e.away->level));
  }
  check_consistency(e);
}

// parse_event's fast path (issue 10 item 3: ingest at the fold's rate): the JSON forms generated data and ordinary
// producers use (no escapes, no null, no negative or exponent numbers, integers of at most 9 digits, no duplicate
// keys) read straight into an Event. It never decides a refusal: anything it does not take, for whatever reason,
// returns std::nullopt and the nlohmann path (parse_json_exact, event_from_json) reads the line again, so every
// verdict and every message stays that path's. When it takes a line, the Event is the one that path would give:
// the same conversions (parse_date, parse_month, parse_yuan, code_for_field) and validate_event.
namespace {

struct NotFast {};  // the line is left to the nlohmann path

struct FastValue {
  enum Kind { string, integer, decimal, boolean, composite } kind = string;
  std::string_view text;  // a string's content, a number's text, an object's or array's whole span
  uint32_t number = 0;    // integer
  bool flag = false;      // boolean
};

class FastReader {
 public:
  explicit FastReader(std::string_view s) : s_(s) {}

  void expect(char c) {
    ws();
    if (pos_ >= s_.size() || s_[pos_] != c) throw NotFast{};
    ++pos_;
  }
  bool next_is(char c) {
    ws();
    return pos_ < s_.size() && s_[pos_] == c;
  }
  void at_end() {
    ws();
    if (pos_ != s_.size()) throw NotFast{};
  }

  // Calls fn(key, value) for each member of the object that starts here; nested objects and arrays are read
  // through (checked as JSON) and given as their span.
  template <typename Fn>
  void object(Fn&& fn) {
    expect('{');
    if (next_is('}')) return void(++pos_);
    do {
      std::string_view key = string();
      expect(':');
      fn(key, value());
    } while (comma_or('}'));
  }
  template <typename Fn>
  void array(Fn&& fn) {
    expect('[');
    if (next_is(']')) return void(++pos_);
    do fn(value());
    while (comma_or(']'));
  }

 private:
  void ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }
  bool comma_or(char close) {
    ws();
    if (pos_ < s_.size() && s_[pos_] == ',') return ++pos_, true;
    expect(close);
    return false;
  }
  std::string_view string() {
    expect('"');
    size_t start = pos_;
    while (pos_ < s_.size() && s_[pos_] != '"') {
      auto c = static_cast<unsigned char>(s_[pos_]);
      if (c == '\\' || c < 0x20) throw NotFast{};
      ++pos_;
    }
    if (pos_ >= s_.size()) throw NotFast{};
    std::string_view out = s_.substr(start, pos_++ - start);
    if (!text_problem(out, false).empty()) throw NotFast{};  // nlohmann refuses text that is not UTF-8
    return out;
  }
  FastValue value() {
    ws();
    if (pos_ >= s_.size()) throw NotFast{};
    FastValue v;
    char c = s_[pos_];
    if (c == '"') {
      v.text = string();
    } else if (c == '{' || c == '[') {
      if (++depth_ > 3) throw NotFast{};  // an event nests three deep (items, an item); no recursion on deep input
      size_t start = pos_;
      if (c == '{') object([](std::string_view, const FastValue&) {});
      else array([](const FastValue&) {});
      --depth_;
      v.kind = FastValue::composite;
      v.text = s_.substr(start, pos_ - start);
    } else if (s_.substr(pos_, 4) == "true" || s_.substr(pos_, 5) == "false") {
      v.kind = FastValue::boolean;
      v.flag = c == 't';
      pos_ += v.flag ? 4 : 5;
    } else {
      v = number();
    }
    return v;
  }
  // -?(0|[1-9][0-9]*)(.[0-9]+)? without the minus and the exponent; integers of at most 9 digits.
  FastValue number() {
    size_t start = pos_;
    auto digits = [&] {
      size_t from = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      return pos_ - from;
    };
    size_t whole = digits();
    if (whole == 0 || (whole > 1 && s_[start] == '0')) throw NotFast{};
    FastValue v;
    v.kind = FastValue::integer;
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      if (digits() == 0) throw NotFast{};
      v.kind = FastValue::decimal;
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) throw NotFast{};
    v.text = s_.substr(start, pos_ - start);
    if (v.kind == FastValue::integer) {
      if (whole > 9) throw NotFast{};
      for (char d : v.text) v.number = v.number * 10 + static_cast<uint32_t>(d - '0');
    }
    return v;
  }

  std::string_view s_;
  size_t pos_ = 0;
  int depth_ = 0;  // composite values being read through
};

std::string_view fast_text(const FastValue& v) {
  if (v.kind != FastValue::string || v.text.empty()) throw NotFast{};
  return v.text;
}
int fast_int(const FastValue& v) {
  if (v.kind != FastValue::integer) throw NotFast{};
  return static_cast<int>(v.number);
}
// money_of's cases: a JSON integer (yuan), a decimal number or a string read by parse_yuan.
Money fast_money(const FastValue& v) {
  if (v.kind == FastValue::integer) return static_cast<Money>(v.number) * 100;
  if (v.kind != FastValue::decimal && v.kind != FastValue::string) throw NotFast{};
  if (v.text.empty() || v.text[0] == '-' || v.text.size() > 15) throw NotFast{};
  auto m = parse_yuan(v.text);
  if (!m) throw NotFast{};
  return *m;
}
Date fast_date(const FastValue& v) {
  auto d = v.kind == FastValue::string ? parse_date(v.text) : std::nullopt;
  if (!d) throw NotFast{};
  return *d;
}

void fast_set_field(Event& e, const Field& f, const FastValue& v) {
  std::visit(
      [&](auto member) {
        using T = typename std::remove_reference_t<decltype(e.*member)>::value_type;
        if constexpr (CodeEnum<T>) {
          e.*member = code_for_field<T>("", fast_text(v));
        } else if constexpr (std::is_same_v<T, std::string>) {
          e.*member = std::string(fast_text(v));
        } else if constexpr (std::is_same_v<T, int>) {
          if (f.kind == Kind::month) {
            auto m = v.kind == FastValue::string ? parse_month(v.text) : std::nullopt;
            if (!m) throw NotFast{};
            e.*member = *m;
          } else if (f.kind == Kind::date) {
            e.*member = fast_date(v);
          } else {
            e.*member = fast_int(v);
          }
        } else if constexpr (std::is_same_v<T, bool>) {
          if (v.kind != FastValue::boolean) throw NotFast{};
          e.*member = v.flag;
        } else {
          e.*member = fast_money(v);
        }
      },
      f.member);
}

// Marks `key` seen in `seen` (one bit per entry of `keys`); a key not in `keys` or given twice is not fast.
void fast_key(std::string_view key, std::initializer_list<std::string_view> keys, unsigned& seen) {
  unsigned bit = 1;
  for (std::string_view k : keys) {
    if (k == key) {
      if (seen & bit) throw NotFast{};
      seen |= bit;
      return;
    }
    bit <<= 1;
  }
  throw NotFast{};
}

// items_of's rules on the fast path.
std::vector<Item> fast_items(const FastValue& v) {
  if (v.kind != FastValue::composite || v.text[0] != '[') throw NotFast{};
  std::vector<Item> items;
  FastReader r(v.text);
  r.array([&](const FastValue& o) {
    if (o.kind != FastValue::composite || o.text[0] != '{') throw NotFast{};
    Item it;
    unsigned seen = 0;
    FastReader ro(o.text);
    ro.object([&](std::string_view k, const FastValue& x) {
      fast_key(k, {"category", "amount", "eligible", "therapy"}, seen);
      if (k == "category") it.category = code_for_field<ItemCategory>("", fast_text(x));
      else if (k == "amount") it.amount = fast_money(x);
      else if (k == "eligible") it.eligible = fast_money(x);
      else it.therapy = std::string(fast_text(x));
    });
    if ((seen & 3) != 3 || (it.eligible && *it.eligible > it.amount)) throw NotFast{};
    if (it.therapy && it.category != ItemCategory::acupuncture && it.category != ItemCategory::tcm_other)
      throw NotFast{};
    items.push_back(std::move(it));
  });
  if (items.empty()) throw NotFast{};
  return items;
}

Away fast_away(const FastValue& v) {
  if (v.kind != FastValue::composite || v.text[0] != '{') throw NotFast{};
  Away a;
  unsigned seen = 0;
  FastReader r(v.text);
  r.object([&](std::string_view k, const FastValue& x) {
    fast_key(k, {"mode", "level"}, seen);
    if (k == "mode") a.mode = code_for_field<AwayMode>("", fast_text(x));
    else a.level = fast_int(x);
  });
  if (seen != 3 || a.level < 0 || a.level > 3) throw NotFast{};
  return a;
}

using FastMembers = std::vector<std::pair<std::string_view, FastValue>>;

// event_from_json's checks and conversions, on the members of a fast-read line.
Event fast_event(const FastMembers& kv, const CodeLists& codes) {
  auto find = [&](std::string_view k) -> const FastValue& {
    for (const auto& [key, v] : kv)
      if (key == k) return v;
    throw NotFast{};
  };
  auto type = type_from_name(fast_text(find("type")));
  if (!type) throw NotFast{};
  Event e;
  e.type = *type;
  e.id = std::string(fast_text(find("id")));
  const Shape& sh = shape(*type);
  auto listed = [](const std::vector<std::string>& keys, std::string_view k) {
    return std::find(keys.begin(), keys.end(), k) != keys.end();
  };
  for (const auto& k : sh.required) find(k);
  for (size_t i = 0; i < kv.size(); ++i) {
    const auto& [k, v] = kv[i];
    for (size_t j = 0; j < i; ++j)
      if (kv[j].first == k) throw NotFast{};  // nlohmann's path says "field given twice"
    if (k == "type" || k == "id") continue;
    if (!listed(sh.required, k) && !listed(sh.optional, k)) throw NotFast{};
    if (k == "at" || k == "date") e.at = fast_date(v);
    else if (k == "items") e.items = fast_items(v);
    else if (k == "away") e.away = fast_away(v);
    else fast_set_field(e, fields().find(k)->second, v);
  }
  validate_event(e, true, codes);
  return e;
}

std::optional<Event> parse_event_fast(std::string_view line, const CodeLists& codes) {
  try {
    FastMembers kv;
    kv.reserve(24);
    FastReader r(line);
    r.object([&](std::string_view k, const FastValue& v) { kv.emplace_back(k, v); });
    r.at_end();
    return fast_event(kv, codes);
  } catch (const NotFast&) {
  } catch (const std::exception&) {  // an EventError, or anything else: the nlohmann path decides
  }
  return std::nullopt;
}

}  // namespace

Event parse_event(std::string_view line, const CodeLists& codes) {
  if (line.size() > kMaxLineBytes)
    throw EventError("", "line of " + std::to_string(line.size()) + " bytes is longer than the limit of " +
                             std::to_string(kMaxLineBytes) + " bytes");
  if (auto e = parse_event_fast(line, codes)) return std::move(*e);
  return event_from_json(parse_json_exact(line), codes);
}

json event_to_json(const Event& e) {
  json j = json::object();
  j["type"] = type_name(e.type);
  j["id"] = e.id;
  const Shape& sh = shape(e.type);
  auto emit = [&](const std::string& k) {
    if (k == "at" || k == "date") {
      j[k] = format_date(e.at);
    } else if (k == "items") {
      json arr = json::array();
      for (const Item& it : e.items) {
        json o = {{"category", spelled(it.category)}, {"amount", format_money(it.amount)}};
        if (it.eligible) o["eligible"] = format_money(*it.eligible);
        if (it.therapy) o["therapy"] = *it.therapy;
        arr.push_back(std::move(o));
      }
      j[k] = std::move(arr);
    } else if (k == "away") {
      if (e.away) j[k] = {{"mode", spelled(e.away->mode)}, {"level", e.away->level}};
    } else {
      json v = field_json(e, k);
      if (!v.is_null()) j[k] = std::move(v);
    }
  };
  for (const auto& k : sh.required) emit(k);
  for (const auto& k : sh.optional) emit(k);
  return j;
}

namespace {

// A string as nlohmann's dump() writes it (ensure_ascii off): `"`, `\\` and C0 controls escaped, other bytes as
// they are. Valid UTF-8 only: canonical_json leaves anything else to dump(), which refuses it.
void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  size_t run = 0;  // start of the bytes not yet copied, which need no escape
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c != '"' && c != '\\' && static_cast<unsigned char>(c) >= 0x20) continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default: {
        char b[8];
        std::snprintf(b, sizeof b, "\\u%04x", static_cast<unsigned>(c));
        out += b;
      }
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

// One key of an event type's canonical form: its name and how its value is found.
struct CanonKey {
  enum Source { type, id, at, items, away, field } source = field;
  std::string name;
  const Field* member = nullptr;  // source == field
};

// Each event type's keys in the canonical order (byte order of the names, as nlohmann's std::map holds them).
const std::vector<CanonKey>& canonical_keys(EventType t) {
  static const std::array<std::vector<CanonKey>, kEventTypeCount> keys = [] {
    std::array<std::vector<CanonKey>, kEventTypeCount> all;
    for (int i = 0; i < kEventTypeCount; ++i) {
      auto& ks = all[static_cast<size_t>(i)];
      ks = {{CanonKey::type, "type"}, {CanonKey::id, "id"}};
      const Shape& sh = shape(static_cast<EventType>(i));
      for (const auto* names : {&sh.required, &sh.optional})
        for (const std::string& k : *names) {
          CanonKey c{CanonKey::field, k};
          if (k == "at" || k == "date") c.source = CanonKey::at;
          else if (k == "items") c.source = CanonKey::items;
          else if (k == "away") c.source = CanonKey::away;
          else c.member = &fields().at(k);
          ks.push_back(c);
        }
      std::sort(ks.begin(), ks.end(), [](const CanonKey& a, const CanonKey& b) { return a.name < b.name; });
    }
    return all;
  }();
  return keys[static_cast<size_t>(t)];
}

// Appends the value of `k` as event_to_json gives it; false (nothing appended) when it leaves the key out. `utf8`
// turns false on text that is not valid UTF-8 (formatted dates, money and code spellings are ASCII).
bool canonical_value(const Event& e, const CanonKey& k, std::string& out, bool& utf8) {
  auto text = [&](std::string_view s) {
    if (!text_problem(s, false).empty()) utf8 = false;
    append_json_string(out, s);
  };
  switch (k.source) {
    case CanonKey::type: append_json_string(out, type_name(e.type)); return true;
    case CanonKey::id: text(e.id); return true;
    case CanonKey::at: append_json_string(out, format_date(e.at)); return true;
    case CanonKey::items:
      out += '[';
      for (size_t i = 0; i < e.items.size(); ++i) {  // keys in order: amount, category, eligible, therapy
        const Item& it = e.items[i];
        out += i ? ",{\"amount\":" : "{\"amount\":";
        append_json_string(out, format_money(it.amount));
        out += ",\"category\":";
        append_json_string(out, spelling(it.category));
        if (it.eligible) out += ",\"eligible\":", append_json_string(out, format_money(*it.eligible));
        if (it.therapy) out += ",\"therapy\":", text(*it.therapy);
        out += '}';
      }
      out += ']';
      return true;
    case CanonKey::away:
      if (!e.away) return false;
      out += "{\"level\":" + std::to_string(e.away->level) + ",\"mode\":";
      append_json_string(out, spelling(e.away->mode));
      out += '}';
      return true;
    case CanonKey::field: break;
  }
  bool present = false;
  std::visit(
      [&](auto member) {
        using T = typename std::remove_reference_t<decltype(e.*member)>::value_type;
        const auto& opt = e.*member;
        if (!(present = opt.has_value())) return;
        if constexpr (CodeEnum<T>) append_json_string(out, spelling(*opt));
        else if constexpr (std::is_same_v<T, Money>) append_json_string(out, format_money(*opt));
        else if constexpr (std::is_same_v<T, int>) {
          if (k.member->kind == Kind::month) append_json_string(out, format_month(*opt));
          else if (k.member->kind == Kind::date) append_json_string(out, format_date(*opt));
          else out += std::to_string(*opt);
        } else if constexpr (std::is_same_v<T, bool>) out += *opt ? "true" : "false";
        else text(*opt);
      },
      k.member->member);
  return present;
}

}  // namespace

// event_to_json(e).dump() written directly (the ingest's id index hashes it for every event): the same bytes, keys
// in byte order as nlohmann's std::map holds them. Text that is not valid UTF-8 goes to dump(), which throws as before.
std::string canonical_json(const Event& e) {
  std::string out;
  out.reserve(256);
  out += '{';
  bool utf8 = true;
  for (const CanonKey& k : canonical_keys(e.type)) {
    const size_t mark = out.size();
    if (mark > 1) out += ',';
    out += '"';
    out += k.name;
    out += "\":";
    if (!canonical_value(e, k, out, utf8)) out.resize(mark);
  }
  if (!utf8) return event_to_json(e).dump();
  out += '}';
  return out;
}

std::optional<StoredField> event_field(const Event& e, std::string_view name) {
  const auto& keys = canonical_keys(e.type);  // the type's shape, each key with its member
  auto k = std::find_if(keys.begin(), keys.end(), [&](const CanonKey& c) { return c.name == name; });
  if (k == keys.end()) return std::nullopt;
  if (k->source == CanonKey::at) return StoredField(static_cast<int32_t>(e.at));
  if (k->source != CanonKey::field) return std::nullopt;  // type, id, items, away
  std::optional<StoredField> out;
  std::visit(
      [&](auto member) {
        using T = typename std::remove_reference_t<decltype(e.*member)>::value_type;
        const auto& opt = e.*member;
        if (!opt) return;
        if constexpr (CodeEnum<T>) out = StoredField(spelling(*opt));
        else if constexpr (std::is_same_v<T, std::string>) out = StoredField(std::string_view(*opt));
        else if constexpr (std::is_same_v<T, int>) out = StoredField(static_cast<int32_t>(*opt));
        else if constexpr (std::is_same_v<T, bool>) out = StoredField(*opt);
        else out = StoredField(static_cast<int64_t>(*opt));
      },
      k->member->member);
  return out;
}

uint64_t event_digest(const Event& e) {
  XXH3_state_t* st = XXH3_createState();
  XXH3_64bits_reset(st);
  auto feed = [&](const void* p, size_t n) { XXH3_64bits_update(st, p, n); };
  auto feed_str = [&](const std::string& s) {
    uint64_t n = s.size();
    feed(&n, 8);
    feed(s.data(), s.size());
  };
  uint8_t t = static_cast<uint8_t>(e.type);
  feed(&t, 1);
  feed_str(e.id);
  feed(&e.at, sizeof e.at);
  for (const auto& [name, f] : fields()) {  // every member, in name order; absent ones marked absent
    std::visit(
        [&](auto member) {
          const auto& opt = e.*member;
          uint8_t has = opt.has_value();
          feed(&has, 1);
          if (!opt) return;
          using T = typename std::remove_reference_t<decltype(opt)>::value_type;
          if constexpr (std::is_same_v<T, std::string>) feed_str(*opt);
          else if constexpr (CodeEnum<T>) feed_str(spelled(*opt));  // as when codes were text: stored digests hold
          else feed(&*opt, sizeof(T));
        },
        f.member);
  }
  uint64_t n = e.items.size();
  feed(&n, 8);
  for (const Item& it : e.items) {
    feed_str(spelled(it.category));
    feed(&it.amount, 8);
    Money el = it.eligible ? *it.eligible : -1;
    feed(&el, 8);
    feed_str(it.therapy.value_or(std::string("\0", 2)));
  }
  if (e.away) {
    feed_str(spelled(e.away->mode));
    feed(&e.away->level, sizeof e.away->level);
  }
  uint64_t h = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  return h;
}

}  // namespace gongji

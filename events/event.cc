#include "events/event.h"
#include "events/event_json.h"
#include "events/text.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <set>
#include <utility>
#include <variant>

#include <xxhash.h>

namespace gongji {

using nlohmann::json;

namespace {

#define GONGJI_EVENT_NAME(name, S) #name,
const std::array<const char*, kEventTypeCount> kTypeNames = {GONGJI_EVENT_TYPES(GONGJI_EVENT_NAME)};
#undef GONGJI_EVENT_NAME

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

// ---- the table, generically (event_types.h): each field of a struct, by name or in order.

template <typename T>
concept CodeEnum = requires { CodeTable<T>::names; };

template <typename>
inline constexpr bool kUnhandled = false;

// A member's value type, and whether the table makes it optional (a plain member is required).
template <typename M>
struct Slot {
  using V = M;
  static constexpr bool optional = false;
};
template <typename T>
struct Slot<std::optional<T>> {
  using V = T;
  static constexpr bool optional = true;
};

// The member's value, or nullptr when an optional member is absent.
template <typename M>
const typename Slot<M>::V* value_of(const M& m) {
  if constexpr (Slot<M>::optional) return m ? &*m : nullptr;
  else return &m;
}

// f(def, member) for each field of `b`, in the table's order (EVENTS.md's, events.fbs's).
template <typename B, typename F>
void for_each_field(B& b, F&& f) {
  using S = std::remove_const_t<B>;
  std::apply([&](const auto&... d) { (f(d, b.*(d.member)), ...); }, S::fields());
}

// f(def, member) for the field of `b` named `name`; false when its type has none.
template <typename B, typename F>
bool with_field(B& b, std::string_view name, F&& f) {
  bool found = false;
  for_each_field(b, [&](const auto& d, auto& m) {
    if (!found && d.name == name) found = true, f(d, m);
  });
  return found;
}

// The same on an Event, whatever its type.
template <typename E, typename F>
bool with_event_field(E& e, std::string_view name, F&& f) {
  return std::visit([&](auto& b) { return with_field(b, name, f); }, e.body);
}

template <typename S>
constexpr std::string_view date_key() {
  if constexpr (requires { S::kDateKey; }) return S::kDateKey;
  else return "at";
}

bool listed(const std::vector<std::string>& keys, std::string_view k) {
  return std::find(keys.begin(), keys.end(), k) != keys.end();
}

struct Shape {
  std::string date_key;               // "at", or a claim's "date"
  std::vector<std::string> required;  // besides type and id: the plain members and the date, in the table's order
  std::vector<std::string> optional;  // the std::optional members, in the table's order
};

// What each event type carries (EVENTS.md), from the table.
const Shape& shape(EventType t) {
  static const std::array<Shape, kEventTypeCount> shapes = [] {
    std::array<Shape, kEventTypeCount> all;
    for (int i = 0; i < kEventTypeCount; ++i) {
      Shape& sh = all[static_cast<size_t>(i)];
      const Event e = empty_event(static_cast<EventType>(i));
      std::visit(
          [&](const auto& b) {
            using S = std::remove_cvref_t<decltype(b)>;
            sh.date_key = date_key<S>();
            std::string_view after;  // the field the date follows ("": it comes first)
            if constexpr (requires { S::kDateAfter; }) after = S::kDateAfter;
            if (after.empty()) sh.required.push_back(sh.date_key);
            for_each_field(b, [&](const auto& d, const auto& m) {
              (Slot<std::remove_cvref_t<decltype(m)>>::optional ? sh.optional : sh.required).emplace_back(d.name);
              if (d.name == after) sh.required.push_back(sh.date_key);
            });
          },
          e.body);
      if (!listed(sh.required, sh.date_key))  // a kDateAfter naming no field of its struct
        throw std::logic_error(std::string("event table: ") + type_name(static_cast<EventType>(i)) + " has no date");
    }
    return all;
  }();
  return shapes[static_cast<size_t>(t)];
}

// One key of an event type's canonical form: its name and where its value is.
struct CanonKey {
  enum Source { type, id, at, field } source = field;
  std::string name;
  size_t index = 0;                  // source == field: the field's place in the struct's fields()
  FieldKind kind = FieldKind::text;  // source == field: its kind
};

// f(def, member) for the field at `index` of `b`'s fields().
template <typename B, typename F>
void with_field_at(B& b, size_t index, F&& f) {
  size_t i = 0;
  for_each_field(b, [&](const auto& d, auto& m) {
    if (i++ == index) f(d, m);
  });
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
  if (!d) {
    const std::string why = v.is_string() ? date_problem(v.get<std::string>()) : "";
    if (why.starts_with("'")) throw EventError(name, describe(v) + why.substr(why.find("' ") + 1));  // not a day
    throw EventError(name, "expected a date YYYY-MM-DD, got " + describe(v));
  }
  return *d;
}

// The codes a policy owns are text, checked by validate_event against the lists it is given (the others are enums).
void check_code(const std::string& name, const std::string& value, const CodeLists& codes) {
  const Codes* list = policy_list(codes, name);
  if (list && !list->count(value)) throw EventError(name, "unknown code \"" + value + "\"");
}

std::vector<Item> items_of(const json& v);
Away away_of(const json& v);

// A field's value read from JSON, as the table's kind says.
template <typename V>
V value_from_json(FieldKind kind, const std::string& name, const json& v) {
  if constexpr (CodeEnum<V>) {
    return code_for_field<V>(name, text_of(v, name));
  } else if constexpr (std::is_same_v<V, std::string>) {
    return text_of(v, name);
  } else if constexpr (std::is_same_v<V, int>) {
    if (kind == FieldKind::month) {
      auto m = v.is_string() ? parse_month(v.get<std::string>()) : std::nullopt;
      if (!m) throw EventError(name, "expected a month YYYY-MM, got " + describe(v));
      return *m;
    }
    return kind == FieldKind::date ? date_of(v, name) : int_of(v, name);
  } else if constexpr (std::is_same_v<V, bool>) {
    if (!v.is_boolean()) throw EventError(name, "expected true or false, got " + describe(v));
    return v.get<bool>();
  } else if constexpr (std::is_same_v<V, Money>) {
    return money_of(v, name);
  } else if constexpr (std::is_same_v<V, std::vector<Item>>) {
    return items_of(v);
  } else if constexpr (std::is_same_v<V, Away>) {
    return away_of(v);
  } else {
    static_assert(kUnhandled<V>, "a member type the table does not know");
  }
}

void set_field(Event& e, const std::string& name, const json& v) {
  with_event_field(e, name, [&](const auto& d, auto& m) {
    m = value_from_json<typename Slot<std::remove_cvref_t<decltype(m)>>::V>(d.kind, name, v);
  });
}

// A field's JSON value as EVENTS.md writes it.
template <typename V>
json value_to_json(FieldKind kind, const V& x) {
  if constexpr (CodeEnum<V>) {
    return spelled(x);
  } else if constexpr (std::is_same_v<V, Money>) {
    return format_money(x);
  } else if constexpr (std::is_same_v<V, int>) {
    return kind == FieldKind::month ? json(format_month(x)) : kind == FieldKind::date ? json(format_date(x)) : json(x);
  } else if constexpr (std::is_same_v<V, std::vector<Item>>) {
    json arr = json::array();
    for (const Item& it : x) {
      json o = {{"category", spelled(it.category)}, {"amount", format_money(it.amount)}};
      if (it.eligible) o["eligible"] = format_money(*it.eligible);
      if (it.therapy) o["therapy"] = *it.therapy;
      arr.push_back(std::move(o));
    }
    return arr;
  } else if constexpr (std::is_same_v<V, Away>) {
    return {{"mode", spelled(x.mode)}, {"level", x.level}};
  } else {
    return x;  // text, bool
  }
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

// Rules that tie fields together (EVENTS.md), per type; a type without one has none.
void forbid(bool present, const char* f, const char* why) {
  if (present) throw EventError(f, why);
}

// (The ranges of level and tier are check_integer's, which runs first.)
template <typename F>
void check_facility(const F& e) {
  if (e.parent && *e.parent == e.facility) throw EventError("parent", "a facility cannot be its own parent");
}

template <typename P>
void check_standing(const P& e) {
  if (e.scheme == Scheme::employee) {
    if (!e.status) throw EventError("status", "missing (an employee carries a status)");
    forbid(e.tier.has_value(), "tier", "only a resident has a tier");
    forbid(e.student.has_value(), "student", "only a resident can be a student");
    if constexpr (requires { e.retired_on; })
      forbid(e.retired_on && *e.status != EmployeeStatus::retired, "retired_on", "only with status retired");
    forbid(e.old_urban && *e.status != EmployeeStatus::retired, "old_urban", "only with status retired");
  } else {
    if (!e.tier) throw EventError("tier", "missing (a resident carries a tier)");
    forbid(e.status.has_value(), "status", "only an employee has a status");
    if constexpr (requires { e.retired_on; })
      forbid(e.retired_on.has_value(), "retired_on", "only an employee can be retired");
    forbid(e.old_urban.has_value(), "old_urban", "only an employee can be old-urban");
  }
  if constexpr (requires { e.birth_date; })
    if (e.birth_date > e.at) throw EventError("birth_date", "after the enrolment date");
  // One enrolled as retired was confirmed retired on or before the enrolment (EVENTS.md: the confirmation date,
  // default `at`); a later date gave the retired ratio from the enrolment, and no in-service credits before it.
  if constexpr (requires { e.retired_on; })
    if (e.retired_on && *e.retired_on > e.at) throw EventError("retired_on", "after the enrolment date");
}

void check_consistency(const FacilityRegistered& e) { check_facility(e); }
void check_consistency(const FacilityUpdated& e) { check_facility(e); }
void check_consistency(const PersonEnrolled& e) { check_standing(e); }
void check_consistency(const SchemeChanged& e) { check_standing(e); }
void check_consistency(const FamilyLinked& e) {
  if (e.relative == e.person) throw EventError("relative", "a person cannot be linked to themself");
}
void check_consistency(const ChronicFacilityDesignated& e) {
  if (!e.facility && !e.specialty_facility)
    throw EventError("facility", "missing (give facility, specialty_facility or both)");
}
void check_consistency(const Claim& e) {
  if (e.facility.has_value() == e.away.has_value())
    throw EventError("facility", "give exactly one of facility and away");
  if ((e.benefit == Benefit::emergency) != e.outcome.has_value())
    throw EventError("outcome", e.benefit == Benefit::emergency ? "missing (an emergency carries its outcome)"
                                                                : "only an emergency carries an outcome");
  if (e.benefit == Benefit::chronic && !e.disease) throw EventError("disease", "missing (a chronic claim names it)");
  if (e.benefit != Benefit::chronic && e.disease) throw EventError("disease", "only a chronic claim names a disease");
  if (e.course_start && *e.course_start > e.at)
    throw EventError("course_start", "course_start " + format_date(*e.course_start) + " is after the claim date");
}
// A month is closed once it has begun (a close may be dated on the month's last day). One that begins after the
// close's date would be taken as closed: every real close up to it would then be a no-op ("a month already closed"),
// and with them the retiree credits and the year ends they make (ACC-RET, ORD-INC, CHR-SUSP).
void check_consistency(const PeriodClosed& e) {
  if (e.month > month_of(e.at))
    throw EventError("month", "month " + format_month(e.month) + " begins after the close's date " + format_date(e.at));
}
void check_consistency(const EventHeader&) {}  // every other type

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
    if (!last_key_.empty()) last_key_.back() = k;
    return base::key(k);
  }
  // A string value is never taken for a number's text: one that starts with the mark is refused (it would read as
  // the number after it), naming the field it is the value of (or an element of).
  bool string(std::string& v) {
    if (!v.empty() && v.front() == kRawNumberMark)
      throw EventError(last_key_.empty() ? "" : last_key_.back(), "contains a control character (byte 0)");
    return base::string(v);
  }
  bool start_object(std::size_t n) {
    keys_.emplace_back();
    last_key_.emplace_back();
    return base::start_object(n);
  }
  bool end_object() {
    keys_.pop_back();
    last_key_.pop_back();
    return base::end_object();
  }
  std::vector<std::set<std::string>> keys_;
  std::vector<std::string> last_key_;  // per open object, its last key
};
}  // namespace

json parse_json_exact(std::string_view text) {
  // nlohmann's lexer takes a NUL byte for the end of its input: the rest of the line would be dropped unread. JSON
  // has no place for one (inside a string it must be escaped, as \u0000).
  if (const size_t nul = text.find('\0'); nul != std::string_view::npos)
    throw EventError("", "not valid JSON: a NUL byte at byte " + std::to_string(nul));
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

Event empty_event(EventType t) {
  static const auto make = []<size_t... I>(std::index_sequence<I...>) {
    return std::array<Event (*)(), sizeof...(I)>{
        +[]() { return Event(std::variant_alternative_t<I, EventBody>{}); }...};
  }(std::make_index_sequence<kEventTypeCount>{});
  return make[static_cast<size_t>(t)]();
}

const std::vector<std::string>& required_fields(EventType t) { return shape(t).required; }
std::string_view date_key(EventType t) { return shape(t).date_key; }

void check_required(EventType t, const std::function<bool(std::string_view)>& given) {
  for (const auto& k : shape(t).required)
    if (!given(k)) throw EventError(k, "missing");
}

Event event_from_json(const json& j, const CodeLists& codes) {
  if (!j.is_object()) throw EventError("", "expected a JSON object");
  if (!j.contains("type")) throw EventError("type", "missing");
  if (!j["type"].is_string()) throw EventError("type", "expected a string");
  auto type = type_from_name(j["type"].get<std::string>());
  if (!type) throw EventError("type", "unknown event type \"" + j["type"].get<std::string>() + "\"");
  Event e = empty_event(*type);
  EventHeader& h = e.header();
  if (!j.contains("id")) throw EventError("id", "missing");
  h.id = text_of(j["id"], "id");
  const Shape& sh = shape(*type);
  for (auto& [k, _] : j.items())
    if (k != "type" && k != "id" && !listed(sh.required, k) && !listed(sh.optional, k))
      throw EventError(k, std::string("unknown field for ") + type_name(*type));
  check_required(*type, [&](std::string_view k) { return j.contains(k); });
  for (auto& [k, v] : j.items()) {
    if (k == "type" || k == "id") continue;
    if (k == sh.date_key) h.at = date_of(v, k);
    else set_field(e, k, v);
  }
  validate_event(e, codes);  // the one validation entry point, shared with decode_event (bounds included)
  return e;
}

bool set_event_field(Event& e, std::string_view name, StoredValue value) {
  if (name == shape(e.type()).date_key) {
    auto* d = std::get_if<int32_t>(&value);
    if (!d) throw EventError(std::string(name), "stored with the wrong type");
    e.header().at = *d;
    return true;
  }
  bool ok = true;
  bool found = with_event_field(e, name, [&](const auto&, auto& m) {
    using V = typename Slot<std::remove_cvref_t<decltype(m)>>::V;
    if constexpr (CodeEnum<V>) {
      if (auto* v = std::get_if<std::string>(&value)) m = code_for_field<V>(std::string(name), *v);
      else ok = false;
    } else if constexpr (std::is_same_v<V, int32_t> || std::is_same_v<V, Money> || std::is_same_v<V, bool> ||
                         std::is_same_v<V, std::string> || std::is_same_v<V, std::vector<Item>> ||
                         std::is_same_v<V, Away>) {
      if (auto* v = std::get_if<V>(&value)) m = std::move(*v);
      else ok = false;
    } else {
      static_assert(kUnhandled<V>, "a member type the table does not know");
    }
  });
  if (!found) return false;
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

std::string valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    // The sequence `c` starts (Unicode Table 3-7): its length, and the range of its second byte.
    size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80) n = 1;
    else if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) n = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4) n = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    if (n == 0) {  // cannot start a sequence
      out += kReplacement;
      ++i;
      continue;
    }
    size_t k = 1;
    for (; k < n && i + k < s.size(); ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if (cc < (k == 1 ? lo : 0x80) || cc > (k == 1 ? hi : 0xBF)) break;
    }
    if (k == n) out.append(s.substr(i, n));
    else out += kReplacement;  // not continued (the byte that broke it is read again), or cut by the end
    i += k;
  }
  return out;
}

std::string terminal_safe(std::string_view s) {
  const std::string text = valid_utf8(s);
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    const size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;  // (valid UTF-8: each sequence whole)
    uint32_t cp = n == 1 ? c : c & (0xFF >> (n + 1));
    for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
    const bool unsafe = cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 || cp == 0x061C ||
                        cp == 0x200E || cp == 0x200F || (cp >= 0x202A && cp <= 0x202E) ||
                        (cp >= 0x2066 && cp <= 0x2069);
    if (cp == '\\') {
      out += "\\\\";  // so that a backslash in the text is never read as the start of an escape
    } else if (unsafe) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\u%04X", static_cast<unsigned>(cp));
      out += esc;
    } else {
      out.append(text, i, n);
    }
    i += n;
  }
  return out;
}

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

void check_integer(const std::string& field, FieldKind kind, int v) {
  if (kind == FieldKind::date && (v < kMinDate || v > kMaxDate))
    throw EventError(field, "date is outside 1900-01-01..2199-12-31 (day number " + std::to_string(v) + ")");
  if (kind == FieldKind::month && (v < make_month(1900, 1) || v > make_month(2199, 12)))
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

const std::vector<CanonKey>& canonical_keys(EventType t);

// Each scalar field present: text (and the policy's codes), integers, money; in name order (the first of several
// faults named is the same whatever the table's order).
template <typename S>
void check_fields(const S& b, const CodeLists& codes) {
  for (const CanonKey& k : canonical_keys(type_of<S>())) {
    if (k.source != CanonKey::field) continue;
    with_field_at(b, k.index, [&](const auto& d, const auto& m) {
      const auto* x = value_of(m);
      if (!x) return;
      using V = std::remove_cvref_t<decltype(*x)>;
      const std::string name(d.name);
      if constexpr (std::is_same_v<V, std::string>) {
        check_text(name, *x, true);  // `name` too: a name starting with U+0001 broke the JSON round trip
        if (d.kind == FieldKind::policy_code) check_code(name, *x, codes);
      } else if constexpr (std::is_same_v<V, int>) {
        check_integer(name, d.kind, *x);
      } else if constexpr (std::is_same_v<V, Money>) {
        check_money(name, *x, kMaxFieldMoney, "");
      }
    });
  }
}

}  // namespace

void validate_event(const Event& e, const CodeLists& codes) {
  const EventHeader& h = e.header();
  check_text("id", h.id, true);
  check_integer(shape(e.type()).date_key, FieldKind::date, h.at);
  std::visit(
      [&](const auto& b) {
        check_fields(b, codes);
        if constexpr (requires { b.items; }) {
          if (b.items.empty()) throw EventError("items", "missing");  // a binary record's empty vector
          check_items(b.items, codes);
        }
        if constexpr (requires { b.away; })
          if (b.away && (b.away->level < 0 || b.away->level > 3))
            throw EventError("away.level", "must be 0, 1, 2 or 3, got " + std::to_string(b.away->level));
        check_consistency(b);
      },
      e.body);
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

std::vector<Item> fast_items(const FastValue& v);
Away fast_away(const FastValue& v);

// value_from_json's conversions on a fast-read value.
template <typename V>
V fast_value(FieldKind kind, const FastValue& v) {
  if constexpr (CodeEnum<V>) {
    return code_for_field<V>("", fast_text(v));
  } else if constexpr (std::is_same_v<V, std::string>) {
    return std::string(fast_text(v));
  } else if constexpr (std::is_same_v<V, int>) {
    if (kind == FieldKind::month) {
      auto m = v.kind == FastValue::string ? parse_month(v.text) : std::nullopt;
      if (!m) throw NotFast{};
      return *m;
    }
    return kind == FieldKind::date ? fast_date(v) : fast_int(v);
  } else if constexpr (std::is_same_v<V, bool>) {
    if (v.kind != FastValue::boolean) throw NotFast{};
    return v.flag;
  } else if constexpr (std::is_same_v<V, Money>) {
    return fast_money(v);
  } else if constexpr (std::is_same_v<V, std::vector<Item>>) {
    return fast_items(v);
  } else if constexpr (std::is_same_v<V, Away>) {
    return fast_away(v);
  } else {
    static_assert(kUnhandled<V>, "a member type the table does not know");
  }
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
  Event e = empty_event(*type);
  EventHeader& h = e.header();
  h.id = std::string(fast_text(find("id")));
  const Shape& sh = shape(*type);
  for (const auto& k : sh.required) find(k);
  for (size_t i = 0; i < kv.size(); ++i) {
    const auto& [k, v] = kv[i];
    for (size_t j = 0; j < i; ++j)
      if (kv[j].first == k) throw NotFast{};  // nlohmann's path says "field given twice"
    if (k == "type" || k == "id") continue;
    if (k == sh.date_key) {
      h.at = fast_date(v);
      continue;
    }
    bool found = with_event_field(e, k, [&](const auto& d, auto& m) {
      m = fast_value<typename Slot<std::remove_cvref_t<decltype(m)>>::V>(d.kind, v);
    });
    if (!found) throw NotFast{};
  }
  validate_event(e, codes);
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
  j["type"] = type_name(e.type());
  j["id"] = e.id();
  j[shape(e.type()).date_key] = format_date(e.at());
  std::visit(
      [&](const auto& b) {
        for_each_field(b, [&](const auto& d, const auto& m) {
          if (const auto* x = value_of(m)) j[std::string(d.name)] = value_to_json(d.kind, *x);
        });
      },
      e.body);
  return j;
}

namespace {

// Each event type's keys in the canonical order (byte order of the names, as nlohmann's std::map holds them).
const std::vector<CanonKey>& canonical_keys(EventType t) {
  static const std::array<std::vector<CanonKey>, kEventTypeCount> keys = [] {
    std::array<std::vector<CanonKey>, kEventTypeCount> all;
    for (int i = 0; i < kEventTypeCount; ++i) {
      auto& ks = all[static_cast<size_t>(i)];
      const auto type = static_cast<EventType>(i);
      ks = {{CanonKey::type, "type"}, {CanonKey::id, "id"}, {CanonKey::at, shape(type).date_key}};
      std::visit(
          [&](const auto& b) {
            size_t n = 0;
            for_each_field(b, [&](const auto& d, const auto&) {
              ks.push_back({CanonKey::field, std::string(d.name), n++, d.kind});
            });
          },
          empty_event(type).body);
      std::sort(ks.begin(), ks.end(), [](const CanonKey& a, const CanonKey& b) { return a.name < b.name; });
    }
    return all;
  }();
  return keys[static_cast<size_t>(t)];
}

// Appends `x` as value_to_json gives it (dumped). `utf8` turns false on text that is not valid UTF-8 (formatted
// dates, money and code spellings are ASCII).
template <typename V>
void append_value(FieldKind kind, const V& x, std::string& out, bool& utf8) {
  auto text = [&](std::string_view s) {
    if (!text_problem(s, false).empty()) utf8 = false;
    append_json_string(out, s);
  };
  if constexpr (CodeEnum<V>) {
    append_json_string(out, spelling(x));
  } else if constexpr (std::is_same_v<V, Money>) {
    append_json_string(out, format_money(x));
  } else if constexpr (std::is_same_v<V, int>) {
    if (kind == FieldKind::month) append_json_string(out, format_month(x));
    else if (kind == FieldKind::date) append_json_string(out, format_date(x));
    else out += std::to_string(x);
  } else if constexpr (std::is_same_v<V, bool>) {
    out += x ? "true" : "false";
  } else if constexpr (std::is_same_v<V, std::string>) {
    text(x);
  } else if constexpr (std::is_same_v<V, std::vector<Item>>) {
    out += '[';
    for (size_t i = 0; i < x.size(); ++i) {  // keys in order: amount, category, eligible, therapy
      const Item& it = x[i];
      out += i ? ",{\"amount\":" : "{\"amount\":";
      append_json_string(out, format_money(it.amount));
      out += ",\"category\":";
      append_json_string(out, spelling(it.category));
      if (it.eligible) out += ",\"eligible\":", append_json_string(out, format_money(*it.eligible));
      if (it.therapy) out += ",\"therapy\":", text(*it.therapy);
      out += '}';
    }
    out += ']';
  } else if constexpr (std::is_same_v<V, Away>) {
    out += "{\"level\":" + std::to_string(x.level) + ",\"mode\":";
    append_json_string(out, spelling(x.mode));
    out += '}';
  } else {
    static_assert(kUnhandled<V>, "a member type the table does not know");
  }
}

// Appends the value of `k` as event_to_json gives it; false (nothing appended) when it leaves the key out.
bool canonical_value(const Event& e, const CanonKey& k, std::string& out, bool& utf8) {
  switch (k.source) {
    case CanonKey::type: append_json_string(out, type_name(e.type())); return true;
    case CanonKey::id:
      if (!text_problem(e.id(), false).empty()) utf8 = false;
      append_json_string(out, e.id());
      return true;
    case CanonKey::at: append_json_string(out, format_date(e.at())); return true;
    case CanonKey::field: break;
  }
  bool present = false;
  std::visit(
      [&](const auto& b) {
        with_field_at(b, k.index, [&](const auto& d, const auto& m) {
          if (const auto* x = value_of(m)) present = true, append_value(d.kind, *x, out, utf8);
        });
      },
      e.body);
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
  for (const CanonKey& k : canonical_keys(e.type())) {
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
  if (name == shape(e.type()).date_key) return StoredField(static_cast<int32_t>(e.at()));
  std::optional<StoredField> out;
  with_event_field(e, name, [&](const auto&, const auto& m) {
    const auto* x = value_of(m);
    if (!x) return;
    using V = std::remove_cvref_t<decltype(*x)>;
    if constexpr (CodeEnum<V>) out = StoredField(spelling(*x));
    else if constexpr (std::is_same_v<V, std::string>) out = StoredField(std::string_view(*x));
    else if constexpr (std::is_same_v<V, std::vector<Item>> || std::is_same_v<V, Away>) out = StoredField(x);
    else out = StoredField(*x);  // int32_t, bool, Money
  });
  return out;
}

namespace {

// The field names the digest feeds for every event, present or not, in this order: every field of the table when
// the digest was defined (items and away apart). Frozen: the id index of every store holds digests of this stream,
// so a name is never added here; a field added to the table later is fed after these, only when present
// (extra_digest_places), which leaves every existing event's digest as it was.
constexpr std::array<std::string_view, 34> kDigestNames = {
    "amount", "applied", "base", "beneficiary", "benefit", "birth_date", "bucket", "claim", "course_start",
    "covered", "diagnosis", "disease", "facility", "kind", "level", "month", "name", "old_urban",
    "ordinary_outpatient", "outcome", "parent", "person", "purpose", "relation", "relative", "retired_on", "scheme",
    "specialty", "specialty_facility", "status", "student", "tcm", "tier", "variant"};
static_assert(std::is_sorted(kDigestNames.begin(), kDigestNames.end()), "kDigestNames in byte order, as fed");

// Per type: for each of kDigestNames, the field's place in the struct's fields(), or -1.
const std::vector<int>& digest_places(EventType t) {
  static const std::array<std::vector<int>, kEventTypeCount> places = [] {
    std::array<std::vector<int>, kEventTypeCount> all;
    for (int i = 0; i < kEventTypeCount; ++i)
      for (std::string_view name : kDigestNames) {
        int place = -1;
        for (const CanonKey& k : canonical_keys(static_cast<EventType>(i)))
          if (k.source == CanonKey::field && k.name == name) place = static_cast<int>(k.index);
        all[static_cast<size_t>(i)].push_back(place);
      }
    return all;
  }();
  return places[static_cast<size_t>(t)];
}

// Per type: the places of its scalar fields not in kDigestNames (none yet), in name order. Each one present is fed
// after kExtraMark and its name. Fields of kind items or away are fed as `items` and `away` are (only those names).
constexpr char kExtraMark[1] = {'\x02'};
const std::vector<size_t>& extra_digest_places(EventType t) {
  static const std::array<std::vector<size_t>, kEventTypeCount> places = [] {
    std::array<std::vector<size_t>, kEventTypeCount> all;
    for (int i = 0; i < kEventTypeCount; ++i)
      for (const CanonKey& k : canonical_keys(static_cast<EventType>(i))) {
        const bool composite = k.kind == FieldKind::items || k.kind == FieldKind::away;
        if (k.source == CanonKey::field && composite && k.name != "items" && k.name != "away")
          throw std::logic_error("event table: the digest feeds no " + k.name + " (only `items` and `away`)");
        if (k.source == CanonKey::field && !composite &&
            std::find(kDigestNames.begin(), kDigestNames.end(), k.name) == kDigestNames.end())
          all[static_cast<size_t>(i)].push_back(k.index);
      }
    return all;
  }();
  return places[static_cast<size_t>(t)];
}

}  // namespace

// The byte stream is the one of the single-struct Event (kDigestNames in order, absent ones marked absent; then
// items and away): digests stored in the id index of existing stores stay valid (Codec.DigestsAreThoseStoresHold).
uint64_t event_digest(const Event& e) {
  XXH3_state_t* st = XXH3_createState();
  XXH3_64bits_reset(st);
  auto feed = [&](const void* p, size_t n) { XXH3_64bits_update(st, p, n); };
  auto feed_str = [&](const std::string& s) {
    uint64_t n = s.size();
    feed(&n, 8);
    feed(s.data(), s.size());
  };
  uint8_t t = static_cast<uint8_t>(e.type());
  feed(&t, 1);
  feed_str(e.id());
  const Date at = e.at();
  feed(&at, sizeof at);
  auto feed_value = [&](const auto& x) {
    using V = std::remove_cvref_t<decltype(x)>;
    if constexpr (std::is_same_v<V, std::string>) feed_str(x);
    else if constexpr (CodeEnum<V>) feed_str(spelled(x));  // as when codes were text: stored digests hold
    else if constexpr (std::is_same_v<V, int> || std::is_same_v<V, bool> || std::is_same_v<V, Money>)
      feed(&x, sizeof(V));
    else if constexpr (std::is_same_v<V, std::vector<Item>> || std::is_same_v<V, Away>) {}  // fed after the scalars
    else static_assert(kUnhandled<V>, "a member type the digest does not know");
  };
  std::visit(
      [&](const auto& b) {
        for (int place : digest_places(e.type())) {
          uint8_t has = 0;
          if (place >= 0)
            with_field_at(b, static_cast<size_t>(place), [&](const auto&, const auto& m) {
              if (const auto* x = value_of(m)) has = 1, feed(&has, 1), feed_value(*x);
            });
          if (!has) feed(&has, 1);
        }
        for (size_t place : extra_digest_places(e.type()))
          with_field_at(b, place, [&](const auto& d, const auto& m) {
            if (const auto* x = value_of(m)) feed(kExtraMark, 1), feed_str(std::string(d.name)), feed_value(*x);
          });
        std::vector<Item> none;
        const std::vector<Item>* items = &none;
        if constexpr (requires { b.items; }) items = &b.items;
        uint64_t n = items->size();
        feed(&n, 8);
        for (const Item& it : *items) {
          feed_str(spelled(it.category));
          feed(&it.amount, 8);
          Money el = it.eligible ? *it.eligible : -1;
          feed(&el, 8);
          feed_str(it.therapy.value_or(std::string("\0", 2)));
        }
        if constexpr (requires { b.away; })
          if (b.away) {
            feed_str(spelled(b.away->mode));
            feed(&b.away->level, sizeof b.away->level);
          }
      },
      e.body);
  uint64_t h = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  return h;
}

}  // namespace gongji

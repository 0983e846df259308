#include "ledger/state_codec.h"

#include <algorithm>
#include <functional>
#include <optional>

namespace gongji {
namespace {

constexpr uint8_t kMetaFormat = 1;

struct Out {
  std::string s;
  bool codes_by_index = false;  // person format 3: a code as its index in its table (put_code)
  bool retirement_entries = false;  // person format 5: each standing entry says whether a retirement made it
  bool period_entries = false;  // person format 6: a period's entry (Period::entry) where it is not 0
  void u(uint64_t v) {
    while (v >= 0x80) s.push_back(static_cast<char>(v | 0x80)), v >>= 7;
    s.push_back(static_cast<char>(v));
  }
  void i(int64_t v) { u((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63)); }  // zigzag
  void b(bool v) { s.push_back(v ? 1 : 0); }
  void str(const std::string& v) {
    u(v.size());
    s += v;
  }
};

struct In {
  std::string_view s;
  size_t pos = 0;
  const char* what = "";
  bool codes_by_index = false;  // as Out's
  bool retirement_entries = false;  // as Out's (older formats: mark_retirements_by_shape)
  bool period_entries = false;  // as Out's (older formats: periods_by_day)
  [[noreturn]] void fail() { throw StateCodecError(std::string("stored state is unreadable at ") + what); }
  uint64_t u() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos >= s.size()) fail();
      uint8_t c = static_cast<uint8_t>(s[pos++]);
      v |= static_cast<uint64_t>(c & 0x7f) << shift;
      if (!(c & 0x80)) return v;
    }
    fail();
  }
  int64_t i() {
    uint64_t v = u();
    return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
  }
  bool b() {
    if (pos >= s.size()) fail();
    return s[pos++] != 0;
  }
  std::string str() {
    uint64_t n = u();
    if (n > s.size() - pos) fail();
    std::string v(s.substr(pos, n));
    pos += n;
    return v;
  }
};

// One pair of functions per type; vectors and maps are length-prefixed.
// A code is stored as its spelling (codes.h), an absent optional code as "": the bytes of format 1, when codes were
// text, so that equal states still give equal bytes and digests. Person format 3 stores a code as its index in its
// table, an optional one as 0 for none and 1 + the index (codes_by_index), for the tables pinned below.
template <typename E>
void put_code(Out& o, E x) {
  if (o.codes_by_index) o.u(static_cast<uint64_t>(x));
  else o.str(spelled(x));
}
template <typename E>
void put_code(Out& o, const std::optional<E>& x) {
  if (o.codes_by_index) o.u(x ? static_cast<uint64_t>(*x) + 1 : 0);
  else o.str(x ? spelled(*x) : std::string());
}
template <typename E>
E get_code(In& in) {
  if (in.codes_by_index) {
    const uint64_t k = in.u();
    if (k >= CodeTable<E>::names.size()) in.fail();
    return static_cast<E>(k);
  }
  auto c = code_from<E>(in.str());
  if (!c) in.fail();
  return *c;
}
template <typename E>
std::optional<E> get_optional_code(In& in) {
  if (in.codes_by_index) {
    const uint64_t k = in.u();
    if (k > CodeTable<E>::names.size()) in.fail();
    return k == 0 ? std::nullopt : std::optional<E>(static_cast<E>(k - 1));
  }
  std::string s = in.str();
  if (s.empty()) return std::nullopt;
  auto c = code_from<E>(s);
  if (!c) in.fail();
  return c;
}
// The tables whose codes a person holds, as they were when person format 3 began storing codes by index. Moving or
// removing a value would change what stored persons mean, so any change fails to compile here: a value appended
// leaves stored indexes as they are (update the pin); anything else needs a new person format that decodes format 3
// through this pinned order.
template <typename E, size_t N>
constexpr bool pinned(const std::array<std::string_view, N>& was) {
  if constexpr (CodeTable<E>::names.size() != N) return false;
  else return CodeTable<E>::names == was;
}
static_assert(pinned<Scheme, 2>({"employee", "resident"}));
static_assert(pinned<EmployeeStatus, 4>({"in_service", "retired", "flexible", "old_urban"}));
static_assert(pinned<Bucket, 5>({"chronic:employee", "chronic:ordinary", "chronic:specific", "inpatient", "ordinary"}));
static_assert(pinned<ClaimStatus, 3>({"settled", "rejected", "referred"}));
static_assert(pinned<Relation, 3>({"spouse", "parent", "child"}));
static_assert(pinned<Variant, 1>({"castration"}));
static_assert(pinned<EndReason, 3>({"revoked", "suspended", "scheme_changed"}));
void put(Out& o, const Standing& x) {
  o.i(x.from), put_code(o, x.scheme), put_code(o, x.status), o.i(x.tier), o.b(x.student), o.b(x.old_urban);
  if (o.retirement_entries) o.b(x.retirement);
}
void get(In& in, Standing& x) {
  x.from = static_cast<Date>(in.i()), x.scheme = get_code<Scheme>(in);
  x.status = get_optional_code<EmployeeStatus>(in), x.tier = static_cast<int>(in.i());
  x.student = in.b(), x.old_urban = in.b();
  x.retirement = in.retirement_entries && in.b();
}
void put(Out& o, const std::string& x) { o.str(x); }
void get(In& in, std::string& x) { x = in.str(); }
void put(Out& o, bool x) { o.b(x); }
void get(In& in, bool& x) { x = in.b(); }
void put(Out& o, int32_t x) { o.i(x); }
void get(In& in, int32_t& x) { x = static_cast<int32_t>(in.i()); }
// Unused today; kept so that a Dated<Money> field encodes without a new overload.
[[maybe_unused]] void put(Out& o, int64_t x) { o.i(x); }
[[maybe_unused]] void get(In& in, int64_t& x) { x = in.i(); }
template <typename T>
void put(Out& o, const Dated<T>& x) {
  o.i(x.from);
  put(o, x.value);
}
template <typename T>
void get(In& in, Dated<T>& x) {
  x.from = static_cast<Date>(in.i());
  get(in, x.value);
}
// A scheme period as its first day's difference from `base` (0: the day itself), in person formats up to 5 (which
// hold the day alone: encode_person writes them from periods_by_day's inverse); person format 6 doubles that
// difference and adds 1 when the period's entry (Period::entry) follows it, so that a period begun by its day's
// first standing entry, as nearly all are, takes about as many bytes as before.
void put_period(Out& o, const Period& x, int64_t base) {
  if (x.entry < 0) throw StateCodecError("a scheme period's entry is never negative");
  if (!o.period_entries) {
    if (x.entry != 0) throw StateCodecError("person formats before 6 hold a scheme period's day alone");
    o.i(int64_t{x.start} - base);
    return;
  }
  o.i((int64_t{x.start} - base) * 2 + (x.entry != 0 ? 1 : 0));
  if (x.entry != 0) o.u(static_cast<uint64_t>(x.entry));
}
int32_t in_date_range(In& in, int64_t base, int64_t difference) {
  int64_t v = 0;
  if (__builtin_add_overflow(base, difference, &v) || v < INT32_MIN || v > INT32_MAX) in.fail();
  return static_cast<int32_t>(v);
}
Period get_period(In& in, int64_t base) {
  if (!in.period_entries) return {in_date_range(in, base, in.i()), 0};
  const int64_t v = in.i();
  const int64_t follows = v & 1;  // two's complement: the low bit of a negative number too
  Period x{in_date_range(in, base, (v - follows) / 2), 0};
  if (follows) {
    const uint64_t entry = in.u();
    if (entry == 0 || entry > INT32_MAX) in.fail();
    x.entry = static_cast<int>(entry);
  }
  return x;
}
void put(Out& o, const Effect& x) {
  o.i(x.date), o.i(x.year), put_period(o, x.period, 0), put_code(o, x.bucket), o.str(x.claim), o.i(x.deductible);
  o.i(x.limit_used);
  o.i(x.inpatient_used), o.i(x.fund), o.i(x.eligible), o.i(x.bonus);
}
void get(In& in, Effect& x) {
  x.date = static_cast<Date>(in.i()), x.year = static_cast<int>(in.i()), x.period = get_period(in, 0);
  x.bucket = get_code<Bucket>(in), x.claim = in.str(), x.deductible = in.i(), x.limit_used = in.i();
  x.inpatient_used = in.i();
  x.fund = in.i(), x.eligible = in.i(), x.bonus = static_cast<Rate>(in.i());
}
void put(Out& o, const ClaimRecord& x) {
  o.i(x.date), put_code(o, x.status), o.b(x.reversed);
  put(o, x.effect);
}
void get(In& in, ClaimRecord& x) {
  x.date = static_cast<Date>(in.i()), x.status = get_code<ClaimStatus>(in), x.reversed = in.b();
  get(in, x.effect);
}
void put(Out& o, const TherapyUse& x) { o.i(x.date), o.str(x.code), o.str(x.claim); }
void get(In& in, TherapyUse& x) { x.date = static_cast<Date>(in.i()), x.code = in.str(), x.claim = in.str(); }
void put(Out& o, const Stay& x) { o.i(x.admitted), o.i(x.discharged); }
void get(In& in, Stay& x) { x.admitted = static_cast<Date>(in.i()), x.discharged = static_cast<Date>(in.i()); }
void put(Out& o, const FamilyLink& x) { o.str(x.relative), put_code(o, x.relation), o.i(x.from); }
void get(In& in, FamilyLink& x) {
  x.relative = in.str(), x.relation = get_code<Relation>(in), x.from = static_cast<Date>(in.i());
}
void put(Out& o, const Registration& x) {
  o.str(x.disease), put_code(o, x.bucket), put_code(o, x.variant), o.i(x.approved), o.i(x.effective);
  o.i(x.applied), o.i(x.ended), put_code(o, x.end_reason);
}
void get(In& in, Registration& x) {
  x.disease = in.str(), x.bucket = get_code<Bucket>(in), x.variant = get_optional_code<Variant>(in);
  x.approved = static_cast<Date>(in.i());
  x.effective = static_cast<Date>(in.i()), x.applied = static_cast<Date>(in.i()), x.ended = static_cast<Date>(in.i());
  x.end_reason = get_optional_code<EndReason>(in);
}
void put(Out& o, const AccountEntry& x) { o.i(x.date), o.i(x.amount), o.str(x.cause); }
void get(In& in, AccountEntry& x) { x.date = static_cast<Date>(in.i()), x.amount = in.i(), x.cause = in.str(); }
void put(Out& o, const FacilityVersion& x) {
  o.i(x.from), o.str(x.name), put_code(o, x.kind), o.str(x.parent), put_code(o, x.specialty), o.i(x.level);
  o.b(x.tcm);
  o.b(x.ordinary_outpatient);
}
void get(In& in, FacilityVersion& x) {
  x.from = static_cast<Date>(in.i()), x.name = in.str(), x.kind = get_code<FacilityKind>(in), x.parent = in.str();
  x.specialty = get_optional_code<Specialty>(in), x.level = static_cast<int>(in.i()), x.tcm = in.b();
  x.ordinary_outpatient = in.b();
}
template <typename T>
void put(Out& o, const std::vector<T>& v) {
  o.u(v.size());
  for (const auto& x : v) put(o, x);
}
template <typename T>
void get(In& in, std::vector<T>& v) {
  uint64_t n = in.u();
  if (n > in.s.size()) in.fail();
  v.resize(n);
  for (auto& x : v) get(in, x);
}
void put_key(Out& o, const std::string& k) { o.str(k); }
void put_key(Out& o, Bucket k) { put_code(o, k); }
void get_key(In& in, std::string& k) { k = in.str(); }
void get_key(In& in, Bucket& k) { k = get_code<Bucket>(in); }
// Stored in key order; Bucket's order is its spelling's (codes.h), so the bytes are those of string keys.
template <typename K, typename V>
void put(Out& o, const std::map<K, V>& m) {
  o.u(m.size());
  for (const auto& [k, v] : m) put_key(o, k), put(o, v);
}
template <typename K, typename V>
void get(In& in, std::map<K, V>& m) {
  uint64_t n = in.u();
  if (n > in.s.size()) in.fail();
  for (uint64_t i = 0; i < n; ++i) {
    K k{};
    get_key(in, k);
    get(in, m[k]);
  }
}
void put(Out& o, const ChronicFacilities& x) { put(o, x.main), put(o, x.specialty); }
void get(In& in, ChronicFacilities& x) { get(in, x.main), get(in, x.specialty); }

}  // namespace

namespace {
// A step: its rule, its saying, then the saying's numbers and texts (how many of each follows from the saying).
void put_step(Out& o, const TraceStep& t, const std::string& of) {
  if (!fills(t)) throw StateCodecError("a trace step of " + of + " does not fill its saying");
  o.u(static_cast<uint64_t>(t.rule)), o.u(static_cast<uint64_t>(t.say));
  for (int64_t n : t.numbers) o.i(n);
  for (const std::string& x : t.texts) o.str(x);
}
}  // namespace

std::string encode_settlement(const Settlement& s) {
  Out o;
  o.s.reserve(192);
  o.s.push_back(static_cast<char>(kSettlementFormat));
  o.str(s.claim), o.str(s.person), o.str(s.event), o.str(s.facility), o.str(s.policy_version);
  put_code(o, s.benefit), put_code(o, s.status), put_code(o, s.scheme);
  o.i(s.date), o.i(s.level), o.i(s.ratio);
  o.u(s.reasons.size());
  for (Reason r : s.reasons) put_code(o, r);
  for (Money m : {s.total, s.eligible, s.self_first, s.deductible, s.covered, s.fund}) o.i(m);
  o.u(s.trace.size());
  for (const TraceStep& t : s.trace) put_step(o, t, "claim " + s.claim);
  o.u(s.after.size());
  for (const AccumulatorAfter& a : s.after) {
    o.u(static_cast<uint64_t>(a.key)), o.b(a.value.has_value());
    if (a.value) o.i(*a.value);
  }
  return std::move(o.s);
}

namespace {

// Format 1 kept each step as its rule ID and rendered text, and each accumulator as its key and money text. Each step
// is read back to the saying that renders its text (step_from_text), so the settlement equals the one a fold keeps.
TraceStep get_step_v1(In& in) {
  const std::string rule = in.str(), detail = in.str();
  const std::optional<Rule> r = rule_from_id(rule);
  if (!r) in.fail();
  return step_from_text(*r, detail);  // the steps a fold of format 5 keeps for the same text
}
AccumulatorAfter get_after_v1(In& in) {
  const std::string k = in.str();
  const size_t key = std::find(kAccumulatorKeys.begin(), kAccumulatorKeys.end(), k) - kAccumulatorKeys.begin();
  if (key == kAccumulatorKeys.size()) in.fail();
  AccumulatorAfter a{static_cast<Accumulator>(key), std::nullopt};
  if (in.b()) {
    const std::string v = in.str();
    const bool neg = !v.empty() && v[0] == '-';
    const std::optional<Money> m = parse_yuan(std::string_view(v).substr(neg ? 1 : 0));
    if (!m) in.fail();
    a.value = neg ? -*m : *m;
  }
  return a;
}

TraceStep get_step(In& in) {
  TraceStep t;
  const uint64_t rule = in.u(), say = in.u();
  if (rule >= kRules.size() || say >= kSayings.size()) in.fail();
  t.rule = static_cast<Rule>(rule), t.say = static_cast<Say>(say);
  char kinds[16] = {};
  const size_t holes_n = holes(kSayings[say], kinds);
  for (size_t k = 0; k < holes_n; ++k)
    if (kinds[k] != 's') t.numbers.push_back(in.i());
  for (size_t k = 0; k < holes_n; ++k)
    if (kinds[k] == 's') t.texts.push_back(in.str());
  return t;
}
AccumulatorAfter get_after(In& in) {
  const uint64_t key = in.u();
  if (key >= kAccumulatorKeys.size()) in.fail();
  AccumulatorAfter a{static_cast<Accumulator>(key), std::nullopt};
  if (in.b()) a.value = in.i();
  return a;
}

}  // namespace

Settlement decode_settlement(std::string_view bytes) {
  In in{bytes};
  in.what = "settlement format";
  const uint8_t format = bytes.empty() ? 0 : static_cast<uint8_t>(bytes[0]);
  if (format != kSettlementFormat && format != 1) in.fail();
  in.pos = 1;
  in.what = "settlement";
  Settlement s;
  s.claim = in.str(), s.person = in.str(), s.event = in.str(), s.facility = in.str(), s.policy_version = in.str();
  s.benefit = get_code<Benefit>(in), s.status = get_code<ClaimStatus>(in), s.scheme = get_optional_code<Scheme>(in);
  s.date = static_cast<Date>(in.i()), s.level = static_cast<int>(in.i()), s.ratio = static_cast<Rate>(in.i());
  const uint64_t reasons = in.u();
  if (reasons > bytes.size()) in.fail();
  for (uint64_t i = 0; i < reasons; ++i) s.reasons.insert(get_code<Reason>(in));
  for (Money* m : {&s.total, &s.eligible, &s.self_first, &s.deductible, &s.covered, &s.fund}) *m = in.i();
  const uint64_t steps = in.u();
  if (steps > bytes.size()) in.fail();
  for (uint64_t i = 0; i < steps; ++i) s.trace.push_back(format == 1 ? get_step_v1(in) : get_step(in));
  const uint64_t after = in.u();
  if (after > bytes.size()) in.fail();
  for (uint64_t i = 0; i < after; ++i) s.after.push_back(format == 1 ? get_after_v1(in) : get_after(in));
  if (in.pos != bytes.size()) in.fail();
  return s;
}

namespace {

void put_text(Out& o, const std::optional<std::string>& x) {
  o.b(x.has_value());
  if (x) o.str(*x);
}
std::optional<std::string> get_text(In& in) { return in.b() ? std::optional<std::string>(in.str()) : std::nullopt; }
void put_type(Out& o, EventType t) { o.str(type_name(t)); }
EventType get_type(In& in) {
  const std::optional<EventType> t = type_from_name(in.str());
  if (!t) in.fail();
  return *t;
}

void put_record(Out& o, const Reversal& r) {
  o.str(r.event), o.str(r.claim), o.str(r.person), o.i(r.at), o.i(r.date);
  for (Money m : {r.fund, r.deductible, r.limit_used, r.eligible, r.inpatient_used}) o.i(m);
}
void put_record(Out& o, const AccountMovement& m) {
  o.b(m.credit), o.str(m.event), o.str(m.person), o.i(m.at), o.i(m.amount), o.i(m.balance);
  put_step(o, m.step, "account movement " + m.event);
  o.b(m.month.has_value());
  if (m.month) o.i(*m.month);
  put_text(o, m.beneficiary), put_code(o, m.purpose);
}
void put_record(Out& o, const Refusal& r) {
  o.str(r.event), put_type(o, r.type), put_code(o, r.reason), o.str(r.detail), o.i(r.at), put_text(o, r.person);
}
void put_record(Out& o, const ContributionMismatch& m) {
  o.str(m.event), o.str(m.person), o.i(m.month), o.i(m.base), o.i(m.amount), o.i(m.expected), o.i(m.rate);
  o.str(m.rule);
}
void put_record(Out& o, const DeadLetter& d) {
  o.i(d.partition), o.u(d.offset), o.str(d.reason), put_text(o, d.event), o.b(d.type.has_value());
  if (d.type) put_type(o, *d.type);
  put_text(o, d.person), put_text(o, d.claim);
}

Record get_record(In& in, uint64_t kind) {
  switch (kind) {
    case 0: {
      Reversal r;
      r.event = in.str(), r.claim = in.str(), r.person = in.str();
      r.at = static_cast<Date>(in.i()), r.date = static_cast<Date>(in.i());
      for (Money* m : {&r.fund, &r.deductible, &r.limit_used, &r.eligible, &r.inpatient_used}) *m = in.i();
      return r;
    }
    case 1: {
      AccountMovement m;
      m.credit = in.b(), m.event = in.str(), m.person = in.str(), m.at = static_cast<Date>(in.i());
      m.amount = in.i(), m.balance = in.i(), m.step = get_step(in);
      if (in.b()) m.month = static_cast<Month>(in.i());
      m.beneficiary = get_text(in), m.purpose = get_optional_code<Purpose>(in);
      return m;
    }
    case 2: {
      Refusal r;
      r.event = in.str(), r.type = get_type(in), r.reason = get_code<Reason>(in), r.detail = in.str();
      r.at = static_cast<Date>(in.i()), r.person = get_text(in);
      return r;
    }
    case 3: {
      ContributionMismatch m;
      m.event = in.str(), m.person = in.str(), m.month = static_cast<Month>(in.i());
      m.base = in.i(), m.amount = in.i(), m.expected = in.i(), m.rate = static_cast<Rate>(in.i()), m.rule = in.str();
      return m;
    }
    case 4: {
      DeadLetter d;
      d.partition = static_cast<int>(in.i()), d.offset = in.u(), d.reason = in.str(), d.event = get_text(in);
      if (in.b()) d.type = get_type(in);
      d.person = get_text(in), d.claim = get_text(in);
      return d;
    }
    default: in.fail();
  }
}

}  // namespace

std::string encode_record(const Record& r) {
  static_assert(std::variant_size_v<Record> == 5, "a new record kind needs its stored form here");
  Out o;
  o.s.reserve(96);
  o.s.push_back(static_cast<char>(kRecordFormat));
  o.u(r.index());
  std::visit([&](const auto& x) { put_record(o, x); }, r);
  return std::move(o.s);
}

Record decode_record(std::string_view bytes) {
  In in{bytes};
  in.what = "record format";
  if (bytes.empty() || static_cast<uint8_t>(bytes[0]) != kRecordFormat) in.fail();
  in.pos = 1;
  in.what = "output record";
  const uint64_t kind = in.u();
  Record r = get_record(in, kind);
  if (in.pos != bytes.size()) in.fail();
  return r;
}

namespace {
// Person format 2: a claim's effect is most often one of the person's effects (a settlement's, ledger/claims.cc): it
// is stored as 1 + the index of the first effect equal to it, else as 0 and the effect in full. The claims are read
// after the effects, so the reference always points back.
void put_claims(Out& o, const std::map<std::string, ClaimRecord>& claims, const std::vector<Effect>& effects) {
  std::vector<std::pair<std::string_view, size_t>> by_claim;  // (claim, index), sorted: one allocation per person
  by_claim.reserve(effects.size());
  for (size_t j = 0; j < effects.size(); ++j) by_claim.emplace_back(effects[j].claim, j);
  std::sort(by_claim.begin(), by_claim.end());
  o.u(claims.size());
  for (const auto& [id, c] : claims) {
    put_key(o, id);
    o.i(c.date), put_code(o, c.status), o.b(c.reversed);
    size_t ref = 0;
    const std::string_view claim = c.effect.claim;
    for (auto it = std::lower_bound(by_claim.begin(), by_claim.end(), std::pair<std::string_view, size_t>(claim, 0));
         it != by_claim.end() && it->first == claim; ++it)
      if (effects[it->second] == c.effect) {
        ref = it->second + 1;
        break;
      }
    o.u(ref);
    if (ref == 0) put(o, c.effect);
  }
}
void get_claims(In& in, std::map<std::string, ClaimRecord>& claims, const std::vector<Effect>& effects) {
  uint64_t n = in.u();
  if (n > in.s.size()) in.fail();
  for (uint64_t i = 0; i < n; ++i) {
    std::string k;
    get_key(in, k);
    ClaimRecord& c = claims[k];
    c.date = static_cast<Date>(in.i()), c.status = get_code<ClaimStatus>(in), c.reversed = in.b();
    const uint64_t ref = in.u();
    if (ref > effects.size()) in.fail();
    if (ref == 0) get(in, c.effect);
    else c.effect = effects[ref - 1];
  }
}

// Person format 3 (store format 9, issue 10: a person is rewritten at almost every event of a city-year; format 2
// persons averaged 556 bytes at the end of a year of 10% of Weihai, effects and claims 421 of them). Besides codes by
// index (put_code):
// - effects (in log order) keep their date and year as the difference from the previous effect's, and their period
//   as the difference from their date;
// - a claim says how it holds its effect in one number: 0 none (Effect{}, a claim that consumed nothing), 1 in full,
//   2 + 2k the person's effect k (the first one equal to it) with the claim's id after it, 3 + 2k the same where the
//   id is that effect's claim, not stored again; its date is kept as the difference from its effect's;
// - account entries keep their date as the difference from the previous entry's.
// A date or year read back as a difference must land in its type; anything else is unreadable.
int32_t read_after(In& in, int64_t base) { return in_date_range(in, base, in.i()); }
void put_effect_amounts(Out& o, const Effect& x) {
  put_code(o, x.bucket), o.str(x.claim);
  for (int64_t m : {x.deductible, x.limit_used, x.inpatient_used, x.fund, x.eligible}) o.i(m);
  o.i(x.bonus);
}
void get_effect_amounts(In& in, Effect& x) {
  x.bucket = get_code<Bucket>(in), x.claim = in.str();
  for (Money* m : {&x.deductible, &x.limit_used, &x.inpatient_used, &x.fund, &x.eligible}) *m = in.i();
  x.bonus = static_cast<Rate>(in.i());
}
void put_effects_3(Out& o, const std::vector<Effect>& v) {
  o.u(v.size());
  int64_t date = 0, year = 0;
  for (const Effect& x : v) {
    o.i(x.date - date), o.i(x.year - year), put_period(o, x.period, x.date);
    put_effect_amounts(o, x);
    date = x.date, year = x.year;
  }
}
void get_effects_3(In& in, std::vector<Effect>& v) {
  const uint64_t n = in.u();
  if (n > in.s.size()) in.fail();
  v.resize(n);
  int64_t date = 0, year = 0;
  for (Effect& x : v) {
    x.date = read_after(in, date), x.year = read_after(in, year), x.period = get_period(in, x.date);
    get_effect_amounts(in, x);
    date = x.date, year = x.year;
  }
}
void put_claims_3(Out& o, const std::map<std::string, ClaimRecord>& claims, const std::vector<Effect>& effects) {
  std::vector<std::pair<std::string_view, size_t>> by_claim;  // (claim, index), sorted
  by_claim.reserve(effects.size());
  for (size_t j = 0; j < effects.size(); ++j) by_claim.emplace_back(effects[j].claim, j);
  std::sort(by_claim.begin(), by_claim.end());
  const Effect none;
  o.u(claims.size());
  for (const auto& [id, c] : claims) {
    uint64_t how = c.effect == none ? 0 : 1;
    const std::string_view claim = c.effect.claim;
    for (auto it = std::lower_bound(by_claim.begin(), by_claim.end(), std::pair<std::string_view, size_t>(claim, 0));
         how == 1 && it != by_claim.end() && it->first == claim; ++it)
      if (effects[it->second] == c.effect) how = 2 + 2 * it->second + (claim == id ? 1 : 0);
    o.u(how);
    if (how % 2 == 0 || how == 1) put_key(o, id);  // 0, 1 and 2 + 2k carry the id
    if (how == 1)
      o.i(c.effect.date), o.i(c.effect.year), put_period(o, c.effect.period, 0), put_effect_amounts(o, c.effect);
    o.i(int64_t{c.date} - c.effect.date), put_code(o, c.status), o.b(c.reversed);
  }
}
void get_claims_3(In& in, std::map<std::string, ClaimRecord>& claims, const std::vector<Effect>& effects) {
  const uint64_t n = in.u();
  if (n > in.s.size()) in.fail();
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t how = in.u();
    if (how >= 2 && (how - 2) / 2 >= effects.size()) in.fail();
    std::string id = how % 2 == 0 || how == 1 ? in.str() : effects[(how - 2) / 2].claim;
    if (claims.count(id)) in.fail();  // each claim once, as encoded
    ClaimRecord& c = claims[std::move(id)];
    if (how >= 2) c.effect = effects[(how - 2) / 2];
    if (how == 1) {
      c.effect.date = read_after(in, 0), c.effect.year = read_after(in, 0), c.effect.period = get_period(in, 0);
      get_effect_amounts(in, c.effect);
    }
    c.date = read_after(in, c.effect.date), c.status = get_code<ClaimStatus>(in), c.reversed = in.b();
  }
}
void put_account_3(Out& o, const std::vector<AccountEntry>& v) {
  o.u(v.size());
  int64_t date = 0;
  for (const AccountEntry& x : v) o.i(x.date - date), o.i(x.amount), o.str(x.cause), date = x.date;
}
void get_account_3(In& in, std::vector<AccountEntry>& v) {
  const uint64_t n = in.u();
  if (n > in.s.size()) in.fail();
  v.resize(n);
  int64_t date = 0;
  for (AccountEntry& x : v) x.date = read_after(in, date), x.amount = in.i(), x.cause = in.str(), date = x.date;
}

// Person formats 1 to 4 kept no mark of the standing entries a retirement_confirmed made (Standing::retirement): an
// entry is read as one when it has the shape confirm_retirement gives it, the employee's entry before it with status
// retired and nothing else changed. A scheme_changed to status retired that changed nothing else has that shape too,
// and is read as a retirement (README, store format 13); an entry an earlier-dated standing logged after it left
// stale is not, as those formats folded it.
// Person formats 1 to 5 kept a scheme period as its first day alone (ORD-TYPE), and the fold summed every effect of
// that day's key as one period: the one in force on the day. The period a day's key is read as (period_of_day):
// - where the period in force on the day begins on it (period_start), that one: not the day's first entry's when a
//   change of scheme followed another standing entry of that day (an enrolment, a change of status, tier or scheme),
//   and of two changes of scheme on one day (there and back), the second's, as the claims folded after them summed
//   it, and of a change of scheme logged after a claim of the day's first entry's period, the change's, as the
//   claims folded after it summed them together (neither can be told apart: README, store format 14);
// - where none does (a change of scheme dated before the day, logged after the claim, has since made the day's
//   entries continue the scheme before them), the one the day's first entry a retirement did not make would begin:
//   the only one that can have begun a period (a retirement's entry continues the scheme of the entry before it,
//   and which scheme that is can change: ledger.cc rederive_standings), and which a later change may make begin
//   one again. 0 for a day without an entry.
Period period_of_day(const PersonState& p, Date day) {
  if (const Period now = period_start(p, day); now.start == day) return now;
  int place = 0;
  for (const auto& x : p.standing) {
    if (x.from == day && !x.value.retirement) return {day, place};
    place += x.from == day;
  }
  return {day, 0};
}

// periods_by_day: each period of a person read from formats 1 to 5, as period_of_day says; a claim's effect of
// nothing (Effect{}: a claim that consumed nothing) is left as it is.
void periods_by_day(PersonState& p) {
  for (Effect& e : p.effects) e.period = period_of_day(p, e.period.start);
  for (auto& [id, c] : p.claims)
    if (c.effect != Effect{}) c.effect.period = period_of_day(p, c.effect.period.start);
}

// periods_by_day's inverse, for writing a person in formats 1 to 5 (tests: the fold writes format 6): each period
// as its day alone, where that is what the day is read as; any other is not written (StateCodecError).
PersonState as_periods_by_day(PersonState p) {
  const PersonState as_is = p;
  const auto write = [&](Period& x) {
    if (period_of_day(as_is, x.start) != x)
      throw StateCodecError("person formats before 6 hold a scheme period's day alone, and the period begun by "
                            "entry " + std::to_string(x.entry) + " of its day is not the one its day is read as");
    x.entry = 0;
  };
  for (Effect& e : p.effects) write(e.period);
  for (auto& [id, c] : p.claims)
    if (c.effect != Effect{}) write(c.effect.period);
  return p;
}

void mark_retirements_by_shape(std::vector<Dated<Standing>>& line) {
  for (size_t i = 1; i < line.size(); ++i) {
    const Standing &before = line[i - 1].value, &s = line[i].value;
    line[i].value.retirement = before.scheme == Scheme::employee && s.scheme == Scheme::employee &&
                               s.status == EmployeeStatus::retired && s.tier == before.tier &&
                               s.student == before.student && s.old_urban == before.old_urban;
  }
}
}  // namespace

std::string encode_person(const PersonState& person, uint8_t format) {
  if (format < 1 || format > 6) throw StateCodecError("person format " + std::to_string(format) + " is not written");
  std::optional<PersonState> by_day;  // formats 1 to 5 hold a period as its day
  if (format < 6) by_day = as_periods_by_day(person);
  const PersonState& p = by_day ? *by_day : person;
  Out o;
  o.s.reserve(256);
  o.s.push_back(static_cast<char>(format));
  o.codes_by_index = format >= 3;
  o.retirement_entries = format >= 5;
  o.period_entries = format >= 6;
  o.str(p.id), o.i(p.birth), o.i(p.enrolled);
  put(o, p.standing), put(o, p.suspended), put(o, p.designation), put(o, p.designation_changes);
  if (format >= 4) put(o, p.admissions), put(o, p.discharges);
  else put(o, stays_of(p));  // the stays as an older binary keeps them (lossy: see kPersonFormat)
  if (format == 1) put(o, p.effects), put(o, p.claims);
  else if (format == 2) put(o, p.effects), put_claims(o, p.claims, p.effects);
  else put_effects_3(o, p.effects), put_claims_3(o, p.claims, p.effects);
  put(o, p.therapy_uses), put(o, p.courses), put(o, p.bonus), put(o, p.family);
  o.b(p.retired_on.has_value());
  if (p.retired_on) o.i(*p.retired_on);
  put(o, p.registrations), put(o, p.chronic_facilities);
  if (format >= 3) put_account_3(o, p.account);
  else put(o, p.account);
  return std::move(o.s);
}

PersonState decode_person(std::string_view bytes) {
  In in{bytes};
  in.what = "person format";
  const uint8_t format = bytes.empty() ? 0 : static_cast<uint8_t>(bytes[0]);
  if (format < 1 || format > 6) in.fail();
  in.pos = 1;
  in.codes_by_index = format >= 3;
  in.retirement_entries = format >= 5;
  in.period_entries = format >= 6;
  PersonState p;
  in.what = "person";
  p.id = in.str(), p.birth = static_cast<Date>(in.i()), p.enrolled = static_cast<Date>(in.i());
  get(in, p.standing), get(in, p.suspended), get(in, p.designation), get(in, p.designation_changes);
  if (format < 5) mark_retirements_by_shape(p.standing);
  if (format >= 4) {
    get(in, p.admissions), get(in, p.discharges);
    // As insert_date keeps them: ascending; no discharge on kNever (what a stay not discharged ends on).
    for (const std::vector<Date>* dates : {&p.admissions, &p.discharges})
      if (std::adjacent_find(dates->begin(), dates->end(), std::greater<Date>()) != dates->end()) in.fail();
    if (!p.discharges.empty() && p.discharges.back() == kNever) in.fail();
  } else {
    std::vector<Stay> stays;
    get(in, stays);
    for (const Stay& x : stays) {
      insert_date(p.admissions, x.admitted);
      if (x.discharged != kNever) insert_date(p.discharges, x.discharged);
    }
  }
  if (format == 1) get(in, p.effects), get(in, p.claims);
  else if (format == 2) get(in, p.effects), get_claims(in, p.claims, p.effects);
  else get_effects_3(in, p.effects), get_claims_3(in, p.claims, p.effects);
  get(in, p.therapy_uses), get(in, p.courses), get(in, p.bonus);
  get(in, p.family);
  if (in.b()) p.retired_on = static_cast<Date>(in.i());
  get(in, p.registrations), get(in, p.chronic_facilities);
  if (format >= 3) get_account_3(in, p.account);
  else get(in, p.account);
  if (in.pos != bytes.size()) in.fail();
  if (format < 6) periods_by_day(p);
  return p;
}

namespace {
// Facility format 1 did not say which fields each update set: a version's are read as those that differ from the
// version before it (the first sets them all), which is what it set unless an update restated a value in force.
void fields_set_by_difference(FacilityState& f) {
  for (size_t i = 1; i < f.versions.size(); ++i) {
    const FacilityVersion &a = f.versions[i - 1], &b = f.versions[i];
    f.versions[i].set = static_cast<uint8_t>(
        (a.name != b.name ? kFacilityName : 0) | (a.parent != b.parent ? kFacilityParent : 0) |
        (a.kind != b.kind ? kFacilityKind : 0) | (a.specialty != b.specialty ? kFacilitySpecialty : 0) |
        (a.level != b.level ? kFacilityLevel : 0) | (a.tcm != b.tcm ? kFacilityTcm : 0) |
        (a.ordinary_outpatient != b.ordinary_outpatient ? kFacilityOrdinaryOutpatient : 0));
  }
}

}  // namespace

std::string encode_facility(const FacilityState& f, uint8_t format) {
  Out o;
  o.s.push_back(static_cast<char>(format));
  o.str(f.id);
  o.u(f.versions.size());
  for (const FacilityVersion& v : f.versions) {
    put(o, v);
    if (format >= 2) o.u(v.set);
  }
  return std::move(o.s);
}

FacilityState decode_facility(std::string_view bytes) {
  In in{bytes};
  in.what = "facility";
  const uint8_t format = bytes.empty() ? 0 : static_cast<uint8_t>(bytes[0]);
  if (format < 1 || format > kFacilityFormat) in.fail();
  in.pos = 1;
  FacilityState f;
  f.id = in.str();
  const uint64_t n = in.u();
  if (n > bytes.size()) in.fail();
  f.versions.resize(n);
  for (FacilityVersion& v : f.versions) {
    get(in, v);
    if (format < 2) continue;
    const uint64_t set = in.u();
    if (set > kFacilityAllFields) in.fail();
    v.set = static_cast<uint8_t>(set);
  }
  if (in.pos != bytes.size()) in.fail();
  if (format < 2) fields_set_by_difference(f);
  return f;
}

std::string encode_meta(const PartitionMeta& m) {
  Out o;
  o.s.push_back(static_cast<char>(kMetaFormat));
  o.b(m.last_closed.has_value());
  if (m.last_closed) o.i(*m.last_closed);
  return std::move(o.s);
}

PartitionMeta decode_meta(std::string_view bytes) {
  In in{bytes};
  in.what = "partition meta";
  if (bytes.empty() || static_cast<uint8_t>(bytes[0]) != kMetaFormat) in.fail();
  in.pos = 1;
  PartitionMeta m;
  if (in.b()) m.last_closed = static_cast<Month>(in.i());
  if (in.pos != bytes.size()) in.fail();
  return m;
}

}  // namespace gongji

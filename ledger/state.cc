#include "ledger/state.h"

namespace gongji {

using nlohmann::json;

void to_json(json& j, const Standing& s) {
  j = {{"from", s.from}, {"scheme", s.scheme}, {"status", s.status}, {"tier", s.tier}, {"student", s.student},
       {"old_urban", s.old_urban}};
}
void from_json(const json& j, Standing& s) {
  j.at("from").get_to(s.from);
  j.at("scheme").get_to(s.scheme);
  j.at("status").get_to(s.status);
  j.at("tier").get_to(s.tier);
  j.at("student").get_to(s.student);
  j.at("old_urban").get_to(s.old_urban);
}
template <typename T>
void to_json(json& j, const Dated<T>& d) {
  j = json::array({d.from, d.value});
}
template <typename T>
void from_json(const json& j, Dated<T>& d) {
  j.at(0).get_to(d.from);
  j.at(1).get_to(d.value);
}
void to_json(json& j, const Effect& e) {
  j = {{"date", e.date}, {"year", e.year}, {"period", e.period}, {"bucket", e.bucket}, {"claim", e.claim},
       {"ded", e.deductible}, {"lim", e.limit_used}, {"inp", e.inpatient_used}, {"fund", e.fund},
       {"elig", e.eligible}, {"bonus", e.bonus}};
}
void from_json(const json& j, Effect& e) {
  j.at("date").get_to(e.date);
  j.at("year").get_to(e.year);
  j.at("period").get_to(e.period);
  j.at("bucket").get_to(e.bucket);
  j.at("claim").get_to(e.claim);
  j.at("ded").get_to(e.deductible);
  j.at("lim").get_to(e.limit_used);
  j.at("inp").get_to(e.inpatient_used);
  j.at("fund").get_to(e.fund);
  j.at("elig").get_to(e.eligible);
  j.at("bonus").get_to(e.bonus);
}
void to_json(json& j, const Registration& r) {
  j = {{"disease", r.disease}, {"bucket", r.bucket}, {"variant", r.variant}, {"approved", r.approved},
       {"effective", r.effective}, {"applied", r.applied}, {"ended", r.ended}, {"end_reason", r.end_reason}};
}
void from_json(const json& j, Registration& r) {
  j.at("disease").get_to(r.disease);
  j.at("bucket").get_to(r.bucket);
  j.at("variant").get_to(r.variant);
  j.at("approved").get_to(r.approved);
  j.at("effective").get_to(r.effective);
  j.at("applied").get_to(r.applied);
  j.at("ended").get_to(r.ended);
  j.at("end_reason").get_to(r.end_reason);
}
void to_json(json& j, const ChronicFacilities& c) { j = {{"main", c.main}, {"specialty", c.specialty}}; }
void from_json(const json& j, ChronicFacilities& c) {
  j.at("main").get_to(c.main);
  j.at("specialty").get_to(c.specialty);
}
void to_json(json& j, const AccountEntry& a) { j = json::array({a.date, a.amount, a.cause}); }
void from_json(const json& j, AccountEntry& a) {
  j.at(0).get_to(a.date);
  j.at(1).get_to(a.amount);
  j.at(2).get_to(a.cause);
}
void to_json(json& j, const FamilyLink& f) { j = json::array({f.relative, f.relation, f.from}); }
void from_json(const json& j, FamilyLink& f) {
  j.at(0).get_to(f.relative);
  j.at(1).get_to(f.relation);
  j.at(2).get_to(f.from);
}
void to_json(json& j, const ClaimRecord& c) {
  j = {{"date", c.date}, {"status", c.status}, {"reversed", c.reversed}, {"effect", c.effect}};
}
void from_json(const json& j, ClaimRecord& c) {
  j.at("date").get_to(c.date);
  j.at("status").get_to(c.status);
  j.at("reversed").get_to(c.reversed);
  j.at("effect").get_to(c.effect);
}
void to_json(json& j, const TherapyUse& u) { j = json::array({u.date, u.code, u.claim}); }
void from_json(const json& j, TherapyUse& u) {
  j.at(0).get_to(u.date);
  j.at(1).get_to(u.code);
  j.at(2).get_to(u.claim);
}
void to_json(json& j, const Stay& s) { j = json::array({s.admitted, s.discharged}); }
void from_json(const json& j, Stay& s) {
  j.at(0).get_to(s.admitted);
  j.at(1).get_to(s.discharged);
}

void to_json(json& j, const PersonState& s) {
  j = {{"id", s.id},
       {"birth", s.birth},
       {"enrolled", s.enrolled},
       {"standing", s.standing},
       {"suspended", s.suspended},
       {"designation", s.designation},
       {"designation_changes", s.designation_changes},
       {"stays", s.stays},
       {"effects", s.effects},
       {"claims", s.claims},
       {"therapy_uses", s.therapy_uses},
       {"courses", s.courses},
       {"bonus", s.bonus},
       {"family", s.family},
       {"retired_on", s.retired_on ? json(*s.retired_on) : json()},
       {"registrations", s.registrations},
       {"chronic_facilities", s.chronic_facilities},
       {"account", s.account}};
}
void from_json(const json& j, PersonState& s) {
  j.at("id").get_to(s.id);
  j.at("birth").get_to(s.birth);
  j.at("enrolled").get_to(s.enrolled);
  j.at("standing").get_to(s.standing);
  j.at("suspended").get_to(s.suspended);
  j.at("designation").get_to(s.designation);
  j.at("designation_changes").get_to(s.designation_changes);
  j.at("stays").get_to(s.stays);
  j.at("effects").get_to(s.effects);
  j.at("claims").get_to(s.claims);
  j.at("therapy_uses").get_to(s.therapy_uses);
  j.at("courses").get_to(s.courses);
  j.at("bonus").get_to(s.bonus);
  j.at("family").get_to(s.family);
  if (!j.at("retired_on").is_null()) s.retired_on = j.at("retired_on").get<Date>();
  j.at("registrations").get_to(s.registrations);
  j.at("chronic_facilities").get_to(s.chronic_facilities);
  j.at("account").get_to(s.account);
}

void to_json(json& j, const FacilityVersion& v) {
  j = {{"from", v.from}, {"name", v.name}, {"kind", v.kind}, {"parent", v.parent}, {"specialty", v.specialty},
       {"level", v.level}, {"tcm", v.tcm}, {"ordinary_outpatient", v.ordinary_outpatient}};
}
void from_json(const json& j, FacilityVersion& v) {
  j.at("from").get_to(v.from);
  j.at("name").get_to(v.name);
  j.at("kind").get_to(v.kind);
  j.at("parent").get_to(v.parent);
  j.at("specialty").get_to(v.specialty);
  j.at("level").get_to(v.level);
  j.at("tcm").get_to(v.tcm);
  j.at("ordinary_outpatient").get_to(v.ordinary_outpatient);
}
void to_json(json& j, const FacilityState& s) { j = {{"id", s.id}, {"versions", s.versions}}; }
void from_json(const json& j, FacilityState& s) {
  j.at("id").get_to(s.id);
  j.at("versions").get_to(s.versions);
}
void to_json(json& j, const PartitionMeta& m) {
  j = json::object();
  j["last_closed"] = m.last_closed ? json(*m.last_closed) : json();
}
void from_json(const json& j, PartitionMeta& m) {
  if (j.contains("last_closed") && !j["last_closed"].is_null()) m.last_closed = j["last_closed"].get<Month>();
}

const Standing* standing_at(const PersonState& p, Date d) { return value_at(p.standing, d); }

bool eligible_on(const PersonState& p, Date d) {
  if (p.enrolled > d) return false;
  const bool* s = value_at(p.suspended, d);
  return !(s && *s);
}

Date period_start(const PersonState& p, Date d) {
  Date start = p.enrolled;
  const std::string* scheme = nullptr;
  for (const auto& x : p.standing) {
    if (x.from > d) break;
    if (!scheme || *scheme != x.value.scheme) start = x.from;
    scheme = &x.value.scheme;
  }
  return start;
}

const FacilityVersion* facility_at(const FacilityState& f, Date d) {
  const FacilityVersion* found = nullptr;
  for (const auto& v : f.versions) {
    if (v.from > d) break;
    found = &v;
  }
  return found;
}

}  // namespace gongji

// The stored form of person and facility state: a compact, deterministic binary encoding (varints and
// length-prefixed strings, fields in declaration order but for a person's claims, see kPersonFormat) with a leading
// format version. Equal states encode to equal bytes, so the determinism digest compares logical content. decode_*
// throws StateCodecError on bytes it cannot read, naming what was being read.
#pragma once
#include <stdexcept>
#include <string>
#include <string_view>

#include "ledger/records.h"
#include "ledger/settlement.h"
#include "ledger/state.h"

namespace gongji {

struct StateCodecError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A person's first byte is its format, all six read:
//   1 (store formats up to 7): every claim's effect in full; written only where asked (tests building a store of
//     format 7);
//   2 (store format 8, issue 10: a person is rewritten at each commit that touches it, and claims and their effects
//     were 85% of its bytes): a claim's effect that equals one of the person's effects as a reference to it;
//   3 (store format 9): as 2, with codes as their index in their table (the tables are pinned in state_codec.cc),
//     dates as differences, and a claim's id not stored again when its effect names it;
//   4 (store format 12): as 3, with the dates of the inpatient admissions and discharges (ORD-INPT) where formats 1
//     to 3 held stays paired as they were logged. A person of formats 1 to 3 reads as the admissions and discharges
//     of its stays; one written in them holds its stays_of (state.h), so admissions and discharges stays_of passes
//     over are not kept there;
//   5 (store format 13): as 4, with each standing entry saying whether a retirement made it (Standing::retirement).
//     An entry of formats 1 to 4 is read as a retirement's when it has the shape of one (state_codec.cc
//     mark_retirements_by_shape), as every retirement folded before has unless an earlier-dated standing logged
//     after it left it stale (the case format 5 corrects, README);
//   6 (store format 14): as 5, with each effect's scheme period as a Period, with the place of the standing entry
//     that began it among its day's (ORD-TYPE: two changes of scheme on one day begin two periods). Formats 1 to 5
//     hold a period as its day alone, which the fold summed as the period in force on that day: read so
//     (state_codec.cc period_of_day; a claim folded before a later entry of its period's day began another period
//     is read as of that one, as it was summed); they are written only for a person each of whose periods reads
//     back so (else StateCodecError). Written.
inline constexpr uint8_t kPersonFormat = 6;
std::string encode_person(const PersonState& p, uint8_t format = kPersonFormat);
PersonState decode_person(std::string_view bytes);
// A facility's first byte is its format, both read:
//   1 (store formats up to 14): its versions; which fields each update set is read as those that differ from the
//     version before (state_codec.cc fields_set_by_difference); written only where asked (tests);
//   2 (store format 15): each version with the fields its event set (FacilityVersion::set). Written.
inline constexpr uint8_t kFacilityFormat = 2;
std::string encode_facility(const FacilityState& f, uint8_t format = kFacilityFormat);
FacilityState decode_facility(std::string_view bytes);
// A partition's meta (projections/store.h m/<partition>; store format 7, before which it was a JSON object, which
// the store's migration reads, projections/store.cc stored_meta): format byte 1, then whether a month was closed and
// which.
std::string encode_meta(const PartitionMeta& m);
PartitionMeta decode_meta(std::string_view bytes);

// The stored form of a settlement output record (projections/store.h o/): what Settlement::to_line() prints, without
// the keys, the articles (article_of) or the rule list (both follow from the trace), and with each trace step as
// its rule, its saying and its values (ledger/trace.h), each accumulator as its number and money in fen.
// decode_settlement(encode_settlement(s)) has the same fields and steps as s, and its to_line() is s.to_line() byte
// for byte. The first byte is the settlement format (see kRecordFormat below for the space it shares):
//   1 (store format 4): each step as its rule ID and rendered text, each accumulator as its key and money text;
//     still read, each step to the saying that renders its text (step_from_text);
//   2 (store format 5): as above, written.
inline constexpr uint8_t kSettlementFormat = 2;
std::string encode_settlement(const Settlement& s);
Settlement decode_settlement(std::string_view bytes);

// The stored form of the other output records (ledger/records.h; store format 6): kRecordFormat, the kind's index in
// Record, then its fields in declaration order (codes by their spelling, an account movement's step as a settlement's
// trace steps are kept). decode_record(encode_record(r)) renders record_line(r) byte for byte. The kind is stored as
// its index in Record, which is therefore append-only (ledger/records.h).
inline constexpr uint8_t kRecordFormat = 3;
// A stored output record tells its form by its first byte, one space for all: 1 and 2 settlement formats, 3 the
// other kinds, '{' a JSON line (store.cc). A new format takes the next free byte.
static_assert(kRecordFormat != kSettlementFormat && kRecordFormat != 1 && kRecordFormat != '{' &&
              kSettlementFormat != '{');
std::string encode_record(const Record& r);
Record decode_record(std::string_view bytes);

}  // namespace gongji

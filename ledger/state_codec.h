// The stored form of person and facility state: a compact, deterministic binary encoding (varints and
// length-prefixed strings, fields in declaration order) with a leading format version. Equal states encode to
// equal bytes, so the determinism digest compares logical content. decode_* throws StateCodecError on bytes it
// cannot read, naming what was being read.
#pragma once
#include <stdexcept>
#include <string>
#include <string_view>

#include "ledger/settlement.h"
#include "ledger/state.h"

namespace gongji {

struct StateCodecError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string encode_person(const PersonState& p);
PersonState decode_person(std::string_view bytes);
std::string encode_facility(const FacilityState& f);
FacilityState decode_facility(std::string_view bytes);

// The stored form of a settlement output record (projections/store.h o/), about a third of its JSON line's bytes:
// what Settlement::to_line() prints, without the keys, the articles (article_of) or the rule list (both follow
// from the trace). decode_settlement(encode_settlement(s)).to_line() == s.to_line(), byte for byte. The first byte
// is kSettlementFormat, never '{', so a stored output record tells its form by its first byte (store.cc).
inline constexpr uint8_t kSettlementFormat = 1;
std::string encode_settlement(const Settlement& s);
Settlement decode_settlement(std::string_view bytes);

}  // namespace gongji

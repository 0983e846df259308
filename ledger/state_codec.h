// The stored form of person and facility state: a compact, deterministic binary encoding (varints and
// length-prefixed strings, fields in declaration order) with a leading format version. Equal states encode to
// equal bytes, so the determinism digest compares logical content. decode_* throws StateCodecError on bytes it
// cannot read, naming what was being read.
#pragma once
#include <stdexcept>
#include <string>
#include <string_view>

#include "ledger/state.h"

namespace gongji {

struct StateCodecError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string encode_person(const PersonState& p);
PersonState decode_person(std::string_view bytes);
std::string encode_facility(const FacilityState& f);
FacilityState decode_facility(std::string_view bytes);

}  // namespace gongji

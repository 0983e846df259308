// The settlements topic's wire form (events/outputs.fbs): one FlatBuffers OutputRecord per output record of the
// fold, for downstream systems (consumers/DOWNSTREAM.md). `gongji serve` publishes it; nothing inside the fold
// reads it.
#pragma once
#include <cstdint>
#include <string>

#include "events/outputs_generated.h"
#include "ledger/ledger.h"

namespace gongji {

// The schema version this binary writes (events/outputs.fbs "Versions").
constexpr int kOutputSchemaVersion = 3;

// The OutputRecord of `out`, the `index`-th output of the event at `offset` of events partition `partition`: the
// version-1 fields and the typed body of its kind, written from the output's data (Output::settlement or
// Output::record), with `line` empty (version 3). An output the store holds as a JSON line (Output::text: only one
// put there by hand, which may say more than its body) is published with that line as it is, and the body of what
// its fields say, or none when they do not read as its kind. Throws std::invalid_argument for an output of a kind
// the schema does not know.
std::string output_record(const Output& out, int partition, uint64_t offset, int index);

// The wire value of each code: the enum value of outputs.fbs whose name is the code's EVENTS.md spelling
// (events/codes.h), looked up by name, so that the C++ enums may be reordered and the wire values never change.
// fb::*_unknown for a code the schema lacks (tests/wire/output_record_test.cc checks that none does).
fb::Reason wire_code(Reason r);
fb::ClaimStatus wire_code(ClaimStatus s);
fb::Benefit wire_code(Benefit b);
fb::Scheme wire_code(Scheme s);
fb::Purpose wire_code(Purpose p);
fb::EventType wire_code(EventType t);  // by type_name (events/event.h)
fb::Kind wire_kind(std::string_view kind);

// A date as the wire writes it: yyyymmdd (2023-03-01 -> 20230301); a month: yyyymm. 0 for 0, which a lenient
// read of a record changed by hand leaves where it says no date (ledger/records.h).
int32_t wire_date(Date d);
int32_t wire_month(Month m);

}  // namespace gongji

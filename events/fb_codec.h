// The FlatBuffers form of events (events.fbs), lossless both ways with the canonical JSON form:
// decode_event(encode_event(e)) == e for every valid event. decode_event verifies the buffer and validates the
// event exactly as the JSON path does, codes against `codes` (the fold passes its policy's lists); it throws
// EventError on anything that is not a valid event.
#pragma once
#include <string>
#include <string_view>

#include "events/event.h"

namespace gongji {

std::string encode_event(const Event& e);
Event decode_event(std::string_view bytes, const CodeLists& codes = events_md_codes());
// The business date (`at`) of an event record, the buffer verified but nothing else decoded or validated: what the
// l/ index of the store (projections/store.h record_latest_dates) reads of records a fold applied, however the rules
// of validation changed since. EventError when the bytes are no event record or it holds no date.
Date event_date(std::string_view bytes);

}  // namespace gongji

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

}  // namespace gongji

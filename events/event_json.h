// Events from and to JSON through nlohmann's DOM (EVENTS.md): what ingest reads, and the JSON the tools print. Kept
// apart from events/event.h so that a module reading events without JSON (ledger/, the pure fold) reaches no JSON
// library (ops/check_layers.py follows includes).
#pragma once
#include <string_view>

#include <nlohmann/json.hpp>

#include "events/event.h"

namespace gongji {

// Parses one JSON line (money numbers are read exactly from their text). Throws EventError.
// A line longer than kMaxLineBytes is refused before parsing. Codes are checked against `codes`.
Event parse_event(std::string_view line, const CodeLists& codes = events_md_codes());
Event event_from_json(const nlohmann::json& j, const CodeLists& codes = events_md_codes());
nlohmann::json event_to_json(const Event& e);

// JSON parsing that keeps the text of non-integer numbers (as a string prefixed with kRawNumberMark), so that
// money given as a JSON number is never routed through a binary float.
inline constexpr char kRawNumberMark = '\x01';
nlohmann::json parse_json_exact(std::string_view text);

}  // namespace gongji

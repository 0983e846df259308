// The text rules of every event field (README "Validation bounds"), for callers outside event validation that take
// ids from elsewhere (the query service's path parameters) and must refuse what an event would refuse.
#pragma once
#include <string>
#include <string_view>

namespace gongji {

// Why `s` is not acceptable as the text of an event field, or "": empty ("must not be empty"), longer than
// kMaxTextBytes ("is N bytes long, above the maximum of 256"), not strict UTF-8 ("is not valid UTF-8 (byte I)"), or,
// when `identifier`, holding a control character U+0000-U+001F, U+007F-U+009F ("contains a control character
// (byte I)"). validate_event applies exactly this to every text field.
std::string text_field_problem(std::string_view s, bool identifier = true);

// `s` with each part that is not strict UTF-8 replaced by U+FFFD: a byte that cannot start a sequence, or the
// longest start of a sequence that the next byte does not continue (that byte is then read again), or a sequence cut
// by the end. Exactly what a JSON line written with error_handler_t::replace holds (nlohmann's serializer; the test
// Text.ValidUtf8IsWhatAJsonLineHolds compares the two), so a record made valid here holds what its line says.
std::string valid_utf8(std::string_view s);

// `s` for a line a person reads on a terminal (an ingest's refusals on stderr): valid_utf8, then every code point
// that would end the line, move the cursor, recolour or clear the screen, or reorder what follows written as \uXXXX:
// C0 controls (a newline too), DEL, C1 controls, U+2028 and U+2029, and the bidirectional controls U+061C, U+200E,
// U+200F, U+202A-U+202E and U+2066-U+2069; and a backslash as \\, so that each text reads back one way. A refusal
// quoting a crafted input then stays one line saying what it says.
std::string terminal_safe(std::string_view s);

// `s` appended to `out` as a JSON string exactly as nlohmann's dump() writes it (ensure_ascii off): `"`, `\`, \b,
// \f, \n, \r, \t and the other C0 controls (as \u00xx) escaped, every other byte as it is. Valid UTF-8 only (the
// canonical JSON of events, which are valid; output lines pass what they write through valid_utf8 first).
void append_json_string(std::string& out, std::string_view s);

}  // namespace gongji

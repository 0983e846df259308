// Fuzz target: the JSON event reader (events/event.h). Contract under test: parse_event accepts a line or throws
// EventError, nothing else; for any accepted event e, parse_event(canonical_json(e)) == e with the same canonical
// text, and the FlatBuffers form round-trips too: decode_event(encode_event(e)) == e, with equal digests.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "events/event.h"
#include "events/event_json.h"
#include "events/fb_codec.h"
#include "tests/fuzz/fuzz_check.h"

using namespace gongji;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view line(reinterpret_cast<const char*>(data), size);
  fuzz::no_foreign_exception("event_json", [&] {
    Event e;
    try {
      e = parse_event(line);
    } catch (const EventError&) {
      return;  // refused, as the contract allows
    }
    std::string canon = canonical_json(e);
    Event again;
    try {
      again = parse_event(canon);
    } catch (const EventError& err) {
      fuzz::finding("canonical form of an accepted event is refused: " + std::string(err.what()) + ": " + canon);
    }
    FUZZ_CHECK(again == e, "parse_event(canonical_json(e)) != e: " + canon);
    FUZZ_CHECK(canonical_json(again) == canon, "canonical form not stable: " + canon);
    std::string fb = encode_event(e);
    Event decoded;
    try {
      decoded = decode_event(fb);
    } catch (const EventError& err) {
      fuzz::finding("FlatBuffers form of an accepted event is refused: " + std::string(err.what()) + ": " + canon);
    }
    FUZZ_CHECK(decoded == e, "decode_event(encode_event(e)) != e: " + canon);
    FUZZ_CHECK(event_digest(decoded) == event_digest(e), "digest differs after the FlatBuffers round trip: " + canon);
  });
  return 0;
}

// Fuzz target: the FlatBuffers decode path (events/fb_codec.h), what the log and the Kafka path read. Contract
// under test: decode_event verifies and validates arbitrary bytes, throwing EventError and nothing else; an
// accepted event re-encodes and decodes equal (decode_event(encode_event(e)) == e) and its canonical JSON reads
// back equal (parse_event(canonical_json(e)) == e), so the two codecs agree on everything the log can hold.
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
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  fuzz::no_foreign_exception("event_fb", [&] {
    Event e;
    try {
      e = decode_event(bytes);
    } catch (const EventError&) {
      return;
    }
    std::string canon = canonical_json(e);
    std::string enc = encode_event(e);
    Event again;
    try {
      again = decode_event(enc);
    } catch (const EventError& err) {
      fuzz::finding("re-encoding of an accepted event is refused: " + std::string(err.what()) + ": " + canon);
    }
    FUZZ_CHECK(again == e, "decode_event(encode_event(e)) != e: " + canon);
    FUZZ_CHECK(encode_event(again) == enc, "encoding not stable: " + canon);
    Event from_json;
    try {
      from_json = parse_event(canon);
    } catch (const EventError& err) {
      fuzz::finding("canonical JSON of a decoded event is refused: " + std::string(err.what()) + ": " + canon);
    }
    FUZZ_CHECK(from_json == e, "parse_event(canonical_json(e)) != e: " + canon);
  });
  return 0;
}

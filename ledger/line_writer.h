// Writing an output line (EVENTS.md "Outputs") without a DOM: one compact JSON object whose keys the caller puts in
// lexicographic order, strings escaped exactly as nlohmann's serializer escapes them (", \, \b, \f, \n, \r, \t; any
// other byte below 0x20 as \u00xx; what is not UTF-8 replaced by U+FFFD, events/text.h valid_utf8). The lines the
// ledger printed through nlohmann's DOM before it wrote them itself are byte for byte the same
// (StateCodec.RecordLinesAreWhatNlohmannPrinted).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "events/text.h"

namespace gongji {

inline void put_json_string(std::string& o, std::string_view raw) {
  for (char c : raw)
    if (static_cast<unsigned char>(c) >= 0x80) return append_json_string(o, valid_utf8(raw));
  append_json_string(o, raw);  // ASCII (most ids and codes): valid as it is
}

class LineWriter {
 public:
  LineWriter& text(std::string_view key, std::string_view v) {
    put_key(key);
    put_json_string(out_, v);
    return *this;
  }
  LineWriter& number(std::string_view key, int64_t v) {
    put_key(key);
    out_ += std::to_string(v);
    return *this;
  }
  LineWriter& unsigned_number(std::string_view key, uint64_t v) {
    put_key(key);
    out_ += std::to_string(v);
    return *this;
  }
  std::string done() {
    out_.push_back('}');
    return std::move(out_);
  }

 private:
  void put_key(std::string_view key) {
    if (out_.size() > 1) out_.push_back(',');
    put_json_string(out_, key);
    out_.push_back(':');
  }
  std::string out_ = "{";
};

}  // namespace gongji

// The one wording of an I/O failure in every message (issue 8 item 3): strerror in lower case, then the path,
// e.g. "no space left on device: /data/log/p0003/00000000000000000000.seg".
#pragma once
#include <cctype>
#include <cstring>
#include <string>

namespace gongji {

inline std::string io_error_text(int err) {
  std::string s = std::strerror(err);
  if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}

inline std::string io_error(int err, const std::string& path) { return io_error_text(err) + ": " + path; }

}  // namespace gongji

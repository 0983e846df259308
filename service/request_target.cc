#include "service/request_target.h"

#include <algorithm>
#include <string_view>

namespace gongji {

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// `text` percent-decoded ('+' a space when `plus_is_space`); TargetError naming `parameter` for a bad escape.
std::string decoded(std::string_view text, bool plus_is_space, const std::string& parameter) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+' && plus_is_space) {
      out += ' ';
    } else if (c != '%') {
      out += c;
    } else {
      const int hi = i + 2 < text.size() ? hex_digit(text[i + 1]) : -1;
      const int lo = hi >= 0 ? hex_digit(text[i + 2]) : -1;
      if (lo < 0)
        throw TargetError(parameter, "a '%' not followed by two hexadecimal digits (send '%' as %25)");
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    }
  }
  return out;
}

std::string_view path_of(const std::string& target) {
  return std::string_view(target).substr(0, std::min(target.find('?'), target.find('#')));
}

}  // namespace

std::vector<std::string> path_segments(const std::string& target) {
  std::string_view path = path_of(target);
  if (path.starts_with('/')) path.remove_prefix(1);
  std::vector<std::string> segments;
  for (;;) {
    const size_t slash = path.find('/');
    segments.push_back(decoded(path.substr(0, slash), false, "path"));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return segments;
}

std::vector<std::pair<std::string, std::string>> query_params(const std::string& target) {
  const size_t q = target.find('?');
  if (q == std::string::npos) return {};
  std::string_view query = std::string_view(target).substr(q + 1);
  query = query.substr(0, query.find('#'));
  std::vector<std::pair<std::string, std::string>> params;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view piece = query.substr(0, amp);
    query.remove_prefix(amp == std::string_view::npos ? query.size() : amp + 1);
    if (piece.empty()) continue;
    const size_t eq = piece.find('=');
    std::string name = decoded(piece.substr(0, eq), true, "query");
    std::string value = eq == std::string_view::npos ? "" : decoded(piece.substr(eq + 1), true, name);
    if (std::any_of(params.begin(), params.end(), [&](const auto& p) { return p.first == name; }))
      throw TargetError(name, "is given more than once");
    params.emplace_back(std::move(name), std::move(value));
  }
  return params;
}

}  // namespace gongji

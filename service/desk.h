// The dispute desk's web page (issue 11 item 3), served by `gongji query` at / and /desk without a token: the page
// holds no data, and each request it makes carries the token its user types in (service/desk/desk.html).
#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gongji {

struct DeskPage {
  std::string_view html;  // service/desk/desk.html, embedded at build time (service/desk/embed.cmake)
  // Sent with it besides Content-Type text/html; charset=utf-8: a Content-Security-Policy that admits the page's
  // one <script> and one <style> element by their SHA-256 and requests to its own origin only (no frame, no form,
  // no other source), nosniff, no referrer, no caching, no framing.
  std::vector<std::pair<std::string, std::string>> headers;
};

// The page and its headers, computed once. std::logic_error when the embedded page does not hold exactly one
// <script> and one <style> element (a build of a broken page): QueryService calls it at construction.
const DeskPage& desk_page();

}  // namespace gongji

#include "service/desk.h"

#include <openssl/evp.h>

#include <stdexcept>

#include "service/desk_html.h"  // generated from service/desk/desk.html (service/desk/embed.cmake)

namespace gongji {

namespace {

// The CSP source of `text`: 'sha256-<base64 of its SHA-256>'.
std::string csp_hash(std::string_view text) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(text.data(), text.size(), md, &n, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("SHA-256 of the desk page failed (OpenSSL EVP_Digest)");
  unsigned char b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
  const int len = EVP_EncodeBlock(b64, md, static_cast<int>(n));
  return "'sha256-" + std::string(reinterpret_cast<const char*>(b64), static_cast<size_t>(len)) + "'";
}

// The text of the page's one `<tag>...</tag>` element (what a browser hashes for CSP), else std::logic_error.
std::string_view element_text(std::string_view page, const std::string& tag) {
  const std::string open = "<" + tag + ">", close = "</" + tag + ">";
  const size_t begin = page.find(open);
  const size_t end = begin == std::string_view::npos ? begin : page.find(close, begin);
  if (end == std::string_view::npos || page.find(open, end) != std::string_view::npos ||
      page.find("<" + tag + " ") != std::string_view::npos)
    throw std::logic_error("service/desk/desk.html must hold exactly one " + open + " element");
  return page.substr(begin + open.size(), end - begin - open.size());
}

}  // namespace

const DeskPage& desk_page() {
  static const DeskPage page = [] {
    const std::string csp = "default-src 'none'; script-src " + csp_hash(element_text(kDeskHtml, "script")) +
                            "; style-src " + csp_hash(element_text(kDeskHtml, "style")) +
                            "; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
                            "frame-ancestors 'none'";
    return DeskPage{kDeskHtml,
                    {{"Content-Security-Policy", csp},
                     {"X-Content-Type-Options", "nosniff"},
                     {"Referrer-Policy", "no-referrer"},
                     {"Cache-Control", "no-store"},
                     {"X-Frame-Options", "DENY"}}};
  }();
  return page;
}

}  // namespace gongji

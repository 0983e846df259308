#include "events/money.h"

#include <cstdio>

namespace gongji {

static Money round_div(__int128 num, __int128 den) {
  // half away from zero
  __int128 q = num / den, r = num % den;
  if (r < 0) r = -r;
  if (2 * r >= (den < 0 ? -den : den)) q += (num < 0) != (den < 0) ? -1 : 1;
  if (q > INT64_MAX || q < INT64_MIN) throw MoneyOverflow("money overflow in rounding");
  return static_cast<Money>(q);
}

Money mul_rate(Money amount, Rate rate) { return round_div(static_cast<__int128>(amount) * rate, 10000); }

Money mul_frac(Money amount, int64_t num, int64_t den) {
  return round_div(static_cast<__int128>(amount) * num, den);
}

std::optional<Money> parse_yuan(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  size_t i = 0;
  int64_t whole = 0;
  size_t nd = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') whole = whole * 10 + (s[i++] - '0'), ++nd;
  if (nd == 0) return std::nullopt;
  int64_t frac = 0;
  if (i < s.size()) {
    if (s[i] != '.') return std::nullopt;
    ++i;
    size_t fd = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') frac = frac * 10 + (s[i++] - '0'), ++fd;
    if (fd == 0 || fd > 2 || i != s.size()) return std::nullopt;
    if (fd == 1) frac *= 10;
  }
  // 18 whole digits fit in int64_t but not in fen: beyond Money's range is not an amount (found by fuzzing).
  Money fen = 0;
  if (__builtin_mul_overflow(whole, int64_t{100}, &fen) || __builtin_add_overflow(fen, frac, &fen)) return std::nullopt;
  return fen;
}

std::string format_money(Money m) {
  char buf[32];
  char* p = buf + sizeof buf;
  unsigned long long a = m < 0 ? -static_cast<unsigned long long>(m) : static_cast<unsigned long long>(m);
  *--p = static_cast<char>('0' + a % 10);
  *--p = static_cast<char>('0' + a / 10 % 10);
  *--p = '.';
  a /= 100;
  do *--p = static_cast<char>('0' + a % 10); while (a /= 10);
  if (m < 0) *--p = '-';
  return std::string(p, buf + sizeof buf);
}

std::string format_rate(Rate r) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s%d.%04d", r < 0 ? "-" : "", (r < 0 ? -r : r) / 10000, (r < 0 ? -r : r) % 10000);
  return buf;
}

std::string format_points(Rate r) {
  // r in rate units (1 percentage point = 100): 1.5 points = 150 → "1.5"
  char buf[32];
  std::snprintf(buf, sizeof buf, "%d.%d", r / 100, (r % 100) / 10);
  return buf;
}

}  // namespace gongji

// Money is an integer number of fen; a rate is an integer in units of 1/10000 (70.5% = 7050).
// The one rounding point (POLICY.md RND) is mul_rate / mul_frac: exact product, rounded half up to the fen.
#pragma once
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace gongji {

using Money = int64_t;  // fen
using Rate = int32_t;   // 1/10000

inline constexpr Money yuan(int64_t y) { return y * 100; }

struct MoneyOverflow : std::overflow_error {
  using std::overflow_error::overflow_error;
};

inline Money checked_add(Money a, Money b) {
  Money r;
  if (__builtin_add_overflow(a, b, &r)) throw MoneyOverflow("money overflow in addition");
  return r;
}
// sum += m, or MoneyOverflow rather than a wrong sum.
inline void add_to(Money& sum, Money m) { sum = checked_add(sum, m); }

// RND: round(amount × rate / 10000), half up (amounts here are never negative; negatives round half away from 0).
Money mul_rate(Money amount, Rate rate);
// RND: round(amount × num / den), half up; used for pro-rating by months.
Money mul_frac(Money amount, int64_t num, int64_t den);

// Parses yuan with at most 2 decimals ("12", "12.5", "12.50"); sign not accepted. nullopt on anything else.
std::optional<Money> parse_yuan(std::string_view s);
// "1234.50"; negative amounts as "-1234.50".
std::string format_money(Money m);
// "0.7050"
std::string format_rate(Rate r);
// Incentive points (ORD-INC) in rate units, 1 percentage point = 100: 150 → "1.5".
std::string format_points(Rate r);

}  // namespace gongji

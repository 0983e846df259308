// Calendar dates and months as plain integers, so that comparisons and arithmetic are exact and cheap.
// A Date is the number of days since 1970-01-01 (proleptic Gregorian); a Month is year*12 + (month-1).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gongji {

using Date = int32_t;
using Month = int32_t;

struct Ymd {
  int y;
  unsigned m, d;
};

Date date_from_ymd(int y, unsigned m, unsigned d);
Ymd ymd_of(Date date);
inline int year_of(Date date) { return ymd_of(date).y; }
inline Month month_of(Date date) {
  Ymd v = ymd_of(date);
  return v.y * 12 + static_cast<int>(v.m) - 1;
}
inline Month make_month(int y, unsigned m) { return y * 12 + static_cast<int>(m) - 1; }
inline int year_of_month(Month m) { return m / 12; }
inline unsigned month_number(Month m) { return static_cast<unsigned>(m % 12) + 1; }
inline Date first_day(Month m) { return date_from_ymd(year_of_month(m), month_number(m), 1); }
inline Date jan1(int y) { return date_from_ymd(y, 1, 1); }
inline Date dec31(int y) { return date_from_ymd(y, 12, 31); }

// Strict "YYYY-MM-DD" / "YYYY-MM"; nullopt when malformed or not a real calendar day.
std::optional<Date> parse_date(std::string_view s);
// Why `s` is not a date parse_date takes, "" when it is: "expected a date YYYY-MM-DD, got '<s>'", or for the right
// shape "'2023-02-30' is not a day of the calendar (2023-02 has 28 days)".
std::string date_problem(std::string_view s);
std::optional<Month> parse_month(std::string_view s);
std::string format_date(Date d);
std::string format_month(Month m);
// An instant, milliseconds since the epoch, as UTC "2024-03-01T12:00:00.123Z" (the form --known-at and the access
// log take; no time zone or locale reaches it).
std::string format_instant(int64_t ms);

// Completed years of age on `on` (P-MINOR: a 29 February birthday counts on 1 March in common years).
int age_on(Date birth, Date on);

}  // namespace gongji

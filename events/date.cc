#include "events/date.h"

#include <cstdio>

namespace gongji {

// Days-from-civil and civil-from-days, after H. Hinnant's public-domain algorithms.
Date date_from_ymd(int y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int>(doe) - 719468;
}

Ymd ymd_of(Date z0) {
  int z = z0 + 719468;
  const int era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int y = static_cast<int>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {y + (m <= 2), m, d};
}

static bool digits(std::string_view s, size_t from, size_t n, int& out) {
  out = 0;
  for (size_t i = from; i < from + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

static bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static unsigned days_in_month(int y, unsigned m) {
  static const unsigned dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : dm[m - 1];
}

std::optional<Date> parse_date(std::string_view s) {
  int y, m, d;
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  if (!digits(s, 0, 4, y) || !digits(s, 5, 2, m) || !digits(s, 8, 2, d)) return std::nullopt;
  if (y < 1900 || m < 1 || m > 12 || d < 1 || static_cast<unsigned>(d) > days_in_month(y, m)) return std::nullopt;
  return date_from_ymd(y, m, d);
}

std::string date_problem(std::string_view s) {
  if (parse_date(s)) return "";
  int y, m, d;
  const bool shape =
      s.size() == 10 && s[4] == '-' && s[7] == '-' && digits(s, 0, 4, y) && digits(s, 5, 2, m) && digits(s, 8, 2, d);
  if (shape && y < 1900) return "'" + std::string(s) + "' is before 1900 (no date before 1900-01-01 is taken)";
  if (shape && m >= 1 && m <= 12)
    return "'" + std::string(s) + "' is not a day of the calendar (" + std::string(s.substr(0, 7)) + " has " +
           std::to_string(days_in_month(y, static_cast<unsigned>(m))) + " days)";
  return "expected a date YYYY-MM-DD, got '" + std::string(s) + "'";
}

std::optional<Month> parse_month(std::string_view s) {
  int y, m;
  if (s.size() != 7 || s[4] != '-') return std::nullopt;
  if (!digits(s, 0, 4, y) || !digits(s, 5, 2, m)) return std::nullopt;
  if (y < 1900 || m < 1 || m > 12) return std::nullopt;
  return make_month(y, m);
}

std::string format_instant(int64_t ms) {
  const int64_t day_ms = 86'400'000;
  const int64_t days = ms >= 0 ? ms / day_ms : -((-ms + day_ms - 1) / day_ms);  // floor, before 1970 too
  const int64_t in_day = ms - days * day_ms;
  char clock[32];
  std::snprintf(clock, sizeof clock, "T%02d:%02d:%02d.%03dZ", static_cast<int>(in_day / 3'600'000),
                static_cast<int>(in_day / 60'000 % 60), static_cast<int>(in_day / 1000 % 60),
                static_cast<int>(in_day % 1000));
  return format_date(static_cast<Date>(days)) + clock;
}

std::string format_date(Date d) {
  Ymd v = ymd_of(d);
  if (v.y >= 0 && v.y <= 9999 && v.m <= 99 && v.d <= 99) {  // the snprintf below, without its cost (every event)
    const char b[10] = {char('0' + v.y / 1000),     char('0' + v.y / 100 % 10), char('0' + v.y / 10 % 10),
                        char('0' + v.y % 10),       '-',                        char('0' + v.m / 10),
                        char('0' + v.m % 10),       '-',                        char('0' + v.d / 10),
                        char('0' + v.d % 10)};
    return std::string(b, sizeof b);
  }
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", v.y, v.m, v.d);
  return buf;
}

std::string format_month(Month m) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u", year_of_month(m), month_number(m));
  return buf;
}

int age_on(Date birth, Date on) {
  Ymd b = ymd_of(birth), o = ymd_of(on);
  int age = o.y - b.y;
  unsigned bm = b.m, bd = b.d;
  if (bm == 2 && bd == 29 && !leap(o.y)) bm = 3, bd = 1;
  if (o.m < bm || (o.m == bm && o.d < bd)) --age;
  return age;
}

}  // namespace gongji

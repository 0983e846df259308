#include "ledger/trace.h"

#include <charconv>

#include "events/date.h"

namespace gongji {

static_assert([] {
  for (std::string_view saying : kSayings)  // match() needs a literal between two holes
    if (saying.find("}{") != std::string_view::npos) return false;
  return true;
}(), "no saying has two holes side by side");

static_assert([] {
  for (size_t i = 0; i < kRules.size(); ++i)
    if (static_cast<size_t>(kRules[i].rule) != i) return false;
  return true;
}(), "kRules is in the order of enum Rule");

std::optional<Rule> rule_from_id(std::string_view id) {
  for (const RuleInfo& r : kRules)
    if (r.id == id) return r.rule;
  return std::nullopt;
}

const char* article_of(const std::string& rule) {
  const std::optional<Rule> r = rule_from_id(rule);
  return r ? article_of(*r).data() : "";  // the articles are literals: NUL-terminated
}

namespace {

// A rate in percentage points, as few decimals as it needs: 500 -> "5", 525 -> "5.25" (F-TCM's trace).
std::string points(int64_t r) {
  const std::string whole = std::to_string(r / 100);
  const int64_t frac = r % 100;
  if (frac % 10 != 0) return whole + "." + std::to_string(100 + frac).substr(1);
  if (frac != 0) return whole + "." + std::to_string(frac / 10);
  return whole;
}

std::string render_number(char kind, int64_t v) {
  switch (kind) {
    case 'm': return format_money(v);
    case 'r': return format_rate(static_cast<Rate>(v));
    case 'p': return points(v);
    case 'd': return format_date(static_cast<Date>(v));
    default: return std::to_string(v);
  }
}

// The number a hole of `kind` shows as `text`, or nullopt; step_from_text checks the rendering, so this may accept
// more than render_number prints.
std::optional<int64_t> read_number(char kind, std::string_view text) {
  if (kind == 'd') {
    auto d = parse_date(text);
    return d ? std::optional<int64_t>(*d) : std::nullopt;
  }
  const bool neg = !text.empty() && text[0] == '-';
  if (neg) text.remove_prefix(1);
  std::optional<int64_t> v;
  if (kind == 'm') {
    if (auto m = parse_yuan(text)) v = *m;
  } else {
    std::string digits(text);
    const size_t dot = digits.find('.');
    const size_t decimals = dot == std::string::npos ? 0 : digits.size() - dot - 1;
    if (dot != std::string::npos) digits.erase(dot, 1);
    int64_t n = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty()) return std::nullopt;
    if (kind == 'p') {
      if (decimals > 2) return std::nullopt;
      for (size_t k = decimals; k < 2; ++k)
        if (__builtin_mul_overflow(n, 10, &n)) return std::nullopt;
    } else if (decimals != 0 && !(kind == 'r' && decimals == 4)) {
      return std::nullopt;
    }
    v = n;
  }
  if (v && neg) *v = -*v;
  return v;
}

// Whether `text` matches `saying` from these positions on, filling `t` (backtracks over where a hole ends).
bool match(std::string_view saying, std::string_view text, TraceStep& t) {
  const size_t hole = saying.find('{');
  if (hole == std::string_view::npos) return saying == text;
  if (text.substr(0, hole) != saying.substr(0, hole)) return false;
  const char kind = saying[hole + 1];
  const std::string_view rest = saying.substr(hole + 3);
  text.remove_prefix(hole);
  const std::string_view next = rest.substr(0, rest.find('{'));  // the literal after the hole
  for (size_t end = next.empty() ? text.size() : text.find(next); end != std::string_view::npos;
       end = next.empty() ? std::string_view::npos : text.find(next, end + 1)) {
    const std::string_view value = text.substr(0, end);
    const TraceStep before = t;
    if (kind == 's') {
      t.texts.emplace_back(value);
    } else if (auto n = read_number(kind, value)) {
      t.numbers.push_back(*n);
    } else {
      if (next.empty()) break;
      continue;
    }
    if (match(rest, text.substr(end), t)) return true;
    t = before;
    if (next.empty()) break;
  }
  return false;
}

}  // namespace

std::string TraceStep::detail() const {
  const std::string_view saying = kSayings[static_cast<size_t>(say)];
  std::string out;
  out.reserve(saying.size() + 16);
  size_t number = 0, text = 0;
  for (size_t i = 0; i < saying.size(); ++i) {
    if (saying[i] == '{' && i + 2 < saying.size() && saying[i + 2] == '}') {
      const char kind = saying[i + 1];
      if (kind == 's') out += text < texts.size() ? texts[text++] : std::string();
      else out += number < numbers.size() ? render_number(kind, numbers[number++]) : std::string();
      i += 2;
    } else {
      out.push_back(saying[i]);
    }
  }
  return out;
}

bool fills(const TraceStep& t) {
  if (static_cast<size_t>(t.say) >= kSayings.size()) return false;
  char kinds[16] = {};
  const size_t n = holes(kSayings[static_cast<size_t>(t.say)], kinds);
  size_t texts = 0;
  for (size_t i = 0; i < n; ++i) texts += kinds[i] == 's';
  return t.texts.size() == texts && t.numbers.size() == n - texts;
}

TraceStep step_from_text(Rule rule, std::string_view detail) {
  TraceStep best{rule, Say::text, {}, {std::string(detail)}};
  size_t best_words = 0;  // the characters of the best match's saying outside its holes
  for (size_t i = 1; i < kSayings.size(); ++i) {
    TraceStep t{rule, static_cast<Say>(i), {}, {}};
    const size_t words = kSayings[i].size() - 3 * holes(kSayings[i]);
    if (words > best_words && match(kSayings[i], detail, t) && t.detail() == detail)
      best = std::move(t), best_words = words;
  }
  return best;
}

}  // namespace gongji

// Operational log lines (issue 11 item 5): progress, warnings, retries, a service's "listening on", failed
// catch-ups. Every such line goes through here (spdlog behind it), with a level and a format, to stderr.
//
// What a command answers, and the refusals, usage errors and findings whose wording EVENTS.md fixes, are NOT
// operational: they keep their own std::cout / std::cerr lines and never pass through here.
//
// Formats (one line each):
//   text  "<program>: <message>" at info, "<program>: <level>: <message>" otherwise (level debug, warning, error):
//         the wording the command line had before this module, e.g. "gongji query: warning: listening on ...".
//   json  {"time":"2026-12-01T12:00:00.123Z","level":"warn","program":"gongji query","pid":123,"message":"..."}
//         (level debug, info, warn, error; time the wall clock in UTC; text that is not UTF-8 becomes U+FFFD).
// Lines below the configured level are dropped. Before configure(): program "gongji", level info, text.
// Thread-safe: each line is written whole, with one write, and flushed.
#pragma once
#include <functional>
#include <string>
#include <string_view>

namespace gongji::oplog {

enum class Level { debug, info, warn, error };
enum class Format { text, json };

struct Settings {
  std::string program = "gongji";  // the line's origin, e.g. "gongji query"
  Level level = Level::info;
  Format format = Format::text;
};

// "debug", "info", "warn" (or "warning"), "error"; anything else: std::invalid_argument naming the choices.
Level parse_level(const std::string& text);
// "text", "json"; anything else: std::invalid_argument naming the choices.
Format parse_format(const std::string& text);
const char* level_name(Level level);  // debug, info, warn, error

void configure(const Settings& settings);
Settings settings();

// Tests: each formatted line (without its newline) goes to `sink` instead of stderr; null: stderr again.
void set_sink_for_tests(std::function<void(const std::string& line)> sink);

bool enabled(Level level);
void log(Level level, std::string_view message);
inline void debug(std::string_view message) { log(Level::debug, message); }
inline void info(std::string_view message) { log(Level::info, message); }
inline void warn(std::string_view message) { log(Level::warn, message); }
inline void error(std::string_view message) { log(Level::error, message); }

}  // namespace gongji::oplog

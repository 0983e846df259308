#include "oplog/oplog.h"

#include <spdlog/logger.h>
#include <spdlog/sinks/base_sink.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <memory>
#include <mutex>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace gongji::oplog {

namespace {

spdlog::level::level_enum to_spdlog(Level l) {
  switch (l) {
    case Level::debug: return spdlog::level::debug;
    case Level::info: return spdlog::level::info;
    case Level::warn: return spdlog::level::warn;
    case Level::error: return spdlog::level::err;
  }
  return spdlog::level::info;
}

Level from_spdlog(spdlog::level::level_enum l) {
  if (l <= spdlog::level::debug) return Level::debug;
  if (l == spdlog::level::info) return Level::info;
  if (l == spdlog::level::warn) return Level::warn;
  return Level::error;
}

std::string utc(spdlog::log_clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];  // room for any int the compiler can imagine in each field
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

// Formats each line itself (spdlog's patterns do not escape a message inside JSON) and writes it to stderr, or to
// the tests' sink. base_sink holds mutex_ around sink_it_, so settings changed under it never tear a line.
class LineSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  void set(const Settings& s) {
    std::lock_guard<std::mutex> lock(mutex_);
    settings_ = s;
  }
  Settings get() {
    std::lock_guard<std::mutex> lock(mutex_);
    return settings_;
  }
  void set_test_sink(std::function<void(const std::string&)> f) {
    std::lock_guard<std::mutex> lock(mutex_);
    test_sink_ = std::move(f);
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    const Level level = from_spdlog(msg.level);
    const std::string message(msg.payload.data(), msg.payload.size());
    std::string line;
    if (settings_.format == Format::json) {
      nlohmann::json j = {{"time", utc(msg.time)}, {"level", level_name(level)}, {"program", settings_.program},
                          {"pid", static_cast<long>(::getpid())}, {"message", message}};
      line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } else {
      line = settings_.program + ": ";
      if (level != Level::info) line += level == Level::warn ? "warning: " : std::string(level_name(level)) + ": ";
      line += message;
    }
    if (test_sink_) return test_sink_(line);
    line += "\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
  }
  void flush_() override { std::fflush(stderr); }

 private:
  Settings settings_;
  std::function<void(const std::string&)> test_sink_;
};

struct Global {
  std::shared_ptr<LineSink> sink = std::make_shared<LineSink>();
  spdlog::logger logger{"gongji", sink};
  Global() { logger.set_level(spdlog::level::info); }
};

Global& global() {
  static Global g;  // never destroyed before the last line: a static of this function, built on first use
  return g;
}

}  // namespace

Level parse_level(const std::string& text) {
  if (text == "debug") return Level::debug;
  if (text == "info") return Level::info;
  if (text == "warn" || text == "warning") return Level::warn;
  if (text == "error") return Level::error;
  throw std::invalid_argument("expected a log level debug, info, warn or error, got '" + text + "'");
}

Format parse_format(const std::string& text) {
  if (text == "text") return Format::text;
  if (text == "json") return Format::json;
  throw std::invalid_argument("expected a log format text or json, got '" + text + "'");
}

const char* level_name(Level level) {
  switch (level) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
  }
  return "info";
}

void configure(const Settings& s) {
  global().sink->set(s);
  global().logger.set_level(to_spdlog(s.level));
}

Settings settings() { return global().sink->get(); }

void set_sink_for_tests(std::function<void(const std::string& line)> sink) {
  global().sink->set_test_sink(std::move(sink));
}

bool enabled(Level level) { return global().logger.should_log(to_spdlog(level)); }

void log(Level level, std::string_view message) {
  global().logger.log(to_spdlog(level), spdlog::string_view_t(message.data(), message.size()));
}

}  // namespace gongji::oplog

// `--config FILE` of `gongji query` and `gongji serve` (issue 11 item 5): one YAML file of settings for either
// service, overridden by the command line.
//
// The file is a map whose keys are the long options of `gongji query` and `gongji serve` with '_' for '-' (listen,
// tokens, access_log, access_log_keep_days, cert, key, rate, ready_lag, policy, data_dir, brokers, group,
// events_topic, settlements_topic, dead_letter_topic, batch, idle_exit, log_level, log_format, ...), each with one
// scalar value (a flag: true or false). A key of the other service only is ignored, so that one file serves both.
// Each setting becomes the option "--key value", checked exactly as the command line's (validators, ranges,
// required options), and an option given explicitly on the command line wins over the file.
// Refused, exit 2, naming the file, the line and the key (ConfigError): a file that cannot be read or is not YAML,
// a top level that is not a map, an unknown key, a value that is a list, a map or empty, a value the option refuses
// (e.g. `rate: fast`; config_error_of maps the command line parser's message back to the file's line).
#pragma once
#include <CLI/CLI.hpp>

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace gongji {

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct ConfigEntry {
  std::string key, value;  // as written: access_log_keep_days, "30"
  int line = 0;            // 1-based
};

// The plain settings of a YAML file, in file order. ConfigError: "FILE:LINE: ...".
std::vector<ConfigEntry> load_config(const std::string& path);

// The settings of the file named by `--config FILE` (or --config=FILE) of the command line `args` (args[0] the
// program, args[1] the subcommand), inserted after the subcommand as "--key value" for each key not given on the
// command line. `used` gets the inserted ones, `path` the file. No --config: `args` unchanged. Only for the
// subcommands `services` names (query, serve): keys are checked against their options.
std::vector<std::string> with_config(CLI::App& app, std::vector<std::string> args,
                                     const std::vector<std::string>& services, std::vector<ConfigEntry>& used,
                                     std::string& path);

// The command line parser's `message` about an option that came from the file, as "FILE:LINE: key 'K': message";
// nullopt when the message names none of `used`.
std::optional<std::string> config_error_of(const std::string& message, const std::vector<ConfigEntry>& used,
                                           const std::string& path);

}  // namespace gongji

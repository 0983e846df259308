#include "consumers/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>

namespace gongji {

namespace {

std::string option_of(const std::string& key) {
  std::string o = "--" + key;
  std::replace(o.begin(), o.end(), '_', '-');
  return o;
}

std::string where(const std::string& path, int line) { return path + ":" + std::to_string(line) + ": "; }

const char* kind_of(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a map";
    default: return "nothing";
  }
}

// An option given on the command line after the subcommand (at args[1]): "--name" or "--name=value".
bool given(const std::vector<std::string>& args, const std::string& name) {
  return std::any_of(args.begin() + 2, args.end(),
                     [&](const std::string& a) { return a == name || a.starts_with(name + "="); });
}

// The file named by --config, or "".
std::string config_path(const std::vector<std::string>& args) {
  for (size_t i = 2; i < args.size(); ++i) {
    if (args[i] == "--config") {
      if (i + 1 == args.size()) throw ConfigError("--config: expected a file name");
      return args[i + 1];
    }
    if (args[i].starts_with("--config=")) return args[i].substr(9);
  }
  return "";
}

}  // namespace

std::vector<ConfigEntry> load_config(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw ConfigError(path + ": cannot read the configuration file");
  } catch (const YAML::Exception& e) {
    throw ConfigError(where(path, e.mark.line + 1) + "not YAML: " + e.msg);
  }
  std::vector<ConfigEntry> entries;
  if (root.IsNull()) return entries;  // an empty file: no settings
  if (!root.IsMap())
    throw ConfigError(where(path, root.Mark().line + 1) + "expected a map of settings (key: value), got " +
                      (root.IsScalar() ? std::string("a single value") : kind_of(root)));
  for (const auto& kv : root) {
    const int line = kv.first.Mark().line + 1;
    if (!kv.first.IsScalar()) throw ConfigError(where(path, line) + "a key must be a name");
    const std::string key = kv.first.Scalar();
    if (!kv.second.IsScalar())
      throw ConfigError(where(path, line) + "key '" + key + "': expected one value (a string, a number, true or " +
                        "false), got " + kind_of(kv.second));
    entries.push_back({key, kv.second.Scalar(), line});
  }
  return entries;
}

std::vector<std::string> with_config(CLI::App& app, std::vector<std::string> args,
                                     const std::vector<std::string>& services, std::vector<ConfigEntry>& used,
                                     std::string& path) {
  if (args.size() < 2 || std::find(services.begin(), services.end(), args[1]) == services.end()) return args;
  path = config_path(args);
  if (path.empty()) return args;
  CLI::App* sub = app.get_subcommand(args[1]);
  std::vector<std::string> inserted;
  for (const ConfigEntry& e : load_config(path)) {
    const std::string name = option_of(e.key);
    CLI::Option* opt = e.key.find('-') == std::string::npos && e.key != "config" && e.key != "help"
                           ? sub->get_option_no_throw(name)
                           : nullptr;
    const bool elsewhere = opt == nullptr && std::any_of(services.begin(), services.end(), [&](const auto& s) {
      return s != args[1] && e.key.find('-') == std::string::npos && app.get_subcommand(s)->get_option_no_throw(name);
    });
    if (elsewhere || (opt && given(args, name))) continue;  // another service's key; the command line wins
    if (!opt)
      throw ConfigError(where(path, e.line) + "unknown key '" + e.key + "' (the keys are the long options of " +
                        "`gongji query` and `gongji serve` with '_' for '-', e.g. listen, tokens, data_dir)");
    if (opt->get_type_size_max() == 0) {  // a flag
      if (e.value != "true" && e.value != "false")
        throw ConfigError(where(path, e.line) + "key '" + e.key + "': expected true or false, got '" + e.value + "'");
      if (e.value == "true") inserted.push_back(name);
    } else {
      inserted.insert(inserted.end(), {name, e.value});
    }
    used.push_back(e);
  }
  args.insert(args.begin() + 2, inserted.begin(), inserted.end());
  return args;
}

std::optional<std::string> config_error_of(const std::string& message, const std::vector<ConfigEntry>& used,
                                           const std::string& path) {
  for (const ConfigEntry& e : used) {
    const std::string name = option_of(e.key);
    for (size_t at = message.find(name); at != std::string::npos; at = message.find(name, at + 1)) {
      const size_t end = at + name.size();  // the whole option name, not a prefix of a longer one
      if (end == message.size() || !(std::isalnum(static_cast<unsigned char>(message[end])) || message[end] == '-'))
        return where(path, e.line) + "key '" + e.key + "': " + message;
    }
  }
  return std::nullopt;
}

}  // namespace gongji

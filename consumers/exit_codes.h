// The exit statuses of the `gongji` program, in one place (listed in `gongji --help` and the README).
#pragma once

namespace gongji::exit_code {

inline constexpr int kOk = 0;
// The command could not do its work: an I/O error ("no space left on device: <path>"), a damaged log or store
// that it refuses to touch (the message names the file and byte offset), a broker that cannot be reached, a read
// command on a data directory that does not exist or holds no store ("no store in <dir>/state").
inline constexpr int kFailure = 1;
// A command-line mistake: an unknown subcommand or option, a value that does not parse, a date or year out of
// range, a path of the wrong kind, a --claim that several persons hold given without --person (the message names
// them). The message names the option. Nothing was changed.
inline constexpr int kUsage = 2;
// `ingest`: some lines were refused (the rest were appended); see stderr and the dead letters.
inline constexpr int kRefused = 3;
// The person, claim or record asked for does not exist.
inline constexpr int kNotFound = 4;
// `explain`: the re-derivation differs from the recorded settlement (or account movement).
inline constexpr int kMismatch = 5;
// `audit`, `log verify` or `access-log verify`: at least one finding.
inline constexpr int kFindings = 6;

// The list `gongji --help` ends with; the README's "Exit status" paragraph says the same in more words.
inline constexpr const char* kHelpFooter =
    "Exit status: 0 ok; 1 failure (I/O error, damaged log or store, a policy file that does not load: the message "
    "names the file); 2 usage "
    "(a command-line mistake, a policy file of another version than the store's: the message names the option); 3 "
    "ingest refused some lines; 4 not found; "
    "5 explain: mismatch; 6 audit, log verify or access-log verify: findings.";

}  // namespace gongji::exit_code

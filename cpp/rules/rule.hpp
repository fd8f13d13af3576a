// The rule model: what a rule asks for, and what a scan reports.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bbreview::rules {

enum class Severity : std::uint8_t { Info, Warning, Error };
enum class Scope : std::uint8_t { Added, Removed, Context, Path };
inline constexpr std::size_t kScopeCount = 4;

std::string_view to_string(Severity severity);
std::string_view to_string(Scope scope);
// Parse the names above ("info", "added", ...); nullopt when unknown.
std::optional<Severity> parse_severity(std::string_view name);
std::optional<Scope> parse_scope(std::string_view name);

// One rule, as authored. Plain data: RuleSet::compile validates it.
struct RuleSpec {
  std::string id;
  std::string message;
  Severity severity = Severity::Warning;
  std::string category = "general";
  std::vector<std::string> patterns;  // RE2; a line matching any of them is a hit
  std::vector<std::string> exclude;   // RE2; a line matching any of them is never a hit
  std::vector<std::string> paths;     // gitignore-style globs; a leading "!" excludes
  std::vector<std::string> path_patterns;          // RE2 over the whole path; one must match
  std::vector<std::string> path_exclude_patterns;  // RE2 over the whole path; none may match
  std::vector<std::string> languages;  // names or aliases known to canonical_language()
  Scope scope = Scope::Added;
  std::vector<std::string> keywords;   // literal prefilter, ASCII case-insensitive
  std::optional<double> entropy;       // minimum Shannon entropy (bits per byte) of the secret group
  std::string entropy_group;           // "" (group 1 if any, else the match), a number or a name
  std::optional<std::string> suggestion;  // replacement for the match: \0..\9, \g<n>, \g<name>, \\ .
  std::uint32_t max_per_file = 0;      // 0: no cap
  bool secret = false;                 // redact the match, keep the secret out of suggestions
};

enum class Side : std::uint8_t { New, Old, Path };

// One hit. Columns count Unicode code points, start at 1, and the end is
// exclusive (SARIF's endColumn convention): content[column_start-1 :
// column_end-1] is the matched text.
struct Finding {
  std::uint32_t rule = 0;   // index into RuleSet::rules()
  std::uint32_t file = 0;   // index into PatchSet::files (or the index given to scan(FileDiff))
  std::uint32_t line = 0;   // new-side line (Side::New), old-side line (Side::Old), 0 for Side::Path
  Side side = Side::New;
  std::uint32_t column_start = 0;
  std::uint32_t column_end = 0;
  std::string match;        // the matched text, redacted for secret rules
  std::optional<std::string> suggestion;  // the whole fixed line
  std::string snippet;      // the whole line (or path), every secret on it redacted
  std::string fingerprint;  // see text.hpp: fingerprint()
};

// A problem that does not stop a rule set from compiling, such as a glob that
// can never match.
struct RuleWarning {
  std::size_t rule = 0;  // index into the specs
  std::string field;     // "paths", "languages", "entropy"...
  std::size_t item = 0;  // index within the field's list (0 for scalars)
  std::string message;
};

}  // namespace bbreview::rules

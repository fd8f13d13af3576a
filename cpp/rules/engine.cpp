#include "rules/engine.hpp"

#include <re2/re2.h>
#include <re2/set.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <climits>
#include <iterator>
#include <cmath>
#include <exception>
#include <optional>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>

#include "rules/glob.hpp"
#include "rules/keywords.hpp"
#include "rules/language.hpp"
#include "rules/text.hpp"

namespace bbreview::rules {

std::string_view to_string(Severity severity) {
  switch (severity) {
    case Severity::Info: return "info";
    case Severity::Warning: return "warning";
    case Severity::Error: return "error";
  }
  return "warning";
}

std::string_view to_string(Scope scope) {
  switch (scope) {
    case Scope::Added: return "added";
    case Scope::Removed: return "removed";
    case Scope::Context: return "context";
    case Scope::Path: return "path";
  }
  return "added";
}

std::optional<Severity> parse_severity(std::string_view name) {
  for (const Severity s : {Severity::Info, Severity::Warning, Severity::Error}) {
    if (to_string(s) == name) return s;
  }
  return std::nullopt;
}

std::optional<Scope> parse_scope(std::string_view name) {
  for (const Scope s : {Scope::Added, Scope::Removed, Scope::Context, Scope::Path}) {
    if (to_string(s) == name) return s;
  }
  return std::nullopt;
}

RuleCompileError::RuleCompileError(std::size_t rule, std::string field, std::size_t item, std::string value,
                                   std::string reason)
    : std::runtime_error(field + "[" + std::to_string(item) + "] \"" + value + "\": " + reason),
      rule_(rule),
      field_(std::move(field)),
      item_(item),
      value_(std::move(value)),
      reason_(std::move(reason)) {}

namespace {

constexpr std::int64_t kMiB = std::int64_t{1} << 20;
constexpr std::int64_t kMinRegexMem = kMiB;
constexpr std::int64_t kMaxRegexMem = 8 * kMiB;  // RE2's own default per regex
constexpr std::int64_t kMinSetMem = kMiB;
constexpr std::size_t kNoRule = static_cast<std::size_t>(-1);

// A multi-pattern DFA tracks every pattern at once, so its states multiply.
// A pattern that can start matching at any character and has a large
// program (^.{201}, [\w.-]*?(?:secret|token)...) keeps many states alive on
// every line and, next to other patterns, makes the set's DFA build a new
// state for nearly every byte (measured: 1 MB/s instead of 300 MB/s). Such a
// pattern is tried on its own instead: one more linear pass per line.
// Patterns that begin with a literal (ghp_, AKIA, -----BEGIN) stay cheap in a
// set however large, since they wake up only where the literal occurs.
constexpr int kSoloProgramSize = 300;       // above this, without a literal prefix: on its own
constexpr int kHugeProgramSize = 20000;     // above this: on its own whatever its prefix
constexpr int kMaxSetProgram = 100000;      // a set is closed at this many instructions
constexpr std::size_t kMinLiteralPrefix = 2;

// One piece of a suggestion template: literal text, or a capture group.
struct RewritePiece {
  std::string literal;
  int group = -1;
};

struct Pattern {
  std::unique_ptr<RE2> re;
  std::uint32_t rule = 0;
  int submatches = 1;    // submatches a scan asks RE2 for: 1, or every group when they are needed
  int secret_group = 0;  // the group whose text is the secret (entropy, suggestion check)
  bool has_rewrite = false;
  std::vector<RewritePiece> rewrite;
};

struct Rule {
  std::vector<std::uint32_t> patterns;  // into Impl::patterns, in spec order
  std::vector<std::unique_ptr<RE2>> exclude;
  std::vector<std::unique_ptr<RE2>> path_include;
  std::vector<std::unique_ptr<RE2>> path_exclude;
  std::vector<std::uint32_t> include_globs;  // ids in the glob set, only globs that can match
  std::vector<std::uint32_t> exclude_globs;
  bool has_include_globs = false;  // the spec lists a positive glob, even one that can never match
  std::vector<std::string> languages;  // canonical names
  std::vector<std::uint32_t> keywords; // keyword ids
  Scope scope = Scope::Added;
};

struct ScopeSet {
  std::unique_ptr<RE2::Set> set;
  std::vector<std::uint32_t> pattern_of;  // set index -> pattern index
};

struct ScopeMatcher {
  std::vector<ScopeSet> sets;        // light patterns of rules without keywords
  std::vector<std::uint32_t> solo;   // heavy patterns of rules without keywords, tried one by one
};

RE2::Options regex_options(std::int64_t max_mem) {
  RE2::Options o;
  o.set_max_mem(max_mem);
  o.set_log_errors(false);  // errors are reported to the caller, not to stderr
  return o;
}

std::string mib(std::int64_t bytes) {
  return std::to_string(bytes / kMiB) + (bytes % kMiB ? "." + std::to_string((bytes % kMiB) * 10 / kMiB) : "") +
         " MiB";
}

// Parses a suggestion template: \0..\9, \g<number>, \g<name>, and \\ for a
// backslash. Fails (returns the reason) on any other escape or a group that
// `re` does not have.
std::optional<std::string> parse_rewrite(const RE2& re, std::string_view tmpl, std::vector<RewritePiece>& out) {
  std::string literal;
  auto flush = [&] {
    if (!literal.empty()) out.push_back({std::move(literal), -1});
    literal.clear();
  };
  const int groups = re.NumberOfCapturingGroups();
  for (std::size_t i = 0; i < tmpl.size(); ++i) {
    const char c = tmpl[i];
    if (c != '\\') {
      literal += c;
      continue;
    }
    if (i + 1 >= tmpl.size()) return "it ends with a lone \"\\\"; write \"\\\\\" for a backslash";
    const char n = tmpl[++i];
    int group = -1;
    if (n == '\\') {
      literal += '\\';
      continue;
    }
    if (n >= '0' && n <= '9') {
      group = n - '0';
    } else if (n == 'g' && i + 1 < tmpl.size() && tmpl[i + 1] == '<') {
      const auto close = tmpl.find('>', i + 2);
      if (close == std::string_view::npos) return "\"\\g<\" is not closed with \">\"";
      const std::string_view name = tmpl.substr(i + 2, close - i - 2);
      int number = 0;
      const auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), number);
      if (!name.empty() && ec == std::errc() && end == name.data() + name.size()) {
        group = number;
      } else {
        const auto& named = re.NamedCapturingGroups();
        const auto it = named.find(std::string(name));
        if (it == named.end()) return "the pattern has no group named \"" + std::string(name) + "\"";
        group = it->second;
      }
      i = close;
    } else {
      return std::string("\"\\") + n + "\" is not a valid escape; use \\0..\\9, \\g<n>, \\g<name> or \\\\";
    }
    if (group > groups) {
      return "it refers to group " + std::to_string(group) + " but the pattern has " + std::to_string(groups) +
             (groups == 1 ? " group" : " groups");
    }
    flush();
    out.push_back({{}, group});
  }
  flush();
  return std::nullopt;
}

// The group named by entropy_group ("" picks group 1 when there is one, else
// the whole match), or the reason it is invalid.
std::variant<int, std::string> resolve_group(const RE2& re, const std::string& spec) {
  const int groups = re.NumberOfCapturingGroups();
  if (spec.empty()) return groups >= 1 ? 1 : 0;
  int number = 0;
  const auto [end, ec] = std::from_chars(spec.data(), spec.data() + spec.size(), number);
  if (ec == std::errc() && end == spec.data() + spec.size()) {
    if (number < 0 || number > groups) {
      return "group " + spec + " does not exist: the pattern has " + std::to_string(groups) +
             (groups == 1 ? " group" : " groups");
    }
    return number;
  }
  const auto& named = re.NamedCapturingGroups();
  const auto it = named.find(spec);
  if (it == named.end()) return "the pattern has no group named \"" + spec + "\"";
  return it->second;
}

std::unique_ptr<RE2> compile_regex(std::size_t rule, const char* field, std::size_t item, const std::string& pattern,
                                   std::int64_t max_mem) {
  auto re = std::make_unique<RE2>(pattern, regex_options(max_mem));
  if (!re->ok()) {
    std::string reason = re->error();
    if (re->error_code() == RE2::ErrorPatternTooLarge) {
      reason += " (each rule's regex may use " + mib(max_mem) + "; raise max_mem or simplify the pattern)";
    }
    throw RuleCompileError(rule, field, item, pattern, reason);
  }
  return re;
}

// Length of the literal prefix (ASCII case folded) every match of `re` starts
// with, from RE2's own analysis; 0 when it has none or RE2 cannot tell.
std::size_t literal_prefix(const RE2& re) {
  // Read as Latin-1, (?i)k does not also match U+212A KELVIN SIGN (nor s
  // U+017F), which would otherwise hide the prefix of every (?i)k... pattern.
  RE2::Options latin1 = regex_options(kMinRegexMem);
  latin1.set_encoding(RE2::Options::EncodingLatin1);
  const RE2 probe(re.pattern(), latin1);
  const RE2& analysed = probe.ok() ? probe : re;
  std::string min, max;
  if (!analysed.PossibleMatchRange(&min, &max, 8)) return 0;
  auto fold = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
  std::size_t n = 0;
  while (n < min.size() && n < max.size() && fold(min[n]) == fold(max[n])) ++n;
  return n;
}

bool runs_alone(const RE2& re) {
  const int size = re.ProgramSize();
  return size > kHugeProgramSize || (size > kSoloProgramSize && literal_prefix(re) < kMinLiteralPrefix);
}

bool matches_all_paths(std::string_view glob) {
  return glob == "*" || glob == "**" || glob == "**/*" || glob == "/**" || glob == "**/**";
}

// A fixed extension at the end of a glob ("*.py" -> "py"), or "" when the end
// of the glob is not a literal extension.
std::string literal_extension(std::string_view glob) {
  const auto slash = glob.rfind('/');
  const std::string_view last = slash == std::string_view::npos ? glob : glob.substr(slash + 1);
  const auto dot = last.rfind('.');
  if (dot == std::string_view::npos || dot + 1 >= last.size()) return {};
  const std::string_view ext = last.substr(dot + 1);
  for (const char c : ext) {
    if (c == '*' || c == '?' || c == '[' || c == '\\' || c == '{') return {};
  }
  return std::string(ext);
}

}  // namespace

struct RuleSet::Impl {
  std::vector<RuleSpec> specs;
  std::vector<RuleWarning> warnings;
  std::vector<Pattern> patterns;
  std::vector<Rule> rules;
  std::array<ScopeMatcher, kScopeCount> scopes;
  std::array<std::vector<std::uint32_t>, kScopeCount> scope_rules;
  KeywordMatcher keywords;
  std::vector<std::vector<std::uint32_t>> keyword_rules;  // keyword id -> rules that list it
  std::unique_ptr<RE2::Set> globs;  // whole-path matchers, ANCHOR_BOTH
  std::vector<std::unique_ptr<RE2>> glob_res;  // the same, one by one, for when the set's DFA gives up
  std::size_t glob_count = 0;
  mutable std::atomic<std::uint64_t> fallbacks{0};

  // Per-scan scratch space, so the per-line loop does not allocate.
  struct Scratch {
    std::vector<std::uint8_t> applies;            // per rule, for the current file
    std::array<bool, kScopeCount> active{};        // the scope has a rule that applies
    std::array<bool, kScopeCount> keyed_active{};  // ... and one with keywords
    std::vector<std::uint32_t> count;              // accepted findings per rule in this file
    std::unordered_map<std::string, std::uint32_t> occurrences;  // per file, for fingerprints
    std::vector<int> hits;
    std::vector<int> glob_hits;
    std::uint32_t kw_gen = 0;
    std::vector<std::uint32_t> candidates;
    std::vector<std::uint32_t> rule_stamp;  // per rule: kw_gen when added as a keyword candidate
    std::vector<re2::StringPiece> groups;
    std::vector<std::pair<std::size_t, std::size_t>> spans;
    // Every secret match on the current line, whatever happens to its finding
    // (suppressed, over max_per_file): all are redacted from every output.
    std::vector<std::pair<std::size_t, std::size_t>> secret_spans;

    struct Hit {
      std::uint32_t rule;
      std::size_t begin;
      std::size_t end;
      std::string_view secret;  // the secret text (a view into the line), for secret rules
      std::optional<std::string> suggestion;
    };
    std::vector<Hit> line_hits;
    std::vector<Hit> rule_hits;
  };

  void compile(const CompileOptions& options);
  void prepare_file(std::string_view path, Scratch& s) const;
  void scan_file(const diff::FileDiff& file, std::uint32_t index, Scratch& s, std::vector<Finding>& out) const;
  void collect_candidates(Scope scope, std::string_view text, Scratch& s) const;
  void scan_text(Scope scope, std::string_view text, std::string_view previous, bool has_previous, Side side,
                 std::uint32_t line, std::string_view path, std::uint32_t file, Scratch& s,
                 std::vector<Finding>& out) const;
  void add_all_of(const ScopeSet& ss, Scratch& s) const;
};

void RuleSet::Impl::compile(const CompileOptions& options) {
  const std::int64_t total_mem = std::max<std::int64_t>(options.max_mem, kMiB);

  // Ids: present and unique, because findings and suppressions name rules by id.
  std::unordered_map<std::string, std::size_t> seen;
  for (std::size_t r = 0; r < specs.size(); ++r) {
    const RuleSpec& spec = specs[r];
    if (spec.id.empty()) throw RuleCompileError(r, "id", 0, "", "a rule needs a non-empty id");
    if (auto [it, inserted] = seen.emplace(spec.id, r); !inserted) {
      throw RuleCompileError(r, "id", 0, spec.id,
                             "duplicate rule id (rule #" + std::to_string(it->second + 1) + " has it too)");
    }
    if (spec.patterns.empty()) throw RuleCompileError(r, "patterns", 0, "", "a rule needs at least one pattern");
  }
  // Each rule's own regex may grow its DFA cache to an eighth of max_mem
  // (8 MiB, RE2's default, at the default max_mem). The caches grow only as
  // far as a pattern needs, so this is a ceiling, not a reservation; a
  // budget split evenly between hundreds of rules made heavy patterns fall
  // back to RE2's NFA and scan at a few MB/s.
  const std::int64_t regex_mem = std::clamp<std::int64_t>(total_mem / 8, kMinRegexMem, kMaxRegexMem);

  std::vector<std::string> keyword_list;
  std::vector<std::string> glob_regexes;
  std::unordered_map<std::string, std::uint32_t> glob_ids;
  rules.resize(specs.size());

  for (std::size_t r = 0; r < specs.size(); ++r) {
    const RuleSpec& spec = specs[r];
    Rule& rule = rules[r];
    auto warn = [&](std::string field, std::size_t item, std::string message) {
      warnings.push_back({r, std::move(field), item, std::move(message)});
    };

    if (spec.entropy) {
      if (!std::isfinite(*spec.entropy) || *spec.entropy < 0) {
        throw RuleCompileError(r, "entropy", 0, std::to_string(*spec.entropy),
                               "entropy must be a number of bits per character, at least 0");
      }
      if (*spec.entropy > 8.0) {
        warn("entropy", 0,
             "entropy " + std::to_string(*spec.entropy) +
                 " can never be reached: text has at most 8 bits of entropy per byte, so the rule never fires");
      }
    }

    for (std::size_t i = 0; i < spec.patterns.size(); ++i) {
      Pattern p;
      p.re = compile_regex(r, "patterns", i, spec.patterns[i], regex_mem);
      p.rule = static_cast<std::uint32_t>(r);
      const auto group = resolve_group(*p.re, spec.entropy_group);
      if (const auto* why = std::get_if<std::string>(&group)) {
        throw RuleCompileError(r, "entropy_group", 0, spec.entropy_group,
                               *why + " (in pattern \"" + spec.patterns[i] + "\")");
      }
      p.secret_group = std::get<int>(group);
      if (spec.suggestion) {
        if (auto why = parse_rewrite(*p.re, *spec.suggestion, p.rewrite)) {
          throw RuleCompileError(r, "suggestion", 0, *spec.suggestion,
                                 *why + " (in pattern \"" + spec.patterns[i] + "\")");
        }
        p.has_rewrite = true;
      }
      const bool needs_groups = p.has_rewrite || ((spec.entropy || spec.secret) && p.secret_group > 0);
      p.submatches = needs_groups ? 1 + p.re->NumberOfCapturingGroups() : 1;
      rule.patterns.push_back(static_cast<std::uint32_t>(patterns.size()));
      patterns.push_back(std::move(p));
    }
    for (std::size_t i = 0; i < spec.exclude.size(); ++i) {
      rule.exclude.push_back(compile_regex(r, "exclude", i, spec.exclude[i], regex_mem));
    }
    for (std::size_t i = 0; i < spec.path_patterns.size(); ++i) {
      rule.path_include.push_back(compile_regex(r, "path_patterns", i, spec.path_patterns[i], regex_mem));
    }
    for (std::size_t i = 0; i < spec.path_exclude_patterns.size(); ++i) {
      rule.path_exclude.push_back(compile_regex(r, "path_exclude_patterns", i, spec.path_exclude_patterns[i], regex_mem));
    }

    for (std::size_t i = 0; i < spec.languages.size(); ++i) {
      const std::string_view canonical = canonical_language(spec.languages[i]);
      if (canonical.empty()) {
        std::string known;
        for (const auto name : known_languages()) known += (known.empty() ? "" : ", ") + std::string(name);
        throw RuleCompileError(r, "languages", i, spec.languages[i], "unknown language; known languages: " + known);
      }
      rule.languages.emplace_back(canonical);
    }

    for (std::size_t i = 0; i < spec.keywords.size(); ++i) {
      if (spec.keywords[i].empty()) throw RuleCompileError(r, "keywords", i, "", "a keyword must not be empty");
      rule.keywords.push_back(static_cast<std::uint32_t>(keyword_list.size()));
      keyword_list.push_back(spec.keywords[i]);
    }

    bool any_include_can_match = false;
    for (std::size_t i = 0; i < spec.paths.size(); ++i) {
      std::string_view glob = spec.paths[i];
      const bool negative = !glob.empty() && glob.front() == '!';
      if (negative) glob.remove_prefix(1);
      if (!negative) rule.has_include_globs = true;
      const GlobRegex translated = translate_glob(glob);
      if (translated.never) {
        warn("paths", i, "path glob \"" + spec.paths[i] + "\" can never match: " + *translated.never);
        continue;
      }
      if (negative && matches_all_paths(glob)) {
        warn("paths", i, "path glob \"" + spec.paths[i] + "\" excludes every path, so the rule never applies");
      }
      if (!negative && !rule.languages.empty()) {
        const std::string ext = literal_extension(glob);
        if (!ext.empty()) {
          const std::string_view lang = language_of_extension(ext);
          const std::string probe = "x." + ext;
          bool compatible = false;
          for (const auto l : languages_of(probe)) {
            compatible = compatible || std::find(rule.languages.begin(), rule.languages.end(), l) != rule.languages.end();
          }
          if (!compatible) {
            std::string langs;
            for (const auto& l : rule.languages) langs += (langs.empty() ? "" : ", ") + l;
            warn("paths", i,
                 "path glob \"" + spec.paths[i] + "\" can never match: it selects " +
                     (lang.empty() ? "\"." + ext + "\" files, whose language is unknown," : std::string(lang) + " files") +
                     " but the rule is limited to languages [" + langs + "]");
            continue;
          }
        }
      }
      auto [it, inserted] = glob_ids.try_emplace(translated.regex, static_cast<std::uint32_t>(glob_regexes.size()));
      if (inserted) glob_regexes.push_back(translated.regex);
      (negative ? rule.exclude_globs : rule.include_globs).push_back(it->second);
      any_include_can_match = any_include_can_match || !negative;
    }
    if (rule.has_include_globs && !any_include_can_match) {
      warn("paths", 0, "none of the rule's path globs can match, so the rule never applies");
    }
    rule.scope = spec.scope;
    scope_rules[static_cast<std::size_t>(spec.scope)].push_back(static_cast<std::uint32_t>(r));
  }

  keywords = KeywordMatcher(keyword_list);
  keyword_rules.assign(keywords.size(), {});
  for (std::size_t r = 0; r < rules.size(); ++r) {
    for (auto& k : rules[r].keywords) {
      k = keywords.id(k);
      auto& list = keyword_rules[k];
      if (list.empty() || list.back() != r) list.push_back(static_cast<std::uint32_t>(r));
    }
  }

  // Rules with keywords need no set: only the rules whose keywords occur in
  // a line run their own regexes on it, as gitleaks does. The other rules'
  // patterns go into multi-pattern sets, heavy ones aside (see kSoloProgramSize).
  struct Planned {
    std::size_t scope;
    std::vector<std::uint32_t> members;
    std::size_t bytes = 0;
  };
  std::vector<Planned> planned;
  std::size_t total_bytes = 0;
  for (std::size_t sc = 0; sc < kScopeCount; ++sc) {
    Planned current{sc, {}, 0};
    int program = 0;
    for (const std::uint32_t r : scope_rules[sc]) {
      if (!rules[r].keywords.empty()) continue;
      for (std::size_t i = 0; i < rules[r].patterns.size(); ++i) {
        const std::uint32_t p = rules[r].patterns[i];
        const int size = patterns[p].re->ProgramSize();
        if (runs_alone(*patterns[p].re)) {
          scopes[sc].solo.push_back(p);
          continue;
        }
        if (!current.members.empty() && program + size > kMaxSetProgram) {
          total_bytes += current.bytes;
          planned.push_back(std::move(current));
          current = Planned{sc, {}, 0};
          program = 0;
        }
        current.members.push_back(p);
        current.bytes += specs[r].patterns[i].size() + 8;
        program += size;
      }
    }
    if (!current.members.empty()) {
      total_bytes += current.bytes;
      planned.push_back(std::move(current));
    }
  }
  const std::int64_t set_mem = total_mem / 2;
  for (Planned& pl : planned) {
    const std::int64_t budget = std::max<std::int64_t>(
        kMinSetMem, static_cast<std::int64_t>(static_cast<double>(set_mem) * static_cast<double>(pl.bytes) /
                                              static_cast<double>(std::max<std::size_t>(total_bytes, 1))));
    ScopeSet target;
    target.set = std::make_unique<RE2::Set>(regex_options(budget), RE2::UNANCHORED);
    for (const std::uint32_t p : pl.members) {
      const Pattern& pat = patterns[p];
      const RuleSpec& spec = specs[pat.rule];
      const auto item = static_cast<std::size_t>(
          std::find(rules[pat.rule].patterns.begin(), rules[pat.rule].patterns.end(), p) - rules[pat.rule].patterns.begin());
      std::string error;
      if (target.set->Add(spec.patterns[item], &error) < 0) {
        throw RuleCompileError(pat.rule, "patterns", item, spec.patterns[item], error);
      }
      target.pattern_of.push_back(p);
    }
    if (!target.set->Compile()) {
      throw RuleCompileError(kNoRule, "max_mem", 0, std::to_string(options.max_mem),
                             "the " + std::string(to_string(static_cast<Scope>(pl.scope))) + "-line rules (" +
                                 std::to_string(pl.members.size()) + " patterns) need more than their " +
                                 mib(budget) + " share of max_mem; raise max_mem");
    }
    scopes[pl.scope].sets.push_back(std::move(target));
  }

  if (!glob_regexes.empty()) {
    // Paths are raw bytes and need not be UTF-8 (git quotes, but keeps, any
    // byte). Read as Latin-1, every byte is one character, so a glob still
    // matches a path holding invalid UTF-8; UTF-8 literals in globs match
    // byte for byte all the same.
    auto glob_options = [](std::int64_t mem) {
      RE2::Options o = regex_options(mem);
      o.set_encoding(RE2::Options::EncodingLatin1);
      return o;
    };
    globs = std::make_unique<RE2::Set>(glob_options(std::max<std::int64_t>(kMiB, total_mem / 16)), RE2::ANCHOR_BOTH);
    for (const auto& g : glob_regexes) {
      std::string error;
      auto re = std::make_unique<RE2>(g, glob_options(kMinRegexMem));
      if (globs->Add(g, &error) < 0 || !re->ok()) {
        throw RuleCompileError(kNoRule, "paths", 0, g,
                               "internal error: a translated glob did not compile: " + error + re->error());
      }
      glob_res.push_back(std::move(re));
    }
    if (!globs->Compile()) {
      throw RuleCompileError(kNoRule, "max_mem", 0, std::to_string(options.max_mem),
                             "the path globs need more memory than max_mem allows; raise max_mem");
    }
    glob_count = glob_regexes.size();
  }
}

void RuleSet::Impl::prepare_file(std::string_view path, Scratch& s) const {
  s.applies.assign(rules.size(), 0);
  s.active.fill(false);
  s.keyed_active.fill(false);
  s.count.assign(rules.size(), 0);
  s.occurrences.clear();

  const std::vector<std::string_view> langs = languages_of(path);
  s.glob_hits.clear();
  std::vector<std::uint8_t> glob_matched;
  if (globs) {
    glob_matched.assign(glob_count, 0);
    RE2::Set::ErrorInfo info{};
    if (globs->Match(path, &s.glob_hits, &info)) {
      for (const int g : s.glob_hits) glob_matched[static_cast<std::size_t>(g)] = 1;
    } else if (info.kind != RE2::Set::kNoError) {
      // The DFA gave up on this path: decide glob by glob (RE2 falls back to the NFA).
      fallbacks.fetch_add(1, std::memory_order_relaxed);
      for (std::size_t g = 0; g < glob_count; ++g) glob_matched[g] = RE2::FullMatch(path, *glob_res[g]) ? 1 : 0;
    }
  }

  for (std::size_t sc = 0; sc < kScopeCount; ++sc) {
    for (const std::uint32_t r : scope_rules[sc]) {
      const Rule& rule = rules[r];
      bool ok = true;
      if (!rule.languages.empty()) {
        ok = false;
        for (const auto l : langs) {
          ok = ok || std::find(rule.languages.begin(), rule.languages.end(), l) != rule.languages.end();
        }
      }
      if (ok && rule.has_include_globs) {
        ok = std::any_of(rule.include_globs.begin(), rule.include_globs.end(),
                         [&](std::uint32_t g) { return glob_matched[g] != 0; });
      }
      if (ok) {
        ok = std::none_of(rule.exclude_globs.begin(), rule.exclude_globs.end(),
                          [&](std::uint32_t g) { return glob_matched[g] != 0; });
      }
      if (ok && !rule.path_include.empty()) {
        ok = std::any_of(rule.path_include.begin(), rule.path_include.end(),
                         [&](const auto& re) { return RE2::PartialMatch(path, *re); });
      }
      if (ok) {
        ok = std::none_of(rule.path_exclude.begin(), rule.path_exclude.end(),
                          [&](const auto& re) { return RE2::PartialMatch(path, *re); });
      }
      if (!ok) continue;
      s.applies[r] = 1;
      s.active[sc] = true;
      if (!rule.keywords.empty()) s.keyed_active[sc] = true;
    }
  }
}

void RuleSet::Impl::add_all_of(const ScopeSet& ss, Scratch& s) const {
  for (const std::uint32_t p : ss.pattern_of) {
    if (s.applies[patterns[p].rule]) s.candidates.push_back(p);
  }
}

void RuleSet::Impl::collect_candidates(Scope scope, std::string_view text, Scratch& s) const {
  s.candidates.clear();
  const auto sc = static_cast<std::size_t>(scope);
  const ScopeMatcher& sm = scopes[sc];
  for (const ScopeSet& ss : sm.sets) {
    RE2::Set::ErrorInfo info{};
    // The first call passes no output vector: RE2 then stops at the first
    // match and allocates nothing, and most lines match no pattern at all.
    bool matched = ss.set->Match(text, nullptr, &info);
    if (matched) {
      info = {};
      matched = ss.set->Match(text, &s.hits, &info);
    }
    if (!matched) {
      if (info.kind == RE2::Set::kNoError) continue;
      // The set's DFA ran out of memory (max_mem) on this line: every rule of
      // the set becomes a candidate and its own regex (which falls back to the
      // NFA by itself) decides. Same findings, only slower.
      fallbacks.fetch_add(1, std::memory_order_relaxed);
      add_all_of(ss, s);
      continue;
    }
    for (const int h : s.hits) {
      const std::uint32_t p = ss.pattern_of[static_cast<std::size_t>(h)];
      if (s.applies[patterns[p].rule]) s.candidates.push_back(p);
    }
  }
  // Heavy patterns and keyword rules become candidates without a set's
  // confirmation: scan_text's per-rule search decides.
  for (const std::uint32_t p : sm.solo) {
    if (s.applies[patterns[p].rule]) s.candidates.push_back(p);
  }
  if (s.keyed_active[sc]) {
    ++s.kw_gen;
    if (s.kw_gen == 0) {  // wrapped: old stamps could look current
      std::fill(s.rule_stamp.begin(), s.rule_stamp.end(), 0);
      s.kw_gen = 1;
    }
    keywords.scan(text, [&](std::uint32_t id) {
      for (const std::uint32_t r : keyword_rules[id]) {
        if (s.rule_stamp[r] == s.kw_gen || rules[r].scope != scope || !s.applies[r]) continue;
        s.rule_stamp[r] = s.kw_gen;
        s.candidates.insert(s.candidates.end(), rules[r].patterns.begin(), rules[r].patterns.end());
      }
    });
  }
  // Pattern indices follow rule order, so sorting groups a rule's patterns.
  std::sort(s.candidates.begin(), s.candidates.end());
  s.candidates.erase(std::unique(s.candidates.begin(), s.candidates.end()), s.candidates.end());
}

void RuleSet::Impl::scan_text(Scope scope, std::string_view text, std::string_view previous, bool has_previous,
                              Side side, std::uint32_t line, std::string_view path, std::uint32_t file, Scratch& s,
                              std::vector<Finding>& out) const {
  collect_candidates(scope, text, s);
  if (s.candidates.empty()) return;

  // Suppression comments are parsed only for lines with a candidate.
  std::optional<Suppression> suppression;
  auto suppressed = [&](const std::string& id) {
    if (side == Side::Path) return false;
    if (!suppression) {
      suppression = parse_suppression(text);
      // The line above counts only when it is a comment and nothing else: a
      // directive trailing code suppresses findings on its own line.
      if (has_previous && is_comment_only(previous)) {
        Suppression before = parse_suppression(previous);
        suppression->all = suppression->all || before.all;
        suppression->ids.insert(suppression->ids.end(), before.ids.begin(), before.ids.end());
      }
    }
    return suppression->covers(id);
  };

  s.line_hits.clear();
  s.secret_spans.clear();
  for (std::size_t c = 0; c < s.candidates.size();) {
    const std::uint32_t r = patterns[s.candidates[c]].rule;
    std::size_t c_end = c;
    while (c_end < s.candidates.size() && patterns[s.candidates[c_end]].rule == r) ++c_end;
    const std::size_t first = c;
    c = c_end;

    const RuleSpec& spec = specs[r];
    const Rule& rule = rules[r];
    const std::uint32_t room = spec.max_per_file ? spec.max_per_file - std::min(spec.max_per_file, s.count[r]) : UINT32_MAX;
    // A secret rule past its cap still has to find its secrets, to redact them.
    if (room == 0 && !spec.secret) continue;

    // Every match of the rule's candidate patterns, leftmost first.
    s.rule_hits.clear();
    s.spans.clear();
    for (std::size_t k = first; k < c_end; ++k) {
      const Pattern& pat = patterns[s.candidates[k]];
      s.groups.assign(static_cast<std::size_t>(pat.submatches), re2::StringPiece());
      std::size_t pos = 0;
      while (pos <= text.size()) {
        if (!pat.re->Match(text, pos, text.size(), RE2::UNANCHORED, s.groups.data(), pat.submatches)) break;
        const auto begin = static_cast<std::size_t>(s.groups[0].data() - text.data());
        const std::size_t end = begin + s.groups[0].size();
        pos = end > begin ? end : begin + code_point_length(text, begin);
        // Several patterns of one rule may find the same place: report it once.
        const bool overlaps = std::any_of(s.spans.begin(), s.spans.end(), [&](const auto& sp) {
          return (begin < sp.second && sp.first < end) || begin == sp.first;
        });
        if (overlaps) continue;
        const re2::StringPiece secret_piece =
            pat.secret_group < pat.submatches ? s.groups[static_cast<std::size_t>(pat.secret_group)] : s.groups[0];
        const std::string_view secret(secret_piece.data() ? secret_piece.data() : text.data(),
                                      secret_piece.data() ? secret_piece.size() : 0);
        if (spec.entropy && (secret_piece.data() == nullptr || shannon_entropy(secret) < *spec.entropy)) continue;

        std::optional<std::string> suggestion;
        if (pat.has_rewrite) {
          std::string fixed(text.substr(0, begin));
          for (const RewritePiece& piece : pat.rewrite) {
            if (piece.group < 0) {
              fixed += piece.literal;
            } else if (const auto& g = s.groups[static_cast<std::size_t>(piece.group)]; g.data()) {
              fixed.append(g.data(), g.size());
            }
          }
          fixed.append(text.substr(end));
          if (fixed != text) suggestion = std::move(fixed);
        }
        s.spans.emplace_back(begin, end);
        s.rule_hits.push_back({r, begin, end, spec.secret ? secret : std::string_view(), std::move(suggestion)});
      }
    }
    if (s.rule_hits.empty()) continue;
    // A secret is redacted from every output even when its own finding is
    // vetoed below (excluded, over max_per_file or suppressed). The span is
    // the secret's capture group where the rule has one, so a snippet keeps
    // the name the value was assigned to.
    if (spec.secret && scope != Scope::Path) {
      for (const auto& h : s.rule_hits) {
        if (h.secret.empty()) {
          s.secret_spans.emplace_back(h.begin, h.end);
        } else {
          const auto b = static_cast<std::size_t>(h.secret.data() - text.data());
          s.secret_spans.emplace_back(b, b + h.secret.size());
        }
      }
    }
    // Vetoes are checked only for lines the rule actually matched.
    if (std::any_of(rule.exclude.begin(), rule.exclude.end(),
                    [&](const auto& re) { return RE2::PartialMatch(text, *re); })) {
      continue;
    }
    if (room == 0) continue;
    if (suppressed(spec.id)) continue;
    std::sort(s.rule_hits.begin(), s.rule_hits.end(), [](const auto& a, const auto& b) { return a.begin < b.begin; });
    const std::size_t take = std::min<std::size_t>(s.rule_hits.size(), room);
    s.count[r] += static_cast<std::uint32_t>(take);
    std::move(s.rule_hits.begin(), s.rule_hits.begin() + static_cast<std::ptrdiff_t>(take), std::back_inserter(s.line_hits));
  }
  if (s.line_hits.empty()) return;

  // Every secret on the line is redacted in every finding's snippet and
  // match, and a suggestion that would repeat a secret is dropped.
  std::vector<std::pair<std::size_t, std::size_t>>& secret_spans = s.secret_spans;
  std::sort(secret_spans.begin(), secret_spans.end());
  std::size_t merged = 0;
  for (std::size_t i = 0; i < secret_spans.size(); ++i) {
    if (merged > 0 && secret_spans[i].first < secret_spans[merged - 1].second) {
      secret_spans[merged - 1].second = std::max(secret_spans[merged - 1].second, secret_spans[i].second);
    } else {
      secret_spans[merged++] = secret_spans[i];
    }
  }
  secret_spans.resize(merged);
  // text[from, to) with every secret in it redacted.
  auto redacted = [&](std::size_t from, std::size_t to) {
    std::string piece;
    std::size_t pos = from;
    for (const auto& [b0, e0] : secret_spans) {
      const std::size_t b = std::max(b0, pos), e = std::min(e0, to);
      if (b >= e) continue;
      piece.append(text.substr(pos, b - pos));
      piece.append(redact(text.substr(b, e - b)));
      pos = e;
    }
    piece.append(text.substr(pos, to - pos));
    return piece;
  };
  const std::string redacted_line = secret_spans.empty() ? std::string() : redacted(0, text.size());

  // Sort by rule, then by column, for a stable order.
  std::stable_sort(s.line_hits.begin(), s.line_hits.end(), [](const auto& a, const auto& b) {
    return a.rule != b.rule ? a.rule < b.rule : a.begin < b.begin;
  });
  const std::string normalised = normalise_whitespace(text);
  for (auto& h : s.line_hits) {
    const RuleSpec& spec = specs[h.rule];
    Finding f;
    f.rule = h.rule;
    f.file = file;
    f.line = line;
    f.side = side;
    f.column_start = count_code_points(text.substr(0, h.begin)) + 1;
    f.column_end = f.column_start + count_code_points(text.substr(h.begin, h.end - h.begin));
    const std::string_view matched = text.substr(h.begin, h.end - h.begin);
    f.match = spec.secret ? redact(matched) : redacted(h.begin, h.end);
    f.snippet = secret_spans.empty() ? std::string(text) : redacted_line;
    if (h.suggestion) {
      const bool leaks = std::any_of(secret_spans.begin(), secret_spans.end(), [&](const auto& span) {
        return h.suggestion->find(text.substr(span.first, span.second - span.first)) != std::string::npos;
      }) || std::any_of(s.line_hits.begin(), s.line_hits.end(), [&](const auto& other) {
        return !other.secret.empty() && h.suggestion->find(other.secret) != std::string::npos;
      });
      if (!leaks) f.suggestion = std::move(h.suggestion);
    }
    std::string key = std::to_string(h.rule);
    key += '\0';
    key += normalised;
    const std::uint32_t occurrence = ++s.occurrences[key];
    f.fingerprint = fingerprint(spec.id, path, text, occurrence);
    out.push_back(std::move(f));
  }
}

void RuleSet::Impl::scan_file(const diff::FileDiff& file, std::uint32_t index, Scratch& s,
                              std::vector<Finding>& out) const {
  if (!file.new_path && !file.old_path) return;
  const std::string& path = file.path();
  prepare_file(path, s);

  if (s.active[static_cast<std::size_t>(Scope::Path)]) {
    scan_text(Scope::Path, path, {}, false, Side::Path, 0, path, index, s, out);
  }
  const bool lines_wanted = s.active[static_cast<std::size_t>(Scope::Added)] ||
                            s.active[static_cast<std::size_t>(Scope::Removed)] ||
                            s.active[static_cast<std::size_t>(Scope::Context)];
  if (!lines_wanted) return;
  for (const diff::Hunk& hunk : file.hunks) {
    const diff::Line* prev_new = nullptr;  // the line just above on the new side
    const diff::Line* prev_old = nullptr;  // the line just above on the old side
    for (const diff::Line& l : hunk.lines) {
      Scope scope = Scope::Context;
      Side side = Side::New;
      std::uint32_t number = l.new_lineno;
      const diff::Line* prev = prev_new;
      if (l.kind == diff::LineKind::Added) {
        scope = Scope::Added;
      } else if (l.kind == diff::LineKind::Removed) {
        scope = Scope::Removed;
        side = Side::Old;
        number = l.old_lineno;
        prev = prev_old;
      }
      if (s.active[static_cast<std::size_t>(scope)]) {
        scan_text(scope, l.content, prev ? prev->content : std::string_view(), prev != nullptr, side, number, path,
                  index, s, out);
      }
      if (l.kind != diff::LineKind::Removed) prev_new = &l;
      if (l.kind != diff::LineKind::Added) prev_old = &l;
    }
  }
}

RuleSet::RuleSet(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RuleSet::RuleSet(RuleSet&&) noexcept = default;
RuleSet& RuleSet::operator=(RuleSet&&) noexcept = default;
RuleSet::~RuleSet() = default;

RuleSet RuleSet::compile(std::vector<RuleSpec> specs, const CompileOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->specs = std::move(specs);
  impl->compile(options);
  return RuleSet(std::move(impl));
}

const std::vector<RuleSpec>& RuleSet::rules() const { return impl_->specs; }
const std::vector<RuleWarning>& RuleSet::warnings() const { return impl_->warnings; }
std::uint64_t RuleSet::dfa_fallbacks() const { return impl_->fallbacks.load(std::memory_order_relaxed); }

std::vector<Finding> RuleSet::scan(const diff::PatchSet& patchset) const {
  std::vector<Finding> out;
  Impl::Scratch scratch;
  scratch.rule_stamp.assign(impl_->rules.size(), 0);
  for (std::size_t i = 0; i < patchset.files.size(); ++i) {
    impl_->scan_file(patchset.files[i], static_cast<std::uint32_t>(i), scratch, out);
  }
  return out;
}

std::vector<Finding> RuleSet::scan(const diff::FileDiff& file, std::uint32_t file_index) const {
  std::vector<Finding> out;
  Impl::Scratch scratch;
  scratch.rule_stamp.assign(impl_->rules.size(), 0);
  impl_->scan_file(file, file_index, scratch, out);
  return out;
}

std::vector<std::vector<Finding>> RuleSet::scan_many(std::span<const diff::PatchSet* const> patchsets,
                                                     unsigned threads) const {
  std::vector<std::vector<Finding>> results(patchsets.size());
  if (threads == 0) threads = std::max(1U, std::thread::hardware_concurrency());
  threads = static_cast<unsigned>(std::min<std::size_t>(threads, patchsets.size()));
  std::atomic<std::size_t> next{0};
  std::exception_ptr failure;
  std::atomic<bool> failed{false};
  auto worker = [&] {
    try {
      while (!failed.load(std::memory_order_relaxed)) {
        const std::size_t i = next.fetch_add(1);
        if (i >= patchsets.size()) break;
        results[i] = scan(*patchsets[i]);
      }
    } catch (...) {
      // Only the first failure is kept; the others stop at their next item.
      if (!failed.exchange(true)) failure = std::current_exception();
    }
  };
  if (threads <= 1) {
    worker();
  } else {
    std::vector<std::thread> pool;
    pool.reserve(threads);
    for (unsigned t = 0; t < threads; ++t) pool.emplace_back(worker);
    for (auto& t : pool) t.join();
  }
  if (failure) std::rethrow_exception(failure);
  return results;
}

}  // namespace bbreview::rules

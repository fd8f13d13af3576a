// The rule engine: many RE2 rules compiled into one multi-pattern matcher per
// scope, run over a PatchSet's lines in one pass.
//
// How a line is scanned:
//   1. A RE2::Set holding the patterns of the line's scope answers "which
//      patterns match anywhere?" in one linear pass. Three kinds of pattern
//      stay out of it, because a multi-pattern DFA's states multiply:
//      - patterns of rules with keywords: one Aho-Corasick pass finds the
//        keywords in the line, and only the rules whose keywords occur are
//        tried (the gitleaks way);
//      - heavy patterns (a large RE2 program, typically a big counted
//        repetition such as ^.{201}) are tried on their own;
//      - a set is closed at a bounded total program size and a new one begun.
//   2. Only for candidate rules that apply to the file (paths, languages,
//      decided once per file) does the rule's own RE2 run, to find spans and
//      capture groups; then entropy, exclude patterns, suppression comments
//      and max_per_file are applied.
// RE2 runs in time linear in the input, so no pattern can make a scan hang.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "diff/model.hpp"
#include "rules/rule.hpp"

namespace bbreview::rules {

struct CompileOptions {
  // Memory budget for RE2. The multi-pattern sets share half of it, in
  // proportion to the size of their patterns (at least 1 MiB each); each
  // rule's own regex may use up to an eighth of it, between 1 MiB and RE2's
  // default of 8 MiB. RE2 allocates lazily, so these are ceilings: a set
  // needs its share only on input that explores many DFA states.
  std::int64_t max_mem = std::int64_t{64} << 20;
};

// A rule could not be compiled. `field` names the rule field ("patterns",
// "exclude", "suggestion", ...), `item` the index within it, `value` the
// offending text and `reason` what is wrong (RE2's own message for a regex).
class RuleCompileError : public std::runtime_error {
 public:
  RuleCompileError(std::size_t rule, std::string field, std::size_t item, std::string value, std::string reason);
  std::size_t rule() const { return rule_; }
  const std::string& field() const { return field_; }
  std::size_t item() const { return item_; }
  const std::string& value() const { return value_; }
  const std::string& reason() const { return reason_; }

 private:
  std::size_t rule_;
  std::string field_;
  std::size_t item_;
  std::string value_;
  std::string reason_;
};

class RuleSet {
 public:
  // Validates and compiles `specs`. Throws RuleCompileError for the first
  // invalid rule: an empty or duplicate id, no patterns, an invalid regex
  // (with RE2's message), a suggestion or entropy_group naming a group the
  // pattern lacks, an unknown language, an empty keyword, a negative entropy,
  // or sets that need more memory than max_mem allows.
  static RuleSet compile(std::vector<RuleSpec> specs, const CompileOptions& options = {});

  RuleSet(RuleSet&&) noexcept;
  RuleSet& operator=(RuleSet&&) noexcept;
  ~RuleSet();

  const std::vector<RuleSpec>& rules() const;
  const std::vector<RuleWarning>& warnings() const;

  // Findings for every file of `patchset`, in file order, then path-scope
  // findings before line findings, then line order, then rule order, then
  // column. Never throws for any input (std::bad_alloc aside).
  std::vector<Finding> scan(const diff::PatchSet& patchset) const;

  // Findings for one file; Finding::file is set to `file_index`.
  std::vector<Finding> scan(const diff::FileDiff& file, std::uint32_t file_index = 0) const;

  // scan() over each patch set, on up to `threads` threads (0: one per
  // hardware thread). Result i belongs to patchsets[i]. The rule set is
  // immutable, so concurrent scans share it safely.
  std::vector<std::vector<Finding>> scan_many(std::span<const diff::PatchSet* const> patchsets,
                                              unsigned threads = 0) const;

  // How often a set's DFA ran out of memory on a line, so that the line was
  // scanned with each candidate rule's own regex instead (same findings,
  // slower). Cumulative over all scans; for tests and tuning max_mem.
  std::uint64_t dfa_fallbacks() const;

  struct Impl;

 private:
  explicit RuleSet(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace bbreview::rules

// Unified diff parser for git output (diff, show, log -p, format-patch,
// Bitbucket's /diff) and plain `diff -u` output.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include "diff/model.hpp"

namespace bbreview::diff {

struct ParseOptions {
  // Strict: the first malformed construct throws ParseError. Lenient: it is
  // recorded in PatchSet::warnings and parsing resumes at the next file header.
  bool strict = true;
  // False: the statistics-only fast path. Files, paths, modes and counts are
  // filled in, but no Hunk or Line is stored.
  bool keep_lines = true;
};

// Thrown by parse() in strict mode. `line` is 1-based; `text` is the offending
// input line, cut to kMaxQuotedText bytes followed by "..." when longer;
// `reason` says what was expected.
class ParseError : public std::runtime_error {
 public:
  static constexpr std::size_t kMaxQuotedText = 120;

  ParseError(std::uint32_t line, std::string text, std::string reason);

  std::uint32_t line() const { return line_; }
  const std::string& text() const { return text_; }
  const std::string& reason() const { return reason_; }

 private:
  std::uint32_t line_;
  std::string text_;
  std::string reason_;
};

// Parses `input` into a PatchSet that keeps `owner` alive, since every view in
// the model points into `input`; `owner` must keep those bytes alive and
// unchanged. Never reads outside `input`, whatever its content. Throws
// ParseError in strict mode only; an input holding no file diff at all yields
// an empty PatchSet with a warning, since `git show` of an empty commit is a
// valid input.
PatchSet parse(std::string_view input, std::shared_ptr<const void> owner, const ParseOptions& options = {});

// Parses `buffer` (null is an empty input), sharing ownership of it.
PatchSet parse(std::shared_ptr<const std::string> buffer, const ParseOptions& options = {});

// Convenience overload that takes ownership of `text`.
PatchSet parse(std::string text, const ParseOptions& options = {});

}  // namespace bbreview::diff

// The diff model: PatchSet -> FileDiff -> Hunk -> Line.
//
// A PatchSet shares ownership of one byte buffer holding the whole input (the
// caller's own buffer where possible: parsing copies nothing). Every Line's content
// is a view into that buffer, and every Hunk and FileDiff is a span into flat
// vectors owned by the PatchSet, so parsing allocates a handful of vectors
// rather than one object per line. The model is immutable once parse() returns:
// the views stay valid for as long as the PatchSet lives.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bbreview::diff {

enum class LineKind : char { Context = ' ', Added = '+', Removed = '-' };

// How a diff line was terminated in the input, so emission is byte-exact.
enum class LineEnding : std::uint8_t { LF, CRLF, None };

struct Line {
  std::string_view content;   // without the prefix character and the line ending
  std::uint32_t old_lineno = 0;  // 0 when the line has no old-side number (added)
  std::uint32_t new_lineno = 0;  // 0 when the line has no new-side number (removed)
  std::uint32_t input_lineno = 0;  // 1-based line of the input this came from
  LineKind kind = LineKind::Context;
  LineEnding ending = LineEnding::LF;
  bool no_newline_at_eof = false;  // followed by "\ No newline at end of file"
};

struct Hunk {
  std::uint32_t old_start = 0;
  std::uint32_t old_count = 0;
  std::uint32_t new_start = 0;
  std::uint32_t new_count = 0;
  std::string_view section;       // text after the closing "@@", without the space
  std::uint32_t input_lineno = 0;  // line of the "@@" header
  std::span<const Line> lines;    // empty when parsed for statistics only

  // Last new-side / old-side line number the hunk covers; 0 when the side is empty.
  std::uint32_t new_end() const { return new_count ? new_start + new_count - 1 : 0; }
  std::uint32_t old_end() const { return old_count ? old_start + old_count - 1 : 0; }
};

enum class FileStatus : std::uint8_t { Added, Deleted, Modified, Renamed, Copied };

std::string_view to_string(FileStatus status);

struct FileDiff {
  // Paths are raw bytes (already unquoted and with the a/ b/ prefix removed).
  // An absent side (/dev/null) is std::nullopt.
  std::optional<std::string> old_path;
  std::optional<std::string> new_path;
  FileStatus status = FileStatus::Modified;
  bool is_binary = false;
  bool is_git = false;       // came with a "diff --git" header
  bool is_combined = false;  // "diff --cc" / "diff --combined": recognised, not parsed
  std::optional<std::uint32_t> old_mode;  // e.g. 0100644
  std::optional<std::uint32_t> new_mode;
  std::optional<int> similarity;     // percent, from "similarity index"
  std::optional<int> dissimilarity;  // percent, from "dissimilarity index"
  std::string old_hash;  // from the "index" line, abbreviated as in the input
  std::string new_hash;
  std::string_view binary_payload;  // raw "GIT binary patch" body, kept for re-emission
  std::uint64_t added = 0;
  std::uint64_t removed = 0;
  std::uint32_t input_lineno = 0;  // first header line of this file
  std::int32_t commit = -1;        // index into PatchSet::commits, -1 when none
  std::span<const Hunk> hunks;

  // new_path when present, otherwise old_path.
  const std::string& path() const { return new_path ? *new_path : *old_path; }
};

// A commit header met before file diffs (git log -p, git show, format-patch).
struct Commit {
  std::string sha;
  std::string author;
  std::string date;
  std::string subject;
  std::string message;  // full message, indentation removed
  std::uint32_t input_lineno = 0;
};

struct Warning {
  std::uint32_t input_lineno = 0;
  std::string message;
};

struct PatchSet {
  std::string_view input;              // the whole input; every view points here
  std::shared_ptr<const void> owner;   // keeps `input` alive
  std::vector<FileDiff> files;
  std::vector<Commit> commits;
  std::vector<Warning> warnings;
  std::vector<Hunk> hunk_store;   // FileDiff::hunks are spans into this
  std::vector<Line> line_store;   // Hunk::lines are spans into this
  bool stats_only = false;        // parsed without hunks and lines
  std::uint64_t added = 0;
  std::uint64_t removed = 0;

  PatchSet() = default;
  // The spans point into this object's own vectors, so copying would leave them
  // pointing at the original. Moving keeps vector storage, so it is safe.
  PatchSet(const PatchSet&) = delete;
  PatchSet& operator=(const PatchSet&) = delete;
  PatchSet(PatchSet&&) noexcept = default;
  PatchSet& operator=(PatchSet&&) noexcept = default;
};

}  // namespace bbreview::diff

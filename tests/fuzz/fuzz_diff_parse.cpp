// libFuzzer harness for the diff engine: parser (strict, lenient,
// statistics-only), emitter and anchoring, on arbitrary bytes.
//
// Beyond "no crash, no sanitizer report", it checks the contracts the headers
// promise, and aborts with a message when one breaks:
//   - strict parse() throws nothing but ParseError, with a 1-based line;
//   - lenient parse() never throws, and every line view lies in the buffer;
//   - each hunk's counts match the lines it holds (also after lenient recovery);
//   - statistics-only parsing finds the same files and counts as a full parse;
//   - to_text() of a lenient parse re-parses leniently without throwing, to the
//     same number of files (combined diffs are not emitted, so they are not counted);
//   - nearest_anchor() returns a range that anchor_hunk() accepts line by line.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "diff/anchor.hpp"
#include "diff/emit.hpp"
#include "diff/parser.hpp"

namespace {

using namespace bbreview::diff;

// Anchoring is linear in the hunks per call; a few probes per file keep the
// fuzzer fast on inputs with thousands of files.
constexpr std::size_t kMaxFilesProbed = 16;

[[noreturn]] void broken(const char* what, const std::string& detail = {}) {
  std::fprintf(stderr, "fuzz_diff_parse: contract broken: %s %s\n", what, detail.c_str());
  std::abort();
}

void require(bool ok, const char* what, const std::string& detail = {}) {
  if (!ok) broken(what, detail);
}

bool inside(std::string_view view, std::string_view buffer) {
  if (view.empty()) return true;
  const char* first = buffer.data();
  const char* last = first + buffer.size();
  return view.data() >= first && view.data() + view.size() <= last;
}

void check_model(const PatchSet& patch, std::string_view buffer) {
  std::uint64_t added = 0, removed = 0;
  for (const FileDiff& f : patch.files) {
    require(f.old_path.has_value() || f.new_path.has_value(), "file has neither path");
    require(inside(f.binary_payload, buffer), "binary payload outside the buffer");
    require(f.input_lineno >= 1, "file input_lineno is 0");
    require(f.commit >= -1 && f.commit < static_cast<std::int64_t>(patch.commits.size()), "commit index out of range");
    (void)f.path();
    added += f.added;
    removed += f.removed;
    std::uint64_t file_added = 0, file_removed = 0;
    for (const Hunk& h : f.hunks) {
      require(inside(h.section, buffer), "section outside the buffer");
      if (patch.stats_only) continue;
      std::uint64_t old_lines = 0, new_lines = 0;
      for (const Line& l : h.lines) {
        require(inside(l.content, buffer), "line content outside the buffer");
        if (l.kind != LineKind::Added) ++old_lines;
        if (l.kind != LineKind::Removed) ++new_lines;
        if (l.kind == LineKind::Added) ++file_added;
        if (l.kind == LineKind::Removed) ++file_removed;
      }
      require(old_lines == h.old_count && new_lines == h.new_count, "hunk counts do not match its lines",
              "at input line " + std::to_string(h.input_lineno));
    }
    if (!patch.stats_only) {
      require(file_added == f.added && file_removed == f.removed, "file counts do not match its lines",
              "at input line " + std::to_string(f.input_lineno));
    }
  }
  require(added == patch.added && removed == patch.removed, "patch totals do not match its files");
}

void check_anchor(const FileDiff& f, Side side, std::uint32_t start, std::uint32_t end, std::uint32_t max_distance) {
  const std::optional<Anchor> a = nearest_anchor(f, side, start, end, max_distance);
  if (!a) return;
  require(a->side == side, "anchor on the wrong side");
  require(a->start <= a->end, "anchor range reversed");
  require(a->hunk != nullptr, "anchor without hunk");
  // Malformed input may hold overlapping hunks, so anchor_hunk() may name an earlier one.
  require(anchor_hunk(f, side, a->start) != nullptr && anchor_hunk(f, side, a->end) != nullptr,
          "anchored range is not commentable");
  const std::uint32_t lo = start < end ? start : end;
  const std::uint32_t hi = start < end ? end : start;
  if (a->exact) require(a->start == lo && a->end == hi, "exact anchor differs from the request");
}

void probe_anchors(const PatchSet& patch) {
  std::size_t probed = 0;
  for (const FileDiff& f : patch.files) {
    if (++probed > kMaxFilesProbed) break;
    for (const Hunk& h : f.hunks) {
      std::size_t n = 0;
      for (const Line& l : h.lines) {
        if (++n > 3) break;
        if (l.new_lineno != 0) {
          require(anchor_hunk(f, Side::New, l.new_lineno) != nullptr, "new-side line of a hunk is not commentable");
        }
        if (l.kind == LineKind::Removed && l.old_lineno != 0) {
          require(anchor_hunk(f, Side::Old, l.old_lineno) != nullptr, "removed line is not commentable");
        }
        (void)anchor_hunk(f, Side::Old, l.old_lineno);
        check_anchor(f, Side::New, l.new_lineno, l.new_lineno + 2, 0);
        check_anchor(f, Side::Old, l.old_lineno + 3, l.old_lineno, 5);
      }
    }
    check_anchor(f, Side::New, 0, UINT32_MAX, 0);
    check_anchor(f, Side::Old, UINT32_MAX, UINT32_MAX, UINT32_MAX);
    check_anchor(f, Side::New, 1, 1, 1000);
  }
}

std::size_t emitted_file_count(const PatchSet& patch) {
  std::size_t n = 0;
  for (const FileDiff& f : patch.files) n += f.is_combined ? 0 : 1;
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto buffer = std::make_shared<const std::string>(reinterpret_cast<const char*>(data), size);

  try {
    const PatchSet strict = parse(buffer);
    check_model(strict, *buffer);
  } catch (const ParseError& e) {
    require(e.line() >= 1, "ParseError on line 0");
    require(!e.reason().empty(), "ParseError without a reason");
  }

  ParseOptions lenient;
  lenient.strict = false;
  const PatchSet patch = parse(buffer, lenient);
  check_model(patch, *buffer);

  ParseOptions stats_options = lenient;
  stats_options.keep_lines = false;
  const PatchSet stats = parse(buffer, stats_options);
  check_model(stats, *buffer);
  require(stats.files.size() == patch.files.size(), "statistics-only parse found a different number of files",
          std::to_string(stats.files.size()) + " vs " + std::to_string(patch.files.size()));
  require(stats.added == patch.added && stats.removed == patch.removed,
          "statistics-only parse counted different lines");

  probe_anchors(patch);

  const std::string text = to_text(patch);
  const PatchSet again = parse(std::string(text), lenient);
  check_model(again, again.input);
  require(again.files.size() == emitted_file_count(patch), "re-parsed emission has a different number of files",
          std::to_string(again.files.size()) + " vs " + std::to_string(emitted_file_count(patch)));
  return 0;
}

// Golden samples, shared with tests/python/test_golden.py: every
// tests/data/diffs/<case>.diff is parsed and compared with <case>.expected.json.
// scripts/regen-golden writes both from real git and GNU diff runs, taking each
// expectation from `git apply --numstat --summary` wherever git can judge.
// Malformed samples in diffs/malformed/ pin the strict-mode error and what
// lenient mode recovers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "diff/model.hpp"
#include "diff/parser.hpp"

namespace bbreview::diff {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path golden_dir() { return fs::path(BBREVIEW_TEST_DATA) / "diffs"; }
fs::path malformed_dir() { return golden_dir() / "malformed"; }

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

json read_json(const fs::path& path) { return json::parse(read_bytes(path)); }

// Sorted case names: the stems of the .diff files in `dir`.
std::vector<std::string> case_names(const fs::path& dir) {
  std::vector<std::string> names;
  if (!fs::is_directory(dir)) return names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().extension() == ".diff") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF), as
// Python's decoder that wrote the expectations.
bool is_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t extra = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      extra = 1;
      cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2;
      cp = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3;
      cp = c & 0x07u;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;
    for (std::size_t k = 1; k <= extra; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0u) != 0x80u) return false;
      cp = (cp << 6) | (cc & 0x3Fu);
    }
    const std::uint32_t min = extra == 1 ? 0x80u : extra == 2 ? 0x800u : 0x10000u;
    if (cp < min || cp > 0x10FFFFu || (cp >= 0xD800u && cp <= 0xDFFFu)) return false;
    i += extra + 1;
  }
  return true;
}

// A path or section as the expectations write it: a string when UTF-8, else {"hex": ...}.
json bytes_field(std::string_view s) {
  if (is_utf8(s)) return std::string(s);
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (const char ch : s) {
    const auto b = static_cast<unsigned char>(ch);
    hex += kDigits[b >> 4];
    hex += kDigits[b & 0x0Fu];
  }
  return json{{"hex", hex}};
}

json path_field(const std::optional<std::string>& path) { return path ? bytes_field(*path) : json(nullptr); }

json mode_field(const std::optional<std::uint32_t>& mode) {
  if (!mode) return nullptr;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%06o", *mode);
  return std::string(buf);
}

template <typename T>
json optional_field(const std::optional<T>& value) {
  return value ? json(*value) : json(nullptr);
}

// One parsed file in the shape of an expectation entry.
json describe(const FileDiff& f) {
  json hunks = json::array();
  for (const Hunk& h : f.hunks) {
    std::string kinds;
    json no_newline = json::array();
    json crlf = json::array();
    for (std::size_t i = 0; i < h.lines.size(); ++i) {
      const Line& line = h.lines[i];
      kinds += static_cast<char>(line.kind);
      if (line.no_newline_at_eof) no_newline.push_back(i);
      if (line.ending == LineEnding::CRLF) crlf.push_back(i);
    }
    hunks.push_back({{"old_start", h.old_start},
                     {"old_count", h.old_count},
                     {"new_start", h.new_start},
                     {"new_count", h.new_count},
                     {"section", bytes_field(h.section)},
                     {"lines", kinds},
                     {"no_newline", no_newline},
                     {"crlf", crlf}});
  }
  return {{"old_path", path_field(f.old_path)},
          {"new_path", path_field(f.new_path)},
          {"status", std::string(to_string(f.status))},
          {"is_binary", f.is_binary},
          {"is_combined", f.is_combined},
          {"old_mode", mode_field(f.old_mode)},
          {"new_mode", mode_field(f.new_mode)},
          {"similarity", optional_field(f.similarity)},
          {"dissimilarity", optional_field(f.dissimilarity)},
          {"added", f.added},
          {"removed", f.removed},
          {"commit", f.commit},
          {"hunks", hunks}};
}

// Compares file by file, so a failure shows the one file that differs, in full.
void expect_files(const PatchSet& ps, const json& expected_files) {
  ASSERT_EQ(ps.files.size(), expected_files.size()) << "parsed files: " << [&] {
    json names = json::array();
    // Not FileDiff::path(): it assumes at least one side is named.
    for (const FileDiff& f : ps.files) names.push_back(path_field(f.new_path ? f.new_path : f.old_path));
    return names.dump();
  }();
  for (std::size_t i = 0; i < ps.files.size(); ++i) {
    EXPECT_EQ(describe(ps.files[i]).dump(1), expected_files[i].dump(1)) << "file #" << i;
  }
}

ParseOptions lenient() {
  ParseOptions options;
  options.strict = false;
  return options;
}

// The input lines, without their endings, for pointing Line::input_lineno back at.
std::vector<std::string_view> input_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    if (!line.empty() && line.back() == '\r' && nl != std::string_view::npos) line.remove_suffix(1);
    lines.push_back(line);
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return lines;
}

// The gtest name of a case: its file stem (letters, digits and '_' only).
std::string case_name(const ::testing::TestParamInfo<std::string>& param_info) { return param_info.param; }

// ---- the sample directories ----------------------------------------------------

TEST(GoldenSamples, EverySampleHasAnExpectation) {
  const auto golden = case_names(golden_dir());
  const auto malformed = case_names(malformed_dir());
  EXPECT_GE(golden.size(), 40u) << "run scripts/regen-golden";
  EXPECT_GE(malformed.size(), 5u) << "run scripts/regen-golden";
  for (const auto& name : golden) EXPECT_TRUE(fs::is_regular_file(golden_dir() / (name + ".expected.json"))) << name;
  for (const auto& name : malformed) {
    EXPECT_TRUE(fs::is_regular_file(malformed_dir() / (name + ".expected.json"))) << name;
  }
}

// ---- golden samples ------------------------------------------------------------

class GoldenSample : public ::testing::TestWithParam<std::string> {
 protected:
  std::string input() const { return read_bytes(golden_dir() / (GetParam() + ".diff")); }
  json expected() const { return read_json(golden_dir() / (GetParam() + ".expected.json")); }
};

TEST_P(GoldenSample, ParsesAsGitApplyReadsIt) {
  const json want = expected();
  const PatchSet ps = parse(input());
  expect_files(ps, want["files"]);
  EXPECT_EQ(ps.warnings.size(), want["warnings"].get<std::size_t>());
  ASSERT_EQ(ps.commits.size(), want["commits"].size());
  for (std::size_t i = 0; i < ps.commits.size(); ++i) {
    EXPECT_EQ(ps.commits[i].sha, want["commits"][i]["sha"].get<std::string>());
    EXPECT_EQ(ps.commits[i].subject, want["commits"][i]["subject"].get<std::string>());
  }
  std::uint64_t added = 0, removed = 0;
  for (const auto& f : want["files"]) {
    added += f["added"].get<std::uint64_t>();
    removed += f["removed"].get<std::uint64_t>();
  }
  EXPECT_EQ(ps.added, added);
  EXPECT_EQ(ps.removed, removed);
}

TEST_P(GoldenSample, LineNumbersFollowTheHunkHeader) {
  const PatchSet ps = parse(input());
  for (const FileDiff& f : ps.files) {
    for (const Hunk& h : f.hunks) {
      std::uint32_t old_no = h.old_start, new_no = h.new_start;
      for (const Line& line : h.lines) {
        EXPECT_EQ(line.old_lineno, line.kind == LineKind::Added ? 0u : old_no);
        EXPECT_EQ(line.new_lineno, line.kind == LineKind::Removed ? 0u : new_no);
        if (line.kind != LineKind::Added) ++old_no;
        if (line.kind != LineKind::Removed) ++new_no;
      }
      EXPECT_EQ(old_no - h.old_start, h.old_count);
      EXPECT_EQ(new_no - h.new_start, h.new_count);
    }
  }
}

TEST_P(GoldenSample, LinesPointBackAtTheirInputLine) {
  const std::string text = input();
  const auto lines = input_lines(text);
  const PatchSet ps = parse(text);
  for (const FileDiff& f : ps.files) {
    for (const Hunk& h : f.hunks) {
      ASSERT_GE(h.input_lineno, 1u);
      ASSERT_LE(h.input_lineno, lines.size());
      EXPECT_EQ(lines[h.input_lineno - 1].substr(0, 4), "@@ -");
      for (const Line& line : h.lines) {
        ASSERT_GE(line.input_lineno, 1u);
        ASSERT_LE(line.input_lineno, lines.size());
        const std::string_view raw = lines[line.input_lineno - 1];
        // An empty input line is an empty context line whose " " an editor stripped.
        EXPECT_EQ(raw.empty() ? std::string_view() : raw.substr(1), line.content) << "input line " << line.input_lineno;
      }
    }
  }
}

TEST_P(GoldenSample, StatisticsOnlyParseAgreesWithFullParse) {
  const std::string text = input();
  const PatchSet full = parse(text);
  ParseOptions options;
  options.keep_lines = false;
  const PatchSet stats = parse(text, options);
  EXPECT_TRUE(stats.stats_only);
  ASSERT_EQ(stats.files.size(), full.files.size());
  for (std::size_t i = 0; i < full.files.size(); ++i) {
    json a = describe(full.files[i]);
    json b = describe(stats.files[i]);
    EXPECT_TRUE(b["hunks"].empty());
    a.erase("hunks");
    b.erase("hunks");
    EXPECT_EQ(b.dump(1), a.dump(1)) << "file #" << i;
  }
  EXPECT_EQ(stats.added, full.added);
  EXPECT_EQ(stats.removed, full.removed);
}

INSTANTIATE_TEST_SUITE_P(Diffs, GoldenSample, ::testing::ValuesIn(case_names(golden_dir())),
                         case_name);

// ---- malformed samples ---------------------------------------------------------

class MalformedSample : public ::testing::TestWithParam<std::string> {
 protected:
  std::string input() const { return read_bytes(malformed_dir() / (GetParam() + ".diff")); }
  json expected() const { return read_json(malformed_dir() / (GetParam() + ".expected.json")); }
};

TEST_P(MalformedSample, StrictParseFailsAtTheExpectedLine) {
  const json want = expected()["strict"];
  try {
    (void)parse(input());
    FAIL() << "strict parse accepted a malformed diff";
  } catch (const ParseError& e) {
    EXPECT_EQ(e.line(), want["line"].get<std::uint32_t>());
    EXPECT_EQ(e.text(), want["text"].get<std::string>());
    EXPECT_NE(e.reason().find(want["reason_contains"].get<std::string>()), std::string::npos) << e.reason();
    EXPECT_NE(std::string(e.what()).find("line " + std::to_string(e.line()) + ": "), std::string::npos) << e.what();
  }
}

TEST_P(MalformedSample, LenientParseRecoversTheRest) {
  const json want = expected()["lenient"];
  const PatchSet ps = parse(input(), lenient());
  expect_files(ps, want["files"]);
  std::vector<std::uint32_t> lines;
  for (const Warning& w : ps.warnings) lines.push_back(w.input_lineno);
  EXPECT_EQ(json(lines).dump(), want["warning_lines"].dump());
}

INSTANTIATE_TEST_SUITE_P(Diffs, MalformedSample, ::testing::ValuesIn(case_names(malformed_dir())),
                         case_name);

}  // namespace
}  // namespace bbreview::diff

// Emission units: to_text() re-creates git's own bytes for canonical git
// input, and parse(to_text(parse(x))) gives back the same model.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "diff/emit.hpp"
#include "diff/parser.hpp"

namespace bbreview::diff {
namespace {

struct Sample {
  const char* name;
  std::string text;
};

// Output of git 2.39 (diff, diff --binary, diff -M -C -B, diff -U0), one
// sample per edge case.
const std::vector<Sample>& canonical_git_samples() {
  static const std::vector<Sample> samples = {
      {"modification with section heading",
       "diff --git a/a.txt b/a.txt\n"
       "index 4cb29ea..ddc897f 100644\n"
       "--- a/a.txt\n"
       "+++ b/a.txt\n"
       "@@ -1,3 +1,3 @@ int main(void)\n"
       " one\n"
       "-two\n"
       "+TWO\n"
       " three\n"
       "@@ -10,2 +10,3 @@ next\n"
       " ten\n"
       "+ten and a half\n"
       " eleven\n"},
      {"binary files differ",
       "diff --git a/b.bin b/b.bin\n"
       "index 6772730..8d0cd2a 100644\n"
       "Binary files a/b.bin and b/b.bin differ\n"},
      {"new binary file",
       "diff --git a/n.png b/n.png\n"
       "new file mode 100644\n"
       "index 0000000..8d0cd2a\n"
       "Binary files /dev/null and b/n.png differ\n"},
      {"git binary patch, literal",
       "diff --git a/b.bin b/b.bin\n"
       "index 677273046bce3115f56c248238f3b83f77cfc239..8d0cd2ad57642d7d820fcd1eb42b7f7e04042d0e 100644\n"
       "GIT binary patch\n"
       "literal 6\n"
       "NcmZQzWKPP=0{{Yj0X_f#\n"
       "\n"
       "literal 6\n"
       "NcmZQzWJ=1+0{{Yf0X+Z!\n"
       "\n"},
      {"git binary patch, deleted file",
       "diff --git a/old.bin b/old.bin\n"
       "deleted file mode 100644\n"
       "index 8d0cd2ad57642d7d820fcd1eb42b7f7e04042d0e..0000000000000000000000000000000000000000\n"
       "GIT binary patch\n"
       "literal 0\n"
       "HcmV?d00001\n"
       "\n"
       "literal 6\n"
       "NcmZQzWJ=1+0{{Yf0X+Z!\n"
       "\n"},
      {"quoted utf-8 path",
       "diff --git \"a/caf\\303\\251.txt\" \"b/caf\\303\\251.txt\"\n"
       "index 4ae8ef0..967e095 100644\n"
       "--- \"a/caf\\303\\251.txt\"\n"
       "+++ \"b/caf\\303\\251.txt\"\n"
       "@@ -1,2 +1,2 @@\n"
       "-u\n"
       "+u2\n"
       " v\n"},
      {"quoted path with quote, tab and backslash",
       "diff --git \"a/q\\\"t\\tb\\\\s\" \"b/q\\\"t\\tb\\\\s\"\n"
       "new file mode 100644\n"
       "index 0000000..e69de29\n"},
      {"crlf content",
       "diff --git a/crlf.txt b/crlf.txt\n"
       "index 414e609..270cfcb 100644\n"
       "--- a/crlf.txt\n"
       "+++ b/crlf.txt\n"
       "@@ -1,2 +1,2 @@\n"
       " l1\r\n"
       "-l2\r\n"
       "+L2\r\n"},
      {"mode change only",
       "diff --git a/m.sh b/m.sh\n"
       "old mode 100644\n"
       "new mode 100755\n"},
      {"mode change with content",
       "diff --git a/run.sh b/run.sh\n"
       "old mode 100644\n"
       "new mode 100755\n"
       "index 1111111..2222222\n"
       "--- a/run.sh\n"
       "+++ b/run.sh\n"
       "@@ -1,2 +1,2 @@\n"
       " #!/bin/sh\n"
       "-echo a\n"
       "+echo b\n"},
      {"no newline at end of file on both sides",
       "diff --git a/noeol.txt b/noeol.txt\n"
       "index c1b0730..e25f181 100644\n"
       "--- a/noeol.txt\n"
       "+++ b/noeol.txt\n"
       "@@ -1,2 +1,2 @@\n"
       " w\n"
       "-x\n"
       "\\ No newline at end of file\n"
       "+y\n"
       "\\ No newline at end of file\n"},
      {"pure rename with spaces",
       "diff --git a/my file.txt b/your file.txt\n"
       "similarity index 100%\n"
       "rename from my file.txt\n"
       "rename to your file.txt\n"},
      {"rename with mode change",
       "diff --git a/x.sh b/y.sh\n"
       "old mode 100644\n"
       "new mode 100755\n"
       "similarity index 100%\n"
       "rename from x.sh\n"
       "rename to y.sh\n"},
      {"quoted rename",
       "diff --git \"a/\\303\\251t\\303\\251\" b/summer\n"
       "similarity index 100%\n"
       "rename from \"\\303\\251t\\303\\251\"\n"
       "rename to summer\n"},
      {"deleted file",
       "diff --git a/a.txt b/a.txt\n"
       "deleted file mode 100644\n"
       "index ddc897f..0000000\n"
       "--- a/a.txt\n"
       "+++ /dev/null\n"
       "@@ -1,3 +0,0 @@\n"
       "-one\n"
       "-TWO\n"
       "-three\n"},
      {"new executable file",
       "diff --git a/new.sh b/new.sh\n"
       "new file mode 100755\n"
       "index 0000000..3e75765\n"
       "--- /dev/null\n"
       "+++ b/new.sh\n"
       "@@ -0,0 +1,2 @@\n"
       "+#!/bin/sh\n"
       "+echo new\n"},
      {"empty new file",
       "diff --git a/empty.txt b/empty.txt\n"
       "new file mode 100644\n"
       "index 0000000..e69de29\n"},
      {"copy",
       "diff --git a/big.txt b/copy.txt\n"
       "similarity index 100%\n"
       "copy from big.txt\n"
       "copy to copy.txt\n"},
      {"edited rename",
       "diff --git a/copy.txt b/moved.txt\n"
       "similarity index 94%\n"
       "rename from copy.txt\n"
       "rename to moved.txt\n"
       "index 0ff3bbb..d4de868 100644\n"
       "--- a/copy.txt\n"
       "+++ b/moved.txt\n"
       "@@ -18,3 +18,4 @@\n"
       " 18\n"
       " 19\n"
       " 20\n"
       "+21\n"},
      {"dissimilarity",
       "diff --git a/big.txt b/big.txt\n"
       "dissimilarity index 100%\n"
       "index aa5e3f8..eb92061 100644\n"
       "--- a/big.txt\n"
       "+++ b/big.txt\n"
       "@@ -1,2 +1,2 @@\n"
       "-1\n"
       "-2\n"
       "+1000\n"
       "+1001\n"},
      {"unified zero with zero counts",
       "diff --git a/u.txt b/u.txt\n"
       "index f00c965..401fef8 100644\n"
       "--- a/u.txt\n"
       "+++ b/u.txt\n"
       "@@ -3,2 +3,2 @@\n"
       "-3\n"
       "-4\n"
       "+W\n"
       "+X\n"
       "@@ -8,0 +9,2 @@\n"
       "+Y\n"
       "+Z\n"
       "@@ -12,2 +13,0 @@\n"
       "-11\n"
       "-12\n"},
      {"single-line hunks",
       "diff --git a/new.txt b/new.txt\n"
       "new file mode 100644\n"
       "index 0000000..3e75765\n"
       "--- /dev/null\n"
       "+++ b/new.txt\n"
       "@@ -0,0 +1 @@\n"
       "+new\n"},
      {"submodule",
       "diff --git a/sm b/sm\n"
       "index f63107d..34229c1 160000\n"
       "--- a/sm\n"
       "+++ b/sm\n"
       "@@ -1 +1 @@\n"
       "-Subproject commit f63107d152e89a6d336fbbe935b9c24d5d63d387\n"
       "+Subproject commit 34229c1dab5a73450747f7f31de9c63edfc3add5\n"},
      {"symlink",
       "diff --git a/link b/link\n"
       "index 1de5659..27fa349 120000\n"
       "--- a/link\n"
       "+++ b/link\n"
       "@@ -1 +1 @@\n"
       "-target\n"
       "\\ No newline at end of file\n"
       "+other\n"
       "\\ No newline at end of file\n"},
      {"content that looks like headers",
       "diff --git a/t.md b/t.md\n"
       "index 1111111..2222222 100644\n"
       "--- a/t.md\n"
       "+++ b/t.md\n"
       "@@ -1,3 +1,3 @@\n"
       "--- old heading\n"
       "+++ new heading\n"
       " @@ -1 +1 @@\n"
       "-diff --git a/x b/x\n"
       "+diff --git a/y b/y\n"},
  };
  return samples;
}

// Inputs whose re-emission differs in bytes but must keep the model.
const std::vector<Sample>& other_samples() {
  static const std::vector<Sample> samples = {
      {"path with spaces",
       "diff --git a/sp ace.txt b/sp ace.txt\n"
       "index f05367e..ae138b0 100644\n"
       "--- a/sp ace.txt\t\n"
       "+++ b/sp ace.txt\t\n"
       "@@ -1 +1 @@\n"
       "-sp\n"
       "+sp2\n"},
      {"no prefix",
       "diff --git src/main.c src/main.c\n"
       "index 1111111..2222222 100644\n"
       "--- src/main.c\n"
       "+++ src/main.c\n"
       "@@ -1,2 +1,2 @@\n"
       "-a\n"
       "+b\n"
       " c\n"},
      {"custom prefixes",
       "diff --git left/f.c right/f.c\n"
       "index 1111111..2222222 100644\n"
       "--- left/f.c\n"
       "+++ right/f.c\n"
       "@@ -1,2 +1,2 @@\n"
       "-a\n"
       "+b\n"
       " c\n"},
      {"bytes that are not utf-8",
       "diff --git \"a/\\377.bin\" \"b/\\377.bin\"\n"
       "index 1111111..2222222 100644\n"
       "--- \"a/\\377.bin\"\n"
       "+++ \"b/\\377.bin\"\n"
       "@@ -1,2 +1,2 @@\n"
       "-\xff\xfe\x80\n"
       "+ok\n"
       " \xc3\n"},
      {"empty line as context",
       "diff --git a/f b/f\n"
       "index 1111111..2222222 100644\n"
       "--- a/f\n"
       "+++ b/f\n"
       "@@ -1,3 +1,3 @@\n"
       " a\n"
       "\n"
       "-b\n"
       "+c\n"},
      {"git log with commits",
       "commit c81c873e3129d4d4e5ccf58f8e383dbc1280b466\n"
       "Author: T <t@t>\n"
       "Date:   Sat Nov 28 23:36:19 2026 +0000\n"
       "\n"
       "    mv\n"
       "\n"
       "diff --git a/copy.txt b/moved.txt\n"
       "similarity index 94%\n"
       "rename from copy.txt\n"
       "rename to moved.txt\n"
       "index 0ff3bbb..d4de868 100644\n"
       "--- a/copy.txt\n"
       "+++ b/moved.txt\n"
       "@@ -18,3 +18,4 @@\n"
       " 18\n"
       " 19\n"
       " 20\n"
       "+21\n"},
  };
  return samples;
}

void expect_same_model(const PatchSet& a, const PatchSet& b) {
  ASSERT_EQ(a.files.size(), b.files.size());
  EXPECT_EQ(a.added, b.added);
  EXPECT_EQ(a.removed, b.removed);
  for (std::size_t i = 0; i < a.files.size(); ++i) {
    SCOPED_TRACE("file " + std::to_string(i));
    const FileDiff& x = a.files[i];
    const FileDiff& y = b.files[i];
    EXPECT_EQ(x.old_path, y.old_path);
    EXPECT_EQ(x.new_path, y.new_path);
    EXPECT_EQ(x.status, y.status);
    EXPECT_EQ(x.is_binary, y.is_binary);
    EXPECT_EQ(x.is_git, y.is_git);
    EXPECT_EQ(x.is_combined, y.is_combined);
    EXPECT_EQ(x.old_mode, y.old_mode);
    EXPECT_EQ(x.new_mode, y.new_mode);
    EXPECT_EQ(x.similarity, y.similarity);
    EXPECT_EQ(x.dissimilarity, y.dissimilarity);
    EXPECT_EQ(x.old_hash, y.old_hash);
    EXPECT_EQ(x.new_hash, y.new_hash);
    EXPECT_EQ(x.binary_payload, y.binary_payload);
    EXPECT_EQ(x.added, y.added);
    EXPECT_EQ(x.removed, y.removed);
    ASSERT_EQ(x.hunks.size(), y.hunks.size());
    for (std::size_t j = 0; j < x.hunks.size(); ++j) {
      SCOPED_TRACE("hunk " + std::to_string(j));
      const Hunk& g = x.hunks[j];
      const Hunk& h = y.hunks[j];
      EXPECT_EQ(g.old_start, h.old_start);
      EXPECT_EQ(g.old_count, h.old_count);
      EXPECT_EQ(g.new_start, h.new_start);
      EXPECT_EQ(g.new_count, h.new_count);
      EXPECT_EQ(g.section, h.section);
      ASSERT_EQ(g.lines.size(), h.lines.size());
      for (std::size_t k = 0; k < g.lines.size(); ++k) {
        SCOPED_TRACE("line " + std::to_string(k));
        EXPECT_EQ(static_cast<char>(g.lines[k].kind), static_cast<char>(h.lines[k].kind));
        EXPECT_EQ(g.lines[k].content, h.lines[k].content);
        EXPECT_EQ(static_cast<int>(g.lines[k].ending), static_cast<int>(h.lines[k].ending));
        EXPECT_EQ(g.lines[k].no_newline_at_eof, h.lines[k].no_newline_at_eof);
        EXPECT_EQ(g.lines[k].old_lineno, h.lines[k].old_lineno);
        EXPECT_EQ(g.lines[k].new_lineno, h.lines[k].new_lineno);
      }
    }
  }
}

std::string all_text(const std::vector<Sample>& samples) {
  std::string out;
  for (const Sample& s : samples) out += s.text;
  return out;
}

TEST(EmitText, ReproducesCanonicalGitOutputByteForByte) {
  for (const Sample& s : canonical_git_samples()) {
    SCOPED_TRACE(s.name);
    const PatchSet patch = parse(s.text);
    EXPECT_TRUE(patch.warnings.empty());
    EXPECT_EQ(to_text(patch), s.text);
  }
}

TEST(EmitText, ReproducesAConcatenationOfCanonicalSamplesByteForByte) {
  const std::string text = all_text(canonical_git_samples());
  EXPECT_EQ(to_text(parse(text)), text);
}

TEST(EmitText, EmitsAnOmittedCountOfOneAsGitDoes) {
  // git (xdiff's xdl_emit_hunk_hdr) leaves out ",1": "@@ -1 +1 @@", "@@ -0,0 +1 @@".
  const std::string text =
      "diff --git a/new.txt b/new.txt\n"
      "new file mode 100644\n"
      "index 0000000..3e75765\n"
      "--- /dev/null\n"
      "+++ b/new.txt\n"
      "@@ -0,0 +1 @@\n"
      "+new\n"
      "diff --git a/u.txt b/u.txt\n"
      "index f00c965..401fef8 100644\n"
      "--- a/u.txt\n"
      "+++ b/u.txt\n"
      "@@ -4 +4 @@\n"
      "-4\n"
      "+X\n";
  EXPECT_EQ(to_text(parse(text)), text);
}

TEST(EmitText, EmitsTheTabGitAddsAfterContentHeaderNamesWithSpaces) {
  // git's diff.c ends a "---"/"+++" name holding a space with a TAB.
  const std::string text =
      "diff --git a/sp ace.txt b/sp ace.txt\n"
      "index f05367e..ae138b0 100644\n"
      "--- a/sp ace.txt\t\n"
      "+++ b/sp ace.txt\t\n"
      "@@ -1,2 +1,2 @@\n"
      "-sp\n"
      "+sp2\n"
      " end\n";
  EXPECT_EQ(to_text(parse(text)), text);
}

TEST(EmitText, RoundTripsEveryCanonicalSampleToTheSameModel) {
  for (const Sample& s : canonical_git_samples()) {
    SCOPED_TRACE(s.name);
    const PatchSet first = parse(s.text);
    const PatchSet second = parse(to_text(first));
    expect_same_model(first, second);
  }
}

TEST(EmitText, RoundTripsOtherGitSamplesToTheSameModel) {
  for (const Sample& s : other_samples()) {
    SCOPED_TRACE(s.name);
    const PatchSet first = parse(s.text);
    const PatchSet second = parse(to_text(first));
    expect_same_model(first, second);
  }
}

TEST(EmitText, ReachesAFixedPointAfterOneEmissionOfAPlainDiff) {
  const std::string text =
      "--- old/file.c\t2024-01-01 10:00:00.000000000 +0100\n"
      "+++ new/file.c\t2024-01-02 10:00:00.000000000 +0100\n"
      "@@ -1,2 +1,2 @@ int main(void)\n"
      " a\n"
      "-b\n"
      "+c\n"
      "--- /dev/null\n"
      "+++ b/added.txt\n"
      "@@ -0,0 +1,2 @@\n"
      "+x\n"
      "+y\n"
      "Binary files a/img.png and b/img.png differ\n";
  const PatchSet first = parse(text);
  ASSERT_EQ(first.files.size(), 3u);
  const std::string once = to_text(first);
  const PatchSet second = parse(once);
  ASSERT_EQ(second.files.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(second.files[i].old_path, first.files[i].old_path);
    EXPECT_EQ(second.files[i].new_path, first.files[i].new_path);
    EXPECT_EQ(second.files[i].status, first.files[i].status);
    EXPECT_EQ(second.files[i].is_binary, first.files[i].is_binary);
    EXPECT_EQ(second.files[i].hunks.size(), first.files[i].hunks.size());
  }
  EXPECT_EQ(to_text(second), once);
}

TEST(EmitText, KeepsLinesOfALenientlyRecoveredHunkConsistent) {
  ParseOptions lenient;
  lenient.strict = false;
  const PatchSet first = parse(std::string(
                                   "diff --git a/one b/one\n"
                                   "index 1111111..2222222 100644\n"
                                   "--- a/one\n"
                                   "+++ b/one\n"
                                   "@@ -1,3 +1,3 @@\n"
                                   " a\n"
                                   "-b\n"
                                   "+B\n"
                                   "diff --git a/two b/two\n"
                                   "index 3333333..4444444 100644\n"
                                   "--- a/two\n"
                                   "+++ b/two\n"
                                   "@@ -1,2 +1,2 @@\n"
                                   "-x\n"
                                   "+y\n"
                                   " z\n"),
                               lenient);
  ASSERT_EQ(first.warnings.size(), 1u);
  const PatchSet second = parse(to_text(first));  // strict: the emitted text is well formed
  EXPECT_TRUE(second.warnings.empty());
  expect_same_model(first, second);
}

TEST(EmitText, LeavesOutCommitHeadersAndCombinedDiffs) {
  const PatchSet patch = parse(std::string(
      "commit c81c873e3129d4d4e5ccf58f8e383dbc1280b466\n"
      "Merge: 7321daf 2069896\n"
      "Author: T <t@t>\n"
      "\n"
      "    Merge\n"
      "\n"
      "diff --cc u.txt\n"
      "index 37552bf,cb28c24..da54fdc\n"
      "--- a/u.txt\n"
      "+++ b/u.txt\n"
      "@@@ -11,1 -10,1 +11,2 @@@\n"
      "  Z\n"
      "++extra\n"
      "diff --git a/m.sh b/m.sh\n"
      "old mode 100644\n"
      "new mode 100755\n"));
  ASSERT_EQ(patch.files.size(), 2u);
  EXPECT_EQ(to_text(patch),
            "diff --git a/m.sh b/m.sh\n"
            "old mode 100644\n"
            "new mode 100755\n");
  std::string one;
  append_file(one, patch.files[0]);
  EXPECT_EQ(one, "");
}

TEST(EmitText, AppendsOneFileAfterExistingText) {
  const std::string text = canonical_git_samples().front().text;
  const PatchSet patch = parse(text);
  std::string out = "prefix\n";
  append_file(out, patch.files.at(0));
  EXPECT_EQ(out, "prefix\n" + text);
}

TEST(EmitText, RefusesAStatisticsOnlyParse) {
  ParseOptions options;
  options.keep_lines = false;
  const PatchSet patch = parse(canonical_git_samples().front().text, options);
  EXPECT_THROW(to_text(patch), std::logic_error);
}

TEST(EmitText, EmitsNothingForAnEmptyPatchSet) {
  EXPECT_EQ(to_text(parse(std::string())), "");
  EXPECT_EQ(to_text(PatchSet()), "");
}

}  // namespace
}  // namespace bbreview::diff

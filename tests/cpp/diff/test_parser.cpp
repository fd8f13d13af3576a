// Parser units: one small inline diff per edge case. Samples that git can
// produce were taken from git 2.39 output; the rest are hand-written.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>

#include "diff/parser.hpp"

namespace bbreview::diff {
namespace {

PatchSet parse_strict(std::string text) { return parse(std::move(text)); }

PatchSet parse_lenient(std::string text) {
  ParseOptions options;
  options.strict = false;
  return parse(std::move(text), options);
}

PatchSet parse_stats(std::string text) {
  ParseOptions options;
  options.keep_lines = false;
  return parse(std::move(text), options);
}

// The hunk's line kinds as one string, e.g. " -+ ".
std::string kinds(const Hunk& hunk) {
  std::string out;
  for (const Line& line : hunk.lines) out.push_back(static_cast<char>(line.kind));
  return out;
}

::testing::AssertionResult Contains(const std::string& haystack, std::string_view needle) {
  if (haystack.find(needle) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << haystack << "\" does not contain \"" << needle << "\"";
}

// The file's first hunk; fails the test (and returns an empty hunk) when there is none.
const Hunk& first_hunk(const FileDiff& file) {
  static const Hunk kNone;
  if (file.hunks.empty()) {
    ADD_FAILURE() << "file has no hunk";
    return kNone;
  }
  return file.hunks[0];
}

// Runs parse() in strict mode and returns the ParseError it must throw.
ParseError expect_parse_error(std::string text) {
  try {
    parse_strict(std::move(text));
  } catch (const ParseError& error) {
    return error;
  }
  ADD_FAILURE() << "parse() did not throw ParseError";
  return ParseError(0, "", "");
}

// ---- a plain modification ---------------------------------------------------------------------

const std::string kModified =
    "diff --git a/a.txt b/a.txt\n"
    "index 4cb29ea..ddc897f 100644\n"
    "--- a/a.txt\n"
    "+++ b/a.txt\n"
    "@@ -1,3 +1,3 @@\n"
    " one\n"
    "-two\n"
    "+TWO\n"
    " three\n";

TEST(GitFileParser, ReadsPathsHashesModeAndLineNumbersOfAModification) {
  const PatchSet patch = parse_strict(kModified);
  ASSERT_EQ(patch.files.size(), 1u);
  const FileDiff& f = patch.files[0];
  EXPECT_TRUE(f.is_git);
  EXPECT_FALSE(f.is_binary);
  EXPECT_FALSE(f.is_combined);
  EXPECT_EQ(f.status, FileStatus::Modified);
  EXPECT_EQ(f.old_path, "a.txt");
  EXPECT_EQ(f.new_path, "a.txt");
  EXPECT_EQ(f.path(), "a.txt");
  EXPECT_EQ(f.old_hash, "4cb29ea");
  EXPECT_EQ(f.new_hash, "ddc897f");
  EXPECT_EQ(f.old_mode, 0100644u);
  EXPECT_EQ(f.new_mode, 0100644u);
  EXPECT_EQ(f.input_lineno, 1u);
  EXPECT_EQ(f.commit, -1);
  EXPECT_EQ(f.added, 1u);
  EXPECT_EQ(f.removed, 1u);
  EXPECT_EQ(patch.added, 1u);
  EXPECT_EQ(patch.removed, 1u);
  EXPECT_TRUE(patch.warnings.empty());
  EXPECT_TRUE(patch.commits.empty());

  ASSERT_EQ(f.hunks.size(), 1u);
  const Hunk& h = f.hunks[0];
  EXPECT_EQ(h.old_start, 1u);
  EXPECT_EQ(h.old_count, 3u);
  EXPECT_EQ(h.new_start, 1u);
  EXPECT_EQ(h.new_count, 3u);
  EXPECT_EQ(h.old_end(), 3u);
  EXPECT_EQ(h.new_end(), 3u);
  EXPECT_EQ(h.section, "");
  EXPECT_EQ(h.input_lineno, 5u);
  ASSERT_EQ(kinds(h), " -+ ");
  EXPECT_EQ(h.lines[0].content, "one");
  EXPECT_EQ(h.lines[0].old_lineno, 1u);
  EXPECT_EQ(h.lines[0].new_lineno, 1u);
  EXPECT_EQ(h.lines[0].input_lineno, 6u);
  EXPECT_EQ(h.lines[1].content, "two");
  EXPECT_EQ(h.lines[1].old_lineno, 2u);
  EXPECT_EQ(h.lines[1].new_lineno, 0u);
  EXPECT_EQ(h.lines[2].content, "TWO");
  EXPECT_EQ(h.lines[2].old_lineno, 0u);
  EXPECT_EQ(h.lines[2].new_lineno, 2u);
  EXPECT_EQ(h.lines[3].old_lineno, 3u);
  EXPECT_EQ(h.lines[3].new_lineno, 3u);
  EXPECT_EQ(h.lines[3].input_lineno, 9u);
  for (const Line& l : h.lines) {
    EXPECT_EQ(l.ending, LineEnding::LF);
    EXPECT_FALSE(l.no_newline_at_eof);
  }
}

TEST(PatchSetModel, KeepsLineViewsValidAfterAMove) {
  PatchSet first = parse_strict(kModified);
  PatchSet moved = std::move(first);
  ASSERT_EQ(moved.files.size(), 1u);
  ASSERT_EQ(moved.files[0].hunks.size(), 1u);
  EXPECT_EQ(moved.files[0].hunks[0].lines[2].content, "TWO");
  EXPECT_EQ(moved.files[0].hunks.data(), moved.hunk_store.data());
}

TEST(PatchSetModel, NamesEveryFileStatus) {
  EXPECT_EQ(to_string(FileStatus::Added), "added");
  EXPECT_EQ(to_string(FileStatus::Deleted), "deleted");
  EXPECT_EQ(to_string(FileStatus::Modified), "modified");
  EXPECT_EQ(to_string(FileStatus::Renamed), "renamed");
  EXPECT_EQ(to_string(FileStatus::Copied), "copied");
}

// ---- extended headers -------------------------------------------------------------------------

TEST(ExtendedHeaders, ReadOldAndNewModeOfAModeOnlyChange) {
  const PatchSet patch = parse_strict(
      "diff --git a/m.sh b/m.sh\n"
      "old mode 100644\n"
      "new mode 100755\n");
  ASSERT_EQ(patch.files.size(), 1u);
  const FileDiff& f = patch.files[0];
  EXPECT_EQ(f.status, FileStatus::Modified);
  EXPECT_EQ(f.old_path, "m.sh");
  EXPECT_EQ(f.new_path, "m.sh");
  EXPECT_EQ(f.old_mode, 0100644u);
  EXPECT_EQ(f.new_mode, 0100755u);
  EXPECT_TRUE(f.hunks.empty());
  EXPECT_TRUE(f.old_hash.empty());
  EXPECT_TRUE(patch.warnings.empty());
}

TEST(ExtendedHeaders, MarkANewFileAsAddedWithoutAnOldSide) {
  const PatchSet patch = parse_strict(
      "diff --git a/new.txt b/new.txt\n"
      "new file mode 100644\n"
      "index 0000000..3e75765\n"
      "--- /dev/null\n"
      "+++ b/new.txt\n"
      "@@ -0,0 +1 @@\n"
      "+new\n");
  ASSERT_EQ(patch.files.size(), 1u);
  const FileDiff& f = patch.files[0];
  EXPECT_EQ(f.status, FileStatus::Added);
  EXPECT_FALSE(f.old_path.has_value());
  EXPECT_EQ(f.new_path, "new.txt");
  EXPECT_EQ(f.path(), "new.txt");
  EXPECT_FALSE(f.old_mode.has_value());
  EXPECT_EQ(f.new_mode, 0100644u);
  EXPECT_EQ(f.old_hash, "0000000");
  EXPECT_EQ(f.new_hash, "3e75765");
  ASSERT_EQ(f.hunks.size(), 1u);
  EXPECT_EQ(f.hunks[0].old_start, 0u);
  EXPECT_EQ(f.hunks[0].old_count, 0u);
  EXPECT_EQ(f.hunks[0].new_start, 1u);
  EXPECT_EQ(f.hunks[0].new_count, 1u);
  EXPECT_EQ(f.hunks[0].old_end(), 0u);
  ASSERT_EQ(kinds(f.hunks[0]), "+");
  EXPECT_EQ(f.hunks[0].lines[0].new_lineno, 1u);
  EXPECT_EQ(f.hunks[0].lines[0].old_lineno, 0u);
  EXPECT_EQ(f.added, 1u);
}

TEST(ExtendedHeaders, MarkADeletedFileAsDeletedWithoutANewSide) {
  const PatchSet patch = parse_strict(
      "diff --git a/a.txt b/a.txt\n"
      "deleted file mode 100644\n"
      "index ddc897f..0000000\n"
      "--- a/a.txt\n"
      "+++ /dev/null\n"
      "@@ -1,3 +0,0 @@\n"
      "-one\n"
      "-TWO\n"
      "-three\n");
  ASSERT_EQ(patch.files.size(), 1u);
  const FileDiff& f = patch.files[0];
  EXPECT_EQ(f.status, FileStatus::Deleted);
  EXPECT_EQ(f.old_path, "a.txt");
  EXPECT_FALSE(f.new_path.has_value());
  EXPECT_EQ(f.path(), "a.txt");
  EXPECT_EQ(f.old_mode, 0100644u);
  EXPECT_FALSE(f.new_mode.has_value());
  EXPECT_EQ(f.removed, 3u);
  EXPECT_EQ(f.added, 0u);
  ASSERT_EQ(f.hunks.size(), 1u);
  EXPECT_EQ(kinds(f.hunks[0]), "---");
  EXPECT_EQ(f.hunks[0].lines[2].old_lineno, 3u);
}

TEST(ExtendedHeaders, AcceptAnEmptyNewFileWithoutHunks) {
  const PatchSet patch = parse_strict(
      "diff --git a/empty.txt b/empty.txt\n"
      "new file mode 100644\n"
      "index 0000000..e69de29\n"
      "diff --git a/next.txt b/next.txt\n"
      "deleted file mode 100755\n"
      "index e69de29..0000000\n");
  ASSERT_EQ(patch.files.size(), 2u);
  EXPECT_EQ(patch.files[0].status, FileStatus::Added);
  EXPECT_EQ(patch.files[0].new_path, "empty.txt");
  EXPECT_TRUE(patch.files[0].hunks.empty());
  EXPECT_EQ(patch.files[0].added, 0u);
  EXPECT_EQ(patch.files[1].status, FileStatus::Deleted);
  EXPECT_EQ(patch.files[1].old_path, "next.txt");
  EXPECT_EQ(patch.files[1].old_mode, 0100755u);
  EXPECT_EQ(patch.files[1].input_lineno, 4u);
}

TEST(ExtendedHeaders, ReadSimilarityAndRenameOfAnEditedRename) {
  const PatchSet patch = parse_strict(
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
      "+21\n");
  ASSERT_EQ(patch.files.size(), 1u);
  const FileDiff& f = patch.files[0];
  EXPECT_EQ(f.status, FileStatus::Renamed);
  EXPECT_EQ(f.old_path, "copy.txt");
  EXPECT_EQ(f.new_path, "moved.txt");
  EXPECT_EQ(f.similarity, 94);
  EXPECT_FALSE(f.dissimilarity.has_value());
  EXPECT_EQ(f.old_mode, 0100644u);
  EXPECT_EQ(f.new_mode, 0100644u);
  ASSERT_EQ(f.hunks.size(), 1u);
  EXPECT_EQ(f.hunks[0].lines[3].new_lineno, 21u);
}

TEST(ExtendedHeaders, ReadAPureRenameOfPathsWithSpaces) {
  const PatchSet patch = parse_strict(
      "diff --git a/my file.txt b/your file.txt\n"
      "similarity index 100%\n"
      "rename from my file.txt\n"
      "rename to your file.txt\n");
  ASSERT_EQ(patch.files.size(), 1u);
  const FileDiff& f = patch.files[0];
  EXPECT_EQ(f.status, FileStatus::Renamed);
  EXPECT_EQ(f.old_path, "my file.txt");
  EXPECT_EQ(f.new_path, "your file.txt");
  EXPECT_EQ(f.similarity, 100);
  EXPECT_TRUE(f.hunks.empty());
}

TEST(ExtendedHeaders, ReadCopyFromAndCopyTo) {
  const PatchSet patch = parse_strict(
      "diff --git a/big.txt b/copy.txt\n"
      "similarity index 100%\n"
      "copy from big.txt\n"
      "copy to copy.txt\n");
  ASSERT_EQ(patch.files.size(), 1u);
  const FileDiff& f = patch.files[0];
  EXPECT_EQ(f.status, FileStatus::Copied);
  EXPECT_EQ(f.old_path, "big.txt");
  EXPECT_EQ(f.new_path, "copy.txt");
  EXPECT_EQ(f.similarity, 100);
}

TEST(ExtendedHeaders, ReadDissimilarityIndexOfARewrite) {
  const PatchSet patch = parse_strict(
      "diff --git a/big.txt b/big.txt\n"
      "dissimilarity index 100%\n"
      "index aa5e3f8..eb92061 100644\n"
      "--- a/big.txt\n"
      "+++ b/big.txt\n"
      "@@ -1,2 +1,2 @@\n"
      "-1\n"
      "-2\n"
      "+1000\n"
      "+1001\n");
  ASSERT_EQ(patch.files.size(), 1u);
  EXPECT_EQ(patch.files[0].status, FileStatus::Modified);
  EXPECT_EQ(patch.files[0].dissimilarity, 100);
  EXPECT_FALSE(patch.files[0].similarity.has_value());
}

TEST(ExtendedHeaders, TakeBothModesFromTheIndexLineWhenNoModeLineIsGiven) {
  const PatchSet patch = parse_strict(
      "diff --git a/run.sh b/run.sh\n"
      "index 0123abc..4567def 100755\n"
      "--- a/run.sh\n"
      "+++ b/run.sh\n"
      "@@ -1 +1 @@\n"
      "-echo a\n"
      "+echo b\n");
  ASSERT_EQ(patch.files.size(), 1u);
  EXPECT_EQ(patch.files[0].old_hash, "0123abc");
  EXPECT_EQ(patch.files[0].new_hash, "4567def");
  EXPECT_EQ(patch.files[0].old_mode, 0100755u);
  EXPECT_EQ(patch.files[0].new_mode, 0100755u);
}

TEST(ExtendedHeaders, KeepFullLengthHashesAsWritten) {
  const PatchSet patch = parse_strict(
      "diff --git a/b.bin b/b.bin\n"
      "index 677273046bce3115f56c248238f3b83f77cfc239..8d0cd2ad57642d7d820fcd1eb42b7f7e04042d0e 100644\n"
      "Binary files a/b.bin and b/b.bin differ\n");
  ASSERT_EQ(patch.files.size(), 1u);
  EXPECT_EQ(patch.files[0].old_hash, "677273046bce3115f56c248238f3b83f77cfc239");
  EXPECT_EQ(patch.files[0].new_hash, "8d0cd2ad57642d7d820fcd1eb42b7f7e04042d0e");
}

TEST(ExtendedHeaders, ReadTheOldRenameOldAndRenameNewSpelling) {
  const PatchSet patch = parse_strict(
      "diff --git a/before.c b/after.c\n"
      "similarity index 100%\n"
      "rename old before.c\n"
      "rename new after.c\n");
  ASSERT_EQ(patch.files.size(), 1u);
  EXPECT_EQ(patch.files[0].status, FileStatus::Renamed);
  EXPECT_EQ(patch.files[0].old_path, "before.c");
  EXPECT_EQ(patch.files[0].new_path, "after.c");
}

TEST(ExtendedHeaders, RejectAGitHeaderWhoseNamesCannotBeSplit) {
  const ParseError e = expect_parse_error(
      "diff --git a/one two\n"
      "old mode 100644\n"
      "new mode 100755\n");
  EXPECT_EQ(e.line(), 1u);
  EXPECT_EQ(e.text(), "diff --git a/one two");
  EXPECT_TRUE(Contains(e.reason(), "cannot tell the file names"));
}

TEST(ExtendedHeaders, RejectAModeThatIsNotOctal) {
  const ParseError e = expect_parse_error(
      "diff --git a/m.sh b/m.sh\n"
      "old mode 100694\n"
      "new mode 100755\n");
  EXPECT_EQ(e.line(), 2u);
  EXPECT_EQ(e.text(), "old mode 100694");
  EXPECT_TRUE(Contains(e.reason(), "old mode is not an octal file mode"));
}

TEST(ExtendedHeaders, RejectASimilarityAbove100Percent) {
  const ParseError e = expect_parse_error(
      "diff --git a/x b/y\n"
      "similarity index 101%\n"
      "rename from x\n"
      "rename to y\n");
  EXPECT_EQ(e.line(), 2u);
  EXPECT_TRUE(Contains(e.reason(), "similarity index"));
}

TEST(ExtendedHeaders, RejectAnIndexLineWithoutTwoHashes) {
  const ParseError e = expect_parse_error(
      "diff --git a/x b/x\n"
      "index zzz..yyy\n");
  EXPECT_EQ(e.line(), 2u);
  EXPECT_TRUE(Contains(e.reason(), "index line"));
}

TEST(ExtendedHeaders, RejectAFileMarkedBothCreatedAndDeleted) {
  const ParseError e = expect_parse_error(
      "diff --git a/x b/x\n"
      "new file mode 100644\n"
      "--- a/x\n"
      "+++ /dev/null\n"
      "@@ -1 +0,0 @@\n"
      "-x\n");
  EXPECT_EQ(e.line(), 1u);
  EXPECT_TRUE(Contains(e.reason(), "both as created and as deleted"));
}

TEST(ExtendedHeaders, RejectAMinusHeaderWithoutAPlusHeader) {
  const ParseError e = expect_parse_error(
      "diff --git a/x b/x\n"
      "index 1111111..2222222 100644\n"
      "--- a/x\n"
      "@@ -1 +1 @@\n");
  EXPECT_EQ(e.line(), 3u);
  EXPECT_TRUE(Contains(e.reason(), "\"+++\""));
}

// ---- submodules and symlinks ------------------------------------------------------------------

TEST(SpecialFiles, ReadASubmoduleBumpAsMode160000WithSubprojectLines) {
  const PatchSet patch = parse_strict(
      "diff --git a/sm b/sm\n"
      "index f63107d..34229c1 160000\n"
      "--- a/sm\n"
      "+++ b/sm\n"
      "@@ -1 +1 @@\n"
      "-Subproject commit f63107d152e89a6d336fbbe935b9c24d5d63d387\n"
      "+Subproject commit 34229c1dab5a73450747f7f31de9c63edfc3add5\n");
  ASSERT_EQ(patch.files.size(), 1u);
  const FileDiff& f = patch.files[0];
  EXPECT_EQ(f.path(), "sm");
  EXPECT_EQ(f.old_mode, 0160000u);
  EXPECT_EQ(f.new_mode, 0160000u);
  ASSERT_EQ(f.hunks.size(), 1u);
  ASSERT_EQ(kinds(f.hunks[0]), "-+");
  EXPECT_EQ(f.hunks[0].lines[1].content, "Subproject commit 34229c1dab5a73450747f7f31de9c63edfc3add5");
}

TEST(SpecialFiles, ReadASymlinkRetargetAsMode120000WithoutTrailingNewlines) {
  const PatchSet patch = parse_strict(
      "diff --git a/link b/link\n"
      "index 1de5659..27fa349 120000\n"
      "--- a/link\n"
      "+++ b/link\n"
      "@@ -1 +1 @@\n"
      "-target\n"
      "\\ No newline at end of file\n"
      "+other\n"
      "\\ No newline at end of file\n");
  ASSERT_EQ(patch.files.size(), 1u);
  const FileDiff& f = patch.files[0];
  EXPECT_EQ(f.old_mode, 0120000u);
  EXPECT_EQ(f.new_mode, 0120000u);
  ASSERT_EQ(f.hunks.size(), 1u);
  ASSERT_EQ(kinds(f.hunks[0]), "-+");
  EXPECT_EQ(f.hunks[0].lines[0].content, "target");
  EXPECT_TRUE(f.hunks[0].lines[0].no_newline_at_eof);
  EXPECT_EQ(f.hunks[0].lines[1].content, "other");
  EXPECT_TRUE(f.hunks[0].lines[1].no_newline_at_eof);
}

TEST(SpecialFiles, ReadANewSymlink) {
  const PatchSet patch = parse_strict(
      "diff --git a/link b/link\n"
      "new file mode 120000\n"
      "index 0000000..1de5659\n"
      "--- /dev/null\n"
      "+++ b/link\n"
      "@@ -0,0 +1 @@\n"
      "+target\n"
      "\\ No newline at end of file\n");
  ASSERT_EQ(patch.files.size(), 1u);
  EXPECT_EQ(patch.files[0].status, FileStatus::Added);
  EXPECT_EQ(patch.files[0].new_mode, 0120000u);
  EXPECT_TRUE(first_hunk(patch.files[0]).lines[0].no_newline_at_eof);
}

// ---- binary files -----------------------------------------------------------------------------

TEST(BinaryFiles, MarkBinaryFilesDifferAsBinaryWithoutHunks) {
  const PatchSet patch = parse_strict(
      "diff --git a/b.bin b/b.bin\n"
      "index 6772730..8d0cd2a 100644\n"
      "Binary files a/b.bin and b/b.bin differ\n"
      "diff --git a/a.txt b/a.txt\n"
      "index 4cb29ea..ddc897f 100644\n"
      "--- a/a.txt\n"
      "+++ b/a.txt\n"
      "@@ -1 +1 @@\n"
      "-a\n"
      "+b\n");
  ASSERT_EQ(patch.files.size(), 2u);
  const FileDiff& f = patch.files[0];
  EXPECT_TRUE(f.is_binary);
  EXPECT_EQ(f.path(), "b.bin");
  EXPECT_EQ(f.status, FileStatus::Modified);
  EXPECT_TRUE(f.hunks.empty());
  EXPECT_TRUE(f.binary_payload.empty());
  EXPECT_FALSE(patch.files[1].is_binary);
  EXPECT_EQ(patch.files[1].hunks.size(), 1u);
}

TEST(BinaryFiles, KeepTheLiteralPayloadOfAGitBinaryPatchForReEmission) {
  const std::string payload =
      "literal 6\n"
      "NcmZQzWKPP=0{{Yj0X_f#\n"
      "\n"
      "literal 6\n"
      "NcmZQzWJ=1+0{{Yf0X+Z!\n"
      "\n";
  const PatchSet patch = parse_strict(
      "diff --git a/b.bin b/b.bin\n"
      "index 677273046bce3115f56c248238f3b83f77cfc239..8d0cd2ad57642d7d820fcd1eb42b7f7e04042d0e 100644\n"
      "GIT binary patch\n" +
      payload +
      "diff --git a/a.txt b/a.txt\n"
      "index 4cb29ea..ddc897f 100644\n"
      "--- a/a.txt\n"
      "+++ b/a.txt\n"
      "@@ -1 +1 @@\n"
      "-a\n"
      "+b\n");
  ASSERT_EQ(patch.files.size(), 2u);
  EXPECT_TRUE(patch.files[0].is_binary);
  EXPECT_TRUE(patch.files[0].hunks.empty());
  EXPECT_EQ(patch.files[0].binary_payload, payload);
  EXPECT_EQ(patch.files[1].path(), "a.txt");
  EXPECT_EQ(patch.files[1].input_lineno, 10u);
  EXPECT_EQ(patch.added, 1u);
}

TEST(BinaryFiles, SkipDeltaBlocksWhosePayloadLooksLikeDiffLines) {
  // Base85 data may begin with any letter and hold "+", "-" and "@": none of it is a hunk.
  const std::string payload =
      "delta 14\n"
      "Vc-+@@fAy|a-W-+1c%x@@mYrFlXfP0\n"
      "\n"
      "delta 14\n"
      "Vc-+@@fAy|a-W-+1c%x@@mYrFlXfP1\n"
      "\n";
  const PatchSet patch = parse_strict(
      "diff --git a/img.png b/img.png\n"
      "index 1111111..2222222 100644\n"
      "GIT binary patch\n" +
      payload);
  ASSERT_EQ(patch.files.size(), 1u);
  EXPECT_TRUE(patch.files[0].is_binary);
  EXPECT_EQ(patch.files[0].binary_payload, payload);
  EXPECT_TRUE(patch.files[0].hunks.empty());
  EXPECT_TRUE(patch.warnings.empty());
}

TEST(BinaryFiles, KeepASingleBlockPayloadAtTheEndOfInput) {
  const PatchSet patch = parse_strict(
      "diff --git a/new.bin b/new.bin\n"
      "new file mode 100644\n"
      "index 0000000..8d0cd2a\n"
      "GIT binary patch\n"
      "literal 6\n"
      "NcmZQzWJ=1+0{{Yf0X+Z!");
  ASSERT_EQ(patch.files.size(), 1u);
  EXPECT_EQ(patch.files[0].status, FileStatus::Added);
  EXPECT_EQ(patch.files[0].binary_payload, "literal 6\nNcmZQzWJ=1+0{{Yf0X+Z!");
}

TEST(BinaryFiles, RejectAGitBinaryPatchWithoutALiteralOrDeltaLine) {
  const ParseError e = expect_parse_error(
      "diff --git a/b.bin b/b.bin\n"
      "index 1111111..2222222 100644\n"
      "GIT binary patch\n"
      "garbage 6\n");
  EXPECT_EQ(e.line(), 4u);
  EXPECT_EQ(e.text(), "garbage 6");
  EXPECT_TRUE(Contains(e.reason(), "literal"));
}

TEST(BinaryFiles, ReadAPlainBinaryFilesLineOutsideAGitHeader) {
  const PatchSet patch = parse_strict(
      "Only in a: stray.o\n"
      "Binary files a/img.png and b/img.png differ\n"
      "Binary files /dev/null and b/new.png differ\n"
      "Binary files a/old.png and /dev/null differ\n");
  ASSERT_EQ(patch.files.size(), 3u);
  EXPECT_FALSE(patch.files[0].is_git);
  EXPECT_TRUE(patch.files[0].is_binary);
  EXPECT_EQ(patch.files[0].status, FileStatus::Modified);
  EXPECT_EQ(patch.files[0].old_path, "img.png");
  EXPECT_EQ(patch.files[0].new_path, "img.png");
  EXPECT_EQ(patch.files[0].input_lineno, 2u);
  EXPECT_EQ(patch.files[1].status, FileStatus::Added);
  EXPECT_FALSE(patch.files[1].old_path.has_value());
  EXPECT_EQ(patch.files[1].new_path, "new.png");
  EXPECT_EQ(patch.files[2].status, FileStatus::Deleted);
  EXPECT_EQ(patch.files[2].old_path, "old.png");
  EXPECT_FALSE(patch.files[2].new_path.has_value());
}

TEST(BinaryFiles, SplitAPlainBinaryFilesLineWhosePathsContainAnd) {
  const PatchSet patch = parse_strict("Binary files a/salt and pepper.png and b/salt and pepper.png differ\n");
  ASSERT_EQ(patch.files.size(), 1u);
  EXPECT_EQ(patch.files[0].old_path, "salt and pepper.png");
  EXPECT_EQ(patch.files[0].new_path, "salt and pepper.png");
}

TEST(BinaryFiles, ToleratesABinaryFilesDifferLineWithoutNames) {
  // "Binary files " and " differ" overlap on one space here: the name part is empty.
  const PatchSet patch = parse_lenient("Binary files differ\n");
  EXPECT_LE(patch.files.size(), 1u);
}

// ---- quoted paths, spaces and prefixes --------------------------------------------------------

TEST(QuotedPaths, DecodeOctalUtf8BytesInEveryHeader) {
  const PatchSet patch = parse_strict(
      "diff --git \"a/caf\\303\\251.txt\" \"b/caf\\303\\251.txt\"\n"
      "index 4ae8ef0..967e095 100644\n"
      "--- \"a/caf\\303\\251.txt\"\n"
      "+++ \"b/caf\\303\\251.txt\"\n"
      "@@ -1 +1 @@\n"
      "-u\n"
      "+u2\n");
  ASSERT_EQ(patch.files.size(), 1u);
  EXPECT_EQ(patch.files[0].old_path, "caf\xc3\xa9.txt");
  EXPECT_EQ(patch.files[0].new_path, "caf\xc3\xa9.txt");
}

TEST(QuotedPaths, DecodeAnEscapedDoubleQuote) {
  const PatchSet patch = parse_strict(
      "diff --git \"a/qu\\\"ote.txt\" \"b/qu\\\"ote.txt\"\n"
      "index bca70f3..d169a2f 100644\n"
      "--- \"a/qu\\\"ote.txt\"\n"
      "+++ \"b/qu\\\"ote.txt\"\n"
      "@@ -1 +1 @@\n"
      "-q\n"
      "+q2\n");
  ASSERT_EQ(patch.files.size(), 1u);
  EXPECT_EQ(patch.files[0].path(), "qu\"ote.txt");
}

TEST(QuotedPaths, DecodeTabAndBackslashWithoutContentHeaders) {
  const PatchSet patch = parse_strict(
      "diff --git \"a/t\\tb\\\\c\" \"b/t\\tb\\\\c\"\n"
      "new file mode 100644\n"
      "index 0000000..e69de29\n");
  ASSERT_EQ(patch.files.size(), 1u);
  EXPECT_EQ(patch.files[0].status, FileStatus::Added);
  EXPECT_EQ(patch.files[0].new_path, "t\tb\\c");
}

TEST(QuotedPaths, DecodeQuotedRenameHeaders) {
  const PatchSet patch = parse_strict(
      "diff --git \"a/\\303\\251t\\303\\251\" b/summer\n"
      "similarity index 100%\n"
      "rename from \"\\303\\251t\\303\\251\"\n"
      "rename to summer\n");
  ASSERT_EQ(patch.files.size(), 1u);
  EXPECT_EQ(patch.files[0].status, FileStatus::Renamed);
  EXPECT_EQ(patch.files[0].old_path, "\xc3\xa9t\xc3\xa9");
  EXPECT_EQ(patch.files[0].new_path, "summer");
}

TEST(QuotedPaths, RejectAMalformedQuotedRenamePath) {
  const ParseError e = expect_parse_error(
      "diff --git a/x b/y\n"
      "similarity index 100%\n"
      "rename from \"x\\q\"\n"
      "rename to y\n");
  EXPECT_EQ(e.line(), 3u);
  EXPECT_TRUE(Contains(e.reason(), "malformed quoted path"));
}

TEST(PathsWithSpaces, DropTheTrailingTabGitAddsToContentHeaders) {
  const PatchSet patch = parse_strict(
      "diff --git a/sp ace.txt b/sp ace.txt\n"
      "index f05367e..ae138b0 100644\n"
      "--- a/sp ace.txt\t\n"
      "+++ b/sp ace.txt\t\n"
      "@@ -1 +1 @@\n"
      "-sp\n"
      "+sp2\n");
  ASSERT_EQ(patch.files.size(), 1u);
  EXPECT_EQ(patch.files[0].old_path, "sp ace.txt");
  EXPECT_EQ(patch.files[0].new_path, "sp ace.txt");
}

TEST(PathsWithSpaces, SplitTheGitHeaderWhereBothHalvesNameTheSameFile) {
  const PatchSet patch = parse_strict(
      "diff --git a/x b/y b/x b/y\n"
      "old mode 100644\n"
      "new mode 100755\n");
  ASSERT_EQ(patch.files.size(), 1u);
  EXPECT_EQ(patch.files[0].old_path, "x b/y");
  EXPECT_EQ(patch.files[0].new_path, "x b/y");
}

TEST(Prefixes, ReadNoPrefixOutputWithoutStrippingADirectory) {
  const PatchSet patch = parse_strict(
      "diff --git src/main.c src/main.c\n"
      "index 1111111..2222222 100644\n"
      "--- src/main.c\n"
      "+++ src/main.c\n"
      "@@ -1 +1 @@\n"
      "-a\n"
      "+b\n"
      "diff --git sp ace.txt sp ace.txt\n"
      "index f05367e..ae138b0 100644\n"
      "--- sp ace.txt\t\n"
      "+++ sp ace.txt\t\n"
      "@@ -1 +1 @@\n"
      "-sp\n"
      "+sp2\n"
      "diff --git tools/run.sh tools/run.sh\n"
      "old mode 100644\n"
      "new mode 100755\n");
  ASSERT_EQ(patch.files.size(), 3u);
  EXPECT_EQ(patch.files[0].old_path, "src/main.c");
  EXPECT_EQ(patch.files[0].new_path, "src/main.c");
  EXPECT_EQ(patch.files[1].path(), "sp ace.txt");
  EXPECT_EQ(patch.files[2].path(), "tools/run.sh");
}

TEST(Prefixes, ReadNoPrefixNewFile) {
  const PatchSet patch = parse_strict(
      "diff --git src/x.c src/x.c\n"
      "new file mode 100644\n"
      "index 0000000..3e75765\n"
      "--- /dev/null\n"
      "+++ src/x.c\n"
      "@@ -0,0 +1 @@\n"
      "+new\n");
  ASSERT_EQ(patch.files.size(), 1u);
  EXPECT_EQ(patch.files[0].status, FileStatus::Added);
  EXPECT_EQ(patch.files[0].new_path, "src/x.c");
}

TEST(Prefixes, ReadNoPrefixRenameFromTheRenameHeaders) {
  const PatchSet patch = parse_strict(
      "diff --git lib/old.c lib/new.c\n"
      "similarity index 90%\n"
      "rename from lib/old.c\n"
      "rename to lib/new.c\n"
      "index 1111111..2222222 100644\n"
      "--- lib/old.c\n"
      "+++ lib/new.c\n"
      "@@ -1 +1 @@\n"
      "-a\n"
      "+b\n");
  ASSERT_EQ(patch.files.size(), 1u);
  EXPECT_EQ(patch.files[0].old_path, "lib/old.c");
  EXPECT_EQ(patch.files[0].new_path, "lib/new.c");
}

TEST(Prefixes, StripCustomSourceAndDestinationPrefixes) {
  const PatchSet patch = parse_strict(
      "diff --git left/sp ace.txt right/sp ace.txt\n"
      "index f05367e..ae138b0 100644\n"
      "--- left/sp ace.txt\t\n"
      "+++ right/sp ace.txt\t\n"
      "@@ -1 +1 @@\n"
      "-sp\n"
      "+sp2\n"
      "diff --git before/src/f.c after/src/f.c\n"
      "index 1111111..2222222 100644\n"
      "--- before/src/f.c\n"
      "+++ after/src/f.c\n"
      "@@ -1 +1 @@\n"
      "-a\n"
      "+b\n");
  ASSERT_EQ(patch.files.size(), 2u);
  EXPECT_EQ(patch.files[0].old_path, "sp ace.txt");
  EXPECT_EQ(patch.files[0].new_path, "sp ace.txt");
  EXPECT_EQ(patch.files[1].old_path, "src/f.c");
  EXPECT_EQ(patch.files[1].new_path, "src/f.c");
}

TEST(Prefixes, KeepADirectoryNamedLikeThePrefix) {
  const PatchSet patch = parse_strict(
      "diff --git a/a/b.txt b/a/b.txt\n"
      "index 1111111..2222222 100644\n"
      "--- a/a/b.txt\n"
      "+++ b/a/b.txt\n"
      "@@ -1 +1 @@\n"
      "-a\n"
      "+b\n");
  ASSERT_EQ(patch.files.size(), 1u);
  EXPECT_EQ(patch.files[0].path(), "a/b.txt");
}

// ---- plain `diff -u` output -------------------------------------------------------------------

TEST(PlainDiff, ReadsUnifiedDiffWithTimestampsAndStripsOneComponent) {
  const PatchSet patch = parse_strict(
      "diff -u old/file.c new/file.c\n"
      "--- old/file.c\t2024-01-01 10:00:00.000000000 +0100\n"
      "+++ new/file.c\t2024-01-02 10:00:00.000000000 +0100\n"
      "@@ -1,2 +1,2 @@ int main(void)\n"
      " a\n"
      "-b\n"
      "+c\n");
  ASSERT_EQ(patch.files.size(), 1u);
  const FileDiff& f = patch.files[0];
  EXPECT_FALSE(f.is_git);
  EXPECT_EQ(f.status, FileStatus::Modified);
  EXPECT_EQ(f.old_path, "file.c");
  EXPECT_EQ(f.new_path, "file.c");
  EXPECT_EQ(f.input_lineno, 2u);
  ASSERT_EQ(f.hunks.size(), 1u);
  EXPECT_EQ(f.hunks[0].section, "int main(void)");
}

TEST(PlainDiff, KeepsASingleComponentNameWhole) {
  const PatchSet patch = parse_strict(
      "--- file.c\n"
      "+++ file.c\n"
      "@@ -1 +1 @@\n"
      "-a\n"
      "+b\n");
  ASSERT_EQ(patch.files.size(), 1u);
  EXPECT_EQ(patch.files[0].path(), "file.c");
}

TEST(PlainDiff, TreatsDevNullAsAnAbsentSide) {
  const PatchSet patch = parse_strict(
      "--- /dev/null\n"
      "+++ b/new.txt\n"
      "@@ -0,0 +1,2 @@\n"
      "+a\n"
      "+b\n"
      "--- a/gone.txt\n"
      "+++ /dev/null\n"
      "@@ -1 +0,0 @@\n"
      "-a\n");
  ASSERT_EQ(patch.files.size(), 2u);
  EXPECT_EQ(patch.files[0].status, FileStatus::Added);
  EXPECT_FALSE(patch.files[0].old_path.has_value());
  EXPECT_EQ(patch.files[0].new_path, "new.txt");
  EXPECT_EQ(patch.files[1].status, FileStatus::Deleted);
  EXPECT_EQ(patch.files[1].old_path, "gone.txt");
  EXPECT_FALSE(patch.files[1].new_path.has_value());
}

TEST(PlainDiff, TreatsAnEmptyOldSideFromDiffNAsAnAddedFile) {
  const PatchSet patch = parse_strict(
      "--- a/x.txt\t1970-01-01 00:00:00.000000000 +0000\n"
      "+++ b/x.txt\t2024-01-02 10:00:00.000000000 +0100\n"
      "@@ -0,0 +1 @@\n"
      "+x\n");
  ASSERT_EQ(patch.files.size(), 1u);
  EXPECT_EQ(patch.files[0].status, FileStatus::Added);
  EXPECT_FALSE(patch.files[0].old_path.has_value());
  EXPECT_EQ(patch.files[0].new_path, "x.txt");
}

TEST(PlainDiff, RejectsBothSidesDevNull) {
  const ParseError e = expect_parse_error(
      "--- /dev/null\n"
      "+++ /dev/null\n");
  EXPECT_EQ(e.line(), 1u);
  EXPECT_TRUE(Contains(e.reason(), "both sides"));
}

// ---- hunks ------------------------------------------------------------------------------------

TEST(HunkParser, MarksNoNewlineAtEndOfFileOnTheOldSideOnly) {
  const PatchSet patch = parse_strict(
      "diff --git a/f b/f\n"
      "index 1111111..2222222 100644\n"
      "--- a/f\n"
      "+++ b/f\n"
      "@@ -1 +1 @@\n"
      "-x\n"
      "\\ No newline at end of file\n"
      "+x\n");
  const Hunk& h = first_hunk(patch.files.at(0));
  ASSERT_EQ(kinds(h), "-+");
  EXPECT_TRUE(h.lines[0].no_newline_at_eof);
  EXPECT_FALSE(h.lines[1].no_newline_at_eof);
}

TEST(HunkParser, MarksNoNewlineAtEndOfFileOnTheNewSideOnly) {
  const PatchSet patch = parse_strict(
      "diff --git a/f b/f\n"
      "index 1111111..2222222 100644\n"
      "--- a/f\n"
      "+++ b/f\n"
      "@@ -1,2 +1,2 @@\n"
      " a\n"
      "-x\n"
      "+x\n"
      "\\ No newline at end of file\n"
      "diff --git a/g b/g\n"
      "old mode 100644\n"
      "new mode 100755\n");
  ASSERT_EQ(patch.files.size(), 2u);
  const Hunk& h = first_hunk(patch.files[0]);
  ASSERT_EQ(kinds(h), " -+");
  EXPECT_FALSE(h.lines[0].no_newline_at_eof);
  EXPECT_FALSE(h.lines[1].no_newline_at_eof);
  EXPECT_TRUE(h.lines[2].no_newline_at_eof);
}

TEST(HunkParser, MarksNoNewlineAfterASharedContextLine) {
  const PatchSet patch = parse_strict(
      "diff --git a/f b/f\n"
      "index 1111111..2222222 100644\n"
      "--- a/f\n"
      "+++ b/f\n"
      "@@ -1,2 +1,2 @@\n"
      "-a\n"
      "+b\n"
      " end\n"
      "\\ No newline at end of file\n");
  const Hunk& h = first_hunk(patch.files.at(0));
  ASSERT_EQ(kinds(h), "-+ ");
  EXPECT_TRUE(h.lines[2].no_newline_at_eof);
}

TEST(HunkParser, KeepsCrlfContentWithoutTheLineEnding) {
  const PatchSet patch = parse_strict(
      "diff --git a/crlf.txt b/crlf.txt\n"
      "index 414e609..270cfcb 100644\n"
      "--- a/crlf.txt\n"
      "+++ b/crlf.txt\n"
      "@@ -1,3 +1,3 @@\n"
      " l1\r\n"
      "-l2\r\n"
      "+L2\r\n"
      " lf\n");
  const Hunk& h = first_hunk(patch.files.at(0));
  ASSERT_EQ(kinds(h), " -+ ");
  EXPECT_EQ(h.lines[0].content, "l1");
  EXPECT_EQ(h.lines[0].ending, LineEnding::CRLF);
  EXPECT_EQ(h.lines[1].content, "l2");
  EXPECT_EQ(h.lines[1].ending, LineEnding::CRLF);
  EXPECT_EQ(h.lines[2].content, "L2");
  EXPECT_EQ(h.lines[2].ending, LineEnding::CRLF);
  EXPECT_EQ(h.lines[3].content, "lf");
  EXPECT_EQ(h.lines[3].ending, LineEnding::LF);
}

TEST(HunkParser, KeepsALoneCarriageReturnInsideContent) {
  const PatchSet patch = parse_strict(
      "--- a/f\n"
      "+++ b/f\n"
      "@@ -1 +1 @@\n"
      "-a\rb\n"
      "+a\r\r\n");
  const Hunk& h = first_hunk(patch.files.at(0));
  EXPECT_EQ(h.lines[0].content, "a\rb");
  EXPECT_EQ(h.lines[0].ending, LineEnding::LF);
  EXPECT_EQ(h.lines[1].content, "a\r");
  EXPECT_EQ(h.lines[1].ending, LineEnding::CRLF);
}

TEST(HunkParser, RecordsAMissingFinalLineFeedAsEndingNone) {
  const PatchSet patch = parse_strict(
      "--- a/f\n"
      "+++ b/f\n"
      "@@ -1 +1 @@\n"
      "-a\n"
      "+b");
  const Hunk& h = first_hunk(patch.files.at(0));
  EXPECT_EQ(h.lines[1].content, "b");
  EXPECT_EQ(h.lines[1].ending, LineEnding::None);
}

TEST(HunkParser, ReadsAnOmittedCountAsOne) {
  const PatchSet patch = parse_strict(
      "--- a/f\n"
      "+++ b/f\n"
      "@@ -7 +9 @@\n"
      "-a\n"
      "+b\n");
  const Hunk& h = first_hunk(patch.files.at(0));
  EXPECT_EQ(h.old_start, 7u);
  EXPECT_EQ(h.old_count, 1u);
  EXPECT_EQ(h.new_start, 9u);
  EXPECT_EQ(h.new_count, 1u);
  EXPECT_EQ(h.old_end(), 7u);
  EXPECT_EQ(h.new_end(), 9u);
  EXPECT_EQ(h.lines[0].old_lineno, 7u);
  EXPECT_EQ(h.lines[1].new_lineno, 9u);
}

TEST(HunkParser, ReadsZeroCountsOfAnUnifiedZeroDiff) {
  const PatchSet patch = parse_strict(
      "diff --git a/u.txt b/u.txt\n"
      "index f00c965..401fef8 100644\n"
      "--- a/u.txt\n"
      "+++ b/u.txt\n"
      "@@ -4 +4 @@\n"
      "-4\n"
      "+X\n"
      "@@ -8,0 +9,2 @@\n"
      "+Y\n"
      "+Z\n"
      "@@ -10,2 +11,0 @@\n"
      "-9\n"
      "-10\n");
  const FileDiff& f = patch.files.at(0);
  ASSERT_EQ(f.hunks.size(), 3u);
  EXPECT_EQ(f.hunks[1].old_start, 8u);
  EXPECT_EQ(f.hunks[1].old_count, 0u);
  EXPECT_EQ(f.hunks[1].old_end(), 0u);
  EXPECT_EQ(f.hunks[1].new_start, 9u);
  EXPECT_EQ(f.hunks[1].new_count, 2u);
  EXPECT_EQ(f.hunks[1].lines[0].new_lineno, 9u);
  EXPECT_EQ(f.hunks[1].lines[1].new_lineno, 10u);
  EXPECT_EQ(f.hunks[2].new_count, 0u);
  EXPECT_EQ(f.hunks[2].new_end(), 0u);
  EXPECT_EQ(f.hunks[2].lines[1].old_lineno, 11u);
  EXPECT_EQ(f.added, 3u);
  EXPECT_EQ(f.removed, 3u);
}

TEST(HunkParser, ReadsSectionHeadingsAfterTheClosingMarker) {
  const PatchSet patch = parse_strict(
      "--- a/f.c\n"
      "+++ b/f.c\n"
      "@@ -1 +1 @@ int main(void)\n"
      "-a\n"
      "+b\n"
      "@@ -10 +10 @@\n"
      "-c\n"
      "+d\n"
      "@@ -20 +20 @@  indented @@ heading\n"
      "-e\n"
      "+f\n");
  const FileDiff& f = patch.files.at(0);
  ASSERT_EQ(f.hunks.size(), 3u);
  EXPECT_EQ(f.hunks[0].section, "int main(void)");
  EXPECT_EQ(f.hunks[1].section, "");
  EXPECT_EQ(f.hunks[2].section, " indented @@ heading");
}

TEST(HunkParser, LetsCountsDecideForLinesThatLookLikeHeaders) {
  const PatchSet patch = parse_strict(
      "diff --git a/t.md b/t.md\n"
      "index 1111111..2222222 100644\n"
      "--- a/t.md\n"
      "+++ b/t.md\n"
      "@@ -1,4 +1,4 @@\n"
      "--- old heading\n"
      "+++ new heading\n"
      " @@ -1 +1 @@ not a hunk\n"
      "-diff --git a/x b/x\n"
      "+diff --git a/y b/y\n"
      "-@@ -5 +5 @@\n"
      "+@@ -6 +6 @@\n"
      "diff --git a/next b/next\n"
      "old mode 100644\n"
      "new mode 100755\n");
  ASSERT_EQ(patch.files.size(), 2u);
  const Hunk& h = first_hunk(patch.files[0]);
  ASSERT_EQ(kinds(h), "-+ -+-+");
  EXPECT_EQ(h.lines[0].content, "-- old heading");
  EXPECT_EQ(h.lines[1].content, "++ new heading");
  EXPECT_EQ(h.lines[2].content, "@@ -1 +1 @@ not a hunk");
  EXPECT_EQ(h.lines[3].content, "diff --git a/x b/x");
  EXPECT_EQ(h.lines[6].content, "@@ -6 +6 @@");
  EXPECT_EQ(patch.files[1].path(), "next");
}

TEST(HunkParser, EndsAHunkAtItsCountEvenWhenAMinusMinusMinusLineFollows) {
  // The last removed line of file one is "--- a/b"; then a plain header for file two.
  const PatchSet patch = parse_strict(
      "--- a/one\n"
      "+++ b/one\n"
      "@@ -1 +1 @@\n"
      "---- a/b\n"
      "++++ b/b\n"
      "--- a/two\n"
      "+++ b/two\n"
      "@@ -1 +1 @@\n"
      "-x\n"
      "+y\n");
  ASSERT_EQ(patch.files.size(), 2u);
  EXPECT_EQ(first_hunk(patch.files[0]).lines[0].content, "--- a/b");
  EXPECT_EQ(first_hunk(patch.files[0]).lines[1].content, "+++ b/b");
  EXPECT_EQ(patch.files[1].path(), "two");
}

TEST(HunkParser, AcceptsAnEmptyLineAsAnEmptyContextLine) {
  const PatchSet patch = parse_strict(
      "--- a/f\n"
      "+++ b/f\n"
      "@@ -1,3 +1,3 @@\n"
      " a\n"
      "\n"
      "-b\n"
      "+c\n");
  const Hunk& h = first_hunk(patch.files.at(0));
  ASSERT_EQ(kinds(h), "  -+");
  EXPECT_EQ(h.lines[1].content, "");
  EXPECT_EQ(h.lines[1].old_lineno, 2u);
  EXPECT_EQ(h.lines[1].new_lineno, 2u);
}

TEST(HunkParser, KeepsBytesThatAreNotUtf8) {
  const std::string content("\xff\xfe\x80 \x00 \xc3", 7);
  const PatchSet patch = parse_strict(
      "diff --git \"a/\\377.bin\" \"b/\\377.bin\"\n"
      "index 1111111..2222222 100644\n"
      "--- \"a/\\377.bin\"\n"
      "+++ \"b/\\377.bin\"\n"
      "@@ -1 +1 @@\n"
      "-" + content + "\n"
      "+ok\n"
      "diff --git a/caf\xc3\xa9 b/caf\xc3\xa9\n"
      "old mode 100644\n"
      "new mode 100755\n");
  ASSERT_EQ(patch.files.size(), 2u);
  EXPECT_EQ(patch.files[0].path(), "\xff.bin");
  EXPECT_EQ(first_hunk(patch.files[0]).lines[0].content, content);
  EXPECT_EQ(patch.files[1].path(), "caf\xc3\xa9");
}

TEST(HunkParser, RejectsHunkLongerThanHeader) {
  const ParseError e = expect_parse_error(
      "diff --git a/f b/f\n"
      "index 1111111..2222222 100644\n"
      "--- a/f\n"
      "+++ b/f\n"
      "@@ -1 +1 @@\n"
      "-a\n"
      "+b\n"
      "+c\n");
  EXPECT_EQ(e.line(), 8u);
  EXPECT_EQ(e.text(), "+c");
  EXPECT_TRUE(Contains(e.reason(), "hunk at line 5 declares 1 old and 1 new lines but more follow"));
}

TEST(HunkParser, RejectsHunkShorterThanHeader) {
  const ParseError e = expect_parse_error(
      "diff --git a/f b/f\n"
      "index 1111111..2222222 100644\n"
      "--- a/f\n"
      "+++ b/f\n"
      "@@ -1,2 +1,5 @@\n"
      " a\n"
      "-b\n"
      "+c\n"
      "+d\n"
      "+e\n");
  EXPECT_EQ(e.line(), 11u);
  EXPECT_EQ(e.text(), "<end of input>");
  EXPECT_TRUE(Contains(e.reason(), "hunk declares 5 new lines but 4 follow"));
  EXPECT_TRUE(Contains(e.reason(), "hunk at line 5"));
}

TEST(HunkParser, RejectsHunkCutShortByTheNextFile) {
  const ParseError e = expect_parse_error(
      "diff --git a/one b/one\n"
      "index 1111111..2222222 100644\n"
      "--- a/one\n"
      "+++ b/one\n"
      "@@ -1,3 +1,3 @@\n"
      " a\n"
      "-b\n"
      "+B\n"
      "diff --git a/two b/two\n");
  EXPECT_EQ(e.line(), 9u);
  EXPECT_EQ(e.text(), "diff --git a/two b/two");
  EXPECT_TRUE(Contains(e.reason(), "hunk declares 3 old and 3 new lines but 2 and 2 follow"));
  EXPECT_TRUE(Contains(e.what(), "line 9"));
}

TEST(HunkParser, RejectsAnAddedLineBeyondTheNewCount) {
  const ParseError e = expect_parse_error(
      "--- a/f\n"
      "+++ b/f\n"
      "@@ -1,2 +1,1 @@\n"
      "+a\n"
      "+b\n"
      "-c\n");
  EXPECT_EQ(e.line(), 5u);
  EXPECT_TRUE(Contains(e.reason(), "added line goes past the hunk's declared 1 new lines"));
}

TEST(HunkParser, RejectsAContextLineBeyondTheOldCount) {
  const ParseError e = expect_parse_error(
      "--- a/f\n"
      "+++ b/f\n"
      "@@ -1,1 +1,2 @@\n"
      "-a\n"
      " b\n"
      "+c\n");
  EXPECT_EQ(e.line(), 5u);
  EXPECT_TRUE(Contains(e.reason(), "context line goes past the hunk's declared 1 old lines"));
}

TEST(HunkParser, RejectsAMalformedHunkHeader) {
  const ParseError e = expect_parse_error(
      "--- a/f\n"
      "+++ b/f\n"
      "@@ -a,1 +1 @@\n"
      "-a\n");
  EXPECT_EQ(e.line(), 3u);
  EXPECT_EQ(e.text(), "@@ -a,1 +1 @@");
  EXPECT_TRUE(Contains(e.reason(), "malformed hunk header"));
}

TEST(HunkParser, RejectsARangeBeyondTwoToTheThirtyTwo) {
  const ParseError e = expect_parse_error(
      "--- a/f\n"
      "+++ b/f\n"
      "@@ -4294967295,2 +1 @@\n"
      "-a\n");
  EXPECT_EQ(e.line(), 3u);
  EXPECT_TRUE(Contains(e.reason(), "2^32"));
}

TEST(HunkParser, RejectsAHunkHeaderOutsideAFile) {
  const ParseError e = expect_parse_error(
      "some text\n"
      "@@ -1 +1 @@\n"
      "-a\n"
      "+b\n");
  EXPECT_EQ(e.line(), 2u);
  EXPECT_TRUE(Contains(e.reason(), "hunk header outside of a file diff"));
}

TEST(HunkParser, RejectsAHunkInAGitFileWithoutContentHeaders) {
  const ParseError e = expect_parse_error(
      "diff --git a/f b/f\n"
      "index 1111111..2222222 100644\n"
      "@@ -1 +1 @@\n"
      "-a\n"
      "+b\n");
  EXPECT_EQ(e.line(), 3u);
  EXPECT_TRUE(Contains(e.reason(), "hunk without"));
}

TEST(ParseErrors, TruncateTheQuotedTextOfAVeryLongLine) {
  const std::string long_line = "@@ -x " + std::string(500, 'y');
  const ParseError e = expect_parse_error("--- a/f\n+++ b/f\n" + long_line + "\n");
  EXPECT_EQ(e.line(), 3u);
  EXPECT_LT(e.text().size(), long_line.size());
  EXPECT_EQ(e.text().substr(0, ParseError::kMaxQuotedText), long_line.substr(0, ParseError::kMaxQuotedText));
}

// ---- combined diffs ---------------------------------------------------------------------------

TEST(CombinedDiff, IsRecordedWithAWarningAndNoHunksThenParsingGoesOn) {
  const PatchSet patch = parse_strict(
      "commit daf17c6b05eb8388164a118a7cf1605aa36ac0dc\n"
      "Merge: 7321daf 2069896\n"
      "Author: T <t@t>\n"
      "Date:   Sat Nov 28 23:36:24 2026 +0000\n"
      "\n"
      "    Merge branch 'side'\n"
      "\n"
      "diff --cc u.txt\n"
      "index 37552bf,cb28c24..da54fdc\n"
      "--- a/u.txt\n"
      "+++ b/u.txt\n"
      "@@@ -11,3 -10,4 +11,5 @@@\n"
      "  Z\n"
      "  9\n"
      "  10\n"
      "+ side\n"
      "++extra\n"
      "diff --git a/other b/other\n"
      "old mode 100644\n"
      "new mode 100755\n");
  ASSERT_EQ(patch.files.size(), 2u);
  const FileDiff& f = patch.files[0];
  EXPECT_TRUE(f.is_combined);
  EXPECT_EQ(f.path(), "u.txt");
  EXPECT_TRUE(f.hunks.empty());
  EXPECT_EQ(f.commit, 0);
  ASSERT_EQ(patch.warnings.size(), 1u);
  EXPECT_EQ(patch.warnings[0].input_lineno, 8u);
  EXPECT_TRUE(Contains(patch.warnings[0].message, "combined diff"));
  EXPECT_FALSE(patch.files[1].is_combined);
  EXPECT_EQ(patch.files[1].path(), "other");
  EXPECT_EQ(patch.files[1].new_mode, 0100755u);
}

TEST(CombinedDiff, RecognisesTheLongCombinedForm) {
  const PatchSet patch = parse_lenient(
      "diff --combined \"caf\\303\\251\"\n"
      "index 1,2..3\n"
      "@@@ -1 -1 +1 @@@\n"
      "- a\n"
      " -b\n"
      "++c\n");
  ASSERT_EQ(patch.files.size(), 1u);
  EXPECT_TRUE(patch.files[0].is_combined);
  EXPECT_EQ(patch.files[0].path(), "caf\xc3\xa9");
  EXPECT_FALSE(patch.warnings.empty());
}

// ---- commit headers ---------------------------------------------------------------------------

TEST(CommitHeaders, ReadGitLogCommitsAndAttachEachFileToItsCommit) {
  const PatchSet patch = parse_strict(
      "diff --git a/before b/before\n"
      "old mode 100644\n"
      "new mode 100755\n"
      "commit c81c873e3129d4d4e5ccf58f8e383dbc1280b466 (HEAD -> main)\n"
      "Author: T <t@t>\n"
      "Date:   Sat Nov 28 23:36:19 2026 +0000\n"
      "\n"
      "    Fix the parser\n"
      "    \n"
      "    It now reads more.\n"
      "\n"
      "diff --git a/one b/one\n"
      "index 1111111..2222222 100644\n"
      "--- a/one\n"
      "+++ b/one\n"
      "@@ -1 +1 @@\n"
      "-a\n"
      "+b\n"
      "diff --git a/two b/two\n"
      "old mode 100644\n"
      "new mode 100755\n"
      "\n"
      "commit 0123456789abcdef0123456789abcdef01234567\n"
      "Author: U <u@u>\n"
      "Date:   Sun Nov 29 10:00:00 2026 +0000\n"
      "\n"
      "    Second\n"
      "\n"
      "diff --git a/three b/three\n"
      "old mode 100644\n"
      "new mode 100755\n");
  ASSERT_EQ(patch.commits.size(), 2u);
  const Commit& c = patch.commits[0];
  EXPECT_EQ(c.sha, "c81c873e3129d4d4e5ccf58f8e383dbc1280b466");
  EXPECT_EQ(c.author, "T <t@t>");
  EXPECT_EQ(c.date, "Sat Nov 28 23:36:19 2026 +0000");
  EXPECT_EQ(c.subject, "Fix the parser");
  EXPECT_EQ(c.message, "Fix the parser\n\nIt now reads more.");
  EXPECT_EQ(c.input_lineno, 4u);
  EXPECT_EQ(patch.commits[1].sha, "0123456789abcdef0123456789abcdef01234567");
  EXPECT_EQ(patch.commits[1].author, "U <u@u>");
  EXPECT_EQ(patch.commits[1].subject, "Second");

  ASSERT_EQ(patch.files.size(), 4u);
  EXPECT_EQ(patch.files[0].commit, -1);
  EXPECT_EQ(patch.files[1].commit, 0);
  EXPECT_EQ(patch.files[2].commit, 0);
  EXPECT_EQ(patch.files[3].commit, 1);
  EXPECT_EQ(patch.files[1].path(), "one");
  EXPECT_EQ(patch.files[3].path(), "three");
  EXPECT_TRUE(patch.warnings.empty());
}

TEST(CommitHeaders, ReadFormatPatchMailsUpToTheSignature) {
  const PatchSet patch = parse_strict(
      "From c81c873e3129d4d4e5ccf58f8e383dbc1280b466 Mon Sep 17 00:00:00 2001\n"
      "From: T <t@t>\n"
      "Date: Sat, 28 Nov 2026 23:36:19 +0000\n"
      "Subject: [PATCH 1/2] Move the copy\n"
      " out of the way\n"
      "\n"
      "Body line.\n"
      "---\n"
      " copy.txt => moved.txt | 1 +\n"
      " 1 file changed, 1 insertion(+)\n"
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
      "+21\n"
      "-- \n"
      "2.39.5\n"
      "\n"
      "From 0123456789abcdef0123456789abcdef01234567 Mon Sep 17 00:00:00 2001\n"
      "From: U <u@u>\n"
      "Subject: [PATCH 2/2] Second\n"
      "\n"
      "---\n"
      "diff --git a/x b/x\n"
      "old mode 100644\n"
      "new mode 100755\n"
      "-- \n"
      "2.39.5\n");
  ASSERT_EQ(patch.commits.size(), 2u);
  const Commit& c = patch.commits[0];
  EXPECT_EQ(c.sha, "c81c873e3129d4d4e5ccf58f8e383dbc1280b466");
  EXPECT_EQ(c.author, "T <t@t>");
  EXPECT_EQ(c.date, "Sat, 28 Nov 2026 23:36:19 +0000");
  EXPECT_EQ(c.subject, "Move the copy out of the way");
  EXPECT_EQ(c.message, "Move the copy out of the way\n\nBody line.");
  EXPECT_EQ(c.input_lineno, 1u);
  EXPECT_EQ(patch.commits[1].subject, "Second");
  ASSERT_EQ(patch.files.size(), 2u);
  EXPECT_EQ(patch.files[0].commit, 0);
  EXPECT_EQ(patch.files[0].status, FileStatus::Renamed);
  EXPECT_EQ(patch.files[0].added, 1u);
  EXPECT_EQ(patch.files[1].commit, 1);
  EXPECT_TRUE(patch.warnings.empty());
}

TEST(CommitHeaders, LeaveAnEmptyCommitWithoutFilesAndWarn) {
  const PatchSet patch = parse_strict(
      "commit c81c873e3129d4d4e5ccf58f8e383dbc1280b466\n"
      "Author: T <t@t>\n"
      "Date:   Sat Nov 28 23:36:19 2026 +0000\n"
      "\n"
      "    Empty\n");
  ASSERT_EQ(patch.commits.size(), 1u);
  EXPECT_EQ(patch.commits[0].subject, "Empty");
  EXPECT_TRUE(patch.files.empty());
  ASSERT_EQ(patch.warnings.size(), 1u);
  EXPECT_TRUE(Contains(patch.warnings[0].message, "no file diffs found"));
}

TEST(CommitHeaders, IgnoreACommitLineWhoseShaIsNotHex) {
  const PatchSet patch = parse_strict(
      "commit this-is-not-a-sha\n"
      "--- a/f\n"
      "+++ b/f\n"
      "@@ -1 +1 @@\n"
      "-a\n"
      "+b\n");
  EXPECT_TRUE(patch.commits.empty());
  ASSERT_EQ(patch.files.size(), 1u);
  EXPECT_EQ(patch.files[0].commit, -1);
}

// ---- empty input ------------------------------------------------------------------------------

TEST(EmptyInput, YieldsAnEmptyPatchSetWithoutAWarning) {
  const PatchSet patch = parse_strict("");
  EXPECT_TRUE(patch.files.empty());
  EXPECT_TRUE(patch.warnings.empty());
  const PatchSet from_null = parse(std::shared_ptr<const std::string>());
  EXPECT_TRUE(from_null.files.empty());
  ASSERT_NE(from_null.owner, nullptr);
}

TEST(EmptyInput, TextWithoutDiffsYieldsAWarningNotAnError) {
  const PatchSet patch = parse_strict("just some\ntext\n");
  EXPECT_TRUE(patch.files.empty());
  ASSERT_EQ(patch.warnings.size(), 1u);
  EXPECT_EQ(patch.warnings[0].input_lineno, 1u);
  EXPECT_TRUE(Contains(patch.warnings[0].message, "2 lines"));
}

TEST(PatchSetModel, SharesOwnershipOfTheCallersBuffer) {
  auto buffer = std::make_shared<const std::string>(kModified);
  const PatchSet patch = parse(buffer);
  EXPECT_EQ(patch.owner, buffer);
  EXPECT_EQ(patch.input.data(), buffer->data());
  const std::string_view content = first_hunk(patch.files.at(0)).lines[0].content;
  EXPECT_GE(content.data(), buffer->data());
  EXPECT_LT(content.data(), buffer->data() + buffer->size());
}

// ---- lenient mode -----------------------------------------------------------------------------

TEST(LenientMode, RecordsAShortHunkAndStillParsesTheNextFile) {
  const PatchSet patch = parse_lenient(
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
      "@@ -1 +1 @@\n"
      "-x\n"
      "+y\n");
  ASSERT_EQ(patch.warnings.size(), 1u);
  EXPECT_EQ(patch.warnings[0].input_lineno, 9u);
  EXPECT_TRUE(Contains(patch.warnings[0].message, "line 9"));
  EXPECT_TRUE(Contains(patch.warnings[0].message, "hunk declares 3 old and 3 new lines but 2 and 2 follow"));
  ASSERT_EQ(patch.files.size(), 2u);
  const Hunk& h = first_hunk(patch.files[0]);
  // The kept hunk's counts match the lines actually read.
  EXPECT_EQ(h.old_count, 2u);
  EXPECT_EQ(h.new_count, 2u);
  EXPECT_EQ(kinds(h), " -+");
  EXPECT_EQ(patch.files[1].path(), "two");
  EXPECT_EQ(kinds(first_hunk(patch.files[1])), "-+");
  EXPECT_EQ(patch.added, 2u);
}

TEST(LenientMode, DropsAFileWithABadHeaderAndResumesAtTheNextOne) {
  const PatchSet patch = parse_lenient(
      "diff --git a/one b/one\n"
      "old mode 10x644\n"
      "new mode 100755\n"
      "diff --git a/two b/two\n"
      "index 3333333..4444444 100644\n"
      "--- a/two\n"
      "+++ b/two\n"
      "@@ -1 +1 @@\n"
      "-x\n"
      "+y\n");
  ASSERT_EQ(patch.warnings.size(), 1u);
  EXPECT_EQ(patch.warnings[0].input_lineno, 2u);
  EXPECT_TRUE(Contains(patch.warnings[0].message, "old mode"));
  ASSERT_EQ(patch.files.size(), 1u);
  EXPECT_EQ(patch.files[0].path(), "two");
  EXPECT_EQ(patch.files[0].input_lineno, 4u);
}

TEST(LenientMode, DropsAFileWhoseBinaryPatchHasNoLiteralLine) {
  const PatchSet patch = parse_lenient(
      "diff --git a/x.bin b/x.bin\n"
      "new file mode 100644\n"
      "index 0000000..1234567\n"
      "GIT binary patch\n"
      "garbage here\n"
      "\n"
      "diff --git a/a.txt b/a.txt\n"
      "index 9c2a709..99be23b 100644\n"
      "--- a/a.txt\n"
      "+++ b/a.txt\n"
      "@@ -1 +1 @@\n"
      "-a\n"
      "+b\n");
  ASSERT_EQ(patch.warnings.size(), 1u);
  EXPECT_EQ(patch.warnings[0].input_lineno, 5u);
  // Like any file whose header cannot be read: dropped, never kept without a name.
  for (const FileDiff& f : patch.files) EXPECT_TRUE(f.old_path.has_value() || f.new_path.has_value());
  ASSERT_EQ(patch.files.size(), 1u);
  EXPECT_EQ(patch.files[0].old_path, "a.txt");
  EXPECT_EQ(patch.files[0].new_path, "a.txt");
}

TEST(LenientMode, RecordsAnOverlongHunkAndKeepsItsDeclaredLines) {
  const PatchSet patch = parse_lenient(
      "--- a/f\n"
      "+++ b/f\n"
      "@@ -1 +1 @@\n"
      "-a\n"
      "+b\n"
      "+c\n"
      "--- a/g\n"
      "+++ b/g\n"
      "@@ -1 +1 @@\n"
      "-d\n"
      "+e\n");
  ASSERT_EQ(patch.warnings.size(), 1u);
  EXPECT_EQ(patch.warnings[0].input_lineno, 6u);
  ASSERT_EQ(patch.files.size(), 2u);
  EXPECT_EQ(kinds(first_hunk(patch.files[0])), "-+");
  EXPECT_EQ(patch.files[1].path(), "g");
}

TEST(LenientMode, ParsesHunksOfAGitFileWithoutContentHeaders) {
  const PatchSet patch = parse_lenient(
      "diff --git a/f b/f\n"
      "index 1111111..2222222 100644\n"
      "@@ -1 +1 @@\n"
      "-a\n"
      "+b\n");
  ASSERT_EQ(patch.warnings.size(), 1u);
  ASSERT_EQ(patch.files.size(), 1u);
  EXPECT_EQ(kinds(first_hunk(patch.files[0])), "-+");
}

TEST(LenientMode, RecordsEveryProblemInOrder) {
  const PatchSet patch = parse_lenient(
      "@@ -1 +1 @@\n"
      "--- a/f\n"
      "+++ b/f\n"
      "@@ -1 +1 @@ \n"
      "-a\n"
      "diff --git a/g b/g\n"
      "similarity index 200%\n"
      "diff --git a/h b/h\n"
      "old mode 100644\n"
      "new mode 100755\n");
  ASSERT_EQ(patch.warnings.size(), 3u);
  EXPECT_EQ(patch.warnings[0].input_lineno, 1u);
  EXPECT_TRUE(Contains(patch.warnings[0].message, "hunk header outside"));
  EXPECT_EQ(patch.warnings[1].input_lineno, 6u);
  EXPECT_TRUE(Contains(patch.warnings[1].message, "hunk declares 1 new lines but 0 follow"));
  EXPECT_EQ(patch.warnings[2].input_lineno, 7u);
  EXPECT_TRUE(Contains(patch.warnings[2].message, "similarity index"));
  ASSERT_EQ(patch.files.size(), 2u);
  EXPECT_EQ(patch.files[0].path(), "f");
  EXPECT_EQ(patch.files[1].path(), "h");
}

TEST(LenientMode, SkipsTheHunksOfADroppedFileWithoutFurtherWarnings) {
  // The header problem is the one warning: the dropped file's own hunk is not
  // "a hunk header outside of a file diff".
  const PatchSet patch = parse_lenient(
      "diff --git a/x b/x\n"
      "new file mode 100644\n"
      "--- a/x\n"
      "+++ /dev/null\n"
      "@@ -1 +0,0 @@\n"
      "-x\n"
      "diff --git a/a.txt b/a.txt\n"
      "index 9c2a709..99be23b 100644\n"
      "--- a/a.txt\n"
      "+++ b/a.txt\n"
      "@@ -1 +1 @@\n"
      "-a\n"
      "+b\n");
  ASSERT_EQ(patch.files.size(), 1u);
  EXPECT_EQ(patch.files[0].path(), "a.txt");
  ASSERT_FALSE(patch.warnings.empty());
  EXPECT_EQ(patch.warnings[0].input_lineno, 1u);
  EXPECT_TRUE(Contains(patch.warnings[0].message, "both as created and as deleted"));
  EXPECT_EQ(patch.warnings.size(), 1u);
}

// ---- statistics only --------------------------------------------------------------------------

const std::string kTwoFiles =
    "diff --git a/one b/one\n"
    "index 1111111..2222222 100644\n"
    "--- a/one\n"
    "+++ b/one\n"
    "@@ -1,3 +1,4 @@\n"
    " a\n"
    "-b\n"
    "+B\n"
    "+C\n"
    " d\n"
    "\\ No newline at end of file\n"
    "@@ -10 +11,0 @@\n"
    "-x\n"
    "diff --git a/two b/two\n"
    "new file mode 100755\n"
    "index 0000000..4444444\n"
    "--- /dev/null\n"
    "+++ b/two\n"
    "@@ -0,0 +1,2 @@\n"
    "+y\n"
    "+z\n";

TEST(StatisticsOnly, CountsLinesWithoutKeepingHunks) {
  const PatchSet full = parse_strict(kTwoFiles);
  const PatchSet stats = parse_stats(kTwoFiles);
  EXPECT_FALSE(full.stats_only);
  EXPECT_TRUE(stats.stats_only);
  ASSERT_EQ(stats.files.size(), 2u);
  EXPECT_TRUE(stats.hunk_store.empty());
  EXPECT_TRUE(stats.line_store.empty());
  for (std::size_t i = 0; i < stats.files.size(); ++i) {
    EXPECT_TRUE(stats.files[i].hunks.empty());
    EXPECT_EQ(stats.files[i].added, full.files[i].added);
    EXPECT_EQ(stats.files[i].removed, full.files[i].removed);
    EXPECT_EQ(stats.files[i].old_path, full.files[i].old_path);
    EXPECT_EQ(stats.files[i].new_path, full.files[i].new_path);
    EXPECT_EQ(stats.files[i].status, full.files[i].status);
    EXPECT_EQ(stats.files[i].new_mode, full.files[i].new_mode);
  }
  EXPECT_EQ(stats.files[0].added, 2u);
  EXPECT_EQ(stats.files[0].removed, 2u);
  EXPECT_EQ(stats.files[1].added, 2u);
  EXPECT_EQ(stats.added, 4u);
  EXPECT_EQ(stats.removed, 2u);
  EXPECT_EQ(stats.added, full.added);
  EXPECT_EQ(stats.removed, full.removed);
}

TEST(StatisticsOnly, StillRejectsMalformedHunksInStrictMode) {
  ParseOptions options;
  options.keep_lines = false;
  EXPECT_THROW(parse(std::string("--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n-a\n+b\n"), options), ParseError);
}

}  // namespace
}  // namespace bbreview::diff

// Anchoring units: which lines can carry an inline comment, and where a
// requested range lands when it is not fully commentable.
#include <gtest/gtest.h>

#include <string>

#include "diff/anchor.hpp"
#include "diff/parser.hpp"

namespace bbreview::diff {
namespace {

// Hunk 0 (old 10-14, new 10-14):   Hunk 1 (old 30-31, new 30-32):
//   " c10"  old 10 new 10            " c30" old 30 new 30
//   "-r11"  old 11                   "+a31"        new 31
//   "-r12"  old 12                   " c31" old 31 new 32
//   "+a11"         new 11
//   "+a12"         new 12
//   " c13"  old 13 new 13
//   "-r14"  old 14
//   "+a14"         new 14
// Old-side runs of removed lines: {11, 12} and {14}.
const std::string kTwoHunks =
    "diff --git a/f b/f\n"
    "index 1111111..2222222 100644\n"
    "--- a/f\n"
    "+++ b/f\n"
    "@@ -10,5 +10,5 @@ sec\n"
    " c10\n"
    "-r11\n"
    "-r12\n"
    "+a11\n"
    "+a12\n"
    " c13\n"
    "-r14\n"
    "+a14\n"
    "@@ -30,2 +30,3 @@\n"
    " c30\n"
    "+a31\n"
    " c31\n";

class AnchorTest : public ::testing::Test {
 protected:
  const PatchSet patch_ = parse(kTwoHunks);
  const FileDiff& file_ = patch_.files.at(0);
  const Hunk* first_ = &file_.hunks[0];
  const Hunk* second_ = &file_.hunks[1];
};

using AnchorHunk = AnchorTest;
using NearestAnchor = AnchorTest;

TEST_F(AnchorHunk, FindsAddedAndContextLinesOnTheNewSide) {
  ASSERT_EQ(file_.hunks.size(), 2u);
  for (std::uint32_t line = 10; line <= 14; ++line) EXPECT_EQ(anchor_hunk(file_, Side::New, line), first_) << line;
  for (std::uint32_t line = 30; line <= 32; ++line) EXPECT_EQ(anchor_hunk(file_, Side::New, line), second_) << line;
}

TEST_F(AnchorHunk, RejectsNewSideLinesOutsideEveryHunk) {
  for (const std::uint32_t line : {0u, 1u, 9u, 15u, 29u, 33u, 1000u}) {
    EXPECT_EQ(anchor_hunk(file_, Side::New, line), nullptr) << line;
  }
}

TEST_F(AnchorHunk, FindsRemovedLinesOnTheOldSide) {
  for (const std::uint32_t line : {11u, 12u, 14u}) EXPECT_EQ(anchor_hunk(file_, Side::Old, line), first_) << line;
}

TEST_F(AnchorHunk, DoesNotAnchorAContextLineOnTheOldSide) {
  for (const std::uint32_t line : {10u, 13u, 30u, 31u}) {
    EXPECT_EQ(anchor_hunk(file_, Side::Old, line), nullptr) << line;
  }
}

TEST_F(AnchorHunk, RejectsOldSideLinesOutsideEveryHunk) {
  for (const std::uint32_t line : {0u, 9u, 15u, 32u}) EXPECT_EQ(anchor_hunk(file_, Side::Old, line), nullptr) << line;
}

TEST_F(NearestAnchor, ReturnsACommentableRangeUnchangedAndExact) {
  const auto a = nearest_anchor(file_, Side::New, 11, 13);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->side, Side::New);
  EXPECT_EQ(a->start, 11u);
  EXPECT_EQ(a->end, 13u);
  EXPECT_EQ(a->hunk, first_);
  EXPECT_TRUE(a->exact);
}

TEST_F(NearestAnchor, ReturnsASingleLineAsStartEqualToEnd) {
  const auto a = nearest_anchor(file_, Side::New, 31, 31);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->start, 31u);
  EXPECT_EQ(a->end, 31u);
  EXPECT_EQ(a->hunk, second_);
  EXPECT_TRUE(a->exact);
}

TEST_F(NearestAnchor, ClipsARangeThatRunsPastTheHunk) {
  const auto after = nearest_anchor(file_, Side::New, 12, 20);
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->start, 12u);
  EXPECT_EQ(after->end, 14u);
  EXPECT_EQ(after->hunk, first_);
  EXPECT_FALSE(after->exact);

  const auto before = nearest_anchor(file_, Side::New, 5, 11);
  ASSERT_TRUE(before.has_value());
  EXPECT_EQ(before->start, 10u);
  EXPECT_EQ(before->end, 11u);
  EXPECT_FALSE(before->exact);
}

TEST_F(NearestAnchor, PicksTheHunkWithTheLargestOverlap) {
  const auto a = nearest_anchor(file_, Side::New, 14, 31);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->start, 30u);
  EXPECT_EQ(a->end, 31u);
  EXPECT_EQ(a->hunk, second_);
  EXPECT_FALSE(a->exact);
}

TEST_F(NearestAnchor, StaysWithinOneRunOfRemovedLinesOnTheOldSide) {
  const auto a = nearest_anchor(file_, Side::Old, 11, 14);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->side, Side::Old);
  EXPECT_EQ(a->start, 11u);
  EXPECT_EQ(a->end, 12u);
  EXPECT_EQ(a->hunk, first_);
  EXPECT_FALSE(a->exact);

  const auto single = nearest_anchor(file_, Side::Old, 14, 14);
  ASSERT_TRUE(single.has_value());
  EXPECT_EQ(single->start, 14u);
  EXPECT_EQ(single->end, 14u);
  EXPECT_TRUE(single->exact);
}

TEST_F(NearestAnchor, TreatsAReversedRangeAsItsReverse) {
  const auto a = nearest_anchor(file_, Side::New, 13, 11);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->start, 11u);
  EXPECT_EQ(a->end, 13u);
  EXPECT_TRUE(a->exact);
}

TEST_F(NearestAnchor, ReturnsNothingWithoutOverlapWhenMaxDistanceIsZero) {
  EXPECT_FALSE(nearest_anchor(file_, Side::New, 20, 25).has_value());
  EXPECT_FALSE(nearest_anchor(file_, Side::Old, 13, 13).has_value());
  EXPECT_FALSE(nearest_anchor(file_, Side::Old, 30, 31).has_value());
}

TEST_F(NearestAnchor, SnapsToTheClosestLineWithinMaxDistance) {
  EXPECT_FALSE(nearest_anchor(file_, Side::New, 20, 20, 5).has_value());

  const auto back = nearest_anchor(file_, Side::New, 20, 20, 6);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->start, 14u);
  EXPECT_EQ(back->end, 14u);
  EXPECT_EQ(back->hunk, first_);
  EXPECT_FALSE(back->exact);

  const auto forward = nearest_anchor(file_, Side::New, 26, 27, 5);
  ASSERT_TRUE(forward.has_value());
  EXPECT_EQ(forward->start, 30u);
  EXPECT_EQ(forward->end, 30u);
  EXPECT_EQ(forward->hunk, second_);
  EXPECT_FALSE(forward->exact);
}

TEST_F(NearestAnchor, SnapsToALaterHunkWhenItIsCloser) {
  const auto a = nearest_anchor(file_, Side::New, 25, 25, 20);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->start, 30u);
  EXPECT_EQ(a->hunk, second_);
}

TEST_F(NearestAnchor, SnapsAnOldSideRequestToTheClosestRemovedLine) {
  const auto a = nearest_anchor(file_, Side::Old, 16, 16, 2);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->side, Side::Old);
  EXPECT_EQ(a->start, 14u);
  EXPECT_EQ(a->end, 14u);
  EXPECT_FALSE(a->exact);
  EXPECT_FALSE(nearest_anchor(file_, Side::Old, 16, 16, 1).has_value());
}

TEST_F(NearestAnchor, PrefersAnOverlapToANearerSnap) {
  const auto a = nearest_anchor(file_, Side::New, 15, 30, 10);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->start, 30u);
  EXPECT_EQ(a->end, 30u);
  EXPECT_EQ(a->hunk, second_);
  EXPECT_FALSE(a->exact);
}

TEST_F(NearestAnchor, ReturnsNothingFarFromEveryHunk) {
  EXPECT_FALSE(nearest_anchor(file_, Side::New, 100, 120).has_value());
  EXPECT_FALSE(nearest_anchor(file_, Side::New, 100, 120, 50).has_value());
  EXPECT_FALSE(nearest_anchor(file_, Side::Old, 100, 120, 50).has_value());
}

TEST(AnchorFiles, AnchorAnAddedFileOnTheNewSideOnly) {
  const PatchSet patch = parse(std::string(
      "diff --git a/n b/n\n"
      "new file mode 100644\n"
      "index 0000000..3e75765\n"
      "--- /dev/null\n"
      "+++ b/n\n"
      "@@ -0,0 +1,3 @@\n"
      "+a\n"
      "+b\n"
      "+c\n"));
  const FileDiff& f = patch.files.at(0);
  for (std::uint32_t line = 1; line <= 3; ++line) EXPECT_EQ(anchor_hunk(f, Side::New, line), &f.hunks[0]);
  EXPECT_EQ(anchor_hunk(f, Side::New, 4), nullptr);
  EXPECT_EQ(anchor_hunk(f, Side::Old, 0), nullptr);
  EXPECT_EQ(anchor_hunk(f, Side::Old, 1), nullptr);
  EXPECT_FALSE(nearest_anchor(f, Side::Old, 1, 3, 100).has_value());
}

TEST(AnchorFiles, AnchorADeletedFileOnTheOldSideAsOneRun) {
  const PatchSet patch = parse(std::string(
      "diff --git a/d b/d\n"
      "deleted file mode 100644\n"
      "index 3e75765..0000000\n"
      "--- a/d\n"
      "+++ /dev/null\n"
      "@@ -1,3 +0,0 @@\n"
      "-a\n"
      "-b\n"
      "-c\n"));
  const FileDiff& f = patch.files.at(0);
  EXPECT_EQ(anchor_hunk(f, Side::Old, 2), &f.hunks[0]);
  EXPECT_EQ(anchor_hunk(f, Side::New, 0), nullptr);
  EXPECT_EQ(anchor_hunk(f, Side::New, 1), nullptr);
  const auto a = nearest_anchor(f, Side::Old, 1, 3);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->start, 1u);
  EXPECT_EQ(a->end, 3u);
  EXPECT_TRUE(a->exact);
}

TEST(AnchorFiles, AnchorNothingOnTheEmptySideOfAUnifiedZeroHunk) {
  const PatchSet patch = parse(std::string(
      "--- a/f\n"
      "+++ b/f\n"
      "@@ -5,2 +4,0 @@\n"
      "-a\n"
      "-b\n"
      "@@ -9,0 +8,1 @@\n"
      "+c\n"));
  const FileDiff& f = patch.files.at(0);
  EXPECT_EQ(anchor_hunk(f, Side::New, 4), nullptr);
  EXPECT_EQ(anchor_hunk(f, Side::Old, 5), &f.hunks[0]);
  EXPECT_EQ(anchor_hunk(f, Side::Old, 6), &f.hunks[0]);
  EXPECT_EQ(anchor_hunk(f, Side::Old, 9), nullptr);
  EXPECT_EQ(anchor_hunk(f, Side::New, 8), &f.hunks[1]);
}

TEST(AnchorFiles, AnchorNothingInAStatisticsOnlyParse) {
  ParseOptions options;
  options.keep_lines = false;
  const PatchSet patch = parse(kTwoHunks, options);
  const FileDiff& f = patch.files.at(0);
  EXPECT_EQ(anchor_hunk(f, Side::New, 11), nullptr);
  EXPECT_EQ(anchor_hunk(f, Side::Old, 11), nullptr);
  EXPECT_FALSE(nearest_anchor(f, Side::New, 1, 100, 100).has_value());
}

TEST(AnchorFiles, AnchorNothingInABinaryFile) {
  const PatchSet patch = parse(std::string(
      "diff --git a/b.bin b/b.bin\n"
      "index 6772730..8d0cd2a 100644\n"
      "Binary files a/b.bin and b/b.bin differ\n"));
  const FileDiff& f = patch.files.at(0);
  EXPECT_EQ(anchor_hunk(f, Side::New, 1), nullptr);
  EXPECT_FALSE(nearest_anchor(f, Side::New, 1, 1, 10).has_value());
}

}  // namespace
}  // namespace bbreview::diff

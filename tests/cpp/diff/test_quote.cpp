// C-style path quoting units, checked against the forms git writes.
#include <gtest/gtest.h>

#include <string>

#include "diff/quote.hpp"

namespace bbreview::diff {
namespace {

TEST(UnquoteCPath, DecodesOctalUtf8Bytes) {
  std::size_t consumed = 0;
  const std::string quoted = "\"a/caf\\303\\251.txt\"";
  const auto path = unquote_c_path(quoted, consumed);
  ASSERT_TRUE(path.has_value());
  EXPECT_EQ(*path, "a/caf\xc3\xa9.txt");
  EXPECT_EQ(consumed, quoted.size());
}

TEST(UnquoteCPath, DecodesEveryLetterEscape) {
  std::size_t consumed = 0;
  const auto path = unquote_c_path("\"\\a\\b\\t\\n\\v\\f\\r\\\"\\\\\"", consumed);
  ASSERT_TRUE(path.has_value());
  EXPECT_EQ(*path, "\a\b\t\n\v\f\r\"\\");
  EXPECT_EQ(consumed, 20u);
}

TEST(UnquoteCPath, StopsAtTheClosingQuoteAndReportsTheBytesUsed) {
  std::size_t consumed = 0;
  const auto path = unquote_c_path("\"my file\" \"b/other\"", consumed);
  ASSERT_TRUE(path.has_value());
  EXPECT_EQ(*path, "my file");
  EXPECT_EQ(consumed, 9u);
}

TEST(UnquoteCPath, DecodesTheLargestOctalEscapeAndNul) {
  std::size_t consumed = 0;
  const auto path = unquote_c_path("\"\\377\\000x\"", consumed);
  ASSERT_TRUE(path.has_value());
  EXPECT_EQ(*path, std::string("\xff\0x", 3));
}

TEST(UnquoteCPath, AcceptsAnEmptyQuotedPath) {
  std::size_t consumed = 0;
  const auto path = unquote_c_path("\"\"", consumed);
  ASSERT_TRUE(path.has_value());
  EXPECT_EQ(*path, "");
  EXPECT_EQ(consumed, 2u);
}

TEST(UnquoteCPath, RejectsMalformedQuoting) {
  std::size_t consumed = 0;
  EXPECT_FALSE(unquote_c_path("", consumed).has_value());
  EXPECT_FALSE(unquote_c_path("plain", consumed).has_value());
  EXPECT_FALSE(unquote_c_path("\"no closing quote", consumed).has_value());
  EXPECT_FALSE(unquote_c_path("\"", consumed).has_value());
  EXPECT_FALSE(unquote_c_path("\"unknown \\q escape\"", consumed).has_value());
  EXPECT_FALSE(unquote_c_path("\"octal above 0377 \\400\"", consumed).has_value());
  EXPECT_FALSE(unquote_c_path("\"short octal \\30\"", consumed).has_value());
  EXPECT_FALSE(unquote_c_path("\"non-octal digit \\309\"", consumed).has_value());
  EXPECT_FALSE(unquote_c_path("\"trailing backslash\\", consumed).has_value());
  EXPECT_FALSE(unquote_c_path("\"escaped quote only\\\"", consumed).has_value());
}

TEST(NeedsCQuoting, LeavesOrdinaryPathsAndSpacesAlone) {
  EXPECT_FALSE(needs_c_quoting("src/main.c"));
  EXPECT_FALSE(needs_c_quoting("my file.txt"));
  EXPECT_FALSE(needs_c_quoting("weird-but-fine!#$%&'()*+,;=?@[]^_`{|}~"));
  EXPECT_FALSE(needs_c_quoting(""));
}

TEST(NeedsCQuoting, QuotesControlQuoteBackslashDelAndHighBytes) {
  EXPECT_TRUE(needs_c_quoting("tab\there"));
  EXPECT_TRUE(needs_c_quoting("new\nline"));
  EXPECT_TRUE(needs_c_quoting("qu\"ote"));
  EXPECT_TRUE(needs_c_quoting("back\\slash"));
  EXPECT_TRUE(needs_c_quoting("del\x7f"));
  EXPECT_TRUE(needs_c_quoting("caf\xc3\xa9"));
  EXPECT_TRUE(needs_c_quoting(std::string("nul\0", 4)));
}

TEST(QuoteCPath, WritesTheFormsGitWrites) {
  EXPECT_EQ(quote_c_path_if_needed("src/main.c"), "src/main.c");
  EXPECT_EQ(quote_c_path_if_needed("my file.txt"), "my file.txt");
  EXPECT_EQ(quote_c_path_if_needed("a/caf\xc3\xa9.txt"), "\"a/caf\\303\\251.txt\"");
  EXPECT_EQ(quote_c_path_if_needed("a/qu\"ote.txt"), "\"a/qu\\\"ote.txt\"");
  EXPECT_EQ(quote_c_path_if_needed("t\tb\\c"), "\"t\\tb\\\\c\"");
  EXPECT_EQ(quote_c_path_if_needed("\a\b\n\v\f\r"), "\"\\a\\b\\n\\v\\f\\r\"");
  EXPECT_EQ(quote_c_path_if_needed("\x01\x7f"), "\"\\001\\177\"");
}

TEST(QuoteCPath, RoundTripsEveryByte) {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  const std::string quoted = quote_c_path_if_needed(all);
  std::size_t consumed = 0;
  const auto back = unquote_c_path(quoted, consumed);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, all);
  EXPECT_EQ(consumed, quoted.size());
}

TEST(QuoteCPath, RoundTripsEachByteOnItsOwn) {
  for (int c = 0; c < 256; ++c) {
    const std::string path = "x" + std::string(1, static_cast<char>(c)) + "y";
    const std::string quoted = quote_c_path_if_needed(path);
    if (!needs_c_quoting(path)) {
      EXPECT_EQ(quoted, path) << c;
      continue;
    }
    std::size_t consumed = 0;
    const auto back = unquote_c_path(quoted, consumed);
    ASSERT_TRUE(back.has_value()) << c;
    EXPECT_EQ(*back, path) << c;
    EXPECT_EQ(consumed, quoted.size()) << c;
  }
}

}  // namespace
}  // namespace bbreview::diff

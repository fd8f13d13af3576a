// Text helpers: keywords, columns, entropy, redaction, fingerprints, suppression.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "rules/keywords.hpp"
#include "rules/language.hpp"
#include "rules/text.hpp"

namespace bbreview::rules {
namespace {

std::set<std::uint32_t> hits(const KeywordMatcher& m, std::string_view text) {
  std::set<std::uint32_t> out;
  m.scan(text, [&](std::uint32_t id) { out.insert(id); });
  return out;
}

TEST(KeywordMatcher, FindsEveryKeywordIgnoringAsciiCase) {
  const KeywordMatcher m({"akia", "secret", "cret", "he", "she", "hers"});
  EXPECT_EQ(hits(m, "my SECRET key"), (std::set<std::uint32_t>{1, 2}));
  EXPECT_EQ(hits(m, "ushers"), (std::set<std::uint32_t>{3, 4, 5}));
  EXPECT_EQ(hits(m, "AKIAXYZ"), (std::set<std::uint32_t>{0}));
  EXPECT_TRUE(hits(m, "nothing to see").empty());
  EXPECT_TRUE(hits(m, "").empty());
}

TEST(KeywordMatcher, DuplicateKeywordsShareAnId) {
  const KeywordMatcher m({"Token", "token", "x"});
  EXPECT_EQ(m.size(), 2U);
  EXPECT_EQ(m.id(0), m.id(1));
  EXPECT_NE(m.id(0), m.id(2));
}

TEST(KeywordMatcher, MatchesNonAsciiBytesExactly) {
  const KeywordMatcher m({"clé"});
  EXPECT_EQ(hits(m, "une clé ici").size(), 1U);
  EXPECT_TRUE(hits(m, "une cle ici").empty());
}

TEST(KeywordMatcher, RejectsEmptyKeywords) { EXPECT_THROW(KeywordMatcher({"a", ""}), std::invalid_argument); }

TEST(Text, CountsCodePointsNotBytes) {
  EXPECT_EQ(count_code_points("abc"), 3U);
  EXPECT_EQ(count_code_points("h\xC3\xA9llo"), 5U);          // héllo
  EXPECT_EQ(count_code_points("\xF0\x9F\x98\x80!"), 2U);     // emoji + !
  EXPECT_EQ(count_code_points("\xFF\xFE"), 2U);              // invalid bytes count once each
  EXPECT_EQ(code_point_length("\xC3\xA9x", 0), 2U);
}

TEST(Text, ShannonEntropyIsInBitsPerByte) {
  EXPECT_DOUBLE_EQ(shannon_entropy(""), 0.0);
  EXPECT_DOUBLE_EQ(shannon_entropy("aaaa"), 0.0);
  EXPECT_DOUBLE_EQ(shannon_entropy("abab"), 1.0);
  EXPECT_DOUBLE_EQ(shannon_entropy("abcd"), 2.0);
  EXPECT_NEAR(shannon_entropy("AKIAIOSFODNN7EXAMPLE"), 3.684, 0.001);
}

TEST(Text, RedactKeepsAtMostFourLeadingCharacters) {
  EXPECT_EQ(redact("AKIAIOSFODNN7EXAMPLE"), "AKIA****************");
  EXPECT_EQ(redact("hunter2!"), "hu******");
  EXPECT_EQ(redact("abc"), "***");
  EXPECT_EQ(redact(""), "");
  EXPECT_EQ(redact("\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"), "\xC3\xA9***");  // ééé é: one kept, per code point
}

TEST(Text, NormalisesWhitespaceRuns) {
  EXPECT_EQ(normalise_whitespace("  a \t b\r\n"), "a b");
  EXPECT_EQ(normalise_whitespace("x"), "x");
  EXPECT_EQ(normalise_whitespace(" \t "), "");
}

TEST(Fingerprint, IgnoresIndentationButNotContent) {
  const auto a = fingerprint("r", "p.py", "    print(x)  ", 1);
  EXPECT_EQ(a.size(), 32U);
  EXPECT_EQ(a, fingerprint("r", "p.py", "print(x)", 1));
  EXPECT_EQ(a, fingerprint("r", "p.py", "\tprint(x)", 1));
  EXPECT_NE(a, fingerprint("r", "p.py", "print(y)", 1));
  EXPECT_NE(a, fingerprint("s", "p.py", "print(x)", 1));
  EXPECT_NE(a, fingerprint("r", "q.py", "print(x)", 1));
  EXPECT_NE(a, fingerprint("r", "p.py", "print(x)", 2));
}

TEST(Fingerprint, IsAFixedRecipe) {
  // SHA-256("r\0p\0x")[:16]: pinned so that a change of recipe is deliberate.
  EXPECT_EQ(sha256_hex128(std::string("r\0p\0x", 5)), fingerprint("r", "p", " x ", 1));
  EXPECT_EQ(sha256_hex128("abc"), "ba7816bf8f01cfea414140de5dae2223");
}

TEST(Suppression, ParsesIdsAndBareDirectives) {
  auto s = parse_suppression("print(x)  # bbreview: ignore[no-print, other]");
  EXPECT_FALSE(s.all);
  EXPECT_EQ(s.ids, (std::vector<std::string>{"no-print", "other"}));
  EXPECT_TRUE(s.covers("other"));
  EXPECT_FALSE(s.covers("third"));

  EXPECT_TRUE(parse_suppression("x // bbreview:ignore").all);
  EXPECT_TRUE(parse_suppression("x -- bbreview: ignore.").all);
  EXPECT_TRUE(parse_suppression("/* bbreview: ignore[a b] */").covers("b"));
  EXPECT_TRUE(parse_suppression("bbreview: ignored").empty());
  EXPECT_TRUE(parse_suppression("bbreview: ignore-next").empty());
  EXPECT_TRUE(parse_suppression("bbreview: ignore[unclosed").empty());
  EXPECT_TRUE(parse_suppression("nothing here").empty());
}

TEST(Language, MapsExtensionsAndNames) {
  EXPECT_EQ(language_of("a/b/c.py"), "python");
  EXPECT_EQ(language_of("NB.IPYNB"), "notebook");
  EXPECT_EQ(language_of("src/x.tsx"), "typescript");
  EXPECT_EQ(language_of("Dockerfile"), "dockerfile");
  EXPECT_EQ(language_of("a/.bashrc"), "shell");
  EXPECT_EQ(language_of("README"), "");
  EXPECT_EQ(language_of("dir.py/file"), "");
  EXPECT_EQ(languages_of("x.h"), (std::vector<std::string_view>{"c", "cpp"}));
}

TEST(Language, CanonicalisesAliases) {
  EXPECT_EQ(canonical_language("Py"), "python");
  EXPECT_EQ(canonical_language("c++"), "cpp");
  EXPECT_EQ(canonical_language("golang"), "go");
  EXPECT_EQ(canonical_language("rust"), "rust");
  EXPECT_EQ(canonical_language("klingon"), "");
  EXPECT_EQ(example_file_name("python"), "example.py");
  EXPECT_EQ(example_file_name("dockerfile"), "example.dockerfile");
  const auto known = known_languages();
  EXPECT_TRUE(std::is_sorted(known.begin(), known.end()));
  EXPECT_NE(std::find(known.begin(), known.end(), "notebook"), known.end());
}

}  // namespace
}  // namespace bbreview::rules

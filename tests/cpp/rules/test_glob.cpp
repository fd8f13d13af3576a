// Glob translation: gitignore semantics, checked by matching real paths.
#include <gtest/gtest.h>
#include <re2/re2.h>

#include <string>

#include "rules/glob.hpp"

namespace bbreview::rules {
namespace {

bool matches(const std::string& glob, const std::string& path) {
  const GlobRegex g = translate_glob(glob);
  EXPECT_FALSE(g.never.has_value()) << glob << ": " << g.never.value_or("");
  RE2 re(g.regex);
  EXPECT_TRUE(re.ok()) << g.regex << ": " << re.error();
  return RE2::FullMatch(path, re);
}

TEST(Glob, WithoutSlashMatchesTheBasenameAtAnyDepth) {
  EXPECT_TRUE(matches("*.py", "a.py"));
  EXPECT_TRUE(matches("*.py", "src/pkg/a.py"));
  EXPECT_FALSE(matches("*.py", "a.pyc"));
  EXPECT_FALSE(matches("*.py", "a_py"));
}

TEST(Glob, WithMiddleOrLeadingSlashIsAnchoredAtTheRoot) {
  EXPECT_TRUE(matches("src/*.py", "src/a.py"));
  EXPECT_FALSE(matches("src/*.py", "lib/src/a.py"));
  EXPECT_FALSE(matches("src/*.py", "src/sub/a.py"));
  EXPECT_TRUE(matches("/setup.py", "setup.py"));
  EXPECT_FALSE(matches("/setup.py", "pkg/setup.py"));
}

TEST(Glob, DoubleStarSpansDirectories) {
  EXPECT_TRUE(matches("src/**/*.py", "src/a.py"));
  EXPECT_TRUE(matches("src/**/*.py", "src/x/y/a.py"));
  EXPECT_TRUE(matches("**/test_*.py", "test_a.py"));
  EXPECT_TRUE(matches("**/test_*.py", "a/b/test_a.py"));
  EXPECT_TRUE(matches("docs/**", "docs/a/b.md"));
  EXPECT_FALSE(matches("docs/**", "docs"));
  EXPECT_TRUE(matches("**", "anything/at/all"));
  EXPECT_TRUE(matches("a**b", "a/x/b"));
}

TEST(Glob, StarAndQuestionMarkDoNotCrossSlashes) {
  EXPECT_FALSE(matches("src/*.py", "src/a/b.py"));
  EXPECT_TRUE(matches("src/*/", "src/a/b"));
  EXPECT_TRUE(matches("src/*", "src/a/b"));  // as in .gitignore: "src/*" names directory a, and b is below it
  EXPECT_TRUE(matches("a?c.txt", "abc.txt"));
  EXPECT_FALSE(matches("a?c.txt", "a/c.txt"));
}

TEST(Glob, DirectoryNamesMatchEverythingBelow) {
  EXPECT_TRUE(matches("vendor", "vendor/lib/x.go"));
  EXPECT_TRUE(matches("vendor", "a/vendor/x.go"));
  EXPECT_TRUE(matches("build/", "build/out.o"));
  EXPECT_FALSE(matches("build/", "build"));
  EXPECT_TRUE(matches("tests/", "pkg/tests/t.py"));
}

TEST(Glob, ClassesAndEscapes) {
  EXPECT_TRUE(matches("[abc].txt", "b.txt"));
  EXPECT_FALSE(matches("[abc].txt", "d.txt"));
  EXPECT_TRUE(matches("[!abc].txt", "d.txt"));
  EXPECT_FALSE(matches("[!abc].txt", "a.txt"));
  EXPECT_TRUE(matches("[a-c]x", "bx"));
  EXPECT_TRUE(matches("[]]x", "]x"));
  EXPECT_TRUE(matches("[[:digit:]].log", "7.log"));
  EXPECT_TRUE(matches("\\*.txt", "*.txt"));
  EXPECT_FALSE(matches("\\*.txt", "a.txt"));
  EXPECT_TRUE(matches("a+b(c).txt", "a+b(c).txt"));
}

TEST(Glob, ReportsGlobsThatCanNeverMatch) {
  EXPECT_TRUE(translate_glob("").never);
  EXPECT_TRUE(translate_glob("/").never);
  EXPECT_TRUE(translate_glob("src//a.py").never);
  EXPECT_TRUE(translate_glob("./src/*.py").never);
  EXPECT_TRUE(translate_glob("src/../a.py").never);
  EXPECT_TRUE(translate_glob("[abc.txt").never);
  EXPECT_TRUE(translate_glob("abc\\").never);
  EXPECT_FALSE(translate_glob("src/a.py").never);
}

}  // namespace
}  // namespace bbreview::rules

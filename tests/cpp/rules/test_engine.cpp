// The rule engine over parsed diffs: what is reported, where, and what is not.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "diff/parser.hpp"
#include "rules/engine.hpp"

namespace bbreview::rules {
namespace {

RuleSpec rule(std::string id, std::vector<std::string> patterns) {
  RuleSpec r;
  r.id = std::move(id);
  r.message = "message";
  r.patterns = std::move(patterns);
  return r;
}

// A diff adding `lines` to a new file `path`.
std::string added_file(const std::string& path, const std::vector<std::string>& lines) {
  std::string out = "diff --git a/" + path + " b/" + path + "\nnew file mode 100644\n--- /dev/null\n+++ b/" + path +
                    "\n@@ -0,0 +1," + std::to_string(lines.size()) + " @@\n";
  for (const auto& l : lines) out += "+" + l + "\n";
  return out;
}

diff::PatchSet parse(const std::string& text) { return diff::parse(text); }

std::vector<Finding> scan(const std::vector<RuleSpec>& rules, const std::string& diff_text) {
  const RuleSet rs = RuleSet::compile(rules);
  const diff::PatchSet ps = parse(diff_text);
  return rs.scan(ps);
}

TEST(Engine, ReportsLineAndColumnsOfEachMatch) {
  const auto f = scan({rule("no-print", {R"(print\()"})}, added_file("a.py", {"x = 1", "  print(x); print(y)"}));
  ASSERT_EQ(f.size(), 2U);
  EXPECT_EQ(f[0].line, 2U);
  EXPECT_EQ(f[0].side, Side::New);
  EXPECT_EQ(f[0].column_start, 3U);
  EXPECT_EQ(f[0].column_end, 9U);  // exclusive
  EXPECT_EQ(f[0].match, "print(");
  EXPECT_EQ(f[0].snippet, "  print(x); print(y)");
  EXPECT_EQ(f[1].column_start, 13U);
}

TEST(Engine, ColumnsCountCodePoints) {
  const auto f = scan({rule("r", {"x"})}, added_file("a.txt", {"\xC3\xA9\xC3\xA9x"}));
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].column_start, 3U);
  EXPECT_EQ(f[0].column_end, 4U);
}

TEST(Engine, ScopesSelectAddedRemovedContextLinesOrThePath) {
  const std::string text =
      "diff --git a/m.py b/m.py\n--- a/m.py\n+++ b/m.py\n@@ -1,3 +1,3 @@\n keep TOKEN\n-old TOKEN\n+new TOKEN\n"
      " tail\n";
  auto added = rule("a", {"TOKEN"});
  auto removed = rule("r", {"TOKEN"});
  removed.scope = Scope::Removed;
  auto context = rule("c", {"TOKEN"});
  context.scope = Scope::Context;
  auto path = rule("p", {R"(\.py$)"});
  path.scope = Scope::Path;
  const auto f = scan({added, removed, context, path}, text);
  ASSERT_EQ(f.size(), 4U);
  EXPECT_EQ(f[0].rule, 3U);  // path findings come first
  EXPECT_EQ(f[0].side, Side::Path);
  EXPECT_EQ(f[0].line, 0U);
  EXPECT_EQ(f[1].rule, 2U);  // context line 1
  EXPECT_EQ(f[1].line, 1U);
  EXPECT_EQ(f[2].rule, 1U);  // removed: old line 2
  EXPECT_EQ(f[2].side, Side::Old);
  EXPECT_EQ(f[2].line, 2U);
  EXPECT_EQ(f[3].rule, 0U);  // added: new line 2
  EXPECT_EQ(f[3].line, 2U);
}

TEST(Engine, AnyPatternOfARuleMatchesAndOverlapsAreReportedOnce) {
  const auto f = scan({rule("r", {"abc", "bcd", "zz"})}, added_file("a", {"abcd zz"}));
  ASSERT_EQ(f.size(), 2U);
  EXPECT_EQ(f[0].match, "abc");
  EXPECT_EQ(f[1].match, "zz");
}

TEST(Engine, ExcludePatternsVetoTheLine) {
  auto r = rule("r", {"print"});
  r.exclude = {"noqa"};
  const auto f = scan({r}, added_file("a.py", {"print(1)", "print(2)  # noqa"}));
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].line, 1U);
}

TEST(Engine, PathGlobsAndLanguagesSelectFiles) {
  auto r = rule("r", {"x"});
  r.paths = {"src/**", "!src/generated/**"};
  r.languages = {"py"};
  const std::string text = added_file("src/a.py", {"x"}) + added_file("src/generated/b.py", {"x"}) +
                           added_file("lib/c.py", {"x"}) + added_file("src/d.js", {"x"});
  const auto f = scan({r}, text);
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].file, 0U);
}

TEST(Engine, OnlyNegativeGlobsIncludeEverythingElse) {
  auto r = rule("r", {"x"});
  r.paths = {"!tests/"};
  const auto f = scan({r}, added_file("a.py", {"x"}) + added_file("tests/t.py", {"x"}));
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].file, 0U);
}

TEST(Engine, PathPatternsAreRegexesOverThePath) {
  auto r = rule("r", {"x"});
  r.path_patterns = {R"(\.py$)"};
  r.path_exclude_patterns = {"^tests/"};
  const auto f = scan({r}, added_file("a.py", {"x"}) + added_file("tests/t.py", {"x"}) + added_file("b.go", {"x"}));
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].file, 0U);
}

TEST(Engine, KeywordsArePrefiltersIgnoringCase) {
  auto r = rule("tok", {R"([a-z]{3}_[0-9]{4})"});
  r.keywords = {"TOK"};
  const auto f = scan({r}, added_file("a", {"abc_1234", "tok_1234", "xyz_5678 Tok"}));
  ASSERT_EQ(f.size(), 2U);
  EXPECT_EQ(f[0].line, 2U);
  EXPECT_EQ(f[1].line, 3U);
}

TEST(Engine, EntropyThresholdAppliesToTheSecretGroup) {
  auto r = rule("key", {R"(key=(\w+))"});
  r.entropy = 3.0;
  const auto f = scan({r}, added_file("a", {"key=aaaaaaaaaaaaaaaa", "key=Zx9Qw2Er7Ty5Ui3O"}));
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].line, 2U);

  auto named = rule("key", {R"((?P<name>key)=(?P<value>\w+))"});
  named.entropy = 3.0;
  named.entropy_group = "value";
  EXPECT_EQ(scan({named}, added_file("a", {"key=aaaaaaaaaaaaaaaa", "key=Zx9Qw2Er7Ty5Ui3O"})).size(), 1U);
  named.entropy_group = "name";  // "key" has entropy log2(3) < 3
  EXPECT_TRUE(scan({named}, added_file("a", {"key=Zx9Qw2Er7Ty5Ui3O"})).empty());
}

TEST(Engine, SuggestionRewritesTheMatchIntoTheWholeLine) {
  auto r = rule("r", {R"(assertEquals\((?P<a>\w+), (\w+)\))"});
  r.suggestion = R"(assert \g<a> == \2)";
  const auto f = scan({r}, added_file("a", {"    assertEquals(x, y)  # done"}));
  ASSERT_EQ(f.size(), 1U);
  ASSERT_TRUE(f[0].suggestion);
  EXPECT_EQ(*f[0].suggestion, "    assert x == y  # done");
}

TEST(Engine, SuggestionThatChangesNothingIsOmitted) {
  auto r = rule("r", {"(x)"});
  r.suggestion = "\\1";
  const auto f = scan({r}, added_file("a", {"x"}));
  ASSERT_EQ(f.size(), 1U);
  EXPECT_FALSE(f[0].suggestion);
}

TEST(Engine, SecretsAreRedactedEverywhereAndNeverSuggested) {
  auto secret = rule("aws", {R"(AKIA[0-9A-Z]{16})"});
  secret.secret = true;
  secret.suggestion = "\\0";  // would repeat the secret
  auto other = rule("quote", {R"(".*")"});
  other.suggestion = "'\\0'";
  const auto f = scan({secret, other}, added_file("a", {R"(k = "AKIAIOSFODNN7EXAMPLE")"}));
  ASSERT_EQ(f.size(), 2U);
  EXPECT_EQ(f[0].match, "AKIA****************");
  EXPECT_EQ(f[0].snippet, R"(k = "AKIA****************")");
  EXPECT_FALSE(f[0].suggestion);
  EXPECT_EQ(f[1].snippet, R"(k = "AKIA****************")");  // another rule's snippet hides it too
  EXPECT_FALSE(f[1].suggestion);                            // its fix would contain the secret
  EXPECT_EQ(f[1].match, R"("AKIA****************")");       // nor its match, which covers the secret
}

TEST(Engine, SecretsOverTheCapOrSuppressedStayRedactedInOtherFindings) {
  auto secret = rule("tok", {R"(tok_[a-z0-9]{8})"});
  secret.secret = true;
  secret.max_per_file = 1;
  const auto f = scan({secret, rule("print", {R"(print\()"})},
                      added_file("a", {"a=tok_abcdefgh b=tok_zyxwvuts", "print(tok_qwertyui)"}));
  for (const auto& finding : f) {
    EXPECT_EQ(finding.snippet.find("tok_zyxwvuts"), std::string::npos) << finding.snippet;
    EXPECT_EQ(finding.snippet.find("tok_qwertyui"), std::string::npos) << finding.snippet;
  }
  ASSERT_EQ(f.size(), 2U);  // one tok (the cap), one print
}

TEST(Engine, ASecretOnAnExcludedLineIsStillRedactedInOtherFindings) {
  auto secret = rule("aws", {R"(AKIA[A-Z2-7]{16})"});
  secret.secret = true;
  secret.exclude = {"EXAMPLE"};
  const auto f = scan({secret, rule("print", {R"(print\()"})},
                      added_file("a", {R"(print("AKIAIOSFODNN7EXAMPLE", "AKIAQTESTFAKEKEY2345"))"}));
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].snippet, R"(print("AKIA****************", "AKIA****************"))");
}

TEST(Engine, ADirectiveTrailingCodeDoesNotSuppressTheNextLine) {
  const auto f = scan({rule("no-print", {R"(print\()"})},
                      added_file("a.py", {"print(1)  # bbreview: ignore[no-print]", "print(2)"}));
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].line, 2U);
}

TEST(Engine, MaxPerFileCapsFindingsPerRuleAndFile) {
  auto r = rule("r", {"x"});
  r.max_per_file = 2;
  const auto f = scan({r}, added_file("a", {"x x x", "x"}) + added_file("b", {"x"}));
  ASSERT_EQ(f.size(), 3U);
  EXPECT_EQ(f[2].file, 1U);
}

TEST(Engine, SuppressionOnTheLineOrTheLineAbove) {
  const std::string text = added_file(
      "a.py", {"print(1)  # bbreview: ignore[no-print]", "# bbreview: ignore[other, no-print]", "print(2)",
               "print(3)", "# bbreview: ignore", "print(4)", "# bbreview: ignore[other]", "print(5)"});
  const auto f = scan({rule("no-print", {R"(print\()"})}, text);
  ASSERT_EQ(f.size(), 2U);
  EXPECT_EQ(f[0].line, 4U);
  EXPECT_EQ(f[1].line, 8U);
}

TEST(Engine, SuppressionLooksAboveOnTheSameSideOnly) {
  // The removed comment line is not above the added line on the new side.
  const std::string text =
      "diff --git a/a b/a\n--- a/a\n+++ b/a\n@@ -1,2 +1,2 @@\n-# bbreview: ignore\n+print(1)\n-print(2)\n"
      "+print(3)\n";
  auto added = rule("add", {R"(print\()"});
  auto removed = rule("rem", {R"(print\()"});
  removed.scope = Scope::Removed;
  const auto f = scan({added, removed}, text);
  ASSERT_EQ(f.size(), 2U);  // print(2) is suppressed by the removed line above it; print(3)'s line above is print(1)
  EXPECT_EQ(f[0].rule, 0U);
  EXPECT_EQ(f[0].line, 1U);
  EXPECT_EQ(f[1].rule, 0U);
  EXPECT_EQ(f[1].line, 2U);
}

TEST(Engine, FingerprintSurvivesLineShiftsAndReindentation) {
  const auto r = rule("r", {"secret_call"});
  const auto a = scan({r}, added_file("a.py", {"secret_call()"}));
  const auto b = scan({r}, added_file("a.py", {"", "", "    secret_call()  "}));
  ASSERT_EQ(a.size(), 1U);
  ASSERT_EQ(b.size(), 1U);
  EXPECT_NE(a[0].line, b[0].line);
  EXPECT_EQ(a[0].fingerprint, b[0].fingerprint);
  const auto dup = scan({r}, added_file("a.py", {"secret_call()", "secret_call()"}));
  ASSERT_EQ(dup.size(), 2U);
  EXPECT_EQ(dup[0].fingerprint, a[0].fingerprint);
  EXPECT_NE(dup[1].fingerprint, dup[0].fingerprint);
}

TEST(Engine, EmptyMatchesAdvanceAndEndAnchorsWork) {
  const auto f = scan({rule("trailing", {R"(\s+$)"}), rule("empty", {"^$"})}, added_file("a", {"x  ", ""}));
  ASSERT_EQ(f.size(), 2U);
  EXPECT_EQ(f[0].column_start, 2U);
  EXPECT_EQ(f[0].column_end, 4U);
  EXPECT_EQ(f[1].line, 2U);
  EXPECT_EQ(f[1].column_start, f[1].column_end);
}

TEST(Engine, BinaryAndDeletedFilesStillGetPathRules) {
  auto p = rule("p", {R"(\.pem$)"});
  p.scope = Scope::Path;
  const std::string text =
      "diff --git a/k.pem b/k.pem\nnew file mode 100644\nindex 0000000..1111111\nBinary files /dev/null and b/k.pem differ\n";
  const auto f = scan({p, rule("line", {"."})}, text);
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].rule, 0U);
}

TEST(Engine, ScanManyMatchesScanOnEveryThreadCount) {
  auto r = rule("r", {R"(\d+)"});
  r.keywords = {"n"};
  const RuleSet rs = RuleSet::compile({r, rule("s", {"[a-z]+"})});
  std::vector<diff::PatchSet> sets;
  for (int i = 0; i < 20; ++i) sets.push_back(parse(added_file("f" + std::to_string(i), {"n" + std::to_string(i), "zz"})));
  std::vector<const diff::PatchSet*> ptrs;
  for (const auto& s : sets) ptrs.push_back(&s);
  for (unsigned threads : {0U, 1U, 3U, 64U}) {
    const auto many = rs.scan_many(ptrs, threads);
    ASSERT_EQ(many.size(), sets.size());
    for (std::size_t i = 0; i < sets.size(); ++i) {
      const auto one = rs.scan(sets[i]);
      ASSERT_EQ(many[i].size(), one.size());
      for (std::size_t k = 0; k < one.size(); ++k) EXPECT_EQ(many[i][k].fingerprint, one[k].fingerprint);
    }
  }
  EXPECT_TRUE(rs.scan_many({}, 4).empty());
}

TEST(Engine, TinyMemoryBudgetStillFindsEveryMatch) {
  // [ab]*a[ab]{n} needs ~2^n DFA states: with a 1 MiB budget the set's DFA
  // cache fills and resets many times on long random input. The answer must
  // not change (if RE2 gives up, the per-rule regexes decide: dfa_fallbacks).
  std::vector<RuleSpec> rules;
  for (int i = 0; i < 8; ++i) rules.push_back(rule("r" + std::to_string(i), {"[ab]*a[ab]{" + std::to_string(10 + i) + "}c" + std::to_string(i)}));
  CompileOptions small;
  small.max_mem = 1 << 20;
  const RuleSet rs = RuleSet::compile(rules, small);
  std::string line;
  std::uint32_t state = 12345;
  for (int i = 0; i < 20000; ++i) {
    state = state * 1103515245U + 12345U;
    line += (state >> 16) & 1 ? 'a' : 'b';
  }
  line += "abbbbbbbbbbbbbc3";  // a, then 13 of [ab], then c3: only r3 matches
  const auto f = rs.scan(parse(added_file("a", {line})));
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].rule, 3U);
}

TEST(Engine, HeavyPatternsRunAloneAndStillReportEverything) {
  // ^.{40} and [\w]*?(?:...) have large programs and no literal prefix, so
  // they are tried outside the set; ghp_ has a prefix and stays in it.
  auto long_line = rule("long", {"^.{40}"});
  auto generic = rule("generic", {R"((?i)[\w.\-]*?(?:secret|token)[\w.\-]{0,20}\s*=\s*['"]([A-Za-z0-9]{8,64})['"])"});
  auto github = rule("github", {R"(\bghp_[A-Za-z0-9]{36}\b)"});
  const std::string token = "ghp_" + std::string(36, 'a');
  const auto f = scan({long_line, generic, github},
                      added_file("a", {"short", "x = 'this line is long enough to be reported'", "my_token = 'abcd1234efgh'",
                                       token}));
  ASSERT_EQ(f.size(), 4U);
  EXPECT_EQ(f[0].rule, 0U);  // line 2 has 45 characters
  EXPECT_EQ(f[0].line, 2U);
  EXPECT_EQ(f[1].rule, 1U);
  EXPECT_EQ(f[1].line, 3U);
  EXPECT_EQ(f[1].match, "my_token = 'abcd1234efgh'");
  EXPECT_EQ(f[2].rule, 0U);  // line 4: 40 characters, then the token
  EXPECT_EQ(f[2].line, 4U);
  EXPECT_EQ(f[3].rule, 2U);
}

TEST(Compile, RejectsInvalidRegexesWithRe2sMessage) {
  try {
    RuleSet::compile({rule("ok", {"x"}), rule("bad", {"y", "print("})});
    FAIL() << "expected RuleCompileError";
  } catch (const RuleCompileError& e) {
    EXPECT_EQ(e.rule(), 1U);
    EXPECT_EQ(e.field(), "patterns");
    EXPECT_EQ(e.item(), 1U);
    EXPECT_EQ(e.value(), "print(");
    EXPECT_EQ(e.reason(), "missing ): print(");
  }
}

TEST(Compile, RejectsBadRulesBeforeScanning) {
  auto no_patterns = rule("a", {});
  EXPECT_THROW(RuleSet::compile({no_patterns}), RuleCompileError);
  EXPECT_THROW(RuleSet::compile({rule("", {"x"})}), RuleCompileError);
  EXPECT_THROW(RuleSet::compile({rule("a", {"x"}), rule("a", {"y"})}), RuleCompileError);
  auto lang = rule("a", {"x"});
  lang.languages = {"klingon"};
  EXPECT_THROW(RuleSet::compile({lang}), RuleCompileError);
  auto group = rule("a", {"(x)"});
  group.suggestion = "\\2";
  EXPECT_THROW(RuleSet::compile({group}), RuleCompileError);
  group.suggestion = "\\q";
  EXPECT_THROW(RuleSet::compile({group}), RuleCompileError);
  auto entropy = rule("a", {"(x)"});
  entropy.entropy = -1;
  EXPECT_THROW(RuleSet::compile({entropy}), RuleCompileError);
  auto exclude = rule("a", {"x"});
  exclude.exclude = {"(?<=x)"};
  EXPECT_THROW(RuleSet::compile({exclude}), RuleCompileError);
}

TEST(Compile, WarnsAboutGlobsThatCanNeverMatch) {
  auto r = rule("r", {"x"});
  r.paths = {"src//a", "*.js", "*.py"};
  r.languages = {"python"};
  const RuleSet rs = RuleSet::compile({r});
  ASSERT_EQ(rs.warnings().size(), 2U);
  EXPECT_EQ(rs.warnings()[0].item, 0U);
  EXPECT_EQ(rs.warnings()[1].item, 1U);
  EXPECT_NE(rs.warnings()[1].message.find("javascript"), std::string::npos);
  auto all_out = rule("r", {"x"});
  all_out.paths = {"!**"};
  EXPECT_EQ(RuleSet::compile({all_out}).warnings().size(), 1U);
}

}  // namespace
}  // namespace bbreview::rules

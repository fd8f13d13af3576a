#include "webhook/event.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using namespace bbreview::webhook;

// Reference §7.4, the comment_created sample.
constexpr const char* kCommentCreated = R"({
 "actor": {"type":"user","uuid":"{a54f16da-24e9-4d7f-a3a7-b1ba2cd98aa3}","account_id":"557058:c0b72ad0","nickname":"emma"},
 "repository": {"type":"repository","uuid":"{673a6070}","full_name":"ws/repo","name":"repo"},
 "pullrequest": {"type":"pullrequest","id":1,"title":"t","state":"OPEN",
                 "source":{"branch":{"name":"f"},"commit":{"hash":"d3022fc0ca3d"}},
                 "destination":{"branch":{"name":"main"},"commit":{"hash":"ce5965ddd289"}}},
 "comment": {"type":"pullrequest_comment","id":17,"parent":{"id":16},"content":{"raw":"Comment text"}}
})";

constexpr const char* kPush = R"({"actor":{"uuid":"{u}"},"repository":{"full_name":"ws/repo"},
 "push":{"changes":[{"new":{"type":"branch","name":"main","target":{"hash":"abc"}}}]}})";

TEST(EventDecoder, ExtractsTheFieldsOfAPullRequestComment) {
    auto d = decode("pullrequest:comment_created", kCommentCreated);
    ASSERT_TRUE(d.ok()) << d.error;
    EXPECT_EQ(d.event.event_key, "pullrequest:comment_created");
    EXPECT_EQ(d.event.repository, "ws/repo");
    EXPECT_EQ(d.event.pr_id, 1);
    EXPECT_EQ(d.event.source_commit, "d3022fc0ca3d");
    EXPECT_EQ(d.event.comment_id, 17);
    EXPECT_EQ(d.event.actor_uuid, "{a54f16da-24e9-4d7f-a3a7-b1ba2cd98aa3}");
    EXPECT_EQ(d.event.actor_account_id, "557058:c0b72ad0");
    EXPECT_TRUE(d.event.is_pull_request());
    EXPECT_TRUE(d.event.is_comment());
}

TEST(EventDecoder, LeavesAbsentFieldsEmpty) {
    auto d = decode("repo:push", kPush);
    ASSERT_TRUE(d.ok()) << d.error;
    EXPECT_EQ(d.event.repository, "ws/repo");
    EXPECT_FALSE(d.event.pr_id);
    EXPECT_FALSE(d.event.comment_id);
    EXPECT_FALSE(d.event.actor_account_id);
    EXPECT_FALSE(d.event.is_pull_request());
}

TEST(EventDecoder, TreatsNullLikeAbsent) {
    auto d = decode("pullrequest:created", R"({"pullrequest":null,"repository":{"full_name":null}})");
    ASSERT_TRUE(d.ok()) << d.error;
    EXPECT_FALSE(d.event.pr_id);
    EXPECT_FALSE(d.event.repository);
}

TEST(EventDecoder, ReportsInvalidJsonWithItsOffsetAndWithoutQuotingTheBody) {
    auto d = decode("pullrequest:created", R"({"secret-ish": tru)");
    ASSERT_FALSE(d.ok());
    EXPECT_NE(d.error.find("not valid JSON"), std::string::npos) << d.error;
    EXPECT_NE(d.error.find("byte"), std::string::npos) << d.error;
    EXPECT_EQ(d.error.find("secret-ish"), std::string::npos) << d.error;
}

TEST(EventDecoder, RejectsATopLevelThatIsNotAnObject) {
    auto d = decode("repo:push", "[1,2]");
    ASSERT_FALSE(d.ok());
    EXPECT_NE(d.error.find("an array, expected a JSON object"), std::string::npos) << d.error;
    EXPECT_FALSE(decode("repo:push", "").ok());
}

TEST(EventDecoder, NamesTheFieldWithTheWrongType) {
    auto d = decode("pullrequest:created", R"({"pullrequest":{"id":"7"}})");
    ASSERT_FALSE(d.ok());
    EXPECT_NE(d.error.find("pullrequest.id is a string, expected an integer"), std::string::npos) << d.error;
    auto e = decode("pullrequest:created", R"({"repository":"ws/repo"})");
    ASSERT_FALSE(e.ok());
    EXPECT_NE(e.error.find("repository is a string, expected an object"), std::string::npos) << e.error;
    EXPECT_FALSE(decode("pullrequest:created", R"({"pullrequest":{"id":1.5}})").ok());
    EXPECT_FALSE(decode("pullrequest:created", R"({"pullrequest":{"id":18446744073709551615}})").ok());
}

TEST(EventDecoder, IgnoresSameNamedFieldsInNestedObjectsAndArrays) {
    std::string body = R"({"pullrequest":{"reviewers":[{"id":"not-this"}],"participants":[[{"id":9}]],
        "source":{"repository":{"full_name":"fork/repo"},"commit":{"hash":"abc","id":"x"}},"id":5,
        "destination":{"commit":{"hash":"zzz"}}},
        "repository":{"full_name":"ws/repo","owner":{"uuid":"{o}"}},"links":{"actor":{"uuid":5}}})";
    auto d = decode("pullrequest:updated", body);
    ASSERT_TRUE(d.ok()) << d.error;
    EXPECT_EQ(d.event.pr_id, 5);
    EXPECT_EQ(d.event.repository, "ws/repo");
    EXPECT_EQ(d.event.source_commit, "abc");
    EXPECT_FALSE(d.event.actor_uuid);
}

TEST(EventDecoder, ReportsASyntaxErrorEvenAfterAWrongType) {
    auto d = decode("pullrequest:created", R"({"pullrequest":{"id":"7"}, oops})");
    ASSERT_FALSE(d.ok());
    EXPECT_NE(d.error.find("not valid JSON"), std::string::npos) << d.error;
    EXPECT_FALSE(d.event.pr_id);
}

TEST(EventDecoder, RejectsInvalidEventKeys) {
    EXPECT_FALSE(decode("", "{}").ok());
    EXPECT_FALSE(decode("push", "{}").ok());
    EXPECT_FALSE(decode("repo:push\r\nX-Evil: 1", "{}").ok());
    EXPECT_FALSE(decode(std::string(200, 'a') + ":b", "{}").ok());
    EXPECT_TRUE(decode("pullrequest:some_future_event", "{}").ok());
}

TEST(DedupKey, CombinesEventRepositoryPullRequestAndSourceCommit) {
    auto d = decode("pullrequest:updated", kCommentCreated);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(dedup_key(d.event, kCommentCreated), "pullrequest:updated|ws/repo|1|d3022fc0ca3d");
}

TEST(DedupKey, AddsTheCommentIdForCommentEvents) {
    auto d = decode("pullrequest:comment_created", kCommentCreated);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(dedup_key(d.event, kCommentCreated), "pullrequest:comment_created|ws/repo|1|d3022fc0ca3d|17");
}

TEST(DedupKey, IsTheSameForARetryWithADifferentlyFormattedBody) {
    // Two hooks on one repository send the same event; whitespace may differ.
    std::string compact = R"({"repository":{"full_name":"ws/repo"},"pullrequest":{"id":1,"source":{"commit":{"hash":"d3022fc0ca3d"}}}})";
    auto a = decode("pullrequest:created", kCommentCreated);
    auto b = decode("pullrequest:created", compact);
    EXPECT_EQ(dedup_key(a.event, kCommentCreated), dedup_key(b.event, compact));
}

TEST(DedupKey, DiffersForANewSourceCommit) {
    std::string c1 = R"({"repository":{"full_name":"ws/repo"},"pullrequest":{"id":1,"source":{"commit":{"hash":"aaa"}}}})";
    std::string c2 = R"({"repository":{"full_name":"ws/repo"},"pullrequest":{"id":1,"source":{"commit":{"hash":"bbb"}}}})";
    EXPECT_NE(dedup_key(decode("pullrequest:updated", c1).event, c1), dedup_key(decode("pullrequest:updated", c2).event, c2));
}

TEST(DedupKey, HashesTheBodyOfNonPullRequestEvents) {
    auto d = decode("repo:push", kPush);
    EXPECT_EQ(dedup_key(d.event, kPush), "repo:push|sha256:" + sha256_hex(kPush));
    std::string other = std::string(kPush) + " ";
    EXPECT_NE(dedup_key(d.event, kPush), dedup_key(decode("repo:push", other).event, other));
}

TEST(DedupKey, FallsBackToTheBodyHashWhenAPullRequestFieldIsMissing) {
    std::string no_commit = R"({"repository":{"full_name":"ws/repo"},"pullrequest":{"id":1}})";
    auto d = decode("pullrequest:created", no_commit);
    EXPECT_EQ(dedup_key(d.event, no_commit), "pullrequest:created|sha256:" + sha256_hex(no_commit));
}

TEST(Sha256, MatchesTheKnownDigestOfTheEmptyString) {
    EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

}  // namespace

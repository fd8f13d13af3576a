#include "webhook/event.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

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

// decode() has its own scanner; nlohmann::json is the oracle for which bodies
// are JSON. A body is "syntactically valid" for decode() unless the error says
// it is not valid JSON (a top level that is not an object is another error).
bool scanner_accepts(const std::string& body) {
    return decode("pullrequest:comment_created", body).error.find("not valid JSON") == std::string::npos;
}

void expect_same_verdict_as_nlohmann(const std::string& body) {
    bool oracle = nlohmann::json::accept(body);
    EXPECT_EQ(scanner_accepts(body), oracle) << "body (" << body.size() << " bytes): " << body;
    if (!oracle) return;
    // On a valid object, the fields must be nlohmann's (last duplicate wins).
    auto d = decode("pullrequest:comment_created", body);
    auto doc = nlohmann::json::parse(body);
    if (!d.ok() || !doc.is_object()) return;
    auto at = [&doc](std::initializer_list<const char*> path) -> const nlohmann::json* {
        const nlohmann::json* j = &doc;
        for (const char* k : path) {
            if (!j->is_object() || !j->contains(k)) return nullptr;
            j = &(*j)[k];
        }
        return j->is_null() ? nullptr : j;
    };
    auto str = [&](std::initializer_list<const char*> path) -> std::optional<std::string> {
        auto j = at(path);
        return j ? std::optional<std::string>(j->get<std::string>()) : std::nullopt;
    };
    auto num = [&](std::initializer_list<const char*> path) -> std::optional<std::int64_t> {
        auto j = at(path);
        return j ? std::optional<std::int64_t>(j->get<std::int64_t>()) : std::nullopt;
    };
    EXPECT_EQ(d.event.repository, str({"repository", "full_name"})) << body;
    EXPECT_EQ(d.event.pr_id, num({"pullrequest", "id"})) << body;
    EXPECT_EQ(d.event.source_commit, str({"pullrequest", "source", "commit", "hash"})) << body;
    EXPECT_EQ(d.event.comment_id, num({"comment", "id"})) << body;
    EXPECT_EQ(d.event.actor_uuid, str({"actor", "uuid"})) << body;
    EXPECT_EQ(d.event.actor_account_id, str({"actor", "account_id"})) << body;
    // pullrequest:updated also keeps the text of each kUpdatedFields scalar,
    // which must read back as nlohmann's value, and never adds an error.
    auto u = decode("pullrequest:updated", body);
    EXPECT_EQ(u.ok(), d.ok()) << u.error << " / " << d.error << ": " << body;
    for (std::size_t i = 0; i < kUpdatedFields.size(); ++i) {
        std::vector<std::string> parts;
        std::string name(kUpdatedFields[i]);
        for (std::size_t from = 0, dot = 0; dot != std::string::npos; from = dot + 1) {
            dot = name.find('.', from);
            parts.push_back(name.substr(from, dot == std::string::npos ? std::string::npos : dot - from));
        }
        const nlohmann::json* j = &doc;
        for (const auto& k : parts) j = j && j->is_object() && j->contains(k) ? &(*j)[k] : nullptr;
        bool scalar = j && !j->is_null() && !j->is_object() && !j->is_array();
        const auto& kept = u.event.updated_fields[i];
        ASSERT_EQ(kept.has_value(), scalar) << name << ": " << body;
        if (scalar) {
            EXPECT_EQ(nlohmann::json::parse(*kept), *j) << name << ": " << body;
        }
    }
}

TEST(EventScanner, AcceptsExactlyTheBodiesNlohmannAccepts) {
    const std::vector<std::string> cases = {
        "", " ", "{}", " {} ", "\xEF\xBB\xBF{}", "\xEF\xBB{}", "{} x", "{},", "{}{}", "[1,]", "[,1]", R"({"a":1,})",
        R"({"a" 1})", R"({"a":})", R"({a:1})", R"({"a":1 "b":2})", "[[[[]]]]", "[[[[]]]", "[]]", "{]", "[}", "01", "-0",
        "-", "1.", ".5", "1e", "1e+", "1E5", "-1.5e-3", "+1", "0x10", "1e400", "-1e400", "1e-400", "0.0000e999",
        "0e999", "123456789012345678901234567890", std::string(400, '9'), "-" + std::string(400, '9'),
        "18446744073709551615", "18446744073709551616", "-9223372036854775808", "-9223372036854775809",
        "true", "tru", "truex", "nul", "null", "false", "NaN", "Infinity",
        R"("\u12")", R"("\u12g4")", R"("\uD800")", R"("\uD800\uDC00")", R"("\uDBFF\uDFFF")", R"("\uDC00")",
        R"("\uD800\u0041")", R"("\uD800x")", R"("\x")", R"("\/")", "\"\t\"", "\"\x7f\"", "\"\xC0\x80\"",
        "\"\xC2\x80\"", "\"\xED\xA0\x80\"", "\"\xED\x9F\xBF\"", "\"\xF4\x90\x80\x80\"", "\"\xF4\x8F\xBF\xBF\"",
        "\"\xE2\x82\xAC\"", "\"\xE2\x82\"", "\"\xF5\x80\x80\x80\"", "\"\xFF\"", "\"\x80\"", "\"abc", "\"",
        "/*c*/{}", "{}//c", std::string("{}\0", 3), std::string("{}\0junk", 7), std::string("1\0", 2), std::string("[\0]", 3), "{}\n\r\t ", "{}\f", std::string(10000, '[') + std::string(10000, ']'),
        R"({"pullrequest":{"i\u0064":5,"source":{"commit":{"hash":"a\u00e9\n\"b"}}}})",
        R"({"pullrequest":{"id":1,"id":2},"repository":{"full_name":"a","full_name":"b"}})",
        R"({"actor":{"uuid":"\uD83D\uDE00"}})",
    };
    for (const auto& c : cases) expect_same_verdict_as_nlohmann(c);
}

TEST(EventScanner, AgreesWithNlohmannOnEveryOneByteCorruptionOfAPayload) {
    const std::string base = kCommentCreated;
    const std::string replacements = std::string("{}[]\":,0-.e\\ atn\x01\x80\xFF");
    for (std::size_t i = 0; i < base.size(); ++i) {
        std::string cut = base;
        cut.erase(i, 1);
        expect_same_verdict_as_nlohmann(cut);
        expect_same_verdict_as_nlohmann(base.substr(0, i));
        for (char r : replacements) {
            std::string changed = base;
            changed[i] = r;
            expect_same_verdict_as_nlohmann(changed);
        }
    }
}

TEST(EventScanner, SurvivesDeepNestingWithoutRecursion) {
    std::string deep = "{\"a\":" + std::string(200'000, '[') + std::string(200'000, ']') + "}";
    EXPECT_TRUE(decode("repo:push", deep).ok());
    EXPECT_FALSE(decode("repo:push", "{\"a\":" + std::string(200'000, '[') + "}").ok());
}

TEST(DedupKey, CombinesEventRepositoryPullRequestAndSourceCommit) {
    auto d = decode("pullrequest:created", kCommentCreated);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(dedup_key(d.event, kCommentCreated), "pullrequest:created|ws/repo|1|d3022fc0ca3d");
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

// A pullrequest:updated payload (reference §7.4) on commit d3022fc0ca3d.
std::string updated(const std::string& title = "Greeting", bool draft = true, const std::string& updated_on = "t1",
                    const std::string& description = "first", const std::string& destination = "main",
                    const std::string& state = "OPEN", const std::string& destination_commit = "ce5965ddd289") {
    nlohmann::json body = {
        {"actor", {{"uuid", "{a}"}}},
        {"repository", {{"full_name", "ws/repo"}}},
        {"pullrequest",
         {{"id", 1},
          {"title", title},
          {"description", description},
          {"draft", draft},
          {"state", state},
          {"updated_on", updated_on},
          {"source", {{"branch", {{"name", "f"}}}, {"commit", {{"hash", "d3022fc0ca3d"}}}}},
          {"destination", {{"branch", {{"name", destination}}}, {"commit", {{"hash", destination_commit}}}}}}},
    };
    return body.dump();
}

std::string updated_key(const std::string& body) {
    auto d = decode("pullrequest:updated", body);
    EXPECT_TRUE(d.ok()) << d.error;
    return dedup_key(d.event, body);
}

TEST(DedupKey, TellsApartUpdatesOfAPullRequestOnTheSameCommit) {
    // The audit's scenario: a draft, then a title edit, then marked ready, on one commit.
    std::string draft = updated("Greeting", true, "t1");
    std::string edited = updated("Greeting v2", true, "t2");
    std::string ready = updated("Greeting v2", false, "t3");
    EXPECT_NE(updated_key(draft), updated_key(edited));
    EXPECT_NE(updated_key(edited), updated_key(ready));
    EXPECT_NE(updated_key(draft), updated_key(ready));
    EXPECT_TRUE(updated_key(ready).starts_with("pullrequest:updated|ws/repo|1|d3022fc0ca3d|fields:"))
        << updated_key(ready);
}

TEST(DedupKey, DigestsEveryFieldAnUpdateCanChange) {
    const std::string base = updated_key(updated());
    EXPECT_NE(updated_key(updated("Other title")), base);
    EXPECT_NE(updated_key(updated("Greeting", false)), base);
    EXPECT_NE(updated_key(updated("Greeting", true, "t9")), base);
    EXPECT_NE(updated_key(updated("Greeting", true, "t1", "second")), base);
    EXPECT_NE(updated_key(updated("Greeting", true, "t1", "first", "release")), base);
    EXPECT_NE(updated_key(updated("Greeting", true, "t1", "first", "main", "DECLINED")), base);
    EXPECT_NE(updated_key(updated("Greeting", true, "t1", "first", "main", "OPEN", "0123456789ab")), base);
    // An absent field differs from an empty one.
    std::string no_description = R"({"repository":{"full_name":"ws/repo"},"pullrequest":{"id":1,)"
                                 R"("source":{"commit":{"hash":"d3022fc0ca3d"}}}})";
    std::string empty_description = R"({"repository":{"full_name":"ws/repo"},"pullrequest":{"id":1,"description":"",)"
                                    R"("source":{"commit":{"hash":"d3022fc0ca3d"}}}})";
    EXPECT_NE(updated_key(no_description), updated_key(empty_description));
}

TEST(DedupKey, IsTheSameForTheSameUpdateFromAnotherHookWhateverTheFormatting) {
    std::string a = updated("Greeting v2", false, "t3");
    auto doc = nlohmann::json::parse(a);
    std::string pretty = doc.dump(2);
    // Another key order and spacing, same values.
    std::string reordered =
        R"({ "pullrequest": { "updated_on": "t3", "state": "OPEN", "draft": false,
             "destination": { "commit": { "hash": "ce5965ddd289" }, "branch": { "name": "main" } },
             "source": { "commit": { "hash": "d3022fc0ca3d" } },
             "description": "first", "title": "Greeting v2", "id": 1 },
           "repository": { "full_name": "ws/repo" } })";
    EXPECT_EQ(updated_key(a), updated_key(pretty));
    EXPECT_EQ(updated_key(a), updated_key(reordered));
}

TEST(DedupKey, KeepsTheKeysOfOtherPullRequestEventsFreeOfTheUpdatedFields) {
    std::string a = updated("Greeting", true), b = updated("Other", false, "t2");
    auto key = [](const std::string& body) { return dedup_key(decode("pullrequest:created", body).event, body); };
    EXPECT_EQ(key(a), "pullrequest:created|ws/repo|1|d3022fc0ca3d");
    EXPECT_EQ(key(a), key(b));
    auto d = decode("pullrequest:created", a);
    for (const auto& f : d.event.updated_fields) EXPECT_FALSE(f);
}

TEST(EventDecoder, NeverRefusesAnUpdateForTheTypeOfAFieldItOnlyDigests) {
    std::string odd = R"({"repository":{"full_name":"ws/repo"},"pullrequest":{"id":1,"title":{"t":1},)"
                      R"("draft":"yes","destination":"main","description":null}})";
    auto d = decode("pullrequest:updated", odd);
    ASSERT_TRUE(d.ok()) << d.error;
    EXPECT_FALSE(d.event.updated_fields[0]);  // title: an object
    EXPECT_EQ(d.event.updated_fields[2], "\"yes\"");
    EXPECT_FALSE(d.event.updated_fields[1]);  // description: null
    EXPECT_FALSE(d.event.updated_fields[4]);  // destination: a string
}

TEST(RoutingFields, NameWhatAPullRequestEventLacks) {
    auto missing = [](const std::string& key, const std::string& body) {
        auto d = decode(key, body);
        EXPECT_TRUE(d.ok()) << d.error;
        return missing_routing_field(d.event);
    };
    EXPECT_EQ(missing("pullrequest:created", "{}"), "the pullrequest:created payload has no repository.full_name");
    EXPECT_EQ(missing("pullrequest:updated", R"({"repository":{"full_name":"ws/repo"},"pullrequest":{}})"),
              "the pullrequest:updated payload has no pullrequest.id");
    EXPECT_EQ(missing("pullrequest:comment_created", R"({"repository":{"full_name":"repo"},"pullrequest":{"id":1}})"),
              "the pullrequest:comment_created payload has a repository.full_name that is not of the form "
              "workspace/slug");
    EXPECT_EQ(missing("pullrequest:fulfilled", R"({"repository":{"full_name":"ws/repo"},"pullrequest":{"id":1}})"), "");
}

TEST(RoutingFields, AreNotRequiredOfOtherEventsNorOfPullRequestPush) {
    EXPECT_EQ(missing_routing_field(decode("repo:push", kPush).event), "");
    EXPECT_EQ(missing_routing_field(decode("issue:created", "{}").event), "");
    // Its payload shape is undocumented (reference §7.4).
    EXPECT_EQ(missing_routing_field(decode("pullrequest:push", "{}").event), "");
}

TEST(Sha256, MatchesTheKnownDigestOfTheEmptyString) {
    EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

}  // namespace

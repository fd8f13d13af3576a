#include "webhook/intake.hpp"

#include <gtest/gtest.h>

#include <future>
#include <string>

#include "fixture.hpp"
#include "webhook/signature.hpp"

namespace {

using namespace bbreview;
using namespace bbreview::webhook;
using namespace std::chrono_literals;
using fixture::TempDb;
using http::ServerRequest;
using http::ServerResponse;

constexpr const char* kBody =
    R"({"actor":{"uuid":"{a}","account_id":"557058:x"},"repository":{"full_name":"ws/repo"},)"
    R"("pullrequest":{"id":3,"source":{"commit":{"hash":"abc123"}}}})";
constexpr const char* kSecret = "s3cr3t-value";

ServerRequest delivery(const std::string& body = kBody, const std::string& uuid = "{req-1}") {
    ServerRequest r;
    r.method = "POST";
    r.target = "/bitbucketHandler";
    r.headers = {{"Content-Type", "application/json"},
                 {"X-Event-Key", "pullrequest:created"},
                 {"X-Hook-UUID", "hook-1"},
                 {"X-Request-UUID", uuid},
                 {"X-Attempt-Number", "2"}};
    r.body = body;
    return r;
}

ServerRequest signed_delivery(const std::string& secret, const std::string& body = kBody,
                              const std::string& uuid = "{req-1}") {
    auto r = delivery(body, uuid);
    r.headers.emplace_back("X-Hub-Signature", sign(secret, body));
    return r;
}

ServerResponse call(Intake& intake, ServerRequest req) {
    std::promise<ServerResponse> p;
    intake.handle(std::move(req), [&p](ServerResponse r) { p.set_value(std::move(r)); });
    return p.get_future().get();
}

IntakeOptions options(const TempDb& db) {
    IntakeOptions o;
    o.db_path = db.path();
    return o;
}

TEST(Intake, QueuesAnUnsignedDeliveryWhenNoSecretIsConfigured) {
    TempDb db;
    Intake intake(options(db));
    auto r = call(intake, delivery());
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, R"({"status":"queued","seq":1})");
    EXPECT_EQ(db.count("hook_uuid = 'hook-1' AND request_uuid = '{req-1}' AND attempt = 2 AND repository = 'ws/repo'"
                       " AND pr_id = 3 AND dedup_key = 'pullrequest:created|ws/repo|3|abc123'"),
              1);
}

TEST(Intake, RefusesAnUnsignedDeliveryWhenSignaturesAreRequired) {
    TempDb db;
    auto o = options(db);
    o.require_signature = true;
    Intake intake(o);
    EXPECT_EQ(call(intake, delivery()).status, 401);
    EXPECT_EQ(db.count(), 0);
}

TEST(Intake, RefusesMissingOrForgedSignaturesWhenASecretIsSet) {
    TempDb db;
    Intake intake(options(db));
    intake.set_default_secret(kSecret);
    EXPECT_EQ(call(intake, delivery()).status, 401);
    EXPECT_EQ(call(intake, signed_delivery("wrong")).status, 401);
    EXPECT_EQ(db.count(), 0);
    EXPECT_EQ(call(intake, signed_delivery(kSecret)).status, 200);
    EXPECT_EQ(db.count(), 1);
    EXPECT_EQ(intake.stats().rejected_signature, 2u);
}

TEST(Intake, PrefersTheHookSecretAndMatchesUuidsWithoutBracesOrCase) {
    TempDb db;
    Intake intake(options(db));
    intake.set_default_secret("default");
    intake.set_hook_secret("{HOOK-1}", kSecret);
    EXPECT_EQ(call(intake, signed_delivery("default")).status, 401);
    EXPECT_EQ(call(intake, signed_delivery(kSecret)).status, 200);
    EXPECT_TRUE(intake.remove_hook_secret("hook-1"));
    EXPECT_FALSE(intake.remove_hook_secret("hook-1"));
    EXPECT_EQ(call(intake, signed_delivery("default", kBody, "{req-2}")).status, 200);  // back to the default
}

TEST(Intake, RefusesADeliveryForAnUnknownHookWhenOnlyOtherHooksHaveSecrets) {
    TempDb db;
    Intake intake(options(db));
    intake.set_hook_secret("other-hook", kSecret);
    EXPECT_EQ(call(intake, delivery()).status, 401);
}

TEST(Intake, AnswersDuplicateForARetryAndForTheSameEventFromAnotherHook) {
    TempDb db;
    Intake intake(options(db));
    EXPECT_EQ(call(intake, delivery()).status, 200);
    auto retry = call(intake, delivery());
    EXPECT_EQ(retry.status, 200);
    EXPECT_EQ(retry.body, R"({"status":"duplicate"})");
    EXPECT_EQ(call(intake, delivery(kBody, "{req-other-hook}")).body, R"({"status":"duplicate"})");
    EXPECT_EQ(db.count(), 1);
}

TEST(Intake, RefusesOtherContentTypesWith415) {
    TempDb db;
    Intake intake(options(db));
    auto r = delivery();
    r.headers[0].second = "application/x-www-form-urlencoded";
    EXPECT_EQ(call(intake, r).status, 415);
    r.headers[0].second = "Application/JSON; charset=utf-8";
    EXPECT_EQ(call(intake, r).status, 200);
}

TEST(Intake, RequiresTheEventKeyHeader) {
    TempDb db;
    Intake intake(options(db));
    auto r = delivery();
    r.headers.erase(r.headers.begin() + 1);
    auto res = call(intake, r);
    EXPECT_EQ(res.status, 400);
    EXPECT_NE(res.body.find("X-Event-Key"), std::string::npos);
}

TEST(Intake, RefusesMalformedJsonWith400AndAClearMessage) {
    TempDb db;
    Intake intake(options(db));
    auto res = call(intake, delivery("{not json"));
    EXPECT_EQ(res.status, 400);
    EXPECT_NE(res.body.find("not valid JSON"), std::string::npos) << res.body;
    EXPECT_EQ(db.count(), 0);
}

ServerRequest event(const std::string& key, const std::string& body, const std::string& uuid) {
    auto r = delivery(body, uuid);
    r.headers[1].second = key;
    return r;
}

TEST(Intake, RefusesAPullRequestEventThatNamesNoRepositoryOrPullRequest) {
    TempDb db;
    Intake intake(options(db));
    auto empty = call(intake, event("pullrequest:created", "{}", "{req-1}"));
    EXPECT_EQ(empty.status, 400);
    EXPECT_NE(empty.body.find("the pullrequest:created payload has no repository.full_name"), std::string::npos)
        << empty.body;
    auto no_id = call(intake, event("pullrequest:comment_created",
                                    R"({"repository":{"full_name":"ws/repo"},"pullrequest":{"title":"t"}})", "{req-2}"));
    EXPECT_EQ(no_id.status, 400);
    EXPECT_NE(no_id.body.find("has no pullrequest.id"), std::string::npos) << no_id.body;
    EXPECT_EQ(db.count(), 0);
    EXPECT_EQ(intake.stats().malformed, 2u);
    auto records = intake.take_log(0ms);
    ASSERT_EQ(records.size(), 2u);
    EXPECT_EQ(records[0].level, LogLevel::warning);
    EXPECT_NE(records[0].message.find("delivery {req-1} (hook hook-1) refused: the pullrequest:created payload has no "
                                      "repository.full_name"),
              std::string::npos)
        << records[0].message;
}

TEST(Intake, QueuesEventsThatNeedNoPullRequest) {
    TempDb db;
    Intake intake(options(db));
    EXPECT_EQ(call(intake, event("repo:push", "{}", "{req-1}")).status, 200);
    EXPECT_EQ(call(intake, event("pullrequest:push", "{}", "{req-2}")).status, 200);
    EXPECT_EQ(db.count(), 2);
}

TEST(Intake, QueuesEveryUpdateOfAPullRequestOnOneCommitAndEachOnce) {
    TempDb db;
    Intake intake(options(db));
    auto body = [](const char* title, bool draft, const char* updated_on) {
        return std::string(R"({"repository":{"full_name":"ws/repo"},"pullrequest":{"id":3,"title":")") + title +
               R"(","draft":)" + (draft ? "true" : "false") + R"(,"updated_on":")" + updated_on +
               R"(","source":{"commit":{"hash":"abc123"}}}})";
    };
    std::string draft = body("Greeting", true, "t1"), edited = body("Greeting v2", true, "t2"),
                ready = body("Greeting v2", false, "t3");
    for (const auto& [b, uuid] : {std::pair{draft, "{u-1}"}, {edited, "{u-2}"}, {ready, "{u-3}"}}) {
        auto r = call(intake, event("pullrequest:updated", b, uuid));
        EXPECT_EQ(r.status, 200);
        EXPECT_NE(r.body.find("queued"), std::string::npos) << uuid << ": " << r.body;
    }
    // A retry (same X-Request-UUID), and the same update from a second hook.
    EXPECT_EQ(call(intake, event("pullrequest:updated", ready, "{u-3}")).body, R"({"status":"duplicate"})");
    EXPECT_EQ(call(intake, event("pullrequest:updated", ready, "{u-other-hook}")).body, R"({"status":"duplicate"})");
    EXPECT_EQ(db.count("event_key = 'pullrequest:updated'"), 3);
}

TEST(Intake, AnswersOtherPathsWith404AndOtherMethodsWith405) {
    TempDb db;
    Intake intake(options(db));
    auto r = delivery();
    r.target = "/elsewhere";
    EXPECT_EQ(call(intake, r).status, 404);
    r.target = "/bitbucketHandler";
    r.method = "GET";
    EXPECT_EQ(call(intake, r).status, 405);
}

TEST(Intake, ReportsHealthFromTheStoreAndTheServiceFlag) {
    TempDb db;
    Intake intake(options(db));
    ServerRequest h{"GET", "/healthz", {}, ""};
    EXPECT_EQ(call(intake, h).status, 200);
    intake.set_healthy(false);
    EXPECT_EQ(call(intake, h).status, 503);
    intake.set_healthy(true);
    db.exec("DROP TABLE inbox");
    EXPECT_EQ(call(intake, h).status, 503);
}

TEST(Intake, AnswersWith503WhenTheStoreFails) {
    TempDb db;
    Intake intake(options(db));
    db.exec("DROP TABLE inbox");
    EXPECT_EQ(call(intake, delivery()).status, 503);
    EXPECT_EQ(intake.stats().unavailable, 1u);
}

TEST(Intake, ExposesCountersAndTheServiceTextAsMetrics) {
    TempDb db;
    Intake intake(options(db));
    call(intake, delivery());
    call(intake, delivery());
    intake.set_metrics_text("# TYPE bbreview_queue_depth gauge\nbbreview_queue_depth 4");
    auto r = call(intake, ServerRequest{"GET", "/metrics", {}, ""});
    EXPECT_EQ(r.status, 200);
    EXPECT_NE(r.body.find("bbreview_intake_deliveries_total{outcome=\"accepted\"} 1\n"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("bbreview_intake_deliveries_total{outcome=\"duplicate\"} 1\n"), std::string::npos);
    EXPECT_NE(r.body.find("bbreview_intake_requests_total{route=\"webhook\",status=\"200\"} 2\n"), std::string::npos);
    EXPECT_NE(r.body.find("bbreview_intake_enqueue_seconds_count 2\n"), std::string::npos);
    EXPECT_NE(r.body.find("bbreview_intake_enqueue_seconds_bucket{le=\"+Inf\"} 2\n"), std::string::npos);
    EXPECT_NE(r.body.find("bbreview_queue_depth 4\n"), std::string::npos);
}

TEST(Intake, NeverLogsSecretsSignaturesOrBodies) {
    TempDb db;
    Intake intake(options(db));
    intake.set_default_secret(kSecret);
    std::string forged = sign("wrong", kBody);
    auto r = delivery();
    r.headers.emplace_back("X-Hub-Signature", forged);
    EXPECT_EQ(call(intake, r).status, 401);
    call(intake, signed_delivery(kSecret, "{broken", "{req-9}"));
    db.exec("DROP TABLE inbox");
    call(intake, signed_delivery(kSecret));
    auto records = intake.take_log(0ms);
    ASSERT_GE(records.size(), 3u);
    for (const auto& rec : records) {
        EXPECT_EQ(rec.message.find(kSecret), std::string::npos) << rec.message;
        EXPECT_EQ(rec.message.find(forged.substr(7)), std::string::npos) << rec.message;
        EXPECT_EQ(rec.message.find(sign(kSecret, kBody).substr(7)), std::string::npos) << rec.message;
        EXPECT_EQ(rec.message.find("ws/repo"), std::string::npos) << rec.message;
        EXPECT_EQ(rec.message.find("{broken"), std::string::npos) << rec.message;
    }
}

TEST(Intake, NormalizesHookUuids) {
    EXPECT_EQ(normalize_hook_uuid(" {ABC-def} "), "abc-def");
    EXPECT_EQ(normalize_hook_uuid("abc"), "abc");
}

}  // namespace

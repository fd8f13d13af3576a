#include "bitbucket/client.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "../http/loopback.hpp"

namespace {

using namespace bbreview::bitbucket;
using namespace std::chrono_literals;
using loopback::Reply;
using loopback::Server;

ClientOptions options_for(const Server& server) {
    ClientOptions o;
    o.base_url = server.url("/2.0");
    o.http.use_environment_proxy = false;
    o.http.backoff_base = 5ms;
    o.http.backoff_max = 20ms;
    o.rate_limit_backoff = 50ms;
    o.rate_limit_backoff_max = 100ms;
    o.budget_per_hour = 3'600'000;  // effectively unlimited unless a test says otherwise
    return o;
}

Credentials api_token() {
    Credentials c;
    c.kind = Credentials::Kind::api_token;
    c.email = "bot@example.com";
    c.secret = "ATATT3xSECRET";
    return c;
}

std::string header_of(const loopback::Request& req, boost::beast::http::field f) {
    auto it = req.find(f);
    return it == req.end() ? "" : std::string(it->value());
}

TEST(Credentials, BuildBasicAndBearerHeadersAndDescribeWithoutTheSecret) {
    auto c = api_token();
    EXPECT_EQ(c.authorization(), "Basic Ym90QGV4YW1wbGUuY29tOkFUQVRUM3hTRUNSRVQ=");
    EXPECT_EQ(c.describe(), "API token for bot@example.com");
    c.kind = Credentials::Kind::access_token;
    EXPECT_EQ(c.authorization(), "Bearer ATATT3xSECRET");
    EXPECT_EQ(c.describe().find("SECRET"), std::string::npos);
}

TEST(EncodeQuery, PercentEncodesEverythingButUnreserved) {
    EXPECT_EQ(encode_query_component(R"(state="OPEN" AND x~"a+b")"),
              "state%3D%22OPEN%22%20AND%20x~%22a%2Bb%22");
}

TEST(BitbucketClient, SendsAuthToTheApiOriginOnlyAndDecodesErrors) {
    std::mutex mu;
    std::vector<std::string> auths;
    Server foreign([&](const loopback::Request& req) {
        std::lock_guard lock(mu);
        auths.push_back("foreign:" + header_of(req, boost::beast::http::field::authorization));
        return Reply{200, {}, R"({"values":[]})"};
    });
    Server api([&](const loopback::Request& req) {
        std::lock_guard lock(mu);
        auths.push_back(header_of(req, boost::beast::http::field::authorization));
        if (req.target() == "/2.0/missing")
            return Reply{404, {{"Content-Type", "application/json"}}, R"({"type":"error","error":{"message":"Not here"}})"};
        return Reply{200, {{"Content-Type", "application/json"}}, R"({"ok":true})"};
    });
    Client client(options_for(api), api_token());
    Call ok;
    ok.path = "/thing";
    ok.query = {{"q", "a b"}};
    auto r = client.call(ok);
    ASSERT_TRUE(r.ok()) << r.error.message;
    EXPECT_EQ(r.body, R"({"ok":true})");
    Call missing;
    missing.path = "/missing";
    auto e = client.call(missing);
    EXPECT_EQ(e.error.kind, ErrorKind::not_found);
    EXPECT_EQ(e.error.message, "Not here");
    EXPECT_EQ(e.error.method, "GET");
    EXPECT_EQ(e.error.path, "/2.0/missing");
    Call next;
    next.path = foreign.url("/2.0/elsewhere?page=2");
    ASSERT_TRUE(client.call(next).ok());
    std::lock_guard lock(mu);
    ASSERT_EQ(auths.size(), 3u);
    EXPECT_EQ(auths[0], api_token().authorization());
    EXPECT_EQ(auths[2], "foreign:");
}

TEST(BitbucketClient, PausesEveryCallerAfterA429AndRetries) {
    std::atomic<int> n{0};
    Server api([&](const loopback::Request&) {
        if (n++ == 0) return Reply{429, {{"Content-Type", "text/plain"}}, "Rate limit for this resource has been exceeded"};
        return Reply{200, {}, "{}"};
    });
    Client client(options_for(api), api_token());
    Call c;
    c.path = "/x";
    auto started = std::chrono::steady_clock::now();
    auto results = client.map(std::vector<Call>(4, c), 1);
    for (auto& r : results) EXPECT_TRUE(r.ok()) << r.error.message;
    EXPECT_GE(std::chrono::steady_clock::now() - started, 25ms);  // at least half the 50 ms back-off
    EXPECT_EQ(client.budget().rate_limited, 1u);
    EXPECT_EQ(n.load(), 5);
}

TEST(BitbucketClient, GivesUpWithRateLimitedAfterItsRetries) {
    Server api([](const loopback::Request&) {
        return Reply{429, {{"Content-Type", "text/plain"}}, "Rate limit for this resource has been exceeded"};
    });
    auto o = options_for(api);
    o.max_rate_limit_retries = 1;
    Client client(o, api_token());
    Call c;
    c.path = "/x";
    auto r = client.call(c);
    EXPECT_EQ(r.error.kind, ErrorKind::rate_limited);
    EXPECT_EQ(r.status, 429);
    EXPECT_EQ(r.error.message, "Rate limit for this resource has been exceeded");
}

TEST(BitbucketClient, MapKeepsInputOrderAndReportsProgress) {
    Server api([](const loopback::Request& req) {
        std::string t(req.target());
        Reply r{200, {}, t};
        if (t == "/2.0/3") r.status = 500;
        r.delay = std::chrono::milliseconds(t == "/2.0/0" ? 60 : 0);
        return r;
    });
    auto o = options_for(api);
    o.http.max_retries = 0;
    Client client(o, api_token());
    std::vector<Call> calls(6);
    for (std::size_t i = 0; i < calls.size(); ++i) calls[i].path = "/" + std::to_string(i);
    std::vector<std::size_t> progress;
    auto results = client.map(calls, 4, [&](std::size_t done, std::size_t total) {
        EXPECT_EQ(total, 6u);
        progress.push_back(done);
    });
    ASSERT_EQ(results.size(), 6u);
    for (std::size_t i = 0; i < 6; ++i) {
        if (i == 3) {
            EXPECT_EQ(results[i].error.kind, ErrorKind::server);
        } else {
            EXPECT_EQ(results[i].body, "/2.0/" + std::to_string(i));
        }
    }
    ASSERT_FALSE(progress.empty());
    EXPECT_EQ(progress.back(), 6u);
}

TEST(BitbucketClient, ServesImmutableResponsesFromTheCache) {
    std::atomic<int> n{0};
    Server api([&](const loopback::Request&) {
        ++n;
        return Reply{200, {}, "diff --git a/x b/x\n"};
    });
    Client client(options_for(api), api_token());
    Call c;
    c.path = "/repositories/w/r/diff/0123456789ab..ba9876543210";
    c.immutable = true;
    EXPECT_FALSE(client.call(c).from_cache);
    auto again = client.call(c);
    EXPECT_TRUE(again.from_cache);
    EXPECT_EQ(again.body, "diff --git a/x b/x\n");
    EXPECT_EQ(n.load(), 1);
    EXPECT_EQ(client.budget().spent, 1u);  // cache hits cost no budget
}

TEST(BitbucketClient, WaitsForBudgetTokens) {
    Server api([](const loopback::Request&) { return Reply{200, {}, "{}"}; });
    auto o = options_for(api);
    o.budget_per_hour = 36'000;  // 10 per second
    o.budget_burst = 1;
    Client client(o, api_token());
    Call c;
    c.path = "/x";
    auto started = std::chrono::steady_clock::now();
    auto results = client.map(std::vector<Call>(3, c), 3);
    EXPECT_GE(std::chrono::steady_clock::now() - started, 150ms);
    for (auto& r : results) EXPECT_TRUE(r.ok());
    EXPECT_EQ(client.budget().spent, 3u);
}

}  // namespace

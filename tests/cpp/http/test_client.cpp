#include "http/client.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <atomic>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "loopback.hpp"

namespace {

using namespace bbreview::http;
using namespace std::chrono_literals;
using loopback::Reply;
using loopback::Server;

Options fast_options() {
    Options o;
    o.use_environment_proxy = false;
    o.backoff_base = 5ms;
    o.backoff_max = 20ms;
    o.connect_timeout = 2000ms;
    o.read_timeout = 2000ms;
    o.total_timeout = 5000ms;
    return o;
}

Request get(const std::string& url) {
    Request r;
    r.url = url;
    return r;
}

std::string gzip(const std::string& text) {
    z_stream zs{};
    EXPECT_EQ(deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    std::string out(compressBound(static_cast<uLong>(text.size())) + 64, '\0');
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
    zs.avail_in = static_cast<uInt>(text.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
    out.resize(zs.total_out);
    deflateEnd(&zs);
    return out;
}

std::string header_of(const loopback::Request& req, boost::beast::http::field f) {
    auto it = req.find(f);
    return it == req.end() ? "" : std::string(it->value());
}

// -- pure helpers ----------------------------------------------------------------------

TEST(Url, ParsesSchemeHostPortAndTargetVerbatim) {
    auto u = Url::parse("http://127.0.0.1:8080/2.0/diff/ws/r:abc%0Ddef?topic=true");
    ASSERT_TRUE(u);
    EXPECT_EQ(u->scheme, "http");
    EXPECT_EQ(u->host, "127.0.0.1");
    EXPECT_EQ(u->port, "8080");
    EXPECT_EQ(u->target, "/2.0/diff/ws/r:abc%0Ddef?topic=true");
    auto s = Url::parse("https://API.bitbucket.org");
    ASSERT_TRUE(s);
    EXPECT_EQ(s->port, "443");
    EXPECT_EQ(s->host, "api.bitbucket.org");
    EXPECT_EQ(s->target, "/");
    EXPECT_FALSE(Url::parse("ftp://x/"));
    EXPECT_FALSE(Url::parse("/relative"));
}

TEST(Url, ResolvesRelativeAndAbsoluteLocations) {
    auto base = *Url::parse("https://api.bitbucket.org/2.0/repositories/a/b/pullrequests/1/diff");
    EXPECT_EQ(resolve_location(base, "/2.0/x%0Dy?q=1")->str(), "https://api.bitbucket.org/2.0/x%0Dy?q=1");
    EXPECT_EQ(resolve_location(base, "https://other.example/z")->origin(), "https://other.example:443");
    EXPECT_EQ(resolve_location(base, "stat")->target, "/2.0/repositories/a/b/pullrequests/1/stat");
}

TEST(Proxy, UsesSchemeSpecificProxyUnlessNoProxyMatches) {
    auto api = *Url::parse("https://api.bitbucket.org/2.0");
    auto local = *Url::parse("http://127.0.0.1:9/");
    EXPECT_EQ(proxy_for(api, "proxy.corp:3128", "", "")->origin(), "http://proxy.corp:3128");
    EXPECT_FALSE(proxy_for(api, "", "http://proxy:1", ""));
    EXPECT_FALSE(proxy_for(api, "http://proxy:1", "", "localhost, .bitbucket.org"));
    EXPECT_FALSE(proxy_for(api, "http://proxy:1", "", "bitbucket.org"));
    EXPECT_TRUE(proxy_for(api, "http://proxy:1", "", "notbitbucket.org"));
    EXPECT_FALSE(proxy_for(local, "", "http://proxy:1", "*"));
    EXPECT_FALSE(proxy_for(local, "", "http://proxy:1", "127.0.0.1:9"));
}

TEST(Backoff, GrowsExponentiallyWithJitterAndCap) {
    Options o;
    o.backoff_base = 100ms;
    o.backoff_max = 1000ms;
    for (int i = 0; i < 50; ++i) {
        auto d1 = Client::backoff_delay(o, 1);
        auto d3 = Client::backoff_delay(o, 3);
        auto d9 = Client::backoff_delay(o, 9);
        EXPECT_GE(d1, 50ms);
        EXPECT_LE(d1, 100ms);
        EXPECT_GE(d3, 200ms);
        EXPECT_LE(d3, 400ms);
        EXPECT_GE(d9, 500ms);
        EXPECT_LE(d9, 1000ms);
    }
}

TEST(Gunzip, InflatesAndRejectsCorruptOrOversizedData) {
    std::string text(10000, 'x');
    EXPECT_EQ(gunzip(gzip(text), 1 << 20), text);
    EXPECT_FALSE(gunzip("not gzip at all", 1 << 20));
    EXPECT_FALSE(gunzip(gzip(text), 100));
    auto truncated = gzip(text);
    truncated.resize(truncated.size() / 2);
    EXPECT_FALSE(gunzip(truncated, 1 << 20));
}

// -- against loopback servers -------------------------------------------------------------

TEST(HttpClient, GetsStatusHeadersAndBody) {
    Server server([](const loopback::Request& req) {
        Reply r;
        r.body = "hello " + std::string(req.target());
        r.headers.emplace_back("X-Test", "yes");
        return r;
    });
    Client client(fast_options());
    auto res = client.send(get(server.url("/a?b=1")));
    ASSERT_TRUE(res.ok()) << res.error_message;
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.body, "hello /a?b=1");
    EXPECT_EQ(res.header("x-test"), "yes");
    EXPECT_EQ(res.attempts, 1);
}

TEST(HttpClient, ReusesKeptAliveConnections) {
    Server server([](const loopback::Request&) { return Reply{}; });
    Client client(fast_options());
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(client.send(get(server.url())).ok());
    EXPECT_EQ(server.connections(), 1);
    EXPECT_EQ(client.stats().connections, 1u);
}

TEST(HttpClient, CapsConcurrentConnectionsPerHost) {
    Server server([](const loopback::Request&) {
        Reply r;
        r.delay = 50ms;
        return r;
    });
    auto o = fast_options();
    o.max_connections_per_host = 3;
    o.threads = 2;
    Client client(o);
    std::atomic<int> done{0};
    std::promise<void> all;
    for (int i = 0; i < 12; ++i)
        client.async_send(get(server.url()), [&](Response r) {
            EXPECT_TRUE(r.ok());
            if (++done == 12) all.set_value();
        });
    all.get_future().wait();
    EXPECT_EQ(server.max_concurrent(), 3);
    EXPECT_LE(server.connections(), 3);
}

TEST(HttpClient, InflatesGzipResponses) {
    std::string text(5000, 'y');
    Server server([&](const loopback::Request& req) {
        Reply r;
        EXPECT_EQ(header_of(req, boost::beast::http::field::accept_encoding), "gzip");
        r.body = gzip(text);
        r.headers.emplace_back("Content-Encoding", "gzip");
        return r;
    });
    Client client(fast_options());
    auto res = client.send(get(server.url()));
    ASSERT_TRUE(res.ok()) << res.error_message;
    EXPECT_EQ(res.body, text);
    EXPECT_FALSE(res.header("content-encoding"));
}

TEST(HttpClient, FollowsRedirectKeepingAuthorizationAndEncodedTargetOnSameOrigin) {
    std::string seen_auth, seen_target;
    Server server([&](const loopback::Request& req) {
        Reply r;
        if (req.target() == "/pr/1/diff") {
            r.status = 302;
            r.headers.emplace_back("Location", "/diff/ws/repo:abc%0Ddef?from_pullrequest_id=1&topic=true");
        } else {
            seen_auth = header_of(req, boost::beast::http::field::authorization);
            seen_target = std::string(req.target());
            r.body = "diff";
        }
        return r;
    });
    Client client(fast_options());
    auto req = get(server.url("/pr/1/diff"));
    req.headers.emplace_back("Authorization", "Bearer secret-token");
    auto res = client.send(req);
    ASSERT_TRUE(res.ok()) << res.error_message;
    EXPECT_EQ(res.body, "diff");
    EXPECT_EQ(res.redirects, 1);
    EXPECT_EQ(seen_auth, "Bearer secret-token");
    EXPECT_EQ(seen_target, "/diff/ws/repo:abc%0Ddef?from_pullrequest_id=1&topic=true");
}

TEST(HttpClient, DropsAuthorizationOnCrossOriginRedirect) {
    std::string seen_auth = "unset";
    Server other([&](const loopback::Request& req) {
        seen_auth = header_of(req, boost::beast::http::field::authorization);
        return Reply{};
    });
    Server server([&](const loopback::Request&) {
        Reply r;
        r.status = 307;
        r.headers.emplace_back("Location", other.url("/landing"));
        return r;
    });
    Client client(fast_options());
    auto req = get(server.url("/start"));
    req.headers.emplace_back("Authorization", "Basic c2VjcmV0");
    auto res = client.send(req);
    ASSERT_TRUE(res.ok()) << res.error_message;
    EXPECT_EQ(res.url, other.url("/landing"));
    EXPECT_EQ(seen_auth, "");
}

TEST(HttpClient, StopsAfterTooManyRedirects) {
    Server server([](const loopback::Request&) {
        Reply r;
        r.status = 302;
        r.headers.emplace_back("Location", "/again");
        return r;
    });
    auto o = fast_options();
    o.max_redirects = 3;
    Client client(o);
    auto res = client.send(get(server.url()));
    EXPECT_EQ(res.error, ErrorKind::too_many_redirects);
}

TEST(HttpClient, RetriesIdempotentRequestsOnServerErrorsAnd429) {
    std::atomic<int> n{0};
    Server server([&](const loopback::Request&) {
        Reply r;
        int i = n++;
        r.status = i == 0 ? 503 : i == 1 ? 429 : 200;
        return r;
    });
    Client client(fast_options());
    auto res = client.send(get(server.url()));
    ASSERT_TRUE(res.ok());
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.attempts, 3);
    EXPECT_EQ(client.stats().retries, 2u);
}

TEST(HttpClient, GivesUpAfterMaxRetriesWithTheLastStatus) {
    Server server([](const loopback::Request&) { return Reply{502, {}, "bad gateway"}; });
    auto o = fast_options();
    o.max_retries = 2;
    Client client(o);
    auto res = client.send(get(server.url()));
    ASSERT_TRUE(res.ok());
    EXPECT_EQ(res.status, 502);
    EXPECT_EQ(res.attempts, 3);
}

TEST(HttpClient, DoesNotRetryPostUnlessAsked) {
    Server server([](const loopback::Request&) { return Reply{500, {}, ""}; });
    Client client(fast_options());
    Request post = get(server.url());
    post.method = "POST";
    post.body = "{}";
    EXPECT_EQ(client.send(post).attempts, 1);
    post.retry_non_idempotent = true;
    EXPECT_EQ(client.send(post).attempts, 4);
}

TEST(HttpClient, SendsContentLengthZeroOnEmptyPost) {
    std::string length = "unset";
    Server server([&](const loopback::Request& req) {
        length = header_of(req, boost::beast::http::field::content_length);
        return Reply{};
    });
    Client client(fast_options());
    Request post = get(server.url());
    post.method = "POST";
    ASSERT_TRUE(client.send(post).ok());
    EXPECT_EQ(length, "0");
}

TEST(HttpClient, DoesNotRetry429WhenTheCallerManagesRateLimits) {
    Server server([](const loopback::Request&) { return Reply{429, {}, "Rate limit for this resource has been exceeded"}; });
    Client client(fast_options());
    auto req = get(server.url());
    req.retry_429 = false;
    auto res = client.send(req);
    EXPECT_EQ(res.status, 429);
    EXPECT_EQ(res.attempts, 1);
}

TEST(HttpClient, RetriesAfterADroppedConnection) {
    std::atomic<int> n{0};
    Server server([&](const loopback::Request&) {
        Reply r;
        r.drop = n++ == 0;
        r.body = "second time lucky";
        return r;
    });
    Client client(fast_options());
    auto res = client.send(get(server.url()));
    ASSERT_TRUE(res.ok()) << res.error_message;
    EXPECT_EQ(res.body, "second time lucky");
    EXPECT_EQ(res.attempts, 2);
}

TEST(HttpClient, ReconnectsOnceWhenAPooledConnectionWasClosedByTheServer) {
    Server server([](const loopback::Request&) {
        Reply r;
        r.close_silently = true;  // keep-alive promised, connection closed anyway
        return r;
    });
    auto o = fast_options();
    o.max_retries = 0;  // the reconnect is not a retry
    Client client(o);
    for (int i = 0; i < 3; ++i) {
        auto res = client.send(get(server.url()));
        ASSERT_TRUE(res.ok()) << res.error_message;
        EXPECT_EQ(res.attempts, 1);
        std::this_thread::sleep_for(20ms);  // let the close arrive
    }
    EXPECT_EQ(server.connections(), 3);
}

TEST(HttpClient, ReadDeadlineFailsASlowServer) {
    Server server([](const loopback::Request&) {
        Reply r;
        r.delay = 400ms;
        return r;
    });
    auto o = fast_options();
    o.read_timeout = 100ms;
    o.max_retries = 0;
    Client client(o);
    auto started = std::chrono::steady_clock::now();
    auto res = client.send(get(server.url()));
    EXPECT_EQ(res.error, ErrorKind::timeout) << res.error_message;
    EXPECT_LT(std::chrono::steady_clock::now() - started, 350ms);
}

TEST(HttpClient, TotalDeadlineBoundsRetries) {
    Server server([](const loopback::Request&) {
        Reply r;
        r.delay = 100ms;
        r.status = 503;
        return r;
    });
    auto o = fast_options();
    o.total_timeout = 300ms;
    o.max_retries = 100;
    Client client(o);
    auto started = std::chrono::steady_clock::now();
    auto res = client.send(get(server.url()));
    EXPECT_LT(std::chrono::steady_clock::now() - started, 600ms);
    EXPECT_TRUE(res.error == ErrorKind::timeout || res.status == 503);
}

TEST(HttpClient, ReportsConnectionRefused) {
    unsigned short port;
    {
        Server gone([](const loopback::Request&) { return Reply{}; });
        port = gone.port();
    }
    auto o = fast_options();
    o.max_retries = 1;
    Client client(o);
    auto res = client.send(get("http://127.0.0.1:" + std::to_string(port) + "/"));
    EXPECT_EQ(res.error, ErrorKind::connect);
    EXPECT_EQ(res.error_message.find("Authorization"), std::string::npos);
}

TEST(HttpClient, EnforcesTheBodyLimit) {
    Server server([](const loopback::Request&) { return Reply{200, {}, std::string(4096, 'z')}; });
    auto o = fast_options();
    o.max_body_bytes = 1024;
    Client client(o);
    auto res = client.send(get(server.url()));
    EXPECT_EQ(res.error, ErrorKind::body_too_large) << res.error_message << " " << res.status << " " << res.body.size();
}

TEST(HttpClient, RejectsInvalidUrls) {
    Client client(fast_options());
    EXPECT_EQ(client.send(get("not a url")).error, ErrorKind::invalid_url);
}

TEST(HttpClient, TunnelsThroughAConnectProxy) {
    Server server([](const loopback::Request& req) { return Reply{200, {}, "via proxy " + std::string(req.target())}; });
    loopback::ConnectProxy proxy;
    auto o = fast_options();
    o.http_proxy = proxy.url();
    Client client(o);
    auto res = client.send(get(server.url("/x")));
    ASSERT_TRUE(res.ok()) << res.error_message;
    EXPECT_EQ(res.body, "via proxy /x");
    EXPECT_EQ(proxy.tunnels(), 1);
    EXPECT_EQ(proxy.last_target(), "127.0.0.1:" + std::to_string(server.port()));
    o.no_proxy = "127.0.0.1";
    Client direct(o);
    ASSERT_TRUE(direct.send(get(server.url("/y"))).ok());
    EXPECT_EQ(proxy.tunnels(), 1);
}

TEST(HttpClient, FailsOutstandingRequestsWhenDestroyed) {
    Server server([](const loopback::Request&) {
        Reply r;
        r.delay = 300ms;
        return r;
    });
    std::promise<Response> p;
    {
        Client client(fast_options());
        client.async_send(get(server.url()), [&](Response r) { p.set_value(std::move(r)); });
        std::this_thread::sleep_for(50ms);
    }
    EXPECT_EQ(p.get_future().get().error, ErrorKind::shutdown);
}

TEST(HttpClient, RefusesAnUntrustedTlsServer) {
    // A plain-HTTP server answering a TLS ClientHello cannot complete a handshake.
    Server server([](const loopback::Request&) { return Reply{}; });
    auto o = fast_options();
    o.max_retries = 0;
    o.connect_timeout = 300ms;
    Client client(o);
    auto res = client.send(get("https://127.0.0.1:" + std::to_string(server.port()) + "/"));
    EXPECT_FALSE(res.ok());
    EXPECT_TRUE(res.error == ErrorKind::tls || res.error == ErrorKind::reset || res.error == ErrorKind::timeout)
        << to_string(res.error) << res.error_message;
}

}  // namespace

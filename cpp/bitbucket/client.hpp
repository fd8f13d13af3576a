// bbreview::bitbucket::Client: Bitbucket Cloud REST 2.0 calls over the HTTP
// client, with authentication, the rate-limit budget, 429 back-off, error
// decoding, an immutable-content cache and concurrent batches.
//
// Endpoint shapes (paths, JSON) live in the Python layer; this class moves
// bytes and enforces the rules that every call shares.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bitbucket/budget.hpp"
#include "bitbucket/errors.hpp"
#include "http/client.hpp"

namespace bbreview::bitbucket {

// Reference §4.1: most collections cap pagelen at 100, the PR list at 50 (more
// answers 400 "Invalid pagelen") and diffstat at 5000.
constexpr int kMaxPagelen = 100;
constexpr int kMaxPullRequestPagelen = 50;
constexpr int kMaxDiffstatPagelen = 5000;
// Reference §6.9: Code Insights take at most 100 annotations per request and
// 1000 per report.
constexpr std::size_t kMaxAnnotationsPerRequest = 100;
constexpr std::size_t kMaxAnnotationsPerReport = 1000;

struct Credentials {
    enum class Kind { none, api_token, access_token };
    Kind kind = Kind::none;
    std::string email;   // the account email (API tokens: the Basic user name, §2.1)
    std::string secret;  // never logged, never in errors or descriptions

    // The Authorization header value; empty for Kind::none.
    std::string authorization() const;
    // "API token for bot@example.com", "access token", "anonymous": safe to show.
    std::string describe() const;
};

struct ClientOptions {
    std::string base_url = "https://api.bitbucket.org/2.0";
    http::Options http;
    double budget_per_hour = kDefaultRequestsPerHour;
    double budget_burst = 0;  // bucket capacity; 0 means budget_per_hour
    int max_rate_limit_retries = 4;  // extra tries after a 429
    std::chrono::milliseconds rate_limit_backoff{2'000};
    std::chrono::milliseconds rate_limit_backoff_max{120'000};
    std::size_t cache_bytes = 64u << 20;
};

struct Call {
    std::string method = "GET";
    // Relative to base_url ("/repositories/ws/repo"), already percent-encoded,
    // or an absolute URL (a `next` link, followed opaquely).
    std::string path;
    std::vector<std::pair<std::string, std::string>> query;  // encoded by the client
    std::string body;
    std::string content_type = "application/json";
    std::string accept = "application/json";
    // The response can never change (it names full commit hashes): serve it
    // from the cache and store it there.
    bool immutable = false;
    // Whose turn this is in the budget queue (for example "pr:42").
    std::string caller;
    bool retry_non_idempotent = false;
};

struct Result {
    int status = 0;
    http::Headers headers;
    std::string body;
    std::string url;  // the final URL
    bool from_cache = false;
    ApiError error;   // kind == none on success (2xx/3xx)

    bool ok() const { return error.kind == ErrorKind::none; }
};

// Percent-encodes a query component (RFC 3986 unreserved characters are kept).
std::string encode_query_component(std::string_view s);

// Thread-safe. The handler of async_call runs on an io thread.
class Client {
public:
    Client(ClientOptions options, Credentials credentials);
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    void async_call(Call call, std::function<void(Result)> done);
    // Blocks until the result is ready. Must not be called on an io thread.
    Result call(Call call);
    // Runs `calls` with at most `concurrency` in flight and returns the results
    // in input order; a failure is a Result with an error, never an exception.
    // `progress(done, total)` runs on the calling thread after each completion.
    std::vector<Result> map(std::vector<Call> calls, std::size_t concurrency,
                            const std::function<void(std::size_t, std::size_t)>& progress = {});

    BudgetSnapshot budget() const;
    http::Stats http_stats() const;
    std::size_t cache_entries() const;
    const std::string& base_url() const;
    std::string describe() const;

    struct State;

private:
    std::shared_ptr<State> state_;
};

}  // namespace bbreview::bitbucket

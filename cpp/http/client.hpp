// bbreview::http: an asynchronous HTTP/1.1 client (Boost.Beast, Asio, OpenSSL).
//
// The header is free of Boost so that users of the client compile quickly; all
// Beast code lives in client.cpp. The client owns its io_context and threads.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bbreview::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

// Case-insensitive header lookup: the first value of `name`, if present.
std::optional<std::string> find_header(const Headers& headers, std::string_view name);

// An absolute http(s) URL split into the parts the client needs.
struct Url {
    std::string scheme;  // "http" or "https"
    std::string host;    // without brackets or port
    std::string port;    // always set ("80"/"443" by default)
    std::string target;  // path and query, at least "/"; kept byte for byte (no re-encoding)

    // Returns nullopt unless `text` is an absolute http:// or https:// URL.
    static std::optional<Url> parse(std::string_view text);
    // "scheme://host:port": two URLs with the same origin may share a connection
    // and the Authorization header.
    std::string origin() const;
    std::string str() const;
};

// Resolves a Location header against the URL it was received from.
std::optional<Url> resolve_location(const Url& base, std::string_view location);

// The proxy to use for `url` given the values of HTTPS_PROXY, HTTP_PROXY and
// NO_PROXY (any may be empty). NO_PROXY is a comma-separated list of host
// suffixes, "*" meaning all hosts. Returns nullopt for a direct connection.
std::optional<Url> proxy_for(const Url& url, std::string_view https_proxy, std::string_view http_proxy,
                             std::string_view no_proxy);

// Inflates a gzip (or zlib) body. Returns nullopt when the data is corrupt or
// would inflate beyond `max_bytes`.
std::optional<std::string> gunzip(std::string_view data, std::size_t max_bytes);

// Failures that happen before a complete response arrives. A response with an
// HTTP error status is not a transport error.
enum class ErrorKind : std::uint8_t {
    none,
    invalid_url,
    resolve,
    connect,
    tls,
    proxy,
    timeout,        // a connect/read deadline or the total deadline passed
    reset,          // the peer closed or reset the connection mid-exchange
    protocol,       // malformed response
    body_too_large,
    bad_encoding,   // a gzip body that does not inflate
    too_many_redirects,
    shutdown,       // the client was destroyed with the request in flight
};
std::string_view to_string(ErrorKind kind);

struct Request {
    std::string method = "GET";
    std::string url;  // absolute
    Headers headers;
    std::string body;
    // Retry even though the method is not idempotent (POST/PATCH). Only set
    // this when the server deduplicates or the operation is safe to repeat.
    bool retry_non_idempotent = false;
    // Extra statuses (besides redirects) that should not be retried, e.g. 429
    // when the caller runs its own rate-limit backoff.
    bool retry_429 = true;
};

struct Response {
    int status = 0;
    Headers headers;
    std::string body;          // decoded (gzip already inflated)
    std::string url;           // the final URL, after redirects
    int attempts = 0;          // exchanges sent, counting retries
    int redirects = 0;
    ErrorKind error = ErrorKind::none;
    std::string error_message;  // never contains request headers

    bool ok() const { return error == ErrorKind::none; }
    std::optional<std::string> header(std::string_view name) const { return find_header(headers, name); }
};

struct Options {
    std::size_t threads = 2;                   // io_context threads owned by the client
    std::size_t max_connections_per_host = 8;  // concurrency cap per origin; extra requests queue
    std::size_t max_idle_per_host = 8;
    std::chrono::milliseconds connect_timeout{10'000};
    std::chrono::milliseconds read_timeout{30'000};   // per write/read operation
    std::chrono::milliseconds total_timeout{120'000}; // the whole request, retries included
    std::chrono::milliseconds idle_timeout{30'000};   // pooled connections older than this are closed
    int max_redirects = 5;
    int max_retries = 3;  // extra attempts after the first
    std::chrono::milliseconds backoff_base{250};
    std::chrono::milliseconds backoff_max{20'000};
    std::size_t max_body_bytes = 256u << 20;  // decoded body limit
    bool verify_tls = true;
    std::string ca_file;  // extra trust anchor (PEM); the system store is always used too
    // Proxy settings; when `use_environment_proxy` is set the values are read
    // from HTTPS_PROXY/HTTP_PROXY/NO_PROXY (either case) at construction.
    bool use_environment_proxy = true;
    std::string https_proxy;
    std::string http_proxy;
    std::string no_proxy;
    std::string user_agent = "bbreview/0.1";
};

struct Stats {
    std::uint64_t requests = 0;        // completed Request objects
    std::uint64_t exchanges = 0;       // HTTP exchanges, retries and redirects included
    std::uint64_t connections = 0;     // connections opened
    std::uint64_t retries = 0;
    std::size_t in_flight = 0;
};

// Thread-safe. Completion handlers run on the client's io threads and must not
// block. Destroying the client fails outstanding requests with
// ErrorKind::shutdown and joins the threads.
class Client {
public:
    explicit Client(Options options = {});
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    using Handler = std::function<void(Response)>;
    // Starts `request`; `done` is called exactly once.
    void async_send(Request request, Handler done);
    // Blocks the calling thread (not an io thread) until the response arrives.
    Response send(Request request);
    // Runs `fn` on an io thread after `delay`.
    void schedule(std::chrono::nanoseconds delay, std::function<void()> fn);

    const Options& options() const;
    Stats stats() const;

    // The delay before retry number `attempt` (1-based): exponential from
    // backoff_base, capped at backoff_max, with "equal jitter" (half fixed,
    // half random) so that clients that failed together spread out.
    static std::chrono::milliseconds backoff_delay(const Options& options, int attempt);

    struct Impl;  // opaque: defined in client.cpp

private:
    std::shared_ptr<Impl> impl_;
};

}  // namespace bbreview::http

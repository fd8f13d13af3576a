// bbreview::http::Server: an HTTP/1.1 server (Boost.Beast, Asio) with
// keep-alive, explicit limits and graceful shutdown.
//
// Routing stays out of the transport: the server parses a request, hands it to
// a Handler, and writes whatever Response the handler passes to its Respond
// callback, now or later from any thread. Like client.hpp, the header is free
// of Boost; the Beast code lives in server.cpp.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "http/client.hpp"  // Headers, find_header

namespace bbreview::http {

// Bitbucket may not send payloads over 256 KB (reference §7.3); the margin
// keeps a payload at the limit from being refused for its headers' sake.
inline constexpr std::size_t kDefaultMaxBodyBytes = 320u * 1024u;
// Request line plus headers. Bitbucket's deliveries carry about 1 KB.
inline constexpr std::size_t kDefaultMaxHeaderBytes = 16u * 1024u;
// Bitbucket waits 10 s for an answer (reference §7.3); a handler that has not
// answered after this long gets a 503 so that Bitbucket retries.
inline constexpr std::chrono::milliseconds kDefaultHandlerTimeout{9'000};

struct ServerOptions {
    std::string host = "127.0.0.1";
    unsigned short port = 0;  // 0: any free port; see Server::port()
    std::size_t threads = 2;  // io threads owned by the server
    // Open connections; a connection beyond this gets a 503 and is closed.
    std::size_t max_connections = 1024;
    std::size_t max_body_bytes = kDefaultMaxBodyBytes;      // beyond: 413, connection closed
    std::size_t max_header_bytes = kDefaultMaxHeaderBytes;  // beyond: 431, connection closed
    // From the first byte of a request (on a new connection: from accept) to
    // the end of its headers; then the connection is closed.
    std::chrono::milliseconds header_timeout{5'000};
    // From the end of the headers to the end of the body.
    std::chrono::milliseconds body_timeout{10'000};
    // A kept-alive connection with no request in progress is closed after this.
    std::chrono::milliseconds idle_timeout{60'000};
    // Writing one response.
    std::chrono::milliseconds write_timeout{10'000};
    std::chrono::milliseconds handler_timeout = kDefaultHandlerTimeout;
};

struct ServerRequest {
    std::string method;  // "GET", "POST", ...
    std::string target;  // path and query as sent
    Headers headers;
    std::string body;

    // The target without its query string.
    std::string_view path() const;
    std::optional<std::string> header(std::string_view name) const { return find_header(headers, name); }
    // Like header(), without the copy: the first value of `name` (ASCII
    // case-insensitive), or nullptr. Valid while `headers` is unchanged.
    const std::string* find(std::string_view name) const;
};

struct ServerResponse {
    int status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
    Headers headers;     // extra headers
    bool close = false;  // close the connection after this response

    static ServerResponse text(int status, std::string body);
    static ServerResponse json(int status, std::string body);
};

// Delivers the response to a request. The first call wins; later calls are
// ignored. If every copy is destroyed without a call, the client gets a 500.
// May be called from any thread, also after stop() (the response is then
// dropped), but not after the Server is destroyed.
using Respond = std::function<void(ServerResponse)>;
// Called on an io thread for each complete request; must not block. It owns
// the request and answers through `respond`, synchronously or later.
using Handler = std::function<void(ServerRequest, Respond)>;

struct ServerStats {
    std::uint64_t connections_accepted = 0;
    std::uint64_t connections_refused = 0;  // over max_connections
    std::uint64_t requests = 0;             // complete requests handed to the handler
    std::uint64_t body_bytes = 0;           // request body bytes handed to the handler
    std::uint64_t timeouts = 0;             // header, body, idle-before-first-request or write deadlines
    std::uint64_t handler_timeouts = 0;
    std::uint64_t bad_requests = 0;         // unparsable requests (400)
    std::uint64_t body_too_large = 0;       // 413
    std::uint64_t header_too_large = 0;     // 431
    std::size_t connections_active = 0;
    std::size_t requests_in_flight = 0;     // handed to the handler, response not yet written
    bool draining = false;
    // Responses written, by status class: index 1 = 1xx ... 5 = 5xx.
    std::array<std::uint64_t, 6> responses_by_class{};
};

// Thread-safe.
class Server {
public:
    Server(ServerOptions options, Handler handler);
    // Calls stop() with no drain time.
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Binds, listens and starts the io threads. Returns the bound port. Throws
    // std::system_error when the address cannot be bound, std::logic_error when
    // called twice.
    unsigned short start();

    // Graceful shutdown: stops accepting, closes idle connections, lets
    // requests in progress finish and be answered (with "Connection: close")
    // until `drain_timeout` passes, then closes whatever is left and joins the
    // io threads. Idempotent.
    void stop(std::chrono::milliseconds drain_timeout);

    unsigned short port() const;  // 0 before start()
    bool draining() const;        // stop() has begun
    ServerStats stats() const;
    const ServerOptions& options() const;

    struct Impl;  // opaque: defined in server.cpp

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace bbreview::http

// bbreview::webhook::Intake: the webhook endpoint. An http::Server routes
//   POST <path>    a Bitbucket delivery: content type, event key, signature and
//                  payload checks, then a durable enqueue (Inbox), then 200;
//   GET /healthz   200 "ok", or 503 while draining, marked unhealthy, or when
//                  the database cannot be written;
//   GET /metrics   Prometheus text: the intake's counters plus the text block
//                  set with set_metrics_text().
// A 200 is sent only after the row is committed (fsynced); a store failure
// answers 503, which is what makes Bitbucket retry (reference §7.3).
//
// Log lines go to a bounded buffer read with take_log(). They never contain a
// secret, a signature or a body.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/server.hpp"
#include "webhook/inbox.hpp"

namespace bbreview::webhook {

inline constexpr std::string_view kDefaultPath = "/bitbucketHandler";
// Log records kept until take_log() reads them; older ones are dropped first.
inline constexpr std::size_t kMaxBufferedLogRecords = 1000;
// Longest X-Request-UUID stored; a UUID has 36 characters (38 with braces).
inline constexpr std::size_t kMaxRequestUuidLength = 128;

struct IntakeOptions {
    std::string db_path;  // an existing SQLite file with the `inbox` table
    std::string path = std::string(kDefaultPath);
    // When set, a delivery for which no secret is configured is refused (401)
    // instead of being accepted unsigned.
    bool require_signature = false;
    // Event keys the service handles; any other gets 400 (after the signature
    // check) and nothing is queued. Empty: every well-formed key is accepted.
    std::vector<std::string> accepted_events;
    http::ServerOptions server;
    std::size_t queue_capacity = InboxOptions{}.queue_capacity;
    std::size_t max_batch = InboxOptions{}.max_batch;
    std::chrono::milliseconds busy_timeout = InboxOptions{}.busy_timeout;
};

enum class LogLevel : std::uint8_t { debug, info, warning, error };
std::string_view to_string(LogLevel level);

struct LogRecord {
    LogLevel level = LogLevel::info;
    std::string message;
};

struct IntakeStats {
    http::ServerStats server;
    InboxStats inbox;
    std::uint64_t accepted = 0;            // deliveries committed as new rows
    std::uint64_t duplicates = 0;          // deliveries already in the inbox
    std::uint64_t rejected_signature = 0;  // 401
    std::uint64_t malformed = 0;           // 400: bad event key, bad JSON, bad field types
    std::uint64_t unsupported_media = 0;   // 415
    std::uint64_t unavailable = 0;         // 503: queue full or store failure
    std::uint64_t log_dropped = 0;         // log records dropped because nobody read them
    bool healthy = true;                   // set_healthy() value and not draining
};

// A hook UUID as the secret map keys it: surrounding whitespace and braces
// removed, lowercase ("{ABC-1}" → "abc-1").
std::string normalize_hook_uuid(std::string_view uuid);

// True when `content_type`'s media type is application/json (parameters such
// as charset ignored, case-insensitive).
bool is_json_media_type(std::string_view content_type);

// Thread-safe.
class Intake {
public:
    // Opens the inbox (see Inbox). Throws InboxError when the database or the
    // table is unusable. The server is not listening yet: call start().
    explicit Intake(IntakeOptions options);
    // Calls stop() with no drain time.
    ~Intake();
    Intake(const Intake&) = delete;
    Intake& operator=(const Intake&) = delete;

    // Starts listening; returns the bound port. Throws std::system_error when
    // the address cannot be bound.
    unsigned short start();
    // Stops accepting, lets deliveries in progress commit and be answered
    // within `drain_timeout`, commits whatever is still queued, and wakes
    // wait_for_delivery(). Idempotent.
    void stop(std::chrono::milliseconds drain_timeout);
    unsigned short port() const;

    // Secrets. A hook's own secret wins over the default. With any secret
    // configured, a delivery without a valid signature is refused (401).
    void set_default_secret(std::optional<std::string> secret);
    void set_hook_secret(std::string_view hook_uuid, std::string secret);
    // Returns false when no secret was set for `hook_uuid`.
    bool remove_hook_secret(std::string_view hook_uuid);
    std::size_t hook_secret_count() const;
    bool has_default_secret() const;

    // Appended to /metrics (Prometheus text written by the Python service).
    void set_metrics_text(std::string text);
    // /healthz answers 503 while false.
    void set_healthy(bool healthy);

    // See Inbox::wait_for_delivery.
    bool wait_for_delivery(std::chrono::milliseconds timeout);
    // Returns the buffered log records, waiting up to `timeout` for the first.
    std::vector<LogRecord> take_log(std::chrono::milliseconds timeout);

    IntakeStats stats() const;
    // The /metrics body.
    std::string metrics_text() const;
    const IntakeOptions& options() const;

    // The router, a function of the request alone apart from the secrets it
    // reads and the inbox it writes. Public so that tests can drive it without
    // sockets. Answers through `respond`, for deliveries after the commit.
    void handle(http::ServerRequest request, http::Respond respond);

    struct Impl;  // opaque: defined in intake.cpp

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace bbreview::webhook

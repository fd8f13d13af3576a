// bbreview::webhook::Inbox: the durable enqueue of webhook deliveries into the
// SQLite table `inbox`, which the Python store's migrations own. One writer
// thread takes rows from a bounded queue and inserts them in batches, one
// transaction (one fsync) per batch, and only then reports each row's result:
// group commit, so that every acknowledgement is durable and throughput does
// not pay one fsync per delivery.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

namespace bbreview::webhook {

// Thrown by the Inbox constructor: the database cannot be opened or written,
// or the `inbox` table is missing. The message names the file and what to do.
class InboxError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// One delivery, as stored. Optional fields become SQL NULL.
struct InboxRow {
    std::optional<std::string> request_uuid;  // X-Request-UUID
    std::string dedup_key;                    // see webhook::dedup_key
    std::string event_key;
    std::optional<std::string> hook_uuid;     // X-Hook-UUID without braces
    std::optional<std::string> repository;
    std::optional<std::int64_t> pr_id;
    std::int64_t attempt = 1;                 // X-Attempt-Number
    double received_at = 0;                   // unix time, seconds
    std::string body;                         // raw, as received
};

struct EnqueueResult {
    enum class Status : std::uint8_t {
        queued,       // a new row was committed; `seq` is its key
        duplicate,    // a row with the same request_uuid or dedup_key exists; nothing inserted
        unavailable,  // the insert or the commit failed; `error` says why (never the body)
    };
    Status status = Status::unavailable;
    std::int64_t seq = 0;
    std::string error;
};

struct InboxOptions {
    std::string path;
    // Rows waiting for the writer; a delivery that finds it full is refused
    // (the intake answers 503 and Bitbucket retries, reference §7.3).
    std::size_t queue_capacity = 8192;
    // Rows per transaction.
    std::size_t max_batch = 512;
    // SQLite's busy handler: how long a write waits for another connection's
    // lock (the Python dispatcher's) before the batch fails. Well under the
    // 10 s Bitbucket waits for an answer (reference §7.3).
    std::chrono::milliseconds busy_timeout{3'000};
};

struct InboxStats {
    std::uint64_t queued = 0;        // rows inserted
    std::uint64_t duplicates = 0;
    std::uint64_t failures = 0;      // rows answered `unavailable`
    std::uint64_t commits = 0;       // transactions committed
    std::uint64_t refused = 0;       // submissions refused because the queue was full or stopped
    std::size_t pending = 0;         // rows waiting for the writer now
    std::int64_t last_seq = 0;       // highest seq committed by this inbox
    bool last_write_ok = true;       // whether the most recent batch or probe succeeded
};

// Thread-safe. Completion callbacks run on the writer thread and must not block.
class Inbox {
public:
    // Opens `options.path` (which must exist) with journal_mode=WAL,
    // synchronous=FULL and the busy timeout, checks that it is writable and that
    // the `inbox` table has the expected columns, and starts the writer thread.
    // Throws InboxError otherwise.
    explicit Inbox(InboxOptions options);
    // Calls stop().
    ~Inbox();
    Inbox(const Inbox&) = delete;
    Inbox& operator=(const Inbox&) = delete;

    using Done = std::function<void(EnqueueResult)>;
    // Queues `row`; `done` is called exactly once on the writer thread after
    // the row's transaction committed or failed. Returns false, without calling
    // `done`, when the queue is full or the inbox has stopped.
    bool submit(InboxRow row, Done done);

    // Checks on the writer thread, in order with the inserts, that the
    // database takes a write lock and still has the `inbox` table. `done`
    // receives an empty string when healthy, else the reason. Returns false,
    // without calling `done`, when the queue is full or the inbox has stopped.
    bool probe(std::function<void(std::string)> done);

    // Blocks until a row is committed after the previous call returned (at once
    // if one already was), `timeout` passes, or stop() is called. Returns true
    // for a commit. Several threads may wait; all of them wake. A true result
    // may be spurious: callers re-read the table.
    bool wait_for_delivery(std::chrono::milliseconds timeout);

    // Commits every queued row, then joins the writer. Idempotent; later
    // submissions are refused and waiters return false.
    void stop();

    InboxStats stats() const;
    const std::string& path() const;

    struct Impl;  // opaque: defined in inbox.cpp

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace bbreview::webhook

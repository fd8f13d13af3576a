// The Inbox writer. The connection belongs to the writer thread once the
// constructor returns (thread creation orders the constructor's use before
// it), so it is opened without SQLite's own mutex.
#include "webhook/inbox.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <sqlite3.h>

namespace bbreview::webhook {

namespace {

constexpr const char* kInsertSql =
    "INSERT INTO inbox (request_uuid, dedup_key, event_key, hook_uuid, repository, pr_id, attempt, received_at, body)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT DO NOTHING";
// Re-prepared by SQLite after a schema change, so it fails once the table is gone.
constexpr const char* kProbeSql = "SELECT 1 FROM inbox LIMIT 0";

// The columns this side writes or relies on; the migrations may add more.
const std::set<std::string> kRequiredColumns = {"seq",        "request_uuid", "dedup_key", "event_key",
                                                "hook_uuid",  "repository",   "pr_id",     "attempt",
                                                "received_at", "body",        "state"};

struct Stmt {
    sqlite3_stmt* s = nullptr;
    Stmt() = default;
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;
    ~Stmt() { reset(); }
    void reset() {
        sqlite3_finalize(s);
        s = nullptr;
    }
};

void bind_text(sqlite3_stmt* s, int i, const std::optional<std::string>& v) {
    if (v)
        sqlite3_bind_text(s, i, v->data(), static_cast<int>(v->size()), SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

}  // namespace

struct Inbox::Impl {
    struct Job {
        InboxRow row;
        Done done;                               // set for a row
        std::function<void(std::string)> probe;  // set for a probe
    };

    InboxOptions opt;
    sqlite3* db = nullptr;
    Stmt insert, probe_stmt, begin, commit, rollback;

    mutable std::mutex mu;
    std::condition_variable work_cv;    // the writer waits for jobs
    std::condition_variable commit_cv;  // wait_for_delivery waits for commits
    std::deque<Job> queue;
    bool stopping = false;
    std::uint64_t commit_gen = 0;     // bumped by each commit that inserted a row
    std::uint64_t returned_gen = 0;   // commit_gen when wait_for_delivery last returned
    InboxStats stats;
    std::thread writer;

    explicit Impl(InboxOptions o) : opt(std::move(o)) {
        if (opt.max_batch == 0) opt.max_batch = 1;
        int rc = sqlite3_open_v2(opt.path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
        if (rc != SQLITE_OK) {
            std::string why = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
            close();
            throw InboxError("cannot open the inbox database " + opt.path + ": " + why +
                             "; create it with the store migrations before starting the intake");
        }
        sqlite3_busy_timeout(db, static_cast<int>(opt.busy_timeout.count()));
        if (sqlite3_db_readonly(db, "main") == 1) fail_open("the file is read-only");
        // WAL: the dispatcher reads while the writer appends. FULL: the WAL is
        // synced at every commit, so an acknowledged delivery survives power loss.
        std::string mode = query_text("PRAGMA journal_mode=WAL");
        if (mode != "wal") fail_open("cannot switch to WAL journal mode (got \"" + mode + "\")");
        exec("PRAGMA synchronous=FULL");
        check_table();
        prepare(insert, kInsertSql);
        prepare(probe_stmt, kProbeSql);
        prepare(begin, "BEGIN IMMEDIATE");
        prepare(commit, "COMMIT");
        prepare(rollback, "ROLLBACK");
        if (std::string why = try_write_lock(); !why.empty()) fail_open("cannot take a write lock: " + why);
        writer = std::thread([this] { run(); });
    }

    ~Impl() { close(); }

    void close() {
        for (Stmt* s : {&insert, &probe_stmt, &begin, &commit, &rollback}) s->reset();
        if (db) sqlite3_close_v2(db);
        db = nullptr;
    }

    [[noreturn]] void fail_open(const std::string& why) {
        close();
        throw InboxError("cannot use the inbox database " + opt.path + ": " + why);
    }

    void exec(const char* sql) {
        char* err = nullptr;
        if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
            std::string why = err ? err : "unknown error";
            sqlite3_free(err);
            fail_open(std::string(sql) + " failed: " + why);
        }
    }

    std::string query_text(const char* sql) {
        Stmt s;
        if (sqlite3_prepare_v2(db, sql, -1, &s.s, nullptr) != SQLITE_OK) fail_open(sqlite3_errmsg(db));
        std::string out;
        int rc = sqlite3_step(s.s);
        if (rc == SQLITE_ROW) {
            const unsigned char* t = sqlite3_column_text(s.s, 0);
            if (t) out = reinterpret_cast<const char*>(t);
        } else if (rc != SQLITE_DONE) {
            std::string why = sqlite3_errmsg(db);
            fail_open(std::string(sql) + " failed: " + why);
        }
        return out;
    }

    void check_table() {
        Stmt s;
        if (sqlite3_prepare_v2(db, "PRAGMA table_info(inbox)", -1, &s.s, nullptr) != SQLITE_OK)
            fail_open(sqlite3_errmsg(db));
        std::set<std::string> have;
        int rc;
        while ((rc = sqlite3_step(s.s)) == SQLITE_ROW)
            if (const unsigned char* name = sqlite3_column_text(s.s, 1)) have.insert(reinterpret_cast<const char*>(name));
        if (rc != SQLITE_DONE) fail_open(std::string("cannot read the schema: ") + sqlite3_errmsg(db));
        if (have.empty())
            fail_open("the inbox table is missing; run the store migrations (they create it) before starting the intake");
        std::string missing;
        for (const auto& c : kRequiredColumns)
            if (!have.contains(c)) missing += (missing.empty() ? "" : ", ") + c;
        if (!missing.empty())
            fail_open("the inbox table lacks the columns " + missing + "; run the store migrations");
    }

    void prepare(Stmt& s, const char* sql) {
        if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s.s, nullptr) != SQLITE_OK)
            fail_open(std::string("cannot prepare \"") + sql + "\": " + sqlite3_errmsg(db));
    }

    // Runs `s` to completion; returns "" or SQLite's message.
    std::string step_done(sqlite3_stmt* s) {
        int rc = sqlite3_step(s);
        std::string why = rc == SQLITE_DONE || rc == SQLITE_ROW ? "" : sqlite3_errmsg(db);
        sqlite3_reset(s);
        return why;
    }

    void rollback_if_open() {
        if (!sqlite3_get_autocommit(db)) step_done(rollback.s);
    }

    std::string try_write_lock() {
        if (auto why = step_done(begin.s); !why.empty()) return why;
        auto why = step_done(probe_stmt.s);
        rollback_if_open();
        return why;
    }

    // -- writer thread ---------------------------------------------------------------
    void run() {
        std::vector<Job> batch;
        for (;;) {
            {
                std::unique_lock lock(mu);
                work_cv.wait(lock, [this] { return stopping || !queue.empty(); });
                if (queue.empty()) return;  // stopping, and everything queued is written
                std::size_t n = std::min(queue.size(), opt.max_batch);
                batch.clear();
                for (std::size_t i = 0; i < n; ++i) {
                    batch.push_back(std::move(queue.front()));
                    queue.pop_front();
                }
            }
            write(batch);
        }
    }

    void write(std::vector<Job>& batch) {
        std::vector<EnqueueResult> results(batch.size());
        bool any_rows = false;
        for (const auto& j : batch) any_rows = any_rows || static_cast<bool>(j.done);
        std::string batch_error;
        if (any_rows) batch_error = insert_rows(batch, results);

        std::uint64_t inserted = 0, dups = 0, failed = 0;
        std::int64_t last_seq = 0;
        for (std::size_t i = 0; i < batch.size(); ++i) {
            if (!batch[i].done) continue;
            auto& r = results[i];
            if (!batch_error.empty()) r = EnqueueResult{EnqueueResult::Status::unavailable, 0, batch_error};
            if (r.status == EnqueueResult::Status::queued) {
                ++inserted;
                last_seq = std::max(last_seq, r.seq);
            } else if (r.status == EnqueueResult::Status::duplicate) {
                ++dups;
            } else {
                ++failed;
            }
        }
        // Probes run after the rows so that they see the state the rows met.
        std::vector<std::pair<std::size_t, std::string>> probes;
        for (std::size_t i = 0; i < batch.size(); ++i)
            if (batch[i].probe) probes.emplace_back(i, try_write_lock());

        {
            std::lock_guard lock(mu);
            stats.queued += inserted;
            stats.duplicates += dups;
            stats.failures += failed;
            if (any_rows && batch_error.empty()) ++stats.commits;
            stats.last_seq = std::max(stats.last_seq, last_seq);
            if (any_rows) stats.last_write_ok = batch_error.empty();
            if (!probes.empty()) stats.last_write_ok = probes.back().second.empty();
            if (inserted) ++commit_gen;
        }
        if (inserted) commit_cv.notify_all();
        for (std::size_t i = 0; i < batch.size(); ++i)
            if (batch[i].done) batch[i].done(std::move(results[i]));
        for (auto& [i, why] : probes) batch[i].probe(std::move(why));
        batch.clear();
    }

    // Inserts the batch's rows in one transaction. Returns "" when it committed
    // (each row's own result in `results`), else why the whole batch failed.
    std::string insert_rows(const std::vector<Job>& batch, std::vector<EnqueueResult>& results) {
        if (auto why = step_done(begin.s); !why.empty()) return "cannot begin a transaction: " + why;
        sqlite3_stmt* s = insert.s;
        for (std::size_t i = 0; i < batch.size(); ++i) {
            if (!batch[i].done) continue;
            const InboxRow& row = batch[i].row;
            bind_text(s, 1, row.request_uuid);
            sqlite3_bind_text(s, 2, row.dedup_key.data(), static_cast<int>(row.dedup_key.size()), SQLITE_STATIC);
            sqlite3_bind_text(s, 3, row.event_key.data(), static_cast<int>(row.event_key.size()), SQLITE_STATIC);
            bind_text(s, 4, row.hook_uuid);
            bind_text(s, 5, row.repository);
            if (row.pr_id)
                sqlite3_bind_int64(s, 6, *row.pr_id);
            else
                sqlite3_bind_null(s, 6);
            sqlite3_bind_int64(s, 7, row.attempt);
            sqlite3_bind_double(s, 8, row.received_at);
            // A zero-length blob bound from a pointer would be NULL; the column is NOT NULL.
            if (row.body.empty())
                sqlite3_bind_zeroblob(s, 9, 0);
            else
                sqlite3_bind_blob(s, 9, row.body.data(), static_cast<int>(row.body.size()), SQLITE_STATIC);
            int rc = sqlite3_step(s);
            auto& r = results[i];
            if (rc == SQLITE_DONE) {
                if (sqlite3_changes(db) > 0) {
                    r.status = EnqueueResult::Status::queued;
                    r.seq = sqlite3_last_insert_rowid(db);
                } else {
                    r.status = EnqueueResult::Status::duplicate;
                }
            } else {
                std::string why = sqlite3_errmsg(db);
                sqlite3_reset(s);
                sqlite3_clear_bindings(s);
                // A constraint of this row only (CHECK, NOT NULL) undoes this
                // statement alone; anything else spoils the transaction.
                if ((rc & 0xff) != SQLITE_CONSTRAINT) {
                    rollback_if_open();
                    return "cannot insert into inbox: " + why;
                }
                r.status = EnqueueResult::Status::unavailable;
                r.error = "cannot insert into inbox: " + why;
                continue;
            }
            sqlite3_reset(s);
            sqlite3_clear_bindings(s);
        }
        if (auto why = step_done(commit.s); !why.empty()) {
            rollback_if_open();
            return "cannot commit: " + why;
        }
        return {};
    }
};

Inbox::Inbox(InboxOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Inbox::~Inbox() { stop(); }

bool Inbox::submit(InboxRow row, Done done) {
    {
        std::lock_guard lock(impl_->mu);
        if (impl_->stopping || impl_->queue.size() >= impl_->opt.queue_capacity) {
            ++impl_->stats.refused;
            return false;
        }
        impl_->queue.push_back(Impl::Job{std::move(row), std::move(done), {}});
    }
    impl_->work_cv.notify_one();
    return true;
}

bool Inbox::probe(std::function<void(std::string)> done) {
    {
        std::lock_guard lock(impl_->mu);
        if (impl_->stopping || impl_->queue.size() >= impl_->opt.queue_capacity) return false;
        impl_->queue.push_back(Impl::Job{{}, {}, std::move(done)});
    }
    impl_->work_cv.notify_one();
    return true;
}

bool Inbox::wait_for_delivery(std::chrono::milliseconds timeout) {
    std::unique_lock lock(impl_->mu);
    std::uint64_t target = impl_->returned_gen;
    impl_->commit_cv.wait_for(lock, timeout, [&] { return impl_->commit_gen > target || impl_->stopping; });
    bool committed = impl_->commit_gen > target;
    impl_->returned_gen = std::max(impl_->returned_gen, impl_->commit_gen);
    return committed;
}

void Inbox::stop() {
    {
        std::lock_guard lock(impl_->mu);
        impl_->stopping = true;
    }
    impl_->work_cv.notify_all();
    impl_->commit_cv.notify_all();
    if (impl_->writer.joinable()) impl_->writer.join();
}

InboxStats Inbox::stats() const {
    std::lock_guard lock(impl_->mu);
    InboxStats s = impl_->stats;
    s.pending = impl_->queue.size();
    return s;
}

const std::string& Inbox::path() const { return impl_->opt.path; }

}  // namespace bbreview::webhook

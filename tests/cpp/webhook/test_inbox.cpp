#include "webhook/inbox.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>
#include <vector>

#include "fixture.hpp"

namespace {

using namespace bbreview::webhook;
using namespace std::chrono_literals;
using fixture::TempDb;

InboxRow row(const std::string& dedup, std::optional<std::string> request_uuid = std::nullopt) {
    InboxRow r;
    r.request_uuid = std::move(request_uuid);
    r.dedup_key = dedup;
    r.event_key = "pullrequest:created";
    r.repository = "ws/repo";
    r.pr_id = 7;
    r.received_at = 1700000000.5;
    r.body = R"({"x":1})";
    return r;
}

EnqueueResult enqueue(Inbox& inbox, InboxRow r) {
    std::promise<EnqueueResult> p;
    EXPECT_TRUE(inbox.submit(std::move(r), [&p](EnqueueResult res) { p.set_value(std::move(res)); }));
    return p.get_future().get();
}

TEST(Inbox, FailsAtStartWhenTheTableIsMissing) {
    TempDb db(/*with_table=*/false);
    try {
        Inbox inbox({db.path()});
        FAIL() << "expected InboxError";
    } catch (const InboxError& e) {
        EXPECT_NE(std::string(e.what()).find("inbox table is missing"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find(db.path()), std::string::npos) << e.what();
    }
}

TEST(Inbox, FailsAtStartWhenTheDatabaseDoesNotExist) {
    EXPECT_THROW(Inbox({"/nonexistent/dir/inbox.db"}), InboxError);
}

TEST(Inbox, FailsAtStartWhenAColumnIsMissing) {
    TempDb db(false);
    db.exec("CREATE TABLE inbox (seq INTEGER PRIMARY KEY, dedup_key TEXT)");
    try {
        Inbox inbox({db.path()});
        FAIL() << "expected InboxError";
    } catch (const InboxError& e) {
        EXPECT_NE(std::string(e.what()).find("lacks the columns"), std::string::npos) << e.what();
    }
}

TEST(Inbox, CommitsARowAndReportsItsSeq) {
    TempDb db;
    Inbox inbox({db.path()});
    auto r = enqueue(inbox, row("k1", "req-1"));
    EXPECT_EQ(r.status, EnqueueResult::Status::queued);
    EXPECT_EQ(r.seq, 1);
    EXPECT_EQ(enqueue(inbox, row("k2")).seq, 2);
    EXPECT_EQ(db.count("state = 'new' AND attempt = 1 AND pr_id = 7 AND body = CAST('{\"x\":1}' AS BLOB)"), 2);
    EXPECT_EQ(db.count("request_uuid IS NULL"), 1);
}

TEST(Inbox, ReportsDuplicateForEitherUniqueKey) {
    TempDb db;
    Inbox inbox({db.path()});
    EXPECT_EQ(enqueue(inbox, row("k1", "req-1")).status, EnqueueResult::Status::queued);
    EXPECT_EQ(enqueue(inbox, row("k1", "req-2")).status, EnqueueResult::Status::duplicate);  // same event
    EXPECT_EQ(enqueue(inbox, row("k2", "req-1")).status, EnqueueResult::Status::duplicate);  // same delivery
    EXPECT_EQ(db.count(), 1);
    EXPECT_EQ(inbox.stats().duplicates, 2u);
}

TEST(Inbox, StoresAnEmptyBodyAsAnEmptyBlob) {
    TempDb db;
    Inbox inbox({db.path()});
    auto r = row("k");
    r.body.clear();
    EXPECT_EQ(enqueue(inbox, std::move(r)).status, EnqueueResult::Status::queued);
    EXPECT_EQ(db.count("length(body) = 0"), 1);
}

TEST(Inbox, GroupsConcurrentRowsIntoFewerTransactions) {
    TempDb db;
    Inbox inbox({db.path()});
    constexpr int kThreads = 8, kPerThread = 100;
    std::atomic<int> queued{0}, done{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < kPerThread; ++i) {
                while (!inbox.submit(row("k-" + std::to_string(t) + "-" + std::to_string(i)), [&](EnqueueResult r) {
                    if (r.status == EnqueueResult::Status::queued) ++queued;
                    ++done;
                }))
                    std::this_thread::yield();
            }
        });
    for (auto& t : threads) t.join();
    inbox.stop();
    EXPECT_EQ(done.load(), kThreads * kPerThread);
    EXPECT_EQ(queued.load(), kThreads * kPerThread);
    EXPECT_EQ(db.count(), kThreads * kPerThread);
    EXPECT_LE(inbox.stats().commits, static_cast<std::uint64_t>(kThreads * kPerThread));
    EXPECT_GE(inbox.stats().commits, 1u);
}

TEST(Inbox, WakesAWaiterWhenARowIsCommitted) {
    TempDb db;
    Inbox inbox({db.path()});
    EXPECT_FALSE(inbox.wait_for_delivery(10ms));
    auto waiter = std::async(std::launch::async, [&] { return inbox.wait_for_delivery(60s); });
    enqueue(inbox, row("k1"));
    EXPECT_TRUE(waiter.get());
    // A commit that happened before the call is reported at once.
    enqueue(inbox, row("k2"));
    EXPECT_TRUE(inbox.wait_for_delivery(60s));
    // A duplicate commits nothing new.
    enqueue(inbox, row("k2"));
    EXPECT_FALSE(inbox.wait_for_delivery(10ms));
}

TEST(Inbox, StopWakesWaiters) {
    TempDb db;
    Inbox inbox({db.path()});
    auto waiter = std::async(std::launch::async, [&] { return inbox.wait_for_delivery(60s); });
    std::this_thread::sleep_for(20ms);
    inbox.stop();
    EXPECT_FALSE(waiter.get());
    EXPECT_FALSE(inbox.submit(row("k"), [](EnqueueResult) {}));
}

TEST(Inbox, ReportsUnavailableWhenTheTableIsDropped) {
    TempDb db;
    Inbox inbox({db.path()});
    EXPECT_EQ(enqueue(inbox, row("k1")).status, EnqueueResult::Status::queued);
    db.exec("DROP TABLE inbox");
    auto r = enqueue(inbox, row("k2"));
    EXPECT_EQ(r.status, EnqueueResult::Status::unavailable);
    EXPECT_NE(r.error.find("no such table"), std::string::npos) << r.error;
    std::promise<std::string> probe;
    ASSERT_TRUE(inbox.probe([&](std::string why) { probe.set_value(why); }));
    EXPECT_FALSE(probe.get_future().get().empty());
    EXPECT_FALSE(inbox.stats().last_write_ok);
}

TEST(Inbox, ProbeSucceedsOnAWritableDatabase) {
    TempDb db;
    Inbox inbox({db.path()});
    std::promise<std::string> probe;
    ASSERT_TRUE(inbox.probe([&](std::string why) { probe.set_value(why); }));
    EXPECT_EQ(probe.get_future().get(), "");
}

TEST(Inbox, RefusesRowsWhenTheQueueIsFull) {
    TempDb db;
    InboxOptions o{db.path()};
    o.queue_capacity = 2;
    o.max_batch = 1;
    o.busy_timeout = 5000ms;
    Inbox inbox(o);
    // Another connection holds the write lock, so the writer stalls on its first row.
    sqlite3* other = nullptr;
    ASSERT_EQ(sqlite3_open(db.path().c_str(), &other), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
    std::atomic<int> done{0};
    int accepted = 0;
    for (int i = 0; i < 10; ++i)
        if (inbox.submit(row("k" + std::to_string(i)), [&](EnqueueResult) { ++done; })) ++accepted;
    EXPECT_LE(accepted, 3);
    EXPECT_GE(inbox.stats().refused, 7u);
    sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(other);
    inbox.stop();
    EXPECT_EQ(done.load(), accepted);
}

TEST(Inbox, StopCommitsEveryQueuedRow) {
    TempDb db;
    Inbox inbox({db.path()});
    for (int i = 0; i < 200; ++i) ASSERT_TRUE(inbox.submit(row("k" + std::to_string(i)), [](EnqueueResult) {}));
    inbox.stop();
    EXPECT_EQ(db.count(), 200);
}

}  // namespace

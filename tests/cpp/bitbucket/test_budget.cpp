#include "bitbucket/budget.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using namespace bbreview::bitbucket;
using namespace std::chrono_literals;
using Clock = RateBudget::Clock;

// Runs the grants and records which caller each belonged to.
std::vector<std::string> run(std::vector<RateBudget::Grant> grants) {
    for (auto& g : grants) g();
    return {};
}

TEST(RateBudget, GrantsUpToItsCapacityAtOnce) {
    RateBudget b(3, 3600);
    int granted = 0;
    for (int i = 0; i < 5; ++i) b.acquire("", [&] { ++granted; });
    auto now = Clock::now();
    run(b.take_ready(now));
    EXPECT_EQ(granted, 3);
    EXPECT_EQ(b.snapshot(now).waiting, 2u);
    EXPECT_EQ(b.snapshot(now).spent, 3u);
}

TEST(RateBudget, RefillsAtTheHourlyRate) {
    RateBudget b(1, 3600);  // one token per second
    int granted = 0;
    for (int i = 0; i < 3; ++i) b.acquire("", [&] { ++granted; });
    auto now = Clock::now();
    run(b.take_ready(now));
    EXPECT_EQ(granted, 1);
    auto wait = b.next_ready(now);
    ASSERT_TRUE(wait);
    EXPECT_GT(*wait, 900ms);
    EXPECT_LE(*wait, 1000ms);
    run(b.take_ready(now + 1s));
    EXPECT_EQ(granted, 2);
    run(b.take_ready(now + 2s));
    EXPECT_EQ(granted, 3);
    EXPECT_FALSE(b.next_ready(now + 2s));
}

TEST(RateBudget, IsFairBetweenCallers) {
    RateBudget b(1, 3600);
    std::vector<std::string> order;
    for (int i = 0; i < 10; ++i) b.acquire("busy-pr", [&] { order.push_back("busy"); });
    b.acquire("other-pr", [&] { order.push_back("other"); });
    auto now = Clock::now();
    for (int s = 0; s < 4; ++s) run(b.take_ready(now + std::chrono::seconds(s)));
    ASSERT_EQ(order.size(), 4u);
    // The single call of the other caller is served second, not after all ten.
    EXPECT_EQ(order[0], "busy");
    EXPECT_EQ(order[1], "other");
    EXPECT_EQ(order[2], "busy");
}

TEST(RateBudget, PausesEveryCallerAfterA429) {
    RateBudget b(100, 360000);
    int granted = 0;
    auto now = Clock::now();
    b.penalize(now + 2s);
    for (int i = 0; i < 5; ++i) b.acquire(std::to_string(i), [&] { ++granted; });
    run(b.take_ready(now + 1s));
    EXPECT_EQ(granted, 0);
    EXPECT_GE(b.snapshot(now + 1s).cooldown_seconds, 0.9);
    auto wait = b.next_ready(now + 1s);
    ASSERT_TRUE(wait);
    EXPECT_GE(*wait, 900ms);
    run(b.take_ready(now + 3s));
    EXPECT_EQ(granted, 5);  // 2 s at 100/s refilled enough tokens
    EXPECT_EQ(b.snapshot(now + 3s).rate_limited, 1u);
}

TEST(RateBudget, TakeAllDrainsTheQueues) {
    RateBudget b(1, 1);
    int n = 0;
    for (int i = 0; i < 3; ++i) b.acquire("", [&] { ++n; });
    run(b.take_all());
    EXPECT_EQ(n, 3);
    EXPECT_EQ(b.snapshot(Clock::now()).waiting, 0u);
}

}  // namespace

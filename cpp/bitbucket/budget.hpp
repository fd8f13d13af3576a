// A per-identity request budget: a token bucket that is fair between callers.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace bbreview::bitbucket {

// Bitbucket counts authenticated calls per identity in a rolling hour: 1,000
// per hour for repository data and for webhook data (reference §5).
constexpr double kDefaultRequestsPerHour = 1000.0;

struct BudgetSnapshot {
    double capacity = 0;        // the most tokens the bucket holds
    double per_hour = 0;        // refill rate
    double remaining = 0;       // tokens available now
    std::size_t waiting = 0;    // calls queued for a token
    std::uint64_t spent = 0;    // tokens granted so far
    std::uint64_t rate_limited = 0;  // 429 answers seen
    double cooldown_seconds = 0;     // time left in a 429 back-off pause
};

// Thread-safe. Callers queue per caller key; tokens are handed out round-robin
// between keys, so one busy caller (a batch over a large pull request) cannot
// starve the others. The owner calls take_ready() whenever a token may be free
// (after acquire(), or when next_ready() says so) and runs the grants it returns.
class RateBudget {
public:
    using Clock = std::chrono::steady_clock;
    using Grant = std::function<void()>;

    // `capacity` tokens at start (burst), refilled at `per_hour`.
    RateBudget(double capacity, double per_hour);

    void acquire(const std::string& caller, Grant grant);
    // Removes and returns the grants that may run at `now`, in fair order.
    std::vector<Grant> take_ready(Clock::time_point now);
    // How long until take_ready() can grant again; nullopt when nobody waits.
    std::optional<Clock::duration> next_ready(Clock::time_point now);
    // A 429: nobody is granted before `until`, and the bucket is emptied,
    // because Bitbucket's hourly count, not ours, is the truth.
    void penalize(Clock::time_point until);
    BudgetSnapshot snapshot(Clock::time_point now);
    // Removes every queued grant regardless of tokens (used at shutdown).
    std::vector<Grant> take_all();

private:
    void refill(Clock::time_point now);

    std::mutex mu_;
    double capacity_, per_second_, tokens_;
    Clock::time_point last_;
    Clock::time_point cooldown_until_{};
    std::map<std::string, std::deque<Grant>> queues_;
    std::deque<std::string> turn_;  // callers with queued grants, in round-robin order
    std::size_t waiting_ = 0;
    std::uint64_t spent_ = 0, rate_limited_ = 0;
};

}  // namespace bbreview::bitbucket

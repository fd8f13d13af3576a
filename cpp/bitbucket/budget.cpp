#include "bitbucket/budget.hpp"

#include <algorithm>

namespace bbreview::bitbucket {

RateBudget::RateBudget(double capacity, double per_hour)
    : capacity_(std::max(1.0, capacity)), per_second_(std::max(1e-9, per_hour) / 3600.0), tokens_(capacity_),
      last_(Clock::now()) {}

void RateBudget::refill(Clock::time_point now) {
    if (now <= last_) return;
    double secs = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(capacity_, tokens_ + secs * per_second_);
    last_ = now;
}

void RateBudget::acquire(const std::string& caller, Grant grant) {
    std::lock_guard lock(mu_);
    auto& q = queues_[caller];
    if (q.empty()) turn_.push_back(caller);
    q.push_back(std::move(grant));
    ++waiting_;
}

std::vector<RateBudget::Grant> RateBudget::take_ready(Clock::time_point now) {
    std::vector<Grant> out;
    std::lock_guard lock(mu_);
    refill(now);
    if (now < cooldown_until_) return out;
    while (tokens_ >= 1.0 && !turn_.empty()) {
        std::string caller = std::move(turn_.front());
        turn_.pop_front();
        auto& q = queues_[caller];
        out.push_back(std::move(q.front()));
        q.pop_front();
        --waiting_;
        tokens_ -= 1.0;
        ++spent_;
        if (q.empty())
            queues_.erase(caller);
        else
            turn_.push_back(std::move(caller));
    }
    return out;
}

std::optional<RateBudget::Clock::duration> RateBudget::next_ready(Clock::time_point now) {
    std::lock_guard lock(mu_);
    if (turn_.empty()) return std::nullopt;
    refill(now);
    Clock::duration wait{0};
    if (now < cooldown_until_) wait = cooldown_until_ - now;
    if (tokens_ < 1.0) {
        auto refill_wait = std::chrono::duration_cast<Clock::duration>(
            std::chrono::duration<double>((1.0 - tokens_) / per_second_));
        wait = std::max(wait, refill_wait);
    }
    return wait;
}

void RateBudget::penalize(Clock::time_point until) {
    std::lock_guard lock(mu_);
    ++rate_limited_;
    cooldown_until_ = std::max(cooldown_until_, until);
    tokens_ = std::min(tokens_, 0.0);
}

std::vector<RateBudget::Grant> RateBudget::take_all() {
    std::vector<Grant> out;
    std::lock_guard lock(mu_);
    for (auto& [_, q] : queues_)
        for (auto& g : q) out.push_back(std::move(g));
    queues_.clear();
    turn_.clear();
    waiting_ = 0;
    return out;
}

BudgetSnapshot RateBudget::snapshot(Clock::time_point now) {
    std::lock_guard lock(mu_);
    refill(now);
    BudgetSnapshot s;
    s.capacity = capacity_;
    s.per_hour = per_second_ * 3600.0;
    s.remaining = tokens_;
    s.waiting = waiting_;
    s.spent = spent_;
    s.rate_limited = rate_limited_;
    s.cooldown_seconds = now < cooldown_until_ ? std::chrono::duration<double>(cooldown_until_ - now).count() : 0.0;
    return s;
}

}  // namespace bbreview::bitbucket

#include "bitbucket/client.hpp"

#include <atomic>
#include <condition_variable>
#include <exception>
#include <future>
#include <list>
#include <mutex>
#include <unordered_map>

namespace bbreview::bitbucket {

namespace {

std::string base64(std::string_view in) {
    static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    std::size_t i = 0;
    auto byte = [&](std::size_t k) { return static_cast<unsigned>(static_cast<unsigned char>(in[k])); };
    for (; i + 2 < in.size(); i += 3) {
        unsigned v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += kAlphabet[(v >> 6) & 63];
        out += kAlphabet[v & 63];
    }
    if (i + 1 == in.size()) {
        unsigned v = byte(i) << 16;
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += "==";
    } else if (i + 2 == in.size()) {
        unsigned v = (byte(i) << 16) | (byte(i + 1) << 8);
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += kAlphabet[(v >> 6) & 63];
        out += '=';
    }
    return out;
}

std::string path_of(const std::string& url) {
    auto u = http::Url::parse(url);
    std::string target = u ? u->target : url;
    return target.substr(0, target.find('?'));
}

// A least-recently-used map of immutable responses, bounded in bytes.
class Cache {
public:
    explicit Cache(std::size_t max_bytes) : max_bytes_(max_bytes) {}

    std::optional<Result> get(const std::string& key) {
        std::lock_guard lock(mu_);
        auto it = index_.find(key);
        if (it == index_.end()) return std::nullopt;
        order_.splice(order_.begin(), order_, it->second);
        return it->second->second;
    }
    void put(const std::string& key, const Result& r) {
        std::size_t cost = key.size() + r.body.size() + 256;
        if (cost > max_bytes_) return;
        std::lock_guard lock(mu_);
        if (auto it = index_.find(key); it != index_.end()) {
            bytes_ -= cost_of(*it->second);
            order_.erase(it->second);
            index_.erase(it);
        }
        order_.emplace_front(key, r);
        index_[key] = order_.begin();
        bytes_ += cost;
        while (bytes_ > max_bytes_ && !order_.empty()) {
            bytes_ -= cost_of(order_.back());
            index_.erase(order_.back().first);
            order_.pop_back();
        }
    }
    std::size_t size() const {
        std::lock_guard lock(mu_);
        return index_.size();
    }

private:
    using Entry = std::pair<std::string, Result>;
    static std::size_t cost_of(const Entry& e) { return e.first.size() + e.second.body.size() + 256; }

    mutable std::mutex mu_;
    std::size_t max_bytes_, bytes_ = 0;
    std::list<Entry> order_;
    std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

}  // namespace

std::string Credentials::authorization() const {
    switch (kind) {
        case Kind::api_token: return "Basic " + base64(email + ":" + secret);
        case Kind::access_token: return "Bearer " + secret;
        case Kind::none: return {};
    }
    return {};
}

std::string Credentials::describe() const {
    switch (kind) {
        case Kind::api_token: return "API token for " + email;
        case Kind::access_token: return "access token";
        case Kind::none: return "anonymous";
    }
    return "anonymous";
}

std::string encode_query_component(std::string_view s) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
            c == '.' || c == '~') {
            out += ch;
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 15];
        }
    }
    return out;
}

struct Client::State {
    State(ClientOptions o, Credentials c)
        : opt(std::move(o)),
          creds(std::move(c)),
          budget(opt.budget_burst > 0 ? opt.budget_burst : opt.budget_per_hour, opt.budget_per_hour),
          cache(opt.cache_bytes) {
        while (!opt.base_url.empty() && opt.base_url.back() == '/') opt.base_url.pop_back();
        if (auto u = http::Url::parse(opt.base_url)) base_origin = u->origin();
        http = std::make_unique<http::Client>(opt.http);
    }

    ClientOptions opt;
    Credentials creds;
    std::string base_origin;
    RateBudget budget;
    Cache cache;
    std::atomic<bool> closing{false};
    std::atomic<bool> timer_armed{false};
    std::atomic<int> consecutive_429{0};
    std::unique_ptr<http::Client> http;  // last: destroyed first (see ~Client)
};

namespace {

struct Pending {
    Client::State* s;
    Call call;
    std::string url;
    std::function<void(Result)> done;
    int rate_retries = 0;
};

void start(const std::shared_ptr<Pending>& p);

void finish_error(const std::shared_ptr<Pending>& p, ErrorKind kind, std::string message) {
    Result r;
    r.url = p->url;
    r.error.kind = kind;
    r.error.message = std::move(message);
    r.error.method = p->call.method;
    r.error.path = path_of(p->url);
    auto done = std::move(p->done);
    done(std::move(r));
}

void pump(Client::State* s) {
    auto now = RateBudget::Clock::now();
    for (auto& grant : s->budget.take_ready(now)) grant();
    auto next = s->budget.next_ready(now);
    if (!next || s->closing) return;
    bool expected = false;
    if (s->timer_armed.compare_exchange_strong(expected, true)) {
        s->http->schedule(*next, [s] {
            s->timer_armed = false;
            pump(s);
        });
    }
}

void on_response(const std::shared_ptr<Pending>& p, http::Response resp) {
    Client::State* s = p->s;
    if (!resp.ok()) {
        if (resp.error == http::ErrorKind::shutdown) return finish_error(p, ErrorKind::network, "the client was closed");
        return finish_error(p, ErrorKind::network, std::string(http::to_string(resp.error)) + ": " + resp.error_message);
    }
    if (resp.status == 429) {
        // No Retry-After on Bitbucket's 429 (reference §5): back off with jitter,
        // and pause the whole identity so that waiting calls do not storm.
        int n = ++s->consecutive_429;
        http::Options backoff;
        backoff.backoff_base = s->opt.rate_limit_backoff;
        backoff.backoff_max = s->opt.rate_limit_backoff_max;
        s->budget.penalize(RateBudget::Clock::now() + http::Client::backoff_delay(backoff, n));
        if (p->rate_retries < s->opt.max_rate_limit_retries && !s->closing) {
            ++p->rate_retries;
            return start(p);
        }
    } else {
        s->consecutive_429 = 0;
    }
    Result r;
    r.status = resp.status;
    r.url = resp.url;
    r.headers = std::move(resp.headers);
    r.body = std::move(resp.body);
    if (r.status >= 400) {
        r.error = decode_error(r.status, http::find_header(r.headers, "content-type").value_or(""), r.body,
                               http::find_header(r.headers, "x-oauth-scopes").value_or(""));
        r.error.method = p->call.method;
        r.error.path = path_of(p->url);
    } else if (p->call.immutable && p->call.method == "GET" && r.status == 200) {
        s->cache.put(p->url, r);
    }
    auto done = std::move(p->done);
    done(std::move(r));
}

void send(const std::shared_ptr<Pending>& p) {
    Client::State* s = p->s;
    if (s->closing) return finish_error(p, ErrorKind::network, "the client was closed");
    http::Request req;
    req.method = p->call.method;
    req.url = p->url;
    req.body = p->call.body;
    req.retry_429 = false;  // 429s go through the shared budget back-off above
    req.retry_non_idempotent = p->call.retry_non_idempotent;
    if (!p->call.accept.empty()) req.headers.emplace_back("Accept", p->call.accept);
    if (!p->call.body.empty()) req.headers.emplace_back("Content-Type", p->call.content_type);
    // Credentials only ever go to the configured API origin: an absolute `next`
    // link to another host gets none.
    auto u = http::Url::parse(p->url);
    if (u && u->origin() == s->base_origin && s->creds.kind != Credentials::Kind::none)
        req.headers.emplace_back("Authorization", s->creds.authorization());
    s->http->async_send(std::move(req), [p](http::Response resp) { on_response(p, std::move(resp)); });
}

void start(const std::shared_ptr<Pending>& p) {
    p->s->budget.acquire(p->call.caller, [p] { send(p); });
    pump(p->s);
}

std::string build_url(const std::string& base, const Call& call) {
    std::string url = call.path.rfind("http://", 0) == 0 || call.path.rfind("https://", 0) == 0
                          ? call.path
                          : base + (call.path.empty() || call.path[0] == '/' ? "" : "/") + call.path;
    char sep = url.find('?') == std::string::npos ? '?' : '&';
    for (const auto& [k, v] : call.query) {
        url += sep;
        url += encode_query_component(k);
        url += '=';
        url += encode_query_component(v);
        sep = '&';
    }
    return url;
}

}  // namespace

Client::Client(ClientOptions options, Credentials credentials)
    : state_(std::make_shared<State>(std::move(options), std::move(credentials))) {}

Client::~Client() {
    state_->closing = true;
    // Calls still queued for a token finish with an error instead of hanging.
    for (auto& grant : state_->budget.take_all()) grant();
    state_->http.reset();  // joins the io threads; in-flight requests finish with "closed"
}

void Client::async_call(Call call, std::function<void(Result)> done) {
    auto p = std::make_shared<Pending>();
    p->s = state_.get();
    p->url = build_url(state_->opt.base_url, call);
    p->call = std::move(call);
    p->done = std::move(done);
    if (p->call.immutable && p->call.method == "GET") {
        if (auto hit = state_->cache.get(p->url)) {
            hit->from_cache = true;
            auto cb = std::move(p->done);
            cb(std::move(*hit));
            return;
        }
    }
    if (state_->closing) return finish_error(p, ErrorKind::network, "the client was closed");
    start(p);
}

Result Client::call(Call call) {
    std::promise<Result> promise;
    auto future = promise.get_future();
    async_call(std::move(call), [&promise](Result r) { promise.set_value(std::move(r)); });
    return future.get();
}

std::vector<Result> Client::map(std::vector<Call> calls, std::size_t concurrency,
                                const std::function<void(std::size_t, std::size_t)>& progress) {
    struct Batch {
        std::mutex mu;
        std::condition_variable cv;
        std::vector<Call> calls;
        std::vector<Result> results;
        std::size_t next = 0, done = 0;
    };
    auto b = std::make_shared<Batch>();
    const std::size_t n = calls.size();
    b->calls = std::move(calls);
    b->results.resize(n);
    if (n == 0) return {};
    concurrency = std::max<std::size_t>(1, std::min(concurrency, n));

    // Launches the next call, if any; each completion launches one more, so at
    // most `concurrency` are in flight.
    auto launch_ptr = std::make_shared<std::function<void()>>();
    *launch_ptr = [this, b, weak = std::weak_ptr<std::function<void()>>(launch_ptr)] {
        std::size_t i;
        {
            std::lock_guard lock(b->mu);
            if (b->next >= b->calls.size()) return;
            i = b->next++;
        }
        async_call(std::move(b->calls[i]), [b, i, weak](Result r) {
            {
                std::lock_guard lock(b->mu);
                b->results[i] = std::move(r);
                ++b->done;
            }
            b->cv.notify_all();
            if (auto again = weak.lock()) (*again)();
        });
    };
    for (std::size_t k = 0; k < concurrency; ++k) (*launch_ptr)();

    std::exception_ptr progress_error;
    std::size_t reported = 0;
    std::unique_lock lock(b->mu);
    while (reported < n) {
        b->cv.wait(lock, [&] { return b->done > reported; });
        reported = b->done;
        if (progress && !progress_error) {
            lock.unlock();
            try {
                progress(reported, n);
            } catch (...) {
                progress_error = std::current_exception();  // finish the batch first: handlers use `b`
            }
            lock.lock();
        }
    }
    lock.unlock();
    if (progress_error) std::rethrow_exception(progress_error);
    return std::move(b->results);
}

BudgetSnapshot Client::budget() const { return state_->budget.snapshot(RateBudget::Clock::now()); }
http::Stats Client::http_stats() const { return state_->http->stats(); }
std::size_t Client::cache_entries() const { return state_->cache.size(); }
const std::string& Client::base_url() const { return state_->opt.base_url; }
std::string Client::describe() const { return state_->creds.describe(); }

}  // namespace bbreview::bitbucket

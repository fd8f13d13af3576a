#include "webhook/intake.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include <openssl/crypto.h>

#include "webhook/event.hpp"
#include "webhook/signature.hpp"

namespace bbreview::webhook {

namespace {

using Clock = std::chrono::steady_clock;
using http::ServerRequest;
using http::ServerResponse;

// Upper bounds of the enqueue latency histogram, in seconds (Prometheus `le`).
constexpr std::array<double, 13> kLatencyBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                    0.25,  0.5,    1.0,   2.5,  5.0,   10.0};

std::string trim(std::string_view s) {
    std::size_t b = 0, e = s.size();
    while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
    while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
    return std::string(s.substr(b, e - b));
}

std::string lowercase(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); });
    return s;
}

// Header values that reach a log line are client-controlled: keep only the
// characters of a UUID, and not too many of them.
std::string loggable_id(std::string_view s) {
    std::string out;
    for (char c : s.substr(0, 64))
        if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '{' || c == '}' || c == ':' || c == '_')
            out.push_back(c);
    return out.empty() ? "-" : out;
}

// Overwrites a secret before its memory is released.
void wipe(std::string& s) {
    if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
    s.clear();
}

std::int64_t parse_attempt(const std::string* header) {
    if (!header) return 1;
    std::string t = trim(*header);
    if (t.empty() || t.size() > 6 || !std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return 1;
    return std::max<std::int64_t>(1, std::stoll(t));
}

double unix_now() {
    using namespace std::chrono;
    return duration<double>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

std::string_view to_string(LogLevel level) {
    switch (level) {
        case LogLevel::debug: return "debug";
        case LogLevel::info: return "info";
        case LogLevel::warning: return "warning";
        case LogLevel::error: return "error";
    }
    return "info";
}

std::string normalize_hook_uuid(std::string_view uuid) {
    std::string t = trim(uuid);
    if (t.size() >= 2 && t.front() == '{' && t.back() == '}') t = t.substr(1, t.size() - 2);
    return lowercase(trim(t));
}

bool is_json_media_type(std::string_view content_type) {
    auto media = lowercase(trim(content_type.substr(0, content_type.find(';'))));
    return media == "application/json";
}

struct Intake::Impl {
    explicit Impl(IntakeOptions o) : opt(std::move(o)) {
        InboxOptions io;
        io.path = opt.db_path;
        io.queue_capacity = opt.queue_capacity;
        io.max_batch = opt.max_batch;
        io.busy_timeout = opt.busy_timeout;
        inbox = std::make_unique<Inbox>(std::move(io));
        server = std::make_unique<http::Server>(
            opt.server, [this](ServerRequest req, http::Respond respond) { handle(std::move(req), std::move(respond)); });
    }

    ~Impl() {
        std::unique_lock lock(secrets_mu);
        if (default_secret) wipe(*default_secret);
        for (auto& [_, s] : hook_secrets) wipe(s);
    }

    IntakeOptions opt;

    mutable std::shared_mutex secrets_mu;
    std::optional<std::string> default_secret;
    std::unordered_map<std::string, std::string> hook_secrets;  // normalized uuid → secret

    mutable std::mutex extra_mu;
    std::string extra_metrics;
    std::atomic<bool> healthy{true};

    std::atomic<std::uint64_t> accepted{0}, duplicates{0}, rejected_signature{0}, malformed{0}, unsupported_media{0},
        unavailable{0};
    std::array<std::atomic<std::uint64_t>, kLatencyBuckets.size() + 1> latency_buckets{};  // last: +Inf
    std::atomic<std::uint64_t> latency_count{0}, latency_sum_ns{0};

    // The routes, in the (alphabetical) order /metrics lists them.
    enum Route : std::uint8_t { kHealthz, kMetrics, kOther, kWebhook, kRoutes };
    static constexpr std::array<std::string_view, kRoutes> kRouteNames = {"healthz", "metrics", "other", "webhook"};
    mutable std::mutex routes_mu;
    std::array<std::map<int, std::uint64_t>, kRoutes> by_route{};  // route → status → count

    mutable std::mutex log_mu;
    std::condition_variable log_cv;
    std::deque<LogRecord> log_records;
    std::uint64_t log_dropped = 0;

    // Declared last: destroyed first, after stop() has answered or dropped
    // every request, so that no Respond outlives the server.
    std::unique_ptr<Inbox> inbox;
    std::unique_ptr<http::Server> server;

    void log(LogLevel level, std::string message) {
        {
            std::lock_guard lock(log_mu);
            if (log_records.size() >= kMaxBufferedLogRecords) {
                log_records.pop_front();
                ++log_dropped;
            }
            log_records.push_back(LogRecord{level, std::move(message)});
        }
        log_cv.notify_one();
    }

    void observe_latency(Clock::duration d) {
        double seconds = std::chrono::duration<double>(d).count();
        std::size_t i = 0;
        while (i < kLatencyBuckets.size() && seconds > kLatencyBuckets[i]) ++i;
        latency_buckets[i].fetch_add(1, std::memory_order_relaxed);
        latency_count.fetch_add(1, std::memory_order_relaxed);
        latency_sum_ns.fetch_add(
            static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count()),
            std::memory_order_relaxed);
    }

    // -- routing ------------------------------------------------------------------------
    void handle(ServerRequest req, http::Respond respond) {
        Route route = kOther;
        auto path = req.path();
        if (path == opt.path)
            route = kWebhook;
        else if (path == "/healthz")
            route = kHealthz;
        else if (path == "/metrics")
            route = kMetrics;
        http::Respond counted = [this, route, respond = std::move(respond)](ServerResponse r) {
            {
                std::lock_guard lock(routes_mu);
                ++by_route[route][r.status];
            }
            respond(std::move(r));
        };
        if (route == kWebhook) return webhook(std::move(req), std::move(counted));
        if (route == kOther) return counted(ServerResponse::text(404, "not found"));
        if (req.method != "GET") {
            auto r = ServerResponse::text(405, "method not allowed; use GET");
            r.headers.emplace_back("Allow", "GET");
            return counted(std::move(r));
        }
        if (route == kMetrics) {
            auto r = ServerResponse::text(200, render_metrics());
            r.content_type = "text/plain; version=0.0.4; charset=utf-8";
            return counted(std::move(r));
        }
        healthz(std::move(counted));
    }

    void healthz(http::Respond respond) {
        if (server->draining()) return respond(ServerResponse::text(503, "draining"));
        if (!healthy.load()) return respond(ServerResponse::text(503, "unhealthy"));
        // The probe runs on the writer thread, after any queued rows, so it
        // reports whether a delivery arriving now could be stored.
        bool queued = inbox->probe([this, respond](std::string why) {
            if (why.empty()) return respond(ServerResponse::text(200, "ok"));
            log(LogLevel::error, "health check: the inbox cannot be written: " + why);
            respond(ServerResponse::text(503, "store unavailable: " + why));
        });
        if (!queued) respond(ServerResponse::text(503, "store queue full or stopped"));
    }

    // The secret that must have signed a delivery of `hook_uuid`, if any, and
    // whether any secret at all is configured.
    std::pair<std::optional<std::string>, bool> secret_for(const std::optional<std::string>& hook_uuid) const {
        std::shared_lock lock(secrets_mu);
        bool any = default_secret.has_value() || !hook_secrets.empty();
        if (hook_uuid) {
            auto it = hook_secrets.find(*hook_uuid);
            if (it != hook_secrets.end()) return {it->second, any};
        }
        return {default_secret, any};
    }

    void webhook(ServerRequest req, http::Respond respond) {
        if (req.method != "POST") {
            auto r = ServerResponse::text(405, "method not allowed; Bitbucket webhooks use POST");
            r.headers.emplace_back("Allow", "POST");
            return respond(std::move(r));
        }
        // Header values are read in place (find), not copied.
        const std::string* request_uuid_header = req.find("X-Request-UUID");
        std::string request_id = loggable_id(request_uuid_header ? std::string_view(*request_uuid_header) : "");
        const std::string* content_type = req.find("Content-Type");
        if (!content_type || !is_json_media_type(*content_type)) {
            unsupported_media.fetch_add(1, std::memory_order_relaxed);
            log(LogLevel::warning, "delivery " + request_id + " refused: Content-Type is not application/json");
            return respond(ServerResponse::text(415, "Content-Type must be application/json"));
        }
        const std::string* event_key = req.find("X-Event-Key");
        if (!event_key || trim(*event_key).empty()) {
            malformed.fetch_add(1, std::memory_order_relaxed);
            log(LogLevel::warning, "delivery " + request_id + " refused: no X-Event-Key header");
            return respond(ServerResponse::text(400, "the X-Event-Key header is required"));
        }
        std::string key = trim(*event_key);
        if (!is_valid_event_key(key)) {
            malformed.fetch_add(1, std::memory_order_relaxed);
            log(LogLevel::warning, "delivery " + request_id + " refused: X-Event-Key is not an event key");
            return respond(ServerResponse::text(400, "X-Event-Key is not an event key (expected e.g. pullrequest:created)"));
        }
        std::optional<std::string> hook_uuid;
        if (const std::string* h = req.find("X-Hook-UUID"); h && !trim(*h).empty()) hook_uuid = normalize_hook_uuid(*h);
        std::optional<std::string> request_uuid;
        if (request_uuid_header && !trim(*request_uuid_header).empty()) {
            request_uuid = trim(*request_uuid_header);
            if (request_uuid->size() > kMaxRequestUuidLength) {
                malformed.fetch_add(1, std::memory_order_relaxed);
                return respond(ServerResponse::text(400, "X-Request-UUID is too long"));
            }
        }

        // The signature is checked over the raw bytes, before parsing (reference §7.2).
        auto [secret, any_secret] = secret_for(hook_uuid);
        std::string hook_id = hook_uuid ? loggable_id(*hook_uuid) : "-";
        if (secret) {
            const std::string* signature = req.find("X-Hub-Signature");
            bool ok = signature && verify(*secret, req.body, *signature);
            wipe(*secret);
            if (!ok) {
                rejected_signature.fetch_add(1, std::memory_order_relaxed);
                log(LogLevel::warning, "delivery " + request_id + " (hook " + hook_id + ", " + key + ") refused: " +
                                           (signature ? "the signature does not match" : "no X-Hub-Signature header"));
                return respond(ServerResponse::text(401, "missing or invalid X-Hub-Signature"));
            }
        } else if (any_secret || opt.require_signature) {
            rejected_signature.fetch_add(1, std::memory_order_relaxed);
            log(LogLevel::warning, "delivery " + request_id + " (hook " + hook_id + ", " + key +
                                       ") refused: no secret is configured for this hook");
            return respond(ServerResponse::text(401, "no secret is configured for this hook; the delivery cannot be verified"));
        }

        if (!opt.accepted_events.empty() &&
            std::find(opt.accepted_events.begin(), opt.accepted_events.end(), key) == opt.accepted_events.end()) {
            malformed.fetch_add(1, std::memory_order_relaxed);
            log(LogLevel::warning, "delivery " + request_id + " (hook " + hook_id + ") refused: event " + key +
                                       " is not handled; the hook should subscribe only to the events bbreview uses");
            return respond(ServerResponse::text(400, "bbreview does not handle the event " + key +
                                                         "; reinstall the webhook (bbreview repos reinstall) to "
                                                         "subscribe to the right events"));
        }

        Decoded d = decode(key, req.body);
        if (!d.ok()) {
            malformed.fetch_add(1, std::memory_order_relaxed);
            log(LogLevel::warning, "delivery " + request_id + " (" + key + ") refused: " + d.error);
            return respond(ServerResponse::text(400, d.error));
        }
        // Refused here rather than stored: the dispatcher could only drop it
        // later, and a 4xx is not retried (reference §7.3), so nothing is lost.
        if (std::string missing = missing_routing_field(d.event); !missing.empty()) {
            malformed.fetch_add(1, std::memory_order_relaxed);
            log(LogLevel::warning, "delivery " + request_id + " (hook " + hook_id + ") refused: " + missing);
            return respond(ServerResponse::text(
                400, missing + "; Bitbucket sends the repository and the pull request with every pull request "
                               "event, so check that the sender is a Bitbucket webhook and sends the event's "
                               "payload unchanged"));
        }

        InboxRow row;
        row.request_uuid = std::move(request_uuid);
        row.dedup_key = dedup_key(d.event, req.body);
        row.event_key = std::move(key);
        row.hook_uuid = std::move(hook_uuid);
        row.repository = std::move(d.event.repository);
        row.pr_id = d.event.pr_id;
        row.attempt = parse_attempt(req.find("X-Attempt-Number"));
        row.received_at = unix_now();
        row.body = std::move(req.body);
        auto started = Clock::now();
        bool queued = inbox->submit(std::move(row), [this, respond, started, request_id](EnqueueResult r) {
            observe_latency(Clock::now() - started);
            switch (r.status) {
                case EnqueueResult::Status::queued:
                    accepted.fetch_add(1, std::memory_order_relaxed);
                    return respond(ServerResponse::json(200, R"({"status":"queued","seq":)" + std::to_string(r.seq) + "}"));
                case EnqueueResult::Status::duplicate:
                    duplicates.fetch_add(1, std::memory_order_relaxed);
                    return respond(ServerResponse::json(200, R"({"status":"duplicate"})"));
                case EnqueueResult::Status::unavailable:
                    unavailable.fetch_add(1, std::memory_order_relaxed);
                    log(LogLevel::error, "delivery " + request_id + " not stored: " + r.error);
                    return respond(ServerResponse::text(503, "the delivery could not be stored; retry later"));
            }
        });
        if (!queued) {
            unavailable.fetch_add(1, std::memory_order_relaxed);
            log(LogLevel::warning, "delivery " + request_id + " refused: the inbox queue is full");
            respond(ServerResponse::text(503, "the intake queue is full; retry later"));
        }
    }

    // -- metrics ------------------------------------------------------------------------
    std::string render_metrics() const {
        std::string m;
        auto family = [&m](std::string_view name, std::string_view type, std::string_view help) {
            m += "# HELP ";
            m += name;
            m += ' ';
            m += help;
            m += "\n# TYPE ";
            m += name;
            m += ' ';
            m += type;
            m += '\n';
        };
        auto sample = [&m](std::string_view name, std::string_view labels, auto value) {
            m += name;
            if (!labels.empty()) {
                m += '{';
                m += labels;
                m += '}';
            }
            m += ' ';
            m += std::to_string(value);
            m += '\n';
        };
        auto hs = server->stats();
        auto is = inbox->stats();

        family("bbreview_intake_requests_total", "counter", "HTTP requests answered by the intake's routes, by route and status.");
        {
            std::lock_guard lock(routes_mu);
            for (std::size_t route = 0; route < kRoutes; ++route)
                for (const auto& [status, n] : by_route[route])
                    sample("bbreview_intake_requests_total",
                           "route=\"" + std::string(kRouteNames[route]) + "\",status=\"" + std::to_string(status) + "\"",
                           n);
        }
        family("bbreview_intake_deliveries_total", "counter", "Webhook deliveries by outcome.");
        sample("bbreview_intake_deliveries_total", "outcome=\"accepted\"", accepted.load());
        sample("bbreview_intake_deliveries_total", "outcome=\"duplicate\"", duplicates.load());
        sample("bbreview_intake_deliveries_total", "outcome=\"rejected_signature\"", rejected_signature.load());
        sample("bbreview_intake_deliveries_total", "outcome=\"malformed\"", malformed.load());
        sample("bbreview_intake_deliveries_total", "outcome=\"unsupported_media_type\"", unsupported_media.load());
        sample("bbreview_intake_deliveries_total", "outcome=\"unavailable\"", unavailable.load());

        family("bbreview_intake_enqueue_seconds", "histogram",
               "Time from a verified delivery to its durable commit (queue wait plus transaction).");
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < kLatencyBuckets.size(); ++i) {
            cumulative += latency_buckets[i].load();
            std::string le = std::to_string(kLatencyBuckets[i]);
            le.erase(le.find_last_not_of('0') + 1);
            if (le.back() == '.') le.push_back('0');
            sample("bbreview_intake_enqueue_seconds_bucket", "le=\"" + le + "\"", cumulative);
        }
        cumulative += latency_buckets.back().load();
        sample("bbreview_intake_enqueue_seconds_bucket", "le=\"+Inf\"", cumulative);
        sample("bbreview_intake_enqueue_seconds_sum", "", static_cast<double>(latency_sum_ns.load()) / 1e9);
        sample("bbreview_intake_enqueue_seconds_count", "", latency_count.load());

        family("bbreview_intake_inbox_pending", "gauge", "Rows waiting for the inbox writer.");
        sample("bbreview_intake_inbox_pending", "", is.pending);
        family("bbreview_intake_inbox_commits_total", "counter", "Inbox transactions committed (group commits).");
        sample("bbreview_intake_inbox_commits_total", "", is.commits);
        family("bbreview_intake_healthy", "gauge", "1 when the intake reports healthy.");
        sample("bbreview_intake_healthy", "", healthy.load() && !hs.draining ? 1 : 0);

        family("bbreview_http_connections_active", "gauge", "Open client connections (in-flight connections).");
        sample("bbreview_http_connections_active", "", hs.connections_active);
        family("bbreview_http_requests_in_flight", "gauge", "Requests read and not yet answered.");
        sample("bbreview_http_requests_in_flight", "", hs.requests_in_flight);
        family("bbreview_http_connections_total", "counter", "Connections accepted or refused (over the connection cap).");
        sample("bbreview_http_connections_total", "result=\"accepted\"", hs.connections_accepted);
        sample("bbreview_http_connections_total", "result=\"refused\"", hs.connections_refused);
        family("bbreview_http_responses_total", "counter", "Responses written by status class, transport errors included.");
        for (std::size_t c = 1; c < hs.responses_by_class.size(); ++c)
            sample("bbreview_http_responses_total", "class=\"" + std::to_string(c) + "xx\"", hs.responses_by_class[c]);
        family("bbreview_http_rejected_total", "counter", "Requests refused or dropped by the transport, by reason.");
        sample("bbreview_http_rejected_total", "reason=\"body_too_large\"", hs.body_too_large);
        sample("bbreview_http_rejected_total", "reason=\"header_too_large\"", hs.header_too_large);
        sample("bbreview_http_rejected_total", "reason=\"bad_request\"", hs.bad_requests);
        sample("bbreview_http_rejected_total", "reason=\"timeout\"", hs.timeouts);
        sample("bbreview_http_rejected_total", "reason=\"handler_timeout\"", hs.handler_timeouts);
        family("bbreview_http_request_body_bytes_total", "counter", "Request body bytes received.");
        sample("bbreview_http_request_body_bytes_total", "", hs.body_bytes);

        std::lock_guard lock(extra_mu);
        if (!extra_metrics.empty()) {
            m += extra_metrics;
            if (m.back() != '\n') m += '\n';
        }
        return m;
    }
};

Intake::Intake(IntakeOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Intake::~Intake() { stop(std::chrono::milliseconds(0)); }

unsigned short Intake::start() {
    unsigned short port = impl_->server->start();
    std::size_t hooks = hook_secret_count();
    impl_->log(LogLevel::info, "webhook intake listening on " + impl_->opt.server.host + ":" + std::to_string(port) +
                                   impl_->opt.path + " (" + std::to_string(hooks) + " hook secrets, default secret " +
                                   (has_default_secret() ? "set" : "not set") + ", signatures " +
                                   (impl_->opt.require_signature ? "required" : "required when a secret is set") + ")");
    return port;
}

void Intake::stop(std::chrono::milliseconds drain_timeout) {
    bool was_running = impl_->server->port() != 0 && !impl_->server->draining();
    impl_->server->stop(drain_timeout);
    impl_->inbox->stop();
    if (was_running) impl_->log(LogLevel::info, "webhook intake stopped");
    impl_->log_cv.notify_all();
}

unsigned short Intake::port() const { return impl_->server->port(); }

void Intake::set_default_secret(std::optional<std::string> secret) {
    std::unique_lock lock(impl_->secrets_mu);
    if (impl_->default_secret) wipe(*impl_->default_secret);
    impl_->default_secret = std::move(secret);
}

void Intake::set_hook_secret(std::string_view hook_uuid, std::string secret) {
    std::unique_lock lock(impl_->secrets_mu);
    auto& slot = impl_->hook_secrets[normalize_hook_uuid(hook_uuid)];
    wipe(slot);
    slot = std::move(secret);
}

bool Intake::remove_hook_secret(std::string_view hook_uuid) {
    std::unique_lock lock(impl_->secrets_mu);
    auto it = impl_->hook_secrets.find(normalize_hook_uuid(hook_uuid));
    if (it == impl_->hook_secrets.end()) return false;
    wipe(it->second);
    impl_->hook_secrets.erase(it);
    return true;
}

std::size_t Intake::hook_secret_count() const {
    std::shared_lock lock(impl_->secrets_mu);
    return impl_->hook_secrets.size();
}

bool Intake::has_default_secret() const {
    std::shared_lock lock(impl_->secrets_mu);
    return impl_->default_secret.has_value();
}

void Intake::set_metrics_text(std::string text) {
    std::lock_guard lock(impl_->extra_mu);
    impl_->extra_metrics = std::move(text);
}

void Intake::set_healthy(bool healthy) { impl_->healthy = healthy; }

bool Intake::wait_for_delivery(std::chrono::milliseconds timeout) { return impl_->inbox->wait_for_delivery(timeout); }

std::vector<LogRecord> Intake::take_log(std::chrono::milliseconds timeout) {
    std::unique_lock lock(impl_->log_mu);
    impl_->log_cv.wait_for(lock, timeout, [this] { return !impl_->log_records.empty() || impl_->server->draining(); });
    std::vector<LogRecord> out(std::make_move_iterator(impl_->log_records.begin()),
                               std::make_move_iterator(impl_->log_records.end()));
    impl_->log_records.clear();
    return out;
}

IntakeStats Intake::stats() const {
    auto& i = *impl_;
    IntakeStats s;
    s.server = i.server->stats();
    s.inbox = i.inbox->stats();
    s.accepted = i.accepted.load();
    s.duplicates = i.duplicates.load();
    s.rejected_signature = i.rejected_signature.load();
    s.malformed = i.malformed.load();
    s.unsupported_media = i.unsupported_media.load();
    s.unavailable = i.unavailable.load();
    s.healthy = i.healthy.load() && !s.server.draining;
    std::lock_guard lock(i.log_mu);
    s.log_dropped = i.log_dropped;
    return s;
}

std::string Intake::metrics_text() const { return impl_->render_metrics(); }

const IntakeOptions& Intake::options() const { return impl_->opt; }

void Intake::handle(http::ServerRequest request, http::Respond respond) {
    impl_->handle(std::move(request), std::move(respond));
}

}  // namespace bbreview::webhook

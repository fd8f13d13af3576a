// The Beast implementation of bbreview::http::Client. Each request is an
// Exchange: a session object whose do_*/on_* pairs walk resolve → connect →
// (proxy CONNECT) → (TLS handshake) → write → read, with a deadline armed before
// every operation. Retries and redirects start a new attempt on the same
// Exchange; the connection pool hands out kept-alive connections per origin.
#include "http/client.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/ssl.h>
#include <zlib.h>

namespace bbreview::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using beast::error_code;

// ---------------------------------------------------------------------------------
// Pure helpers

namespace {

char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

std::string trim(std::string_view s) {
    std::size_t b = 0, e = s.size();
    while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
    while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
    return std::string(s.substr(b, e - b));
}

std::string getenv_either(const char* upper, const char* lower_name) {
    if (const char* v = std::getenv(upper); v && *v) return v;
    if (const char* v = std::getenv(lower_name); v && *v) return v;
    return {};
}

bool is_idempotent(std::string_view method) {
    return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE" || method == "OPTIONS" ||
           method == "TRACE";
}

bool is_retryable_status(int status, bool retry_429) {
    if (status == 429) return retry_429;
    // 501/505 are permanent; Bitbucket's 555 means "diff too large" and
    // repeating it only spends rate budget (reference §3).
    return status >= 500 && status <= 599 && status != 501 && status != 505 && status != 555;
}

bool is_redirect(int status) {
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

}  // namespace

std::optional<std::string> find_header(const Headers& headers, std::string_view name) {
    for (const auto& [k, v] : headers)
        if (iequals(k, name)) return v;
    return std::nullopt;
}

std::string_view to_string(ErrorKind kind) {
    switch (kind) {
        case ErrorKind::none: return "none";
        case ErrorKind::invalid_url: return "invalid_url";
        case ErrorKind::resolve: return "resolve";
        case ErrorKind::connect: return "connect";
        case ErrorKind::tls: return "tls";
        case ErrorKind::proxy: return "proxy";
        case ErrorKind::timeout: return "timeout";
        case ErrorKind::reset: return "reset";
        case ErrorKind::protocol: return "protocol";
        case ErrorKind::body_too_large: return "body_too_large";
        case ErrorKind::bad_encoding: return "bad_encoding";
        case ErrorKind::too_many_redirects: return "too_many_redirects";
        case ErrorKind::shutdown: return "shutdown";
    }
    return "unknown";
}

std::optional<Url> Url::parse(std::string_view text) {
    Url u;
    auto sep = text.find("://");
    if (sep == std::string_view::npos) return std::nullopt;
    u.scheme = std::string(text.substr(0, sep));
    std::transform(u.scheme.begin(), u.scheme.end(), u.scheme.begin(), lower);
    if (u.scheme != "http" && u.scheme != "https") return std::nullopt;
    auto rest = text.substr(sep + 3);
    auto slash = rest.find_first_of("/?#");
    auto authority = rest.substr(0, slash);
    u.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
    if (auto hash = u.target.find('#'); hash != std::string::npos) u.target.resize(hash);
    if (u.target.empty() || u.target[0] != '/') u.target.insert(0, "/");
    if (auto at = authority.rfind('@'); at != std::string_view::npos) authority = authority.substr(at + 1);
    if (authority.empty()) return std::nullopt;
    if (authority[0] == '[') {
        auto close = authority.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        u.host = std::string(authority.substr(1, close - 1));
        auto after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after[0] != ':') return std::nullopt;
            u.port = std::string(after.substr(1));
        }
    } else {
        auto colon = authority.rfind(':');
        u.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) u.port = std::string(authority.substr(colon + 1));
    }
    std::transform(u.host.begin(), u.host.end(), u.host.begin(), lower);
    if (u.host.empty()) return std::nullopt;
    if (u.port.empty()) u.port = u.scheme == "https" ? "443" : "80";
    if (!std::all_of(u.port.begin(), u.port.end(), [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
    return u;
}

std::string Url::origin() const { return scheme + "://" + host + ":" + port; }

std::string Url::str() const {
    bool default_port = (scheme == "https" && port == "443") || (scheme == "http" && port == "80");
    std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    return scheme + "://" + h + (default_port ? "" : ":" + port) + target;
}

std::optional<Url> resolve_location(const Url& base, std::string_view location) {
    std::string loc = trim(location);
    if (loc.empty()) return std::nullopt;
    if (loc.find("://") != std::string::npos) return Url::parse(loc);
    Url u = base;
    if (loc.rfind("//", 0) == 0) return Url::parse(base.scheme + ":" + loc);
    if (loc[0] == '/') {
        u.target = loc;
    } else if (loc[0] == '?') {
        u.target = base.target.substr(0, base.target.find('?')) + loc;
    } else {
        auto path = base.target.substr(0, base.target.find('?'));
        u.target = path.substr(0, path.rfind('/') + 1) + loc;
    }
    if (auto hash = u.target.find('#'); hash != std::string::npos) u.target.resize(hash);
    return u;
}

std::optional<Url> proxy_for(const Url& url, std::string_view https_proxy, std::string_view http_proxy,
                             std::string_view no_proxy) {
    std::string_view chosen = url.scheme == "https" ? https_proxy : http_proxy;
    if (trim(chosen).empty()) return std::nullopt;
    std::size_t pos = 0;
    while (pos <= no_proxy.size()) {
        auto comma = no_proxy.find(',', pos);
        auto item = trim(no_proxy.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos));
        pos = comma == std::string_view::npos ? no_proxy.size() + 1 : comma + 1;
        if (item.empty()) continue;
        if (item == "*") return std::nullopt;
        if (auto colon = item.find(':'); colon != std::string::npos && item.find(':', colon + 1) == std::string::npos)
            item.resize(colon);  // "host:port" entries match the host
        std::transform(item.begin(), item.end(), item.begin(), lower);
        if (item[0] == '.') item.erase(0, 1);
        const std::string& h = url.host;
        if (h == item || (h.size() > item.size() && h.compare(h.size() - item.size(), item.size(), item) == 0 &&
                          h[h.size() - item.size() - 1] == '.'))
            return std::nullopt;
    }
    std::string text = trim(chosen);
    if (text.find("://") == std::string::npos) text = "http://" + text;
    return Url::parse(text);
}

std::optional<std::string> gunzip(std::string_view data, std::size_t max_bytes) {
    z_stream zs{};
    // 15 + 32: accept gzip and zlib headers alike.
    if (inflateInit2(&zs, 15 + 32) != Z_OK) return std::nullopt;
    std::string out;
    char chunk[16384];
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    zs.avail_in = static_cast<uInt>(data.size());
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        zs.next_out = reinterpret_cast<Bytef*>(chunk);
        zs.avail_out = sizeof chunk;
        rc = inflate(&zs, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END) {
            inflateEnd(&zs);
            return std::nullopt;
        }
        out.append(chunk, sizeof chunk - zs.avail_out);
        if (out.size() > max_bytes) {
            inflateEnd(&zs);
            return std::nullopt;
        }
        if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {  // truncated input
            inflateEnd(&zs);
            return std::nullopt;
        }
    }
    inflateEnd(&zs);
    return out;
}

std::chrono::milliseconds Client::backoff_delay(const Options& options, int attempt) {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    double base = static_cast<double>(options.backoff_base.count());
    double cap = static_cast<double>(options.backoff_max.count());
    double exp = std::min(cap, base * static_cast<double>(1ull << std::clamp(attempt - 1, 0, 30)));
    std::uniform_real_distribution<double> half(0.0, exp / 2.0);
    return std::chrono::milliseconds(static_cast<long long>(exp / 2.0 + half(rng)));
}

// ---------------------------------------------------------------------------------
// The client

namespace detail {

struct Conn {
    explicit Conn(asio::io_context& ioc) : tcp(ioc) {}
    beast::tcp_stream tcp;  // moved into `tls` for https
    std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
    beast::flat_buffer buffer;
    Clock::time_point idle_since{};

    beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : tcp; }
    void close() {
        error_code ignored;
        lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
        lowest().socket().close(ignored);
    }
};

struct HostPool {
    std::size_t active = 0;
    std::deque<std::function<void()>> waiters;
    std::vector<std::unique_ptr<Conn>> idle;
};

class Exchange;

}  // namespace detail

using detail::Conn;
using detail::Exchange;
using detail::HostPool;

struct Client::Impl {
    explicit Impl(Options o) : opt(std::move(o)), work(asio::make_work_guard(ioc)), ssl_ctx(asio::ssl::context::tls_client) {
        if (opt.use_environment_proxy) {
            if (opt.https_proxy.empty()) opt.https_proxy = getenv_either("HTTPS_PROXY", "https_proxy");
            if (opt.http_proxy.empty()) opt.http_proxy = getenv_either("HTTP_PROXY", "http_proxy");
            if (opt.no_proxy.empty()) opt.no_proxy = getenv_either("NO_PROXY", "no_proxy");
        }
        ssl_ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                            asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                            asio::ssl::context::no_tlsv1_1);
        error_code ec;
        ssl_ctx.set_default_verify_paths(ec);  // a missing system store only matters when verifying
        if (!opt.ca_file.empty()) ssl_ctx.load_verify_file(opt.ca_file);
        if (opt.max_connections_per_host == 0) opt.max_connections_per_host = 1;
        std::size_t n = std::max<std::size_t>(1, opt.threads);
        for (std::size_t i = 0; i < n; ++i) threads.emplace_back([this] { ioc.run(); });
    }

    Options opt;
    asio::io_context ioc;
    asio::executor_work_guard<asio::io_context::executor_type> work;
    asio::ssl::context ssl_ctx;
    std::vector<std::thread> threads;

    std::mutex mu;
    bool stopping = false;
    // Declared after `ioc`, so that pooled sockets are closed before the io_context dies.
    std::map<std::string, HostPool> pools;
    std::unordered_map<const void*, std::weak_ptr<Exchange>> live;

    std::atomic<std::uint64_t> n_requests{0}, n_exchanges{0}, n_connections{0}, n_retries{0};

    // Calls `fn` (posted) once a connection slot for `key` is free.
    void acquire(const std::string& key, std::function<void()> fn) {
        std::lock_guard lock(mu);
        auto& p = pools[key];
        if (p.active < opt.max_connections_per_host) {
            ++p.active;
            asio::post(ioc, std::move(fn));
        } else {
            p.waiters.push_back(std::move(fn));
        }
    }
    void release(const std::string& key) {
        std::lock_guard lock(mu);
        auto& p = pools[key];
        if (!p.waiters.empty()) {  // hand the slot straight to the next waiter: FIFO
            asio::post(ioc, std::move(p.waiters.front()));
            p.waiters.pop_front();
        } else if (p.active > 0) {
            --p.active;
        }
    }
    std::unique_ptr<Conn> take_idle(const std::string& key) {
        std::lock_guard lock(mu);
        auto& idle = pools[key].idle;
        while (!idle.empty()) {
            auto c = std::move(idle.back());
            idle.pop_back();
            if (Clock::now() - c->idle_since < opt.idle_timeout) return c;
            c->close();
        }
        return nullptr;
    }
    void put_idle(const std::string& key, std::unique_ptr<Conn> c) {
        std::lock_guard lock(mu);
        auto& idle = pools[key].idle;
        if (stopping || idle.size() >= opt.max_idle_per_host) {
            c->close();
            return;
        }
        c->idle_since = Clock::now();
        idle.push_back(std::move(c));
    }
};

namespace detail {

class Exchange : public std::enable_shared_from_this<Exchange> {
public:
    Exchange(Client::Impl& c, Request req, Client::Handler done)
        : c_(c), req_(std::move(req)), done_(std::move(done)), resolver_(c.ioc), timer_(c.ioc) {}

    void start() {
        deadline_ = Clock::now() + c_.opt.total_timeout;
        auto u = Url::parse(req_.url);
        if (!u) return finish_error(ErrorKind::invalid_url, "not an absolute http(s) URL");
        url_ = *u;
        start_attempt();
    }

    // Called on the destroying thread after the io threads stopped.
    void abandon() { finish_error(ErrorKind::shutdown, "the HTTP client was shut down"); }

private:
    // -- attempt bookkeeping ---------------------------------------------------------
    void start_attempt() {
        proxy_ = proxy_for(url_, c_.opt.https_proxy, c_.opt.http_proxy, c_.opt.no_proxy);
        key_ = url_.origin() + (proxy_ ? " via " + proxy_->origin() : "");
        stale_retry_used_ = false;
        c_.acquire(key_, [self = shared_from_this()] { self->on_slot(); });
    }

    void on_slot() {
        holds_slot_ = true;
        if (Clock::now() >= deadline_) return fail(ErrorKind::timeout, "total deadline passed while queued");
        conn_ = c_.take_idle(key_);
        reused_ = conn_ != nullptr;
        if (reused_) return do_write();
        do_resolve();
    }

    // The deadline of the next operation, remembered so that a failure at that
    // moment is reported as a timeout whatever error code the cancelled
    // operation produced.
    std::chrono::milliseconds op_timeout(std::chrono::milliseconds limit) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now());
        auto t = std::max(std::chrono::milliseconds(1), std::min(limit, left));
        op_deadline_ = Clock::now() + t;
        return t;
    }
    bool op_expired() const { return Clock::now() + std::chrono::milliseconds(2) >= op_deadline_; }

    // -- connect -----------------------------------------------------------------------
    void do_resolve() {
        const Url& to = proxy_ ? *proxy_ : url_;
        timer_.expires_after(op_timeout(c_.opt.connect_timeout));
        timer_.async_wait([self = shared_from_this()](error_code ec) {
            if (!ec) self->resolver_.cancel();
        });
        resolver_.async_resolve(to.host, to.port,
                                [self = shared_from_this()](error_code ec, tcp::resolver::results_type r) {
                                    self->on_resolve(ec, std::move(r));
                                });
    }

    void on_resolve(error_code ec, tcp::resolver::results_type results) {
        timer_.cancel();
        if (ec == asio::error::operation_aborted) return fail(ErrorKind::timeout, "DNS resolution timed out");
        if (ec) return fail(ErrorKind::resolve, "cannot resolve host: " + ec.message());
        conn_ = std::make_unique<Conn>(c_.ioc);
        conn_->tcp.expires_after(op_timeout(c_.opt.connect_timeout));
        conn_->tcp.async_connect(results, [self = shared_from_this()](error_code e, const tcp::endpoint&) {
            self->on_connect(e);
        });
    }

    void on_connect(error_code ec) {
        if (ec == beast::error::timeout) return fail(ErrorKind::timeout, "connect timed out");
        if (ec) return fail(ErrorKind::connect, "cannot connect: " + ec.message());
        c_.n_connections.fetch_add(1, std::memory_order_relaxed);
        if (proxy_) return do_proxy_connect();
        after_tcp();
    }

    void do_proxy_connect() {
        proxy_req_ = {};
        proxy_req_.method(bhttp::verb::connect);
        proxy_req_.target(url_.host + ":" + url_.port);
        proxy_req_.version(11);
        proxy_req_.set(bhttp::field::host, url_.host + ":" + url_.port);
        proxy_req_.set(bhttp::field::user_agent, c_.opt.user_agent);
        conn_->tcp.expires_after(op_timeout(c_.opt.connect_timeout));
        bhttp::async_write(conn_->tcp, proxy_req_, [self = shared_from_this()](error_code ec, std::size_t) {
            self->on_proxy_write(ec);
        });
    }

    void on_proxy_write(error_code ec) {
        if (ec) return fail(ErrorKind::proxy, "proxy CONNECT failed: " + ec.message());
        proxy_parser_.emplace();
        proxy_parser_->skip(true);  // a 2xx answer to CONNECT has no body
        conn_->tcp.expires_after(op_timeout(c_.opt.connect_timeout));
        bhttp::async_read(conn_->tcp, conn_->buffer, *proxy_parser_,
                          [self = shared_from_this()](error_code e, std::size_t) { self->on_proxy_read(e); });
    }

    void on_proxy_read(error_code ec) {
        if (ec == beast::error::timeout) return fail(ErrorKind::timeout, "proxy CONNECT timed out");
        if (ec) return fail(ErrorKind::proxy, "proxy CONNECT failed: " + ec.message());
        unsigned status = proxy_parser_->get().result_int();
        if (status / 100 != 2) return fail(ErrorKind::proxy, "proxy refused CONNECT with " + std::to_string(status));
        after_tcp();
    }

    void after_tcp() {
        if (url_.scheme != "https") return do_write();
        conn_->tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(std::move(conn_->tcp), c_.ssl_ctx);
        // SNI: virtual hosts (and api.bitbucket.org's CDN) pick the certificate by
        // name. RFC 6066 forbids IP literals there. (SSL_set_tlsext_host_name is a
        // macro with an old-style cast.)
        error_code not_ip;
        asio::ip::make_address(url_.host, not_ip);
        if (not_ip && !SSL_ctrl(conn_->tls->native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                      static_cast<void*>(const_cast<char*>(url_.host.c_str()))))
            return fail(ErrorKind::tls, "cannot set the TLS server name");
        if (c_.opt.verify_tls) {
            conn_->tls->set_verify_mode(asio::ssl::verify_peer);
            conn_->tls->set_verify_callback(asio::ssl::host_name_verification(url_.host));
        } else {
            conn_->tls->set_verify_mode(asio::ssl::verify_none);
        }
        conn_->lowest().expires_after(op_timeout(c_.opt.connect_timeout));
        conn_->tls->async_handshake(asio::ssl::stream_base::client,
                                    [self = shared_from_this()](error_code ec) { self->on_handshake(ec); });
    }

    void on_handshake(error_code ec) {
        if (ec == beast::error::timeout) return fail(ErrorKind::timeout, "TLS handshake timed out");
        if (ec) return fail(ErrorKind::tls, "TLS handshake with " + url_.host + " failed: " + ec.message());
        do_write();
    }

    // -- exchange ----------------------------------------------------------------------
    template <class F>
    void with_stream(F&& f) {
        if (conn_->tls)
            f(*conn_->tls);
        else
            f(conn_->tcp);
    }

    void do_write() {
        c_.n_exchanges.fetch_add(1, std::memory_order_relaxed);
        ++attempts_;
        wire_ = {};
        auto verb = bhttp::string_to_verb(req_.method);
        if (verb == bhttp::verb::unknown)
            wire_.method_string(req_.method);
        else
            wire_.method(verb);
        wire_.target(url_.target);
        wire_.version(11);
        bool default_port = (url_.scheme == "https" && url_.port == "443") || (url_.scheme == "http" && url_.port == "80");
        wire_.set(bhttp::field::host, default_port ? url_.host : url_.host + ":" + url_.port);
        wire_.set(bhttp::field::user_agent, c_.opt.user_agent);
        wire_.set(bhttp::field::accept_encoding, "gzip");
        for (const auto& [k, v] : req_.headers) wire_.set(k, v);
        wire_.body() = req_.body;
        wire_.keep_alive(true);
        wire_.prepare_payload();
        // Bitbucket answers 411 to a POST/PUT without Content-Length (reference §1).
        if (req_.body.empty() && (req_.method == "POST" || req_.method == "PUT" || req_.method == "PATCH"))
            wire_.content_length(0);
        conn_->lowest().expires_after(op_timeout(c_.opt.read_timeout));
        with_stream([this](auto& s) {
            bhttp::async_write(s, wire_, [self = shared_from_this()](error_code ec, std::size_t) { self->on_write(ec); });
        });
    }

    void on_write(error_code ec) {
        if (ec) return transport_failure(ec, "sending the request");
        parser_.emplace();
        parser_->body_limit(c_.opt.max_body_bytes);
        if (req_.method == "HEAD") parser_->skip(true);
        conn_->lowest().expires_after(op_timeout(c_.opt.read_timeout));
        with_stream([this](auto& s) {
            bhttp::async_read(s, conn_->buffer, *parser_,
                              [self = shared_from_this()](error_code e, std::size_t) { self->on_read(e); });
        });
    }

    void transport_failure(error_code ec, const char* during) {
        // A pooled connection the server already closed fails at once: reconnect
        // once without counting an attempt (the request never reached a handler).
        bool closed = ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
                      ec == asio::error::connection_reset || ec == asio::error::broken_pipe;
        if (reused_ && closed && !stale_retry_used_ && (is_idempotent(req_.method) || req_.retry_non_idempotent)) {
            stale_retry_used_ = true;
            --attempts_;
            conn_->close();
            conn_.reset();
            reused_ = false;
            return do_resolve();
        }
        if (ec == beast::error::timeout || op_expired())
            return fail(ErrorKind::timeout, std::string("timed out ") + during);
        if (closed || ec == asio::ssl::error::stream_truncated)
            return fail(ErrorKind::reset, std::string("connection closed while ") + during);
        if (ec == bhttp::error::body_limit)
            return fail(ErrorKind::body_too_large, "response body exceeds " + std::to_string(c_.opt.max_body_bytes) + " bytes");
        if (ec.category() == bhttp::make_error_code(bhttp::error::bad_version).category())
            return fail(ErrorKind::protocol, "malformed response: " + ec.message());
        return fail(ErrorKind::reset, std::string("I/O error while ") + during + ": " + ec.message());
    }

    void on_read(error_code ec) {
        if (ec) return transport_failure(ec, "reading the response");
        auto res = parser_->release();
        parser_.reset();
        if (res.body().size() > c_.opt.max_body_bytes) {
            conn_->close();
            conn_.reset();
            return fail(ErrorKind::body_too_large,
                        "response body exceeds " + std::to_string(c_.opt.max_body_bytes) + " bytes");
        }
        bool keep = res.keep_alive();
        int status = static_cast<int>(res.result_int());
        if (keep)
            c_.put_idle(key_, std::move(conn_));
        else
            conn_->close();
        conn_.reset();
        release_slot();

        if (is_redirect(status)) {
            auto loc = res.find(bhttp::field::location);
            if (loc != res.end()) return follow(status, std::string(loc->value()));
        }
        if (is_retryable_status(status, req_.retry_429) && may_retry())
            return retry_later("HTTP " + std::to_string(status));

        Response out;
        out.status = status;
        for (const auto& f : res) out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
        out.body = std::move(res.body());
        auto enc = find_header(out.headers, "content-encoding");
        if (enc && (iequals(trim(*enc), "gzip") || iequals(trim(*enc), "x-gzip") || iequals(trim(*enc), "deflate"))) {
            auto plain = gunzip(out.body, c_.opt.max_body_bytes);
            if (!plain) return finish_error(ErrorKind::bad_encoding, "the gzip response body does not inflate");
            out.body = std::move(*plain);
            std::erase_if(out.headers, [](const auto& h) {
                return iequals(h.first, "content-encoding") || iequals(h.first, "content-length");
            });
        }
        finish(std::move(out));
    }

    void follow(int status, const std::string& location) {
        if (redirects_ >= c_.opt.max_redirects)
            return finish_error(ErrorKind::too_many_redirects,
                                "more than " + std::to_string(c_.opt.max_redirects) + " redirects");
        auto next = resolve_location(url_, location);
        if (!next) return finish_error(ErrorKind::invalid_url, "redirect to an unusable Location");
        ++redirects_;
        if (status == 303 || ((status == 301 || status == 302) && req_.method == "POST")) {
            req_.method = "GET";
            req_.body.clear();
            std::erase_if(req_.headers, [](const auto& h) {
                return iequals(h.first, "content-type") || iequals(h.first, "content-length");
            });
        }
        // Credentials go only where they were meant to go: the same scheme, host and port.
        if (next->origin() != url_.origin())
            std::erase_if(req_.headers, [](const auto& h) {
                return iequals(h.first, "authorization") || iequals(h.first, "cookie");
            });
        url_ = *next;
        start_attempt();
    }

    bool may_retry() const {
        return retries_ < c_.opt.max_retries && (is_idempotent(req_.method) || req_.retry_non_idempotent);
    }

    void retry_later(const std::string& why) {
        ++retries_;
        c_.n_retries.fetch_add(1, std::memory_order_relaxed);
        auto delay = Client::backoff_delay(c_.opt, retries_);
        if (Clock::now() + delay >= deadline_)
            return finish_error(ErrorKind::timeout, "total deadline leaves no time to retry after " + why);
        last_retry_reason_ = why;
        timer_.expires_after(delay);
        timer_.async_wait([self = shared_from_this()](error_code ec) {
            if (!ec) self->start_attempt();
        });
    }

    void release_slot() {
        if (holds_slot_) {
            holds_slot_ = false;
            c_.release(key_);
        }
    }

    void fail(ErrorKind kind, std::string message) {
        if (conn_) {
            conn_->close();
            conn_.reset();
        }
        release_slot();
        bool retryable = kind == ErrorKind::timeout || kind == ErrorKind::reset || kind == ErrorKind::connect;
        if (retryable && Clock::now() < deadline_ && may_retry()) return retry_later(message);
        finish_error(kind, std::move(message));
    }

    void finish_error(ErrorKind kind, std::string message) {
        Response out;
        out.error = kind;
        out.error_message = std::move(message);
        finish(std::move(out));
    }

    void finish(Response out) {
        if (finished_.exchange(true)) return;
        release_slot();
        out.url = url_.str();
        out.attempts = attempts_;
        out.redirects = redirects_;
        c_.n_requests.fetch_add(1, std::memory_order_relaxed);
        {
            std::lock_guard lock(c_.mu);
            c_.live.erase(this);
        }
        auto done = std::move(done_);
        done(std::move(out));
    }

    Client::Impl& c_;
    Request req_;
    Client::Handler done_;
    Url url_;
    std::optional<Url> proxy_;
    std::string key_;
    Clock::time_point deadline_{}, op_deadline_{};
    int attempts_ = 0, retries_ = 0, redirects_ = 0;
    bool reused_ = false, holds_slot_ = false, stale_retry_used_ = false;
    std::atomic<bool> finished_{false};
    std::string last_retry_reason_;
    std::unique_ptr<Conn> conn_;
    tcp::resolver resolver_;
    asio::steady_timer timer_;
    bhttp::request<bhttp::string_body> wire_;
    std::optional<bhttp::response_parser<bhttp::string_body>> parser_;
    bhttp::request<bhttp::empty_body> proxy_req_;
    std::optional<bhttp::response_parser<bhttp::empty_body>> proxy_parser_;
};

}  // namespace detail

Client::Client(Options options) : impl_(std::make_shared<Impl>(std::move(options))) {}

Client::~Client() {
    {
        std::lock_guard lock(impl_->mu);
        impl_->stopping = true;
    }
    impl_->work.reset();
    impl_->ioc.stop();
    for (auto& t : impl_->threads)
        if (t.joinable()) t.join();
    std::vector<std::shared_ptr<Exchange>> pending;
    {
        std::lock_guard lock(impl_->mu);
        for (auto& [_, weak] : impl_->live)
            if (auto s = weak.lock()) pending.push_back(std::move(s));
    }
    for (auto& e : pending) e->abandon();
    impl_->pools.clear();
}

void Client::async_send(Request request, Handler done) {
    auto ex = std::make_shared<Exchange>(*impl_, std::move(request), std::move(done));
    {
        std::lock_guard lock(impl_->mu);
        if (impl_->stopping) {
            Response r;
            r.error = ErrorKind::shutdown;
            r.error_message = "the HTTP client was shut down";
            ex.reset();
            done(std::move(r));
            return;
        }
        impl_->live.emplace(ex.get(), ex);
    }
    asio::post(impl_->ioc, [ex] { ex->start(); });
}

Response Client::send(Request request) {
    std::promise<Response> promise;
    auto future = promise.get_future();
    async_send(std::move(request), [&promise](Response r) { promise.set_value(std::move(r)); });
    return future.get();
}

void Client::schedule(std::chrono::nanoseconds delay, std::function<void()> fn) {
    auto timer = std::make_shared<asio::steady_timer>(impl_->ioc);
    timer->expires_after(delay);
    timer->async_wait([timer, fn = std::move(fn)](error_code ec) {
        if (!ec) fn();
    });
}

const Options& Client::options() const { return impl_->opt; }

Stats Client::stats() const {
    Stats s;
    s.requests = impl_->n_requests.load();
    s.exchanges = impl_->n_exchanges.load();
    s.connections = impl_->n_connections.load();
    s.retries = impl_->n_retries.load();
    std::lock_guard lock(impl_->mu);
    s.in_flight = impl_->live.size();
    return s;
}

}  // namespace bbreview::http

// The Beast implementation of bbreview::http::Server. Each connection is a
// Session on its own strand, whose do_*/on_* pairs walk
//   wait for the first byte (idle deadline) → read the header (header deadline)
//   → read the body (body deadline) → hand to the handler (handler deadline)
//   → write (write deadline) → wait again,
// arming a deadline before every operation. The handler answers through a
// Respond callback that posts back onto the session's strand.
#include "http/server.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace bbreview::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using beast::error_code;

namespace {

// Bytes asked of the socket when waiting for a request to start.
constexpr std::size_t kReadChunk = 16 * 1024;
// After an error response on a connection whose request was not read to the
// end, the rest is read and discarded (up to this much, for up to this long)
// before closing, so that the client sees the response rather than a reset.
constexpr std::size_t kMaxLingerBytes = 1024 * 1024;
constexpr std::chrono::milliseconds kLingerTimeout{1'000};
// After an accept error (e.g. out of file descriptors), wait before retrying.
constexpr std::chrono::milliseconds kAcceptRetryDelay{50};
// After the drain, how long the io threads get to run the cancelled operations.
constexpr std::chrono::milliseconds kCloseGrace{1'000};

constexpr std::string_view kRefusal =
    "HTTP/1.1 503 Service Unavailable\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Length: 33\r\n"
    "Retry-After: 1\r\n"
    "Connection: close\r\n"
    "\r\n"
    "too many connections; retry later";

bool is_disconnect(const error_code& ec) {
    return ec == bhttp::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
           ec == asio::error::broken_pipe || ec == asio::error::operation_aborted ||
           ec == asio::error::bad_descriptor || ec == bhttp::error::partial_message;
}

}  // namespace

std::string_view ServerRequest::path() const {
    std::string_view t = target;
    return t.substr(0, t.find('?'));
}

const std::string* ServerRequest::find(std::string_view name) const {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    for (const auto& [k, v] : headers) {
        if (k.size() != name.size()) continue;
        bool same = true;
        for (std::size_t i = 0; i < k.size() && same; ++i) same = lower(k[i]) == lower(name[i]);
        if (same) return &v;
    }
    return nullptr;
}

ServerResponse ServerResponse::text(int status, std::string body) {
    ServerResponse r;
    r.status = status;
    r.body = std::move(body);
    if (!r.body.empty() && r.body.back() != '\n') r.body.push_back('\n');
    return r;
}

ServerResponse ServerResponse::json(int status, std::string body) {
    ServerResponse r;
    r.status = status;
    r.content_type = "application/json";
    r.body = std::move(body);
    return r;
}

namespace detail {
class Session;
class Refusal;
}  // namespace detail

struct Server::Impl {
    Impl(ServerOptions o, Handler h) : opt(std::move(o)), handler(std::move(h)) {
        if (opt.threads == 0) opt.threads = 1;
        if (opt.max_connections == 0) opt.max_connections = 1;
    }

    ServerOptions opt;
    Handler handler;

    std::mutex mu;
    std::condition_variable sessions_cv;  // signalled when a session ends
    std::unordered_map<detail::Session*, std::weak_ptr<detail::Session>> sessions;
    bool started = false, stopped = false;
    std::atomic<bool> draining{false};
    std::atomic<unsigned short> port{0};

    std::atomic<std::uint64_t> accepted{0}, refused{0}, requests{0}, body_bytes{0}, timeouts{0}, handler_timeouts{0},
        bad_requests{0}, body_too_large{0}, header_too_large{0};
    std::atomic<std::size_t> in_flight{0};
    std::array<std::atomic<std::uint64_t>, 6> by_class{};

    std::vector<std::thread> threads;
    // Declared after everything sessions touch in their destructors: the
    // io_context is destroyed first, and with it the handlers that still own
    // sessions.
    asio::io_context ioc;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
    std::optional<tcp::acceptor> acceptor;       // on its own strand
    std::optional<asio::steady_timer> accept_retry;  // on the acceptor's strand

    void count_response(int status) {
        auto cls = static_cast<std::size_t>(std::clamp(status / 100, 0, 5));
        by_class[cls].fetch_add(1, std::memory_order_relaxed);
    }

    void unregister(detail::Session* s) {
        {
            std::lock_guard lock(mu);
            sessions.erase(s);
        }
        sessions_cv.notify_all();
    }

    std::vector<std::shared_ptr<detail::Session>> live_sessions() {
        std::vector<std::shared_ptr<detail::Session>> out;
        std::lock_guard lock(mu);
        for (auto& [_, weak] : sessions)
            if (auto s = weak.lock()) out.push_back(std::move(s));
        return out;
    }

    void do_accept();
    void on_accept(error_code ec, tcp::socket socket);
};

namespace detail {

// Answers a connection over the cap with a canned 503, then closes it.
class Refusal : public std::enable_shared_from_this<Refusal> {
public:
    explicit Refusal(tcp::socket socket) : stream_(std::move(socket)) {}

    void start() {
        stream_.expires_after(kLingerTimeout);
        asio::async_write(stream_, asio::buffer(kRefusal.data(), kRefusal.size()),
                          [self = shared_from_this()](error_code ec, std::size_t) { self->on_write(ec); });
    }

private:
    void on_write(error_code ec) {
        if (ec) return close();
        stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
        do_discard();
    }
    // Reads what the client sent until it closes, so that closing does not
    // reset the connection before the client has read the 503.
    void do_discard() {
        stream_.async_read_some(asio::buffer(scratch_), [self = shared_from_this()](error_code ec, std::size_t) {
            if (ec) return self->close();
            self->do_discard();
        });
    }
    void close() {
        error_code ignored;
        stream_.socket().close(ignored);
    }

    beast::tcp_stream stream_;
    std::array<char, 1024> scratch_{};
};

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(Server::Impl& server, tcp::socket socket)
        : s_(server), stream_(std::move(socket)), handler_timer_(stream_.get_executor()) {
        header_deadline_ = Clock::now() + s_.opt.header_timeout;
    }
    ~Session() { s_.unregister(this); }

    void start() {
        asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->do_wait(); });
    }

    // Stop taking requests: close now if idle, else after the current response.
    void drain() {
        asio::post(stream_.get_executor(), [self = shared_from_this()] {
            self->draining_ = true;
            if (self->state_ == State::idle) self->close();
        });
    }

    void force_close() {
        asio::post(stream_.get_executor(), [self = shared_from_this()] { self->close(); });
    }

    // Called through Respond from any thread.
    void deliver(std::uint64_t number, ServerResponse response) {
        asio::post(stream_.get_executor(), [self = shared_from_this(), number, r = std::move(response)]() mutable {
            self->on_response(number, std::move(r));
        });
    }

private:
    enum class State : std::uint8_t { idle, reading, handling, writing, lingering, closed };

    // Fires the first time the Respond is called, or with a 500 when every copy
    // of it is dropped unanswered.
    struct Reply {
        std::shared_ptr<Session> session;
        std::uint64_t number;
        std::atomic<bool> used{false};
        Reply(std::shared_ptr<Session> s, std::uint64_t n) : session(std::move(s)), number(n) {}
        Reply(const Reply&) = delete;
        Reply& operator=(const Reply&) = delete;
        ~Reply() {
            if (!used.exchange(true))
                session->deliver(number, ServerResponse::text(500, "internal error: the request was not answered"));
        }
    };

    // -- wait for a request -------------------------------------------------------------
    void do_wait() {
        if (state_ == State::closed) return;
        state_ = State::idle;
        // The server-wide flag covers a connection accepted while stop() was
        // taking its snapshot of the sessions to drain.
        if (draining_ || s_.draining.load()) return close();
        if (buffer_.size() > 0) {  // a pipelined request is already buffered
            header_deadline_ = Clock::now() + s_.opt.header_timeout;
            return do_read_header();
        }
        if (fresh_)
            stream_.expires_at(header_deadline_);
        else
            stream_.expires_after(s_.opt.idle_timeout);
        stream_.async_read_some(buffer_.prepare(kReadChunk), [self = shared_from_this()](error_code ec, std::size_t n) {
            self->on_first_bytes(ec, n);
        });
    }

    void on_first_bytes(error_code ec, std::size_t n) {
        buffer_.commit(n);
        if (ec) {
            // An idle keep-alive connection timing out is routine; a new
            // connection that never sends a request is not.
            if (ec == beast::error::timeout && fresh_) s_.timeouts.fetch_add(1, std::memory_order_relaxed);
            return close();
        }
        if (state_ == State::closed) return;
        if (!fresh_) header_deadline_ = Clock::now() + s_.opt.header_timeout;
        fresh_ = false;
        do_read_header();
    }

    void do_read_header() {
        state_ = State::reading;
        parser_.emplace();
        parser_->header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(s_.opt.max_header_bytes, UINT32_MAX)));
        parser_->body_limit(s_.opt.max_body_bytes);
        stream_.expires_at(header_deadline_);
        bhttp::async_read_header(stream_, buffer_, *parser_,
                                 [self = shared_from_this()](error_code ec, std::size_t) { self->on_header(ec); });
    }

    void on_header(error_code ec) {
        if (ec) return on_read_error(ec);
        auto& req = parser_->get();
        auto expect = req.find(bhttp::field::expect);
        if (expect != req.end() && beast::iequals(expect->value(), "100-continue") && !parser_->is_done())
            return do_continue();
        do_read_body();
    }

    // curl and others wait for "100 Continue" before sending a large body.
    void do_continue() {
        continue_ = {bhttp::status::continue_, 11};
        stream_.expires_after(s_.opt.write_timeout);
        bhttp::async_write(stream_, continue_, [self = shared_from_this()](error_code ec, std::size_t) {
            if (ec) return self->close();
            self->do_read_body();
        });
    }

    void do_read_body() {
        if (parser_->is_done()) return on_body({});
        stream_.expires_after(s_.opt.body_timeout);
        bhttp::async_read(stream_, buffer_, *parser_,
                          [self = shared_from_this()](error_code ec, std::size_t) { self->on_body(ec); });
    }

    void on_read_error(error_code ec) {
        if (ec == beast::error::timeout) {
            s_.timeouts.fetch_add(1, std::memory_order_relaxed);
            return close();
        }
        if (ec == bhttp::error::header_limit) {
            s_.header_too_large.fetch_add(1, std::memory_order_relaxed);
            return reply_and_close(431, "request headers exceed " + std::to_string(s_.opt.max_header_bytes) + " bytes");
        }
        if (ec == bhttp::error::body_limit) {
            s_.body_too_large.fetch_add(1, std::memory_order_relaxed);
            return reply_and_close(413, "request body exceeds " + std::to_string(s_.opt.max_body_bytes) + " bytes");
        }
        if (is_disconnect(ec) || state_ == State::closed) return close();
        s_.bad_requests.fetch_add(1, std::memory_order_relaxed);
        reply_and_close(400, "malformed HTTP request: " + ec.message());
    }

    void reply_and_close(int status, std::string message) {
        keep_alive_ = false;
        unread_ = true;
        ServerResponse r = ServerResponse::text(status, std::move(message));
        r.close = true;
        do_write(std::move(r));
    }

    // -- hand to the handler ------------------------------------------------------------
    void on_body(error_code ec) {
        if (ec) return on_read_error(ec);
        auto msg = parser_->release();
        parser_.reset();
        keep_alive_ = msg.keep_alive();
        ServerRequest req;
        req.method = std::string(msg.method_string());
        req.target = std::string(msg.target());
        req.headers.reserve(16);
        for (const auto& f : msg) req.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
        req.body = std::move(msg.body());
        s_.requests.fetch_add(1, std::memory_order_relaxed);
        s_.body_bytes.fetch_add(req.body.size(), std::memory_order_relaxed);
        s_.in_flight.fetch_add(1, std::memory_order_relaxed);
        state_ = State::handling;
        std::uint64_t number = ++request_no_;
        stream_.expires_never();
        // The timer's handler owns the session until the response arrives or
        // the deadline passes; nothing else needs to.
        handler_timer_.expires_after(s_.opt.handler_timeout);
        handler_timer_.async_wait([self = shared_from_this(), number](error_code e) {
            if (!e) self->on_handler_timeout(number);
        });
        auto reply = std::make_shared<Reply>(shared_from_this(), number);
        Respond respond = [reply](ServerResponse r) {
            if (!reply->used.exchange(true)) reply->session->deliver(reply->number, std::move(r));
        };
        try {
            s_.handler(std::move(req), std::move(respond));
        } catch (...) {
            // The handler broke its contract; the client still gets an answer
            // (the Reply's 500, when its last copy dies).
        }
    }

    void on_handler_timeout(std::uint64_t number) {
        if (number != request_no_ || state_ != State::handling) return;
        s_.handler_timeouts.fetch_add(1, std::memory_order_relaxed);
        s_.in_flight.fetch_sub(1, std::memory_order_relaxed);
        ServerResponse r = ServerResponse::text(503, "the request took too long; retry later");
        r.close = true;
        do_write(std::move(r));
    }

    void on_response(std::uint64_t number, ServerResponse r) {
        // A late answer to a request that already timed out, or to a closed connection.
        if (number != request_no_ || state_ != State::handling) return;
        handler_timer_.cancel();
        s_.in_flight.fetch_sub(1, std::memory_order_relaxed);
        do_write(std::move(r));
    }

    // -- write --------------------------------------------------------------------------
    void do_write(ServerResponse r) {
        state_ = State::writing;
        keep_ = keep_alive_ && !r.close && !draining_ && !s_.draining.load();
        res_ = {};
        res_.version(11);
        res_.result(static_cast<unsigned>(r.status));
        res_.set(bhttp::field::content_type, r.content_type);
        for (auto& [k, v] : r.headers) res_.set(k, v);
        res_.body() = std::move(r.body);
        res_.keep_alive(keep_);
        res_.prepare_payload();
        s_.count_response(r.status);
        stream_.expires_after(s_.opt.write_timeout);
        bhttp::async_write(stream_, res_, [self = shared_from_this()](error_code ec, std::size_t) { self->on_write(ec); });
    }

    void on_write(error_code ec) {
        res_ = {};
        if (state_ == State::closed) return;
        if (ec) {
            if (ec == beast::error::timeout) s_.timeouts.fetch_add(1, std::memory_order_relaxed);
            return close();
        }
        if (keep_) return do_wait();
        if (unread_) return do_linger();
        error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
        close();
    }

    // The request was not read to its end: half-close, discard what follows
    // for a moment, then close, so that the client reads the error response
    // instead of getting a reset.
    void do_linger() {
        state_ = State::lingering;
        error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
        buffer_.consume(buffer_.size());
        stream_.expires_after(kLingerTimeout);
        read_linger();
    }

    void read_linger() {
        stream_.async_read_some(buffer_.prepare(kReadChunk), [self = shared_from_this()](error_code ec, std::size_t n) {
            self->lingered_ += n;
            if (ec || self->lingered_ > kMaxLingerBytes) return self->close();
            self->read_linger();
        });
    }

    void close() {
        if (state_ == State::closed) return;
        if (state_ == State::handling) s_.in_flight.fetch_sub(1, std::memory_order_relaxed);
        state_ = State::closed;
        handler_timer_.cancel();
        error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
        stream_.close();
    }

    Server::Impl& s_;
    beast::tcp_stream stream_;
    asio::steady_timer handler_timer_;
    beast::flat_buffer buffer_;
    std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
    bhttp::response<bhttp::string_body> res_;
    bhttp::response<bhttp::empty_body> continue_;
    Clock::time_point header_deadline_{};
    State state_ = State::idle;
    std::uint64_t request_no_ = 0;
    std::size_t lingered_ = 0;
    bool fresh_ = true;        // no request started on this connection yet
    bool draining_ = false;
    bool keep_alive_ = true;   // the client allows keep-alive
    bool keep_ = true;         // the response being written keeps the connection
    bool unread_ = false;      // the current request was not read to its end
};

}  // namespace detail

using detail::Refusal;
using detail::Session;

void Server::Impl::do_accept() {
    acceptor->async_accept(asio::make_strand(ioc),
                           [this](error_code ec, tcp::socket socket) { on_accept(ec, std::move(socket)); });
}

void Server::Impl::on_accept(error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || draining.load() || !acceptor->is_open()) return;
    if (ec) {
        // Out of descriptors or a connection reset before accept: back off, go on.
        accept_retry->expires_after(kAcceptRetryDelay);
        accept_retry->async_wait([this](error_code e) {
            if (!e && !draining.load()) do_accept();
        });
        return;
    }
    std::shared_ptr<Session> session;
    {
        std::lock_guard lock(mu);
        if (sessions.size() < opt.max_connections) {
            session = std::make_shared<Session>(*this, std::move(socket));
            sessions.emplace(session.get(), session);
        }
    }
    if (session) {
        accepted.fetch_add(1, std::memory_order_relaxed);
        session->start();
    } else {
        refused.fetch_add(1, std::memory_order_relaxed);
        count_response(503);
        std::make_shared<Refusal>(std::move(socket))->start();
    }
    do_accept();
}

Server::Server(ServerOptions options, Handler handler)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler))) {}

Server::~Server() { stop(std::chrono::milliseconds(0)); }

unsigned short Server::start() {
    auto& s = *impl_;
    {
        std::lock_guard lock(s.mu);
        if (s.started) throw std::logic_error("bbreview::http::Server::start() called twice");
        s.started = true;
    }
    auto strand = asio::make_strand(s.ioc);
    s.acceptor.emplace(strand);
    s.accept_retry.emplace(strand);
    error_code ec;
    auto address = asio::ip::make_address(s.opt.host, ec);
    if (ec) throw std::system_error(ec, "cannot listen on \"" + s.opt.host + "\" (not an IP address)");
    tcp::endpoint endpoint(address, s.opt.port);
    auto check = [&](const char* what) {
        if (ec)
            throw std::system_error(ec, std::string(what) + " " + s.opt.host + ":" + std::to_string(s.opt.port));
    };
    s.acceptor->open(endpoint.protocol(), ec);
    check("cannot open a socket for");
    s.acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    check("cannot set SO_REUSEADDR for");
    s.acceptor->bind(endpoint, ec);
    check("cannot bind");
    s.acceptor->listen(asio::socket_base::max_listen_connections, ec);
    check("cannot listen on");
    s.port = s.acceptor->local_endpoint().port();
    s.work.emplace(asio::make_work_guard(s.ioc));
    asio::post(strand, [&s] { s.do_accept(); });
    for (std::size_t i = 0; i < s.opt.threads; ++i) s.threads.emplace_back([&s] { s.ioc.run(); });
    return s.port;
}

void Server::stop(std::chrono::milliseconds drain_timeout) {
    auto& s = *impl_;
    {
        std::lock_guard lock(s.mu);
        if (s.stopped) return;
        s.stopped = true;
        if (!s.started) return;
    }
    auto deadline = Clock::now() + drain_timeout;
    // The listening socket is closed on its own executor; stop() waits for that
    // (bounded, in case it is called from a busy I/O thread) so that once
    // draining() is true a new connection is refused rather than reset.
    auto closed = std::make_shared<std::promise<void>>();
    auto acceptor_closed = closed->get_future();
    asio::post(s.acceptor->get_executor(), [&s, closed] {
        error_code ignored;
        s.acceptor->close(ignored);
        s.accept_retry->cancel();
        closed->set_value();
    });
    acceptor_closed.wait_until(std::min(deadline, Clock::now() + std::chrono::seconds(1)));
    s.draining = true;
    for (auto& session : s.live_sessions()) session->drain();
    {
        std::unique_lock lock(s.mu);
        s.sessions_cv.wait_until(lock, deadline, [&s] { return s.sessions.empty(); });
    }
    for (auto& session : s.live_sessions()) session->force_close();
    // With the work guard gone, run() returns once the cancelled operations
    // have completed; a handler still holding a Respond keeps no operation open.
    s.work.reset();
    auto grace = Clock::now() + kCloseGrace;
    while (!s.ioc.stopped() && Clock::now() < grace) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    s.ioc.stop();
    for (auto& t : s.threads)
        if (t.joinable()) t.join();
}

unsigned short Server::port() const { return impl_->port.load(); }

bool Server::draining() const { return impl_->draining.load(); }

const ServerOptions& Server::options() const { return impl_->opt; }

ServerStats Server::stats() const {
    auto& s = *impl_;
    ServerStats out;
    out.connections_accepted = s.accepted.load();
    out.connections_refused = s.refused.load();
    out.requests = s.requests.load();
    out.body_bytes = s.body_bytes.load();
    out.timeouts = s.timeouts.load();
    out.handler_timeouts = s.handler_timeouts.load();
    out.bad_requests = s.bad_requests.load();
    out.body_too_large = s.body_too_large.load();
    out.header_too_large = s.header_too_large.load();
    out.requests_in_flight = s.in_flight.load();
    out.draining = s.draining.load();
    for (std::size_t i = 0; i < out.responses_by_class.size(); ++i) out.responses_by_class[i] = s.by_class[i].load();
    std::lock_guard lock(s.mu);
    out.connections_active = s.sessions.size();
    return out;
}

}  // namespace bbreview::http

// Small synchronous Beast servers on 127.0.0.1 for the HTTP client tests: an
// origin server driven by a handler function, and a CONNECT proxy.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace loopback {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

struct Reply {
    unsigned status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    std::chrono::milliseconds delay{0};  // before answering
    bool drop = false;                   // close the connection without answering
    bool close = false;                  // answer with "Connection: close", then close
    bool close_silently = false;         // answer as keep-alive, then close anyway
};

using Request = bhttp::request<bhttp::string_body>;

// A blocking accept() is not interrupted by closing the acceptor from another
// thread; a connection to ourselves wakes it so that the loop sees `stopping_`.
inline void wake(asio::io_context& ioc, unsigned short port) {
    tcp::socket s(ioc);
    beast::error_code ec;
    s.connect({asio::ip::make_address("127.0.0.1"), port}, ec);
}
using Handler = std::function<Reply(const Request&)>;

// Serves each connection on its own thread so that concurrency is observable.
class Server {
public:
    explicit Server(Handler handler) : handler_(std::move(handler)), acceptor_(ioc_, {asio::ip::make_address("127.0.0.1"), 0}) {
        port_ = acceptor_.local_endpoint().port();
        accept_thread_ = std::thread([this] { accept_loop(); });
    }
    ~Server() {
        stopping_ = true;
        beast::error_code ec;
        wake(ioc_, port_);
        acceptor_.close(ec);
        {
            std::lock_guard lock(mu_);
            for (auto& s : sockets_) s->shutdown(tcp::socket::shutdown_both, ec);
        }
        accept_thread_.join();
        for (auto& t : threads_) t.join();
    }

    std::string url(const std::string& target = "/") const { return "http://127.0.0.1:" + std::to_string(port_) + target; }
    unsigned short port() const { return port_; }
    int connections() const { return connections_.load(); }
    int requests() const { return requests_.load(); }
    int max_concurrent() const { return max_concurrent_.load(); }

private:
    void accept_loop() {
        while (!stopping_) {
            auto sock = std::make_shared<tcp::socket>(ioc_);
            beast::error_code ec;
            acceptor_.accept(*sock, ec);
            if (ec || stopping_) return;
            ++connections_;
            std::lock_guard lock(mu_);
            sockets_.push_back(sock);
            threads_.emplace_back([this, sock] { serve(*sock); });
        }
    }

    void serve(tcp::socket& sock) {
        beast::flat_buffer buf;
        for (;;) {
            Request req;
            beast::error_code ec;
            bhttp::read(sock, buf, req, ec);
            if (ec) return;
            ++requests_;
            int now = ++concurrent_;
            int seen = max_concurrent_.load();
            while (now > seen && !max_concurrent_.compare_exchange_weak(seen, now)) {}
            Reply r = handler_(req);
            if (r.delay.count() > 0) std::this_thread::sleep_for(r.delay);
            --concurrent_;
            if (r.drop) {
                sock.shutdown(tcp::socket::shutdown_both, ec);
                sock.close(ec);
                return;
            }
            bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(r.status), 11};
            for (auto& [k, v] : r.headers) res.set(k, v);
            res.body() = r.body;
            res.keep_alive(!r.close && req.keep_alive());
            res.prepare_payload();
            bhttp::write(sock, res, ec);
            if (ec || !res.keep_alive() || r.close_silently) {
                sock.shutdown(tcp::socket::shutdown_both, ec);
                return;
            }
        }
    }

    Handler handler_;
    asio::io_context ioc_;
    tcp::acceptor acceptor_;
    unsigned short port_ = 0;
    std::atomic<bool> stopping_{false};
    std::atomic<int> connections_{0}, requests_{0}, concurrent_{0}, max_concurrent_{0};
    std::mutex mu_;
    std::vector<std::shared_ptr<tcp::socket>> sockets_;
    std::vector<std::thread> threads_;
    std::thread accept_thread_;
};

// An HTTP CONNECT proxy: answers 200 and relays bytes both ways.
class ConnectProxy {
public:
    ConnectProxy() : acceptor_(ioc_, {asio::ip::make_address("127.0.0.1"), 0}) {
        port_ = acceptor_.local_endpoint().port();
        accept_thread_ = std::thread([this] { accept_loop(); });
    }
    ~ConnectProxy() {
        stopping_ = true;
        beast::error_code ec;
        wake(ioc_, port_);
        acceptor_.close(ec);
        {
            std::lock_guard lock(mu_);
            for (auto& s : sockets_) s->shutdown(tcp::socket::shutdown_both, ec);
        }
        accept_thread_.join();
        for (auto& t : threads_) t.join();
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    int tunnels() const { return tunnels_.load(); }
    std::string last_target() const {
        std::lock_guard lock(mu_);
        return last_target_;
    }

private:
    void accept_loop() {
        for (;;) {
            auto client = std::make_shared<tcp::socket>(ioc_);
            beast::error_code ec;
            acceptor_.accept(*client, ec);
            if (ec || stopping_) return;
            std::lock_guard lock(mu_);
            sockets_.push_back(client);
            threads_.emplace_back([this, client] { tunnel(client); });
        }
    }
    void tunnel(std::shared_ptr<tcp::socket> client) {
        beast::flat_buffer buf;
        bhttp::request<bhttp::empty_body> req;
        beast::error_code ec;
        bhttp::read(*client, buf, req, ec);
        if (ec || req.method() != bhttp::verb::connect) return;
        std::string target(req.target());
        {
            std::lock_guard lock(mu_);
            last_target_ = target;
        }
        auto colon = target.rfind(':');
        auto upstream = std::make_shared<tcp::socket>(ioc_);
        tcp::resolver resolver(ioc_);
        asio::connect(*upstream, resolver.resolve(target.substr(0, colon), target.substr(colon + 1)), ec);
        if (ec) return;
        {
            std::lock_guard lock(mu_);
            sockets_.push_back(upstream);
        }
        ++tunnels_;
        std::string ok = "HTTP/1.1 200 Connection established\r\n\r\n";
        asio::write(*client, asio::buffer(ok), ec);
        auto pipe = [](tcp::socket& from, tcp::socket& to) {
            char data[8192];
            beast::error_code e;
            for (;;) {
                std::size_t n = from.read_some(asio::buffer(data), e);
                if (e) break;
                asio::write(to, asio::buffer(data, n), e);
                if (e) break;
            }
            to.shutdown(tcp::socket::shutdown_both, e);
        };
        std::thread back([&] { pipe(*upstream, *client); });
        pipe(*client, *upstream);
        back.join();
    }

    asio::io_context ioc_;
    tcp::acceptor acceptor_;
    unsigned short port_ = 0;
    std::atomic<bool> stopping_{false};
    std::atomic<int> tunnels_{0};
    mutable std::mutex mu_;
    std::string last_target_;
    std::vector<std::shared_ptr<tcp::socket>> sockets_;
    std::vector<std::thread> threads_;
    std::thread accept_thread_;
};

}  // namespace loopback

#include "http/server.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace {

using namespace bbreview::http;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

// A blocking client connection on loopback that writes raw bytes and reads
// Beast responses.
class Conn {
public:
    explicit Conn(unsigned short port) : socket_(ioc_) {
        socket_.connect({asio::ip::make_address("127.0.0.1"), port});
    }
    void send(const std::string& raw) { asio::write(socket_, asio::buffer(raw)); }
    // nullopt when the server closed the connection instead of answering.
    std::optional<bhttp::response<bhttp::string_body>> read() {
        bhttp::response<bhttp::string_body> res;
        beast::error_code ec;
        bhttp::read(socket_, buffer_, res, ec);
        if (ec) return std::nullopt;
        return res;
    }
    // True when the server closed the connection (EOF or reset) without sending more.
    bool closed_by_server() {
        char c;
        beast::error_code ec;
        socket_.read_some(asio::buffer(&c, 1), ec);
        return static_cast<bool>(ec);
    }

private:
    asio::io_context ioc_;
    tcp::socket socket_;
    beast::flat_buffer buffer_;
};

std::string post(const std::string& target, const std::string& body, bool close = false) {
    return "POST " + target + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
           std::to_string(body.size()) + (close ? "\r\nConnection: close" : "") + "\r\n\r\n" + body;
}

ServerOptions test_options() {
    ServerOptions o;
    o.threads = 2;
    o.header_timeout = 2000ms;
    o.body_timeout = 2000ms;
    o.idle_timeout = 2000ms;
    return o;
}

Handler echo(std::atomic<int>* calls = nullptr) {
    return [calls](ServerRequest req, Respond respond) {
        if (calls) ++*calls;
        respond(ServerResponse::text(200, req.method + " " + std::string(req.path()) + " " + req.body));
    };
}

void wait_until(const std::function<bool()>& done) {
    for (int i = 0; i < 5000 && !done(); ++i) std::this_thread::sleep_for(1ms);
    ASSERT_TRUE(done());
}

TEST(Server, ServesSeveralRequestsOverOneKeptAliveConnection) {
    Server server(test_options(), echo());
    Conn c(server.start());
    for (int i = 0; i < 3; ++i) {
        c.send(post("/a?x=1", "body" + std::to_string(i)));
        auto res = c.read();
        ASSERT_TRUE(res);
        EXPECT_EQ(res->result_int(), 200u);
        EXPECT_EQ(res->body(), "POST /a body" + std::to_string(i) + "\n");
        EXPECT_TRUE(res->keep_alive());
    }
    EXPECT_EQ(server.stats().connections_accepted, 1u);
    EXPECT_EQ(server.stats().requests, 3u);
}

TEST(Server, AnswersPipelinedRequestsInOrder) {
    Server server(test_options(), echo());
    Conn c(server.start());
    c.send(post("/1", "a") + post("/2", "b"));
    EXPECT_EQ(c.read()->body(), "POST /1 a\n");
    EXPECT_EQ(c.read()->body(), "POST /2 b\n");
}

TEST(Server, RefusesBodyOverTheLimitWith413WithoutCallingTheHandler) {
    auto o = test_options();
    o.max_body_bytes = 1024;
    std::atomic<int> calls{0};
    Server server(o, echo(&calls));
    Conn c(server.start());
    c.send(post("/", std::string(5000, 'x')));
    auto res = c.read();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->result_int(), 413u);
    EXPECT_FALSE(res->keep_alive());
    EXPECT_EQ(calls.load(), 0);
    EXPECT_EQ(server.stats().body_too_large, 1u);
}

TEST(Server, RefusesChunkedBodyThatGrowsOverTheLimitWith413) {
    auto o = test_options();
    o.max_body_bytes = 1024;
    Server server(o, echo());
    Conn c(server.start());
    std::string chunk(800, 'y');
    c.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n320\r\n" + chunk + "\r\n320\r\n" + chunk +
           "\r\n0\r\n\r\n");
    auto res = c.read();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->result_int(), 413u);
}

TEST(Server, RefusesOversizedHeadersWith431) {
    auto o = test_options();
    o.max_header_bytes = 1024;
    Server server(o, echo());
    Conn c(server.start());
    c.send("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4000, 'h') + "\r\n\r\n");
    auto res = c.read();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->result_int(), 431u);
    EXPECT_EQ(server.stats().header_too_large, 1u);
}

TEST(Server, AnswersMalformedRequestWith400) {
    Server server(test_options(), echo());
    Conn c(server.start());
    c.send("THIS IS NOT HTTP\r\n\r\n");
    auto res = c.read();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->result_int(), 400u);
}

TEST(Server, ClosesConnectionWhoseHeadersDoNotArriveInTime) {
    auto o = test_options();
    o.header_timeout = 200ms;
    std::atomic<int> calls{0};
    Server server(o, echo(&calls));
    Conn c(server.start());
    c.send("POST / HTTP/1.1\r\nHost: x\r\n");  // and never the end of the headers
    EXPECT_TRUE(c.closed_by_server());
    EXPECT_EQ(calls.load(), 0);
    // The stream closes the socket when its deadline fires, before the read's
    // handler counts the timeout.
    wait_until([&] { return server.stats().timeouts >= 1; });
}

TEST(Server, ClosesConnectionWhoseBodyDoesNotArriveInTime) {
    auto o = test_options();
    o.body_timeout = 200ms;
    std::atomic<int> calls{0};
    Server server(o, echo(&calls));
    Conn c(server.start());
    c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly a part");
    EXPECT_TRUE(c.closed_by_server());
    EXPECT_EQ(calls.load(), 0);
}

TEST(Server, ClosesIdleKeptAliveConnectionAfterTheIdleTimeout) {
    auto o = test_options();
    o.idle_timeout = 200ms;
    Server server(o, echo());
    Conn c(server.start());
    c.send(post("/", "x"));
    ASSERT_TRUE(c.read());
    EXPECT_TRUE(c.closed_by_server());
}

TEST(Server, RefusesConnectionsOverTheCapWith503) {
    auto o = test_options();
    o.max_connections = 2;
    Server server(o, echo());
    auto port = server.start();
    Conn a(port), b(port);
    wait_until([&] { return server.stats().connections_active == 2; });
    Conn over(port);
    over.send(post("/", "x"));
    auto res = over.read();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->result_int(), 503u);
    EXPECT_EQ(server.stats().connections_refused, 1u);
    // The connections within the cap still work.
    a.send(post("/", "a"));
    EXPECT_EQ(a.read()->result_int(), 200u);
}

TEST(Server, AnswersAsynchronouslyFromAnotherThread) {
    std::vector<std::thread> workers;
    std::mutex mu;
    Server server(test_options(), [&](ServerRequest req, Respond respond) {
        std::lock_guard lock(mu);
        workers.emplace_back([req = std::move(req), respond = std::move(respond)] {
            std::this_thread::sleep_for(20ms);
            respond(ServerResponse::json(201, "{\"echo\":\"" + req.body + "\"}"));
        });
    });
    Conn c(server.start());
    c.send(post("/", "later"));
    auto res = c.read();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->result_int(), 201u);
    EXPECT_EQ(res->body(), "{\"echo\":\"later\"}");
    EXPECT_EQ((*res)[bhttp::field::content_type], "application/json");
    server.stop(1000ms);
    for (auto& t : workers) t.join();
}

TEST(Server, AnswersWith500WhenTheHandlerDropsItsRespond) {
    Server server(test_options(), [](ServerRequest, Respond) {});
    Conn c(server.start());
    c.send(post("/", "x"));
    EXPECT_EQ(c.read()->result_int(), 500u);
}

TEST(Server, AnswersWith503WhenTheHandlerTakesTooLong) {
    auto o = test_options();
    o.handler_timeout = 100ms;
    std::promise<Respond> kept;
    Server server(o, [&](ServerRequest, Respond respond) { kept.set_value(std::move(respond)); });
    Conn c(server.start());
    c.send(post("/", "x"));
    auto res = c.read();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->result_int(), 503u);
    EXPECT_EQ(server.stats().handler_timeouts, 1u);
    kept.get_future().get()(ServerResponse::text(200, "too late"));  // ignored
    server.stop(1000ms);
}

TEST(Server, DrainsRequestsInProgressOnStopAndClosesTheirConnections) {
    std::promise<Respond> held;
    std::atomic<bool> got{false};
    Server server(test_options(), [&](ServerRequest, Respond respond) {
        held.set_value(std::move(respond));
        got = true;
    });
    auto port = server.start();
    Conn busy(port);
    Conn idle(port);
    busy.send(post("/", "x"));
    wait_until([&] { return got.load(); });
    auto stopped = std::async(std::launch::async, [&] { server.stop(5000ms); });
    // The idle connection is closed at once; the busy one waits for its answer.
    EXPECT_TRUE(idle.closed_by_server());
    EXPECT_EQ(stopped.wait_for(50ms), std::future_status::timeout);
    held.get_future().get()(ServerResponse::text(200, "done"));
    auto res = busy.read();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->result_int(), 200u);
    EXPECT_FALSE(res->keep_alive());
    stopped.get();
    EXPECT_TRUE(server.draining());
    asio::io_context ioc;
    tcp::socket s(ioc);
    beast::error_code ec;
    s.connect({asio::ip::make_address("127.0.0.1"), port}, ec);
    EXPECT_TRUE(ec);  // no longer listening
}

TEST(Server, StopGivesUpOnRequestsThatOutlastTheDrainTimeout) {
    std::promise<Respond> held;
    Server server(test_options(), [&](ServerRequest, Respond respond) { held.set_value(std::move(respond)); });
    Conn c(server.start());
    c.send(post("/", "x"));
    auto respond = held.get_future().get();
    server.stop(50ms);
    EXPECT_TRUE(c.closed_by_server());
    respond(ServerResponse::text(200, "after stop"));  // dropped, not a crash
}

TEST(Server, StartingTwiceIsAnError) {
    Server server(test_options(), echo());
    server.start();
    EXPECT_THROW(server.start(), std::logic_error);
}

TEST(ServerRequest, FindsTheFirstHeaderValueCaseInsensitivelyWithoutCopying) {
    bbreview::http::ServerRequest req;
    req.headers = {{"X-Hub-Signature", "sha256=ab"}, {"x-hub-signature", "second"}, {"X-Hub", "short"}};
    const std::string* v = req.find("x-HUB-signature");
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(v, &req.headers[0].second);
    EXPECT_EQ(req.find("X-Hub-Signatur"), nullptr);
    EXPECT_EQ(req.find("X-Missing"), nullptr);
    EXPECT_EQ(req.header("X-HUB"), std::optional<std::string>("short"));
}

}  // namespace

// Type conversions for bbreview::webhook: signatures, event decoding and the
// intake server. Routing, verification and storage live in cpp/webhook.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "webhook/event.hpp"
#include "webhook/intake.hpp"
#include "webhook/signature.hpp"

namespace py = pybind11;

namespace bbreview::bindings {

namespace {

namespace wh = bbreview::webhook;

// Seconds from Python, clamped to [0, one day] so that the cast cannot overflow.
std::chrono::milliseconds ms(double seconds) {
  double clamped = std::clamp(seconds, 0.0, 86'400.0);
  return std::chrono::milliseconds(static_cast<long long>(clamped * 1000.0));
}

py::object optional_str(const std::optional<std::string>& v) {
  return v ? py::object(py::str(*v)) : py::object(py::none());
}

py::object optional_int(const std::optional<std::int64_t>& v) {
  return v ? py::object(py::int_(*v)) : py::object(py::none());
}

}  // namespace

void register_webhook(py::module_& m) {
  py::register_exception<wh::InboxError>(m, "InboxError", PyExc_RuntimeError);
  m.attr("SIGNATURE_PREFIX") = std::string(wh::kSignaturePrefix);
  m.attr("DEFAULT_PATH") = std::string(wh::kDefaultPath);
  m.attr("DEFAULT_MAX_BODY_BYTES") = http::kDefaultMaxBodyBytes;
  m.attr("DEFAULT_MAX_HEADER_BYTES") = http::kDefaultMaxHeaderBytes;

  // The GIL is released around HMAC and parsing: they read owned std::strings only.
  m.def(
      "sign",
      [](std::string secret, std::string body) {
        py::gil_scoped_release release;  // hashing owned strings
        return wh::sign(secret, body);
      },
      py::arg("secret"), py::arg("body"));
  m.def(
      "verify",
      [](std::string secret, std::string body, std::string header) {
        py::gil_scoped_release release;  // hashing owned strings
        return wh::verify(secret, body, header);
      },
      py::arg("secret"), py::arg("body"), py::arg("header"));
  m.def(
      "decode_event",
      [](std::string event_key, std::string body) {
        wh::Decoded d;
        std::string key;
        {
          py::gil_scoped_release release;  // JSON parsing of owned strings
          d = wh::decode(event_key, body);
          if (d.ok()) key = wh::dedup_key(d.event, body);
        }
        if (!d.ok()) throw py::value_error(d.error);
        py::dict out;
        out["event_key"] = d.event.event_key;
        out["repository"] = optional_str(d.event.repository);
        out["pr_id"] = optional_int(d.event.pr_id);
        out["source_commit"] = optional_str(d.event.source_commit);
        out["comment_id"] = optional_int(d.event.comment_id);
        out["actor_uuid"] = optional_str(d.event.actor_uuid);
        out["actor_account_id"] = optional_str(d.event.actor_account_id);
        out["dedup_key"] = key;
        return out;
      },
      py::arg("event_key"), py::arg("body"));

  py::class_<wh::Intake>(m, "IntakeServer")
      .def(py::init([](std::string db_path, std::string host, unsigned short port, std::string path,
                       std::size_t threads, std::size_t max_connections, std::size_t max_body_bytes,
                       std::size_t max_header_bytes, double header_timeout, double body_timeout, double idle_timeout,
                       double handler_timeout, bool require_signature, std::size_t queue_capacity,
                       std::size_t max_batch, double busy_timeout, std::vector<std::string> accepted_events) {
             wh::IntakeOptions o;
             o.accepted_events = std::move(accepted_events);
             o.db_path = std::move(db_path);
             o.path = std::move(path);
             o.require_signature = require_signature;
             o.server.host = std::move(host);
             o.server.port = port;
             o.server.threads = threads;
             o.server.max_connections = max_connections;
             o.server.max_body_bytes = max_body_bytes;
             o.server.max_header_bytes = max_header_bytes;
             o.server.header_timeout = ms(header_timeout);
             o.server.body_timeout = ms(body_timeout);
             o.server.idle_timeout = ms(idle_timeout);
             o.server.handler_timeout = ms(handler_timeout);
             o.queue_capacity = queue_capacity;
             o.max_batch = max_batch;
             o.busy_timeout = ms(busy_timeout);
             py::gil_scoped_release release;  // opening SQLite may wait on its busy timeout; options are owned
             return std::make_unique<wh::Intake>(std::move(o));
           }),
           py::arg("db_path"), py::kw_only(), py::arg("host") = "127.0.0.1", py::arg("port") = 0,
           py::arg("path") = std::string(wh::kDefaultPath), py::arg("threads") = 2,
           py::arg("max_connections") = http::ServerOptions{}.max_connections,
           py::arg("max_body_bytes") = http::kDefaultMaxBodyBytes,
           py::arg("max_header_bytes") = http::kDefaultMaxHeaderBytes, py::arg("header_timeout") = 5.0,
           py::arg("body_timeout") = 10.0, py::arg("idle_timeout") = 60.0, py::arg("handler_timeout") = 9.0,
           py::arg("require_signature") = false, py::arg("queue_capacity") = wh::InboxOptions{}.queue_capacity,
           py::arg("max_batch") = wh::InboxOptions{}.max_batch, py::arg("busy_timeout") = 3.0,
           py::arg("accepted_events") = std::vector<std::string>{})
      // The io and writer threads never call into Python, so releasing the GIL
      // while they are started, drained or joined cannot deadlock.
      .def("start", &wh::Intake::start, py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("port", &wh::Intake::port)
      .def(
          "stop", [](wh::Intake& self, double drain_timeout) {
            py::gil_scoped_release release;  // waits for in-flight requests on C++ threads
            self.stop(ms(drain_timeout));
          },
          py::arg("drain_timeout") = 5.0)
      .def("set_default_secret", &wh::Intake::set_default_secret, py::arg("secret"))
      .def("set_hook_secret", &wh::Intake::set_hook_secret, py::arg("hook_uuid"), py::arg("secret"))
      .def("remove_hook_secret", &wh::Intake::remove_hook_secret, py::arg("hook_uuid"))
      .def_property_readonly("hook_secret_count", &wh::Intake::hook_secret_count)
      .def_property_readonly("has_default_secret", &wh::Intake::has_default_secret)
      .def("set_metrics_text", &wh::Intake::set_metrics_text, py::arg("text"))
      .def("set_healthy", &wh::Intake::set_healthy, py::arg("healthy"))
      .def(
          "wait_for_delivery", [](wh::Intake& self, double timeout) {
            py::gil_scoped_release release;  // blocks on a C++ condition variable only
            return self.wait_for_delivery(ms(timeout));
          },
          py::arg("timeout"))
      .def(
          "take_log", [](wh::Intake& self, double timeout) {
            std::vector<wh::LogRecord> records;
            {
              py::gil_scoped_release release;  // blocks on a C++ condition variable only
              records = self.take_log(ms(timeout));
            }
            py::list out;
            for (auto& r : records) out.append(py::make_tuple(std::string(wh::to_string(r.level)), r.message));
            return out;
          },
          py::arg("timeout"))
      .def("metrics_text", &wh::Intake::metrics_text)
      .def("stats", [](const wh::Intake& self) {
        auto s = self.stats();
        py::dict server;
        server["connections_accepted"] = s.server.connections_accepted;
        server["connections_refused"] = s.server.connections_refused;
        server["connections_active"] = s.server.connections_active;
        server["requests"] = s.server.requests;
        server["requests_in_flight"] = s.server.requests_in_flight;
        server["body_bytes"] = s.server.body_bytes;
        server["timeouts"] = s.server.timeouts;
        server["handler_timeouts"] = s.server.handler_timeouts;
        server["bad_requests"] = s.server.bad_requests;
        server["body_too_large"] = s.server.body_too_large;
        server["header_too_large"] = s.server.header_too_large;
        server["draining"] = s.server.draining;
        py::dict inbox;
        inbox["queued"] = s.inbox.queued;
        inbox["duplicates"] = s.inbox.duplicates;
        inbox["failures"] = s.inbox.failures;
        inbox["commits"] = s.inbox.commits;
        inbox["refused"] = s.inbox.refused;
        inbox["pending"] = s.inbox.pending;
        inbox["last_seq"] = s.inbox.last_seq;
        inbox["last_write_ok"] = s.inbox.last_write_ok;
        py::dict out;
        out["accepted"] = s.accepted;
        out["duplicates"] = s.duplicates;
        out["rejected_signature"] = s.rejected_signature;
        out["malformed"] = s.malformed;
        out["unsupported_media"] = s.unsupported_media;
        out["unavailable"] = s.unavailable;
        out["log_dropped"] = s.log_dropped;
        out["healthy"] = s.healthy;
        out["server"] = server;
        out["inbox"] = inbox;
        return out;
      });
}

}  // namespace bbreview::bindings

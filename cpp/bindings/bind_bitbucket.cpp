// Type conversions between bbreview::bitbucket and Python. Endpoint paths and
// JSON shapes live in python/bbreview/bitbucket; no HTTP logic here.
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "bitbucket/client.hpp"

namespace py = pybind11;

namespace bbreview::bindings {

namespace {

namespace bb = bbreview::bitbucket;

std::chrono::milliseconds ms(double seconds) {
  return std::chrono::milliseconds(static_cast<long long>(seconds * 1000.0));
}

bb::Call make_call(std::string method, std::string path, std::vector<std::pair<std::string, std::string>> query,
                   py::bytes body, std::string content_type, std::string accept, bool immutable, std::string caller,
                   bool retry_non_idempotent) {
  bb::Call c;
  c.method = std::move(method);
  c.path = std::move(path);
  c.query = std::move(query);
  c.body = std::string(body);
  c.content_type = std::move(content_type);
  c.accept = std::move(accept);
  c.immutable = immutable;
  c.caller = std::move(caller);
  c.retry_non_idempotent = retry_non_idempotent;
  return c;
}

}  // namespace

void register_bitbucket(py::module_& m) {
  m.attr("MAX_PAGELEN") = bb::kMaxPagelen;
  m.attr("MAX_PULL_REQUEST_PAGELEN") = bb::kMaxPullRequestPagelen;
  m.attr("MAX_DIFFSTAT_PAGELEN") = bb::kMaxDiffstatPagelen;
  m.attr("MAX_ANNOTATIONS_PER_REQUEST") = bb::kMaxAnnotationsPerRequest;
  m.attr("MAX_ANNOTATIONS_PER_REPORT") = bb::kMaxAnnotationsPerReport;
  m.attr("DEFAULT_REQUESTS_PER_HOUR") = bb::kDefaultRequestsPerHour;

  py::class_<bb::BudgetSnapshot>(m, "Budget")
      .def_readonly("capacity", &bb::BudgetSnapshot::capacity)
      .def_readonly("per_hour", &bb::BudgetSnapshot::per_hour)
      .def_readonly("remaining", &bb::BudgetSnapshot::remaining)
      .def_readonly("waiting", &bb::BudgetSnapshot::waiting)
      .def_readonly("spent", &bb::BudgetSnapshot::spent)
      .def_readonly("rate_limited", &bb::BudgetSnapshot::rate_limited)
      .def_readonly("cooldown_seconds", &bb::BudgetSnapshot::cooldown_seconds);

  py::class_<bb::Call>(m, "Call")
      .def(py::init(&make_call), py::arg("method"), py::arg("path"),
           py::arg("query") = std::vector<std::pair<std::string, std::string>>{}, py::arg("body") = py::bytes(),
           py::arg("content_type") = "application/json", py::arg("accept") = "application/json",
           py::arg("immutable") = false, py::arg("caller") = "", py::arg("retry_non_idempotent") = false)
      .def_readonly("method", &bb::Call::method)
      .def_readonly("path", &bb::Call::path);

  py::class_<bb::Result>(m, "Result")
      .def_readonly("status", &bb::Result::status)
      .def_readonly("headers", &bb::Result::headers)
      .def_property_readonly("body", [](const bb::Result& r) { return py::bytes(r.body); })
      .def_readonly("url", &bb::Result::url)
      .def_readonly("from_cache", &bb::Result::from_cache)
      .def_property_readonly("ok", &bb::Result::ok)
      .def_property_readonly("error_kind", [](const bb::Result& r) { return std::string(bb::to_string(r.error.kind)); })
      .def_property_readonly("message", [](const bb::Result& r) { return r.error.message; })
      .def_property_readonly("detail", [](const bb::Result& r) { return r.error.detail; })
      .def_property_readonly("required", [](const bb::Result& r) { return r.error.required; })
      .def_property_readonly("granted", [](const bb::Result& r) { return r.error.granted; })
      .def_property_readonly("fields", [](const bb::Result& r) { return r.error.fields; })
      .def_property_readonly("error_id", [](const bb::Result& r) { return r.error.id; })
      .def_property_readonly("method", [](const bb::Result& r) { return r.error.method; })
      .def_property_readonly("path", [](const bb::Result& r) { return r.error.path; });

  m.def("decode_error",
        [](int status, const std::string& content_type, py::bytes body, const std::string& oauth_scopes) {
          bb::Result r;
          r.status = status;
          r.error = bb::decode_error(status, content_type, std::string(body), oauth_scopes);
          return r;
        },
        py::arg("status"), py::arg("content_type"), py::arg("body"), py::arg("oauth_scopes") = "");

  py::class_<bb::Client>(m, "Client")
      .def(py::init([](std::string base_url, std::string auth, std::string email, std::string secret,
                       double budget_per_hour, double budget_burst, std::size_t threads,
                       std::size_t max_connections_per_host, double connect_timeout, double read_timeout,
                       double total_timeout, int max_retries, double backoff_base, double backoff_max,
                       int max_rate_limit_retries, double rate_limit_backoff, double rate_limit_backoff_max,
                       std::string ca_file, bool verify_tls, std::size_t cache_bytes, bool use_environment_proxy,
                       std::string https_proxy, std::string http_proxy, std::string no_proxy) {
             bb::ClientOptions o;
             o.base_url = std::move(base_url);
             o.budget_per_hour = budget_per_hour;
             o.budget_burst = budget_burst;
             o.http.threads = threads;
             o.http.max_connections_per_host = max_connections_per_host;
             o.http.max_idle_per_host = max_connections_per_host;
             o.http.connect_timeout = ms(connect_timeout);
             o.http.read_timeout = ms(read_timeout);
             o.http.total_timeout = ms(total_timeout);
             o.http.max_retries = max_retries;
             o.http.backoff_base = ms(backoff_base);
             o.http.backoff_max = ms(backoff_max);
             o.max_rate_limit_retries = max_rate_limit_retries;
             o.rate_limit_backoff = ms(rate_limit_backoff);
             o.rate_limit_backoff_max = ms(rate_limit_backoff_max);
             o.http.ca_file = std::move(ca_file);
             o.http.verify_tls = verify_tls;
             o.cache_bytes = cache_bytes;
             o.http.use_environment_proxy = use_environment_proxy;
             o.http.https_proxy = std::move(https_proxy);
             o.http.http_proxy = std::move(http_proxy);
             o.http.no_proxy = std::move(no_proxy);
             bb::Credentials c;
             c.kind = auth == "api_token"      ? bb::Credentials::Kind::api_token
                      : auth == "access_token" ? bb::Credentials::Kind::access_token
                                               : bb::Credentials::Kind::none;
             c.email = std::move(email);
             c.secret = std::move(secret);
             return std::make_unique<bb::Client>(std::move(o), std::move(c));
           }),
           py::kw_only(), py::arg("base_url"), py::arg("auth"), py::arg("email"), py::arg("secret"),
           py::arg("budget_per_hour"), py::arg("budget_burst"), py::arg("threads"),
           py::arg("max_connections_per_host"), py::arg("connect_timeout"), py::arg("read_timeout"),
           py::arg("total_timeout"), py::arg("max_retries"), py::arg("backoff_base"), py::arg("backoff_max"),
           py::arg("max_rate_limit_retries"), py::arg("rate_limit_backoff"), py::arg("rate_limit_backoff_max"),
           py::arg("ca_file"), py::arg("verify_tls"), py::arg("cache_bytes"), py::arg("use_environment_proxy"),
           py::arg("https_proxy"), py::arg("http_proxy"), py::arg("no_proxy"))
      // Blocking network I/O: the GIL is released after the arguments were
      // converted to owned C++ values; the C++ side never touches Python objects.
      .def("call", &bb::Client::call, py::arg("call"), py::call_guard<py::gil_scoped_release>())
      .def(
          "map",
          [](bb::Client& self, std::vector<bb::Call> calls, std::size_t concurrency, py::object progress) {
            std::function<void(std::size_t, std::size_t)> report;
            if (!progress.is_none()) {
              // Runs on this (calling) thread, which re-takes the GIL for it.
              report = [&progress](std::size_t done, std::size_t total) {
                py::gil_scoped_acquire gil;
                progress(done, total);
              };
            }
            py::gil_scoped_release release;  // calls are owned C++ values now
            return self.map(std::move(calls), concurrency, report);
          },
          py::arg("calls"), py::arg("concurrency"), py::arg("progress") = py::none())
      .def_property_readonly("budget", &bb::Client::budget)
      .def_property_readonly("base_url", &bb::Client::base_url)
      .def_property_readonly("cache_entries", &bb::Client::cache_entries)
      .def_property_readonly("stats",
                             [](const bb::Client& c) {
                               auto s = c.http_stats();
                               py::dict d;
                               d["requests"] = s.requests;
                               d["exchanges"] = s.exchanges;
                               d["connections"] = s.connections;
                               d["retries"] = s.retries;
                               d["in_flight"] = s.in_flight;
                               return d;
                             })
      .def("describe", &bb::Client::describe);
}

}  // namespace bbreview::bindings

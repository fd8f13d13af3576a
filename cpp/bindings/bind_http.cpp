// Type conversions for bbreview::http: a plain HTTP client for tools and tests
// (the Bitbucket layer uses its own instance through bind_bitbucket.cpp).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <memory>
#include <string>

#include "http/client.hpp"

namespace py = pybind11;

namespace bbreview::bindings {

void register_http(py::module_& m) {
  namespace h = bbreview::http;
  py::class_<h::Response>(m, "Response")
      .def_readonly("status", &h::Response::status)
      .def_readonly("headers", &h::Response::headers)
      .def_property_readonly("body", [](const h::Response& r) { return py::bytes(r.body); })
      .def_readonly("url", &h::Response::url)
      .def_readonly("attempts", &h::Response::attempts)
      .def_readonly("redirects", &h::Response::redirects)
      .def_property_readonly("error", [](const h::Response& r) { return std::string(h::to_string(r.error)); })
      .def_readonly("error_message", &h::Response::error_message);

  py::class_<h::Client>(m, "Client")
      .def(py::init([](std::size_t threads, std::size_t max_connections_per_host, double timeout, int max_retries,
                       std::string ca_file, double read_timeout) {
             h::Options o;
             o.threads = threads;
             o.max_connections_per_host = max_connections_per_host;
             o.total_timeout = std::chrono::milliseconds(static_cast<long long>(timeout * 1000.0));
             // 0 means "as long as the whole request may take": a model can think for minutes
             // before its first byte, so a per-read deadline shorter than the total is wrong there.
             const double per_read = read_timeout > 0.0 ? read_timeout : timeout;
             o.read_timeout = std::chrono::milliseconds(static_cast<long long>(per_read * 1000.0));
             o.max_retries = max_retries;
             o.ca_file = std::move(ca_file);
             return std::make_unique<h::Client>(std::move(o));
           }),
           py::kw_only(), py::arg("threads") = 2, py::arg("max_connections_per_host") = 8, py::arg("timeout") = 120.0,
           py::arg("max_retries") = 3, py::arg("ca_file") = "", py::arg("read_timeout") = 0.0)
      .def(
          "request",
          [](h::Client& c, std::string method, std::string url, h::Headers headers, py::bytes body) {
            h::Request r;
            r.method = std::move(method);
            r.url = std::move(url);
            r.headers = std::move(headers);
            r.body = std::string(body);
            py::gil_scoped_release release;  // network I/O on owned C++ values only
            return c.send(std::move(r));
          },
          py::arg("method"), py::arg("url"), py::arg("headers") = h::Headers{}, py::arg("body") = py::bytes());
}

}  // namespace bbreview::bindings

// Decoding Bitbucket Cloud error responses (reference §3, §2.5, §2.7, §5).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace bbreview::bitbucket {

// Which Python exception an error becomes (bbreview.errors).
enum class ErrorKind : std::uint8_t {
    none,
    auth,               // 401: missing, bad or expired credentials
    scope,              // 403 whose body names the required scopes
    permission_denied,  // other 403s
    not_found,          // 404 (also private resources the caller cannot see)
    rate_limited,       // 429
    server,             // 5xx, including 555 "diff too large"
    client,             // any other 4xx (400 validation, 409, 410, 411...)
    network,            // no HTTP response: connect, TLS, timeout, reset...
};
std::string_view to_string(ErrorKind kind);

// An error as Bitbucket described it. Never contains request headers.
struct ApiError {
    ErrorKind kind = ErrorKind::none;
    int status = 0;
    std::string message;  // error.message, or the first meaningful line of a text/HTML body
    std::string detail;   // error.detail when it is a string
    std::vector<std::string> required;  // error.detail.required (insufficient scope)
    std::vector<std::string> granted;   // error.detail.granted, else x-oauth-scopes
    std::string fields;   // error.fields as JSON text ("" when absent); values may be lists or strings
    std::string id;       // error.id, Bitbucket's log correlation id
    std::string method;
    std::string path;     // the request path (no query string: it may carry user data)
};

// Classifies an HTTP status (>= 400) into an ErrorKind. `has_required_scopes`
// turns a 403 into a scope error.
ErrorKind classify(int status, bool has_required_scopes);

// Decodes the body of an error response. Every variant of reference §3 is
// accepted: the JSON error envelope (detail as string or object, fields as
// lists or strings), plain text (401 bad Basic, 429) and HTML pages (400 for an
// oversized comment). Never fails: an undecodable body yields a message built
// from the status. `oauth_scopes` is the x-oauth-scopes header, used when the
// body does not list the granted scopes.
ApiError decode_error(int status, std::string_view content_type, std::string_view body,
                      std::string_view oauth_scopes = {});

// Splits a comma-separated scope header, trimming each item (reference §2.6).
std::vector<std::string> split_scopes(std::string_view header);

}  // namespace bbreview::bitbucket

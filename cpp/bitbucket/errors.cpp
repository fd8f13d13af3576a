#include "bitbucket/errors.hpp"

#include <cctype>

#include <nlohmann/json.hpp>

namespace bbreview::bitbucket {

namespace {

using nlohmann::json;

// Error messages are shown to people; a runaway body must not flood a log line.
constexpr std::size_t kMaxMessageBytes = 500;

std::string trim(std::string_view s) {
    std::size_t b = 0, e = s.size();
    while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
    while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
    return std::string(s.substr(b, e - b));
}

std::string clip(std::string s) {
    if (s.size() > kMaxMessageBytes) {
        s.resize(kMaxMessageBytes);
        s += "...";
    }
    return s;
}

std::string collapse_spaces(std::string_view s) {
    std::string out;
    bool space = false;
    for (char c : s) {
        if (std::isspace(static_cast<unsigned char>(c))) {
            space = true;
            continue;
        }
        if (space && !out.empty()) out += ' ';
        space = false;
        out += c;
    }
    return out;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// The text of the first <title>, <h1> or, failing those, the whole page with tags removed.
std::string html_message(std::string_view body) {
    std::string low = lower(body);
    for (const char* tag : {"title", "h1"}) {
        std::string open = std::string("<") + tag;
        auto start = low.find(open);
        if (start == std::string::npos) continue;
        start = low.find('>', start);
        auto end = low.find(std::string("</") + tag, start);
        if (start == std::string::npos || end == std::string::npos) continue;
        auto text = collapse_spaces(body.substr(start + 1, end - start - 1));
        if (!text.empty()) return text;
    }
    std::string text;
    bool in_tag = false;
    for (char c : body) {
        if (c == '<') in_tag = true;
        else if (c == '>') { in_tag = false; text += ' '; }
        else if (!in_tag) text += c;
    }
    return collapse_spaces(text);
}

// The first non-empty line of a plain-text body (401 bodies go on with links).
std::string text_message(std::string_view body) {
    std::size_t pos = 0;
    while (pos < body.size()) {
        auto nl = body.find('\n', pos);
        auto line = trim(body.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos));
        if (!line.empty()) return line;
        if (nl == std::string_view::npos) break;
        pos = nl + 1;
    }
    return {};
}

std::vector<std::string> strings_of(const json& j) {
    std::vector<std::string> out;
    if (j.is_array()) {
        for (const auto& v : j)
            if (v.is_string()) out.push_back(v.get<std::string>());
    } else if (j.is_string()) {
        out = split_scopes(j.get<std::string>());
    }
    return out;
}

bool decode_json(std::string_view body, ApiError& err) {
    json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded() || !doc.is_object()) return false;
    const json* e = nullptr;
    if (auto it = doc.find("error"); it != doc.end() && it->is_object()) e = &*it;
    else if (doc.contains("message")) e = &doc;  // a bare {"message": ...}
    if (!e) {
        if (auto it = doc.find("error"); it != doc.end() && it->is_string()) {
            err.message = it->get<std::string>();
            return true;
        }
        return false;
    }
    if (auto m = e->find("message"); m != e->end() && m->is_string()) err.message = m->get<std::string>();
    if (auto d = e->find("detail"); d != e->end()) {
        if (d->is_string()) {
            err.detail = d->get<std::string>();
        } else if (d->is_object()) {  // §2.7: detail is an object for missing scopes
            if (auto r = d->find("required"); r != d->end()) err.required = strings_of(*r);
            if (auto g = d->find("granted"); g != d->end()) err.granted = strings_of(*g);
            if (err.required.empty() && err.granted.empty()) err.detail = d->dump();
        } else if (!d->is_null()) {
            err.detail = d->dump();
        }
    }
    if (auto f = e->find("fields"); f != e->end() && !f->is_null()) err.fields = f->dump();
    if (auto i = e->find("id"); i != e->end() && i->is_string()) err.id = i->get<std::string>();
    return true;
}

}  // namespace

std::string_view to_string(ErrorKind kind) {
    switch (kind) {
        case ErrorKind::none: return "none";
        case ErrorKind::auth: return "auth";
        case ErrorKind::scope: return "scope";
        case ErrorKind::permission_denied: return "permission_denied";
        case ErrorKind::not_found: return "not_found";
        case ErrorKind::rate_limited: return "rate_limited";
        case ErrorKind::server: return "server";
        case ErrorKind::client: return "client";
        case ErrorKind::network: return "network";
    }
    return "unknown";
}

std::vector<std::string> split_scopes(std::string_view header) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos <= header.size()) {
        auto comma = header.find(',', pos);
        auto item = trim(header.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos));
        if (!item.empty()) out.push_back(std::move(item));
        if (comma == std::string_view::npos) break;
        pos = comma + 1;
    }
    return out;
}

ErrorKind classify(int status, bool has_required_scopes) {
    if (status == 401) return ErrorKind::auth;
    if (status == 403) return has_required_scopes ? ErrorKind::scope : ErrorKind::permission_denied;
    if (status == 404) return ErrorKind::not_found;
    if (status == 429) return ErrorKind::rate_limited;
    if (status >= 500) return ErrorKind::server;
    if (status >= 400) return ErrorKind::client;
    return ErrorKind::none;
}

ApiError decode_error(int status, std::string_view content_type, std::string_view body,
                      std::string_view oauth_scopes) {
    ApiError err;
    err.status = status;
    std::string ct = lower(content_type);
    std::string stripped = trim(body);
    bool json_like = ct.find("json") != std::string::npos || (!stripped.empty() && stripped[0] == '{');
    bool decoded = json_like && decode_json(stripped, err);
    if (!decoded) {
        bool html = ct.find("html") != std::string::npos || lower(stripped.substr(0, 200)).find("<html") != std::string::npos ||
                    lower(stripped.substr(0, 20)).find("<!doctype") != std::string::npos;
        err.message = html ? html_message(stripped) : text_message(stripped);
    }
    if (err.message.empty()) err.message = "HTTP " + std::to_string(status) + " with an empty or unreadable body";
    err.message = clip(std::move(err.message));
    err.detail = clip(std::move(err.detail));
    if (err.granted.empty() && !oauth_scopes.empty() && status == 403) err.granted = split_scopes(oauth_scopes);
    err.kind = classify(status, !err.required.empty());
    return err;
}

}  // namespace bbreview::bitbucket

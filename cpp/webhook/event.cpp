#include "webhook/event.hpp"

#include <array>
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

namespace bbreview::webhook {

namespace {

using json = nlohmann::json;

constexpr std::string_view kPullRequestPrefix = "pullrequest:";
constexpr std::string_view kCommentPrefix = "pullrequest:comment_";

// The containers on the way to the fields the intake reads; everything else
// in a payload (most of its bytes) is skipped without being stored.
enum Node : int { kOther = -1, kRoot, kRepository, kPullRequest, kSource, kCommit, kComment, kActor, kArray };
constexpr std::array<std::string_view, 7> kNodeNames = {"", "repository", "pullrequest", "pullrequest.source",
                                                         "pullrequest.source.commit", "comment", "actor"};

enum class Field : std::uint8_t { none, repository, pr_id, source_commit, comment_id, actor_uuid, actor_account_id };

struct Edge {
    Node parent;
    std::string_view key;
    Node child;   // kOther when the key names a field
    Field field;  // Field::none when the key names a container
};
constexpr std::array<Edge, 12> kEdges = {{
    {kRoot, "repository", kRepository, Field::none},
    {kRoot, "pullrequest", kPullRequest, Field::none},
    {kRoot, "comment", kComment, Field::none},
    {kRoot, "actor", kActor, Field::none},
    {kRepository, "full_name", kOther, Field::repository},
    {kPullRequest, "id", kOther, Field::pr_id},
    {kPullRequest, "source", kSource, Field::none},
    {kSource, "commit", kCommit, Field::none},
    {kCommit, "hash", kOther, Field::source_commit},
    {kComment, "id", kOther, Field::comment_id},
    {kActor, "uuid", kOther, Field::actor_uuid},
    {kActor, "account_id", kOther, Field::actor_account_id},
}};

enum class Kind : std::uint8_t { null, object, array, string, boolean, integer, out_of_range, number };

std::string_view kind_name(Kind k) {
    switch (k) {
        case Kind::null: return "null";
        case Kind::object: return "an object";
        case Kind::array: return "an array";
        case Kind::string: return "a string";
        case Kind::boolean: return "a boolean";
        case Kind::integer: return "an integer";
        case Kind::out_of_range: return "an integer out of range";
        case Kind::number: return "a number";
    }
    return "a value";
}

// A SAX consumer for nlohmann::json::sax_parse: tracks only the containers of
// kEdges, and records the first type error but keeps going, so that a syntax
// error anywhere in the body still wins.
class Extractor {
public:
    using number_integer_t = json::number_integer_t;
    using number_unsigned_t = json::number_unsigned_t;
    using number_float_t = json::number_float_t;
    using string_t = json::string_t;
    using binary_t = json::binary_t;

    explicit Extractor(Event& ev) : ev_(ev) {}

    std::string type_error;   // first wrong type, e.g. "pullrequest.id is a string, expected an integer"
    std::string top_error;    // the body is not an object
    std::optional<std::size_t> syntax_error_at;

    bool null() { return value(Kind::null); }
    bool boolean(bool) { return value(Kind::boolean); }
    bool number_integer(number_integer_t v) {
        int_ = v;
        return value(Kind::integer);
    }
    bool number_unsigned(number_unsigned_t v) {
        if (v > static_cast<number_unsigned_t>(INT64_MAX)) return value(Kind::out_of_range);
        int_ = static_cast<std::int64_t>(v);
        return value(Kind::integer);
    }
    bool number_float(number_float_t, const string_t&) { return value(Kind::number); }
    bool string(string_t& s) {
        str_ = &s;
        return value(Kind::string);
    }
    bool binary(binary_t&) { return value(Kind::number); }
    bool start_object(std::size_t) {
        Node child = container(Kind::object);
        stack_.push_back(child);
        return true;
    }
    bool key(string_t& k) {
        key_ = k;
        return true;
    }
    bool end_object() {
        stack_.pop_back();
        return true;
    }
    bool start_array(std::size_t) {
        container(Kind::array);
        stack_.push_back(kArray);
        return true;
    }
    bool end_array() {
        stack_.pop_back();
        return true;
    }
    bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception&) {
        // The exception's text quotes the last bytes read; only the offset is kept.
        syntax_error_at = position;
        return false;
    }

private:
    const Edge* edge() const {
        if (stack_.empty()) return nullptr;
        Node parent = stack_.back();
        if (parent == kOther || parent == kArray) return nullptr;
        for (const auto& e : kEdges)
            if (e.parent == parent && e.key == key_) return &e;
        return nullptr;
    }

    std::string where(const Edge& e) const {
        std::string parent(kNodeNames[static_cast<std::size_t>(e.parent)]);
        return parent.empty() ? std::string(e.key) : parent + "." + std::string(e.key);
    }

    void wrong(const Edge& e, Kind got, std::string_view expected) {
        if (type_error.empty())
            type_error = where(e) + " is " + std::string(kind_name(got)) + ", expected " + std::string(expected);
    }

    // The node of a container starting here, checking it against kEdges.
    Node container(Kind kind) {
        if (stack_.empty()) {
            if (kind != Kind::object) top_error = "the body is " + std::string(kind_name(kind)) + ", expected a JSON object";
            return kind == Kind::object ? kRoot : kOther;
        }
        const Edge* e = edge();
        if (!e) return kOther;
        if (e->field != Field::none) {
            wrong(*e, kind, e->field == Field::pr_id || e->field == Field::comment_id ? "an integer" : "a string");
            return kOther;
        }
        if (kind != Kind::object) {
            wrong(*e, kind, "an object");
            return kOther;
        }
        return e->child;
    }

    bool value(Kind kind) {
        if (stack_.empty()) {
            top_error = "the body is " + std::string(kind_name(kind)) + ", expected a JSON object";
            return true;
        }
        const Edge* e = edge();
        if (!e || kind == Kind::null) return true;  // null reads as absent
        if (e->field == Field::none) {
            wrong(*e, kind, "an object");
            return true;
        }
        bool wants_int = e->field == Field::pr_id || e->field == Field::comment_id;
        if (wants_int != (kind == Kind::integer) || (!wants_int && kind != Kind::string)) {
            wrong(*e, kind, wants_int ? "an integer" : "a string");
            return true;
        }
        switch (e->field) {
            case Field::repository: ev_.repository = *str_; break;
            case Field::pr_id: ev_.pr_id = int_; break;
            case Field::source_commit: ev_.source_commit = *str_; break;
            case Field::comment_id: ev_.comment_id = int_; break;
            case Field::actor_uuid: ev_.actor_uuid = *str_; break;
            case Field::actor_account_id: ev_.actor_account_id = *str_; break;
            case Field::none: break;
        }
        return true;
    }

    Event& ev_;
    std::vector<Node> stack_;
    std::string key_;
    std::int64_t int_ = 0;
    const string_t* str_ = nullptr;
};

}  // namespace

bool Event::is_pull_request() const { return event_key.starts_with(kPullRequestPrefix); }
bool Event::is_comment() const { return event_key.starts_with(kCommentPrefix); }

bool is_valid_event_key(std::string_view key) {
    if (key.empty() || key.size() > kMaxEventKeyLength || key.find(':') == std::string_view::npos) return false;
    for (char c : key) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                  c == ':' || c == '.' || c == '-';
        if (!ok) return false;
    }
    return true;
}

Decoded decode(std::string_view event_key, std::string_view body) {
    Decoded out;
    if (!is_valid_event_key(event_key)) {
        out.error = "X-Event-Key is not an event key (expected e.g. \"pullrequest:created\")";
        return out;
    }
    out.event.event_key = std::string(event_key);
    // SAX rather than a DOM: payloads carry kilobytes of links and nested
    // repositories the intake never reads, and building them would dominate
    // the cost of a delivery.
    Extractor x(out.event);
    json::sax_parse(body.begin(), body.end(), &x);
    if (x.syntax_error_at) {
        out.error = "the body is not valid JSON (error at byte " + std::to_string(*x.syntax_error_at) + ")";
    } else if (!x.top_error.empty()) {
        out.error = x.top_error;
    } else if (!x.type_error.empty()) {
        out.error = "malformed " + out.event.event_key + " payload: " + x.type_error;
    }
    if (!out.error.empty()) {  // no half-decoded fields next to an error
        Event bare;
        bare.event_key = std::move(out.event.event_key);
        out.event = std::move(bare);
    }
    return out;
}

std::string sha256_hex(std::string_view data) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), md.data(), &len, EVP_sha256(), nullptr);
    std::string out;
    out.reserve(2 * len);
    for (unsigned int i = 0; i < len; ++i) {
        out.push_back(kHex[md[i] >> 4]);
        out.push_back(kHex[md[i] & 0x0f]);
    }
    return out;
}

std::string dedup_key(const Event& event, std::string_view body) {
    bool pr_complete = event.is_pull_request() && event.repository && event.pr_id && event.source_commit &&
                       (!event.is_comment() || event.comment_id);
    if (!pr_complete) return event.event_key + "|sha256:" + sha256_hex(body);
    std::string key = event.event_key + "|" + *event.repository + "|" + std::to_string(*event.pr_id) + "|" +
                      *event.source_commit;
    if (event.is_comment()) key += "|" + std::to_string(*event.comment_id);
    return key;
}

}  // namespace bbreview::webhook

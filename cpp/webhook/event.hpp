// bbreview::webhook events: the few fields of a Bitbucket Cloud delivery that
// the intake needs to route and deduplicate it (reference §7.1, §7.4), and the
// delivery's dedup key.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bbreview::webhook {

// Longest X-Event-Key accepted; the longest key in the 2026 enum
// ("pullrequest:changes_request_created", reference §6.10) has 35 characters.
inline constexpr std::size_t kMaxEventKeyLength = 100;

struct Event {
    std::string event_key;                   // X-Event-Key, e.g. "pullrequest:created"
    std::optional<std::string> repository;   // repository.full_name, "workspace/slug"
    std::optional<std::int64_t> pr_id;       // pullrequest.id
    std::optional<std::string> source_commit;  // pullrequest.source.commit.hash
    std::optional<std::int64_t> comment_id;  // comment.id
    std::optional<std::string> actor_uuid;   // actor.uuid, braces kept as sent
    std::optional<std::string> actor_account_id;  // actor.account_id

    // "pullrequest:*" events.
    bool is_pull_request() const;
    // "pullrequest:comment_*" events.
    bool is_comment() const;
};

// An Event, or the reason the delivery cannot be decoded.
struct Decoded {
    Event event;
    std::string error;  // empty on success; names the offending field or byte offset, never quotes the body

    bool ok() const { return error.empty(); }
};

// True for a plausible event key: 1..kMaxEventKeyLength characters from
// [A-Za-z0-9_:.-] with at least one ':'. Unknown keys are accepted so that new
// Bitbucket events are stored rather than refused.
bool is_valid_event_key(std::string_view key);

// Decodes `body` (the raw JSON payload) of an `event_key` delivery. Missing
// fields stay nullopt; the result is an error when the event key is not valid,
// the body is not JSON, the top level is not an object, or a field the intake
// reads has the wrong type (e.g. "pullrequest.id is a string, expected an
// integer").
Decoded decode(std::string_view event_key, std::string_view body);

// The event dedup key, which makes retries and duplicate hooks queue one job:
//   pull-request events: "event_key|repository|pr_id|source_commit", plus
//     "|comment_id" for comment events;
//   other events, or pull-request events lacking one of those fields:
//     "event_key|sha256:<hex of the body>" (the body names the commits, so an
//     identical body is the same event).
// X-Request-UUID is the other, independent key and is not part of this one.
std::string dedup_key(const Event& event, std::string_view body);

// Lowercase hex SHA-256 of `data`.
std::string sha256_hex(std::string_view data);

}  // namespace bbreview::webhook

// A temporary SQLite database holding the store's `inbox` table, created with
// the migrations' DDL verbatim.
#pragma once

#include <sqlite3.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace fixture {

inline constexpr const char* kInboxDdl = R"sql(
CREATE TABLE inbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  request_uuid TEXT UNIQUE,          -- X-Request-UUID, NULL when absent
  dedup_key TEXT NOT NULL UNIQUE,    -- the event dedup key described above
  event_key TEXT NOT NULL,
  hook_uuid TEXT,                    -- X-Hook-UUID without braces, NULL when absent
  repository TEXT,                   -- repository.full_name, NULL when absent
  pr_id INTEGER,                     -- pullrequest.id, NULL when absent
  attempt INTEGER NOT NULL DEFAULT 1,-- X-Attempt-Number
  received_at REAL NOT NULL,         -- unix time, seconds
  body BLOB NOT NULL,                -- the raw body as received
  state TEXT NOT NULL DEFAULT 'new'  -- 'new'; the Python dispatcher sets 'taken'
);
)sql";

// Owns a temporary directory with `inbox.db` in it.
class TempDb {
public:
    explicit TempDb(bool with_table = true) {
        std::string tmpl = (std::filesystem::temp_directory_path() / "bbreview-inbox-XXXXXX").string();
        if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
        dir_ = tmpl;
        path_ = (dir_ / "inbox.db").string();
        exec(with_table ? kInboxDdl : "CREATE TABLE other (x INTEGER)");
    }
    ~TempDb() {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    TempDb(const TempDb&) = delete;
    TempDb& operator=(const TempDb&) = delete;

    const std::string& path() const { return path_; }

    void exec(const std::string& sql) const {
        sqlite3* db = nullptr;
        sqlite3_open(path_.c_str(), &db);
        sqlite3_busy_timeout(db, 5000);
        char* err = nullptr;
        int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
        std::string why = err ? err : "";
        sqlite3_free(err);
        sqlite3_close(db);
        if (rc != SQLITE_OK) throw std::runtime_error(why);
    }

    long long count(const std::string& where = "1") const {
        sqlite3* db = nullptr;
        sqlite3_open(path_.c_str(), &db);
        sqlite3_busy_timeout(db, 5000);
        sqlite3_stmt* s = nullptr;
        sqlite3_prepare_v2(db, ("SELECT count(*) FROM inbox WHERE " + where).c_str(), -1, &s, nullptr);
        long long n = -1;
        if (sqlite3_step(s) == SQLITE_ROW) n = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
        sqlite3_close(db);
        return n;
    }

private:
    std::filesystem::path dir_;
    std::string path_;
};

}  // namespace fixture

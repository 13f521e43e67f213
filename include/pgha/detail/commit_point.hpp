// pgha/detail/commit_point.hpp: whether a statement string can commit a transaction, so
// that a Connection knows when a lost session or an abandoned wait leaves the outcome in
// doubt (pgha::InDoubtError). A COMMIT (or END) of an open, healthy transaction block
// commits; outside a block, every statement that may write commits its own implicit
// transaction. The SQL is only lexed (quotes, dollar quotes, comments) and split at ';':
// when unsure, a statement counts as one that may commit, which can only make an outcome
// "unknown" that was known, never the other way round.
#pragma once

#include <cctype>
#include <string>
#include <utility>
#include <vector>

namespace pgha::detail {

// The session's transaction state before the statement was sent.
enum class TxBefore { Idle, InBlock, Failed };

// The first two words (upper-cased) of each ';'-separated statement of `sql`.
inline std::vector<std::pair<std::string, std::string>> statement_words(const std::string& sql) {
  std::vector<std::pair<std::string, std::string>> out;
  std::string w[2];
  int n = 0;          // words taken for this statement
  bool in_word = false;
  auto flush = [&] {
    if (n > 0) out.emplace_back(w[0], w[1]);
    w[0].clear();
    w[1].clear();
    n = 0;
    in_word = false;
  };
  const std::size_t len = sql.size();
  for (std::size_t i = 0; i < len;) {
    char c = sql[i];
    if (c == ';') { flush(); ++i; continue; }
    if (c == '-' && i + 1 < len && sql[i + 1] == '-') {  // -- comment
      while (i < len && sql[i] != '\n') ++i;
      in_word = false;
      continue;
    }
    if (c == '/' && i + 1 < len && sql[i + 1] == '*') {  // /* comment */, nested
      int depth = 0;
      while (i < len) {
        if (sql[i] == '/' && i + 1 < len && sql[i + 1] == '*') { ++depth; i += 2; }
        else if (sql[i] == '*' && i + 1 < len && sql[i + 1] == '/') { i += 2; if (--depth == 0) break; }
        else ++i;
      }
      in_word = false;
      continue;
    }
    if (c == '\'' || c == '"') {  // 'string' ('' inside), "identifier"; E'' backslashes
      bool backslash = c == '\'' && i > 0 && (sql[i - 1] == 'E' || sql[i - 1] == 'e');
      ++i;
      while (i < len) {
        if (backslash && sql[i] == '\\') { i += 2; continue; }
        if (sql[i] == c) {
          if (i + 1 < len && sql[i + 1] == c) { i += 2; continue; }
          break;
        }
        ++i;
      }
      ++i;
      in_word = false;
      if (n < 2) n = 2;  // keywords end at a literal
      continue;
    }
    if (c == '$') {  // $tag$ ... $tag$
      std::size_t j = i + 1;
      while (j < len && (std::isalnum(static_cast<unsigned char>(sql[j])) || sql[j] == '_')) ++j;
      if (j < len && sql[j] == '$' && !(j > i + 1 && std::isdigit(static_cast<unsigned char>(sql[i + 1])))) {
        std::string tag = sql.substr(i, j - i + 1);
        std::size_t end = sql.find(tag, j + 1);
        i = end == std::string::npos ? len : end + tag.size();
        in_word = false;
        continue;
      }
    }
    bool letter = std::isalpha(static_cast<unsigned char>(c)) || c == '_';
    if (letter || (in_word && std::isdigit(static_cast<unsigned char>(c)))) {
      if (!in_word) ++n;
      in_word = true;
      if (n <= 2) w[n - 1] += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      ++i;
      continue;
    }
    in_word = false;
    if (!std::isspace(static_cast<unsigned char>(c)) && n < 2) n = 2;  // "(SELECT", "1 + 1"
    ++i;
  }
  flush();
  return out;
}

// Whether running `sql` in a session in state `before` can commit a transaction.
inline bool may_commit(const std::string& sql, TxBefore before) {
  static const char* const reads[] = {
      "SELECT", "SHOW",    "VALUES",     "TABLE",     "EXPLAIN", "SET",      "RESET",
      "FETCH",  "MOVE",    "CLOSE",      "DECLARE",   "LISTEN",  "UNLISTEN", "DISCARD",
      "DEALLOCATE", "LOAD", "ROLLBACK",  "ABORT",     "SAVEPOINT", "RELEASE", "BEGIN",
      "START",  "COMMIT",  "END",        "PREPARE"};
  bool block = before != TxBefore::Idle;
  bool failed = before == TxBefore::Failed;
  for (const auto& [first, second] : statement_words(sql)) {
    if (first == "BEGIN" || first == "START") {
      block = true;
    } else if (first == "COMMIT" || first == "END") {
      if (first == "COMMIT" && second == "PREPARED" && !block) return true;
      if (block && !failed) return true;
      block = failed = false;
    } else if (first == "ROLLBACK" && second == "TO") {
      failed = false;  // ROLLBACK TO SAVEPOINT: the block goes on
    } else if (first == "ROLLBACK" || first == "ABORT") {
      block = failed = false;
    } else if (first == "PREPARE" && second == "TRANSACTION") {
      block = failed = false;  // the prepared transaction commits only at COMMIT PREPARED
    } else if (!block) {
      bool read = false;
      for (const char* r : reads) read = read || first == r;
      if (!read) return true;
    }
  }
  return false;
}

}  // namespace pgha::detail

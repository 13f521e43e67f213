// pgha/error.hpp: the exception hierarchy. Every failure a user can cause throws a
// pgha::Error subtype whose message says what happened, what was expected and, where a
// server was involved, quotes the tail of that server's log.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

namespace pgha {

/// Base of every exception pgha throws; what() is the full human-readable message.
class Error : public std::runtime_error {
public:
  /// `node` names the node involved (may be empty); `log_tail` is its last server log lines.
  explicit Error(const std::string& message, std::string node = {}, std::string log_tail = {})
      : std::runtime_error(compose(message, node, log_tail)),
        message_(message), node_(std::move(node)), log_tail_(std::move(log_tail)) {}

  /// The message without the node prefix and the log tail.
  const std::string& message() const noexcept { return message_; }

  /// The node the error is about ("node1 (port 5432)"), or empty.
  const std::string& node() const noexcept { return node_; }
  /// The last lines of that node's server log at the time of the error, or empty.
  const std::string& log_tail() const noexcept { return log_tail_; }

private:
  static std::string compose(const std::string& message, const std::string& node,
                             const std::string& log_tail) {
    std::string out = node.empty() ? message : node + ": " + message;
    if (!log_tail.empty()) out += "\n--- server log tail ---\n" + log_tail;
    return out;
  }
  std::string message_;
  std::string node_;
  std::string log_tail_;
};

/// A statement failed on the server (or the connection broke while it ran).
class QueryError : public Error {
public:
  /// `sqlstate` is the five-character SQLSTATE, or "" when the connection failed.
  QueryError(const std::string& message, std::string sqlstate, std::string node = {})
      : Error(message, std::move(node)), sqlstate_(std::move(sqlstate)) {}
  /// The SQLSTATE reported by the server ("25006" for a write on a standby), or "".
  const std::string& sqlstate() const noexcept { return sqlstate_; }

private:
  std::string sqlstate_;
};

/// Could not connect to a node (stopped, frozen, partitioned, wrong credentials).
class ConnectionError : public QueryError {
public:
  using QueryError::QueryError;
};

/// A wait ran past its deadline; the message says what was awaited and what was seen last.
class TimeoutError : public Error {
public:
  using Error::Error;
};

/// A call that does not fit the node's current role or state (promote on a primary, ...).
class StateError : public Error {
public:
  using Error::Error;
};

/// Environment or set-up failure: binaries, initdb, start, file system, privileges, ports.
class SetupError : public Error {
public:
  using Error::Error;
};

}  // namespace pgha

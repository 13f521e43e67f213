// pgha/error.hpp: the exception hierarchy. Every failure a user can cause throws a
// pgha::Error subtype whose message says what happened, what was expected and, where a
// server was involved, quotes the tail of that server's log.
#pragma once

#include "pgha/build_mode.hpp"

#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

namespace pgha {

namespace detail {
struct ErrorAccess;
}  // namespace detail

/// Base of every exception pgha throws; what() is the full human-readable message.
class Error : public std::runtime_error {
public:
  /// `node` names the node involved (may be empty); `log_tail` is its last server log lines.
  explicit Error(const std::string& message, std::string node = {}, std::string log_tail = {});

  /// The message without the node prefix and the log tail.
  const std::string& message() const noexcept;

  /// The node the error is about ("node1 (port 5432)"), or empty.
  const std::string& node() const noexcept;
  /// The last lines of that node's server log at the time of the error, or empty.
  const std::string& log_tail() const noexcept;

private:
  friend struct detail::ErrorAccess;
  // Puts `context` in front of the message, keeping the object (and so its type and its
  // fields, a QueryError's SQLSTATE, a SystemError's code) as it is.
  void prepend(const std::string& context);
  static std::string compose(const std::string& message, const std::string& node,
                             const std::string& log_tail);
  std::string message_;
  std::string node_;
  std::string log_tail_;
};

/// The server rejected or aborted a statement (severity ERROR) and the session lives on:
/// the connection stays usable (after a ROLLBACK if a transaction block was open).
/// A lost connection is never a QueryError: it is a ConnectionError, a sibling class, so
/// `catch (const QueryError&)` does not swallow it (libpqxx likewise keeps
/// broken_connection apart from sql_error).
class QueryError : public Error {
public:
  /// `sqlstate` is the five-character SQLSTATE the server reported ("" if it sent none).
  QueryError(const std::string& message, std::string sqlstate, std::string node = {});
  /// The SQLSTATE reported by the server ("25006" for a write on a standby), or "".
  const std::string& sqlstate() const noexcept;

private:
  std::string sqlstate_;
};

/// The session with the server could not be opened or is gone; the Connection is unusable
/// and a new one is needed. Thrown when
/// - connecting fails (node stopped, wrong credentials, refused); sqlstate() is "";
/// - the connection breaks while a statement is sent or runs (server crashed or killed,
///   network reset); sqlstate() is "";
/// - the server ends the session with a FATAL error. pg_terminate_backend() and a fast or
///   immediate shutdown send SQLSTATE 57P01 (admin_shutdown) and then close the socket;
///   a crash of another backend sends 57P02 (crash_shutdown). libpq reports the error
///   result first and the broken connection second, depending on timing; pgha reports
///   both orders alike, as ConnectionError with that SQLSTATE in sqlstate(), because the
///   session is over either way and what a caller must do is reconnect.
/// If the connection broke during a statement that commits (COMMIT, or a write outside a
/// transaction block), whether it committed is unknown: that is an InDoubtError.
/// Not a QueryError (see there). A deadline that passes is a TimeoutError instead.
class ConnectionError : public Error {
public:
  /// `sqlstate` is the SQLSTATE of the FATAL error that ended the session, or "".
  ConnectionError(const std::string& message, std::string sqlstate, std::string node = {});
  /// A connection failure with no SQLSTATE.
  explicit ConnectionError(const std::string& message);
  /// The SQLSTATE the server sent before it closed the session ("57P01" for
  /// pg_terminate_backend() or a shutdown), or "" when the connection just broke.
  const std::string& sqlstate() const noexcept;

private:
  std::string sqlstate_;
};

/// The connection broke, or a wait ended, while a COMMIT was under way, so whether the
/// transaction took effect is unknown (libpqxx's in_doubt_error). Connection throws it for
/// a statement that commits (COMMIT or END of an open block; outside a block, any statement
/// but a read such as SELECT or SHOW) when the session ends during it, or when its deadline
/// passes and the cancel does not end it with an error: a commit waiting for a synchronous
/// standby answers the cancel with success and a warning, committed locally only. Check the data on the
/// server (or record the operation as unknown in a History) before retrying. A
/// ConnectionError, so code that reconnects on ConnectionError keeps working.
class InDoubtError : public ConnectionError {
public:
  using ConnectionError::ConnectionError;
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

/// A call the library cannot accept as made, whatever the cluster's state: a negative or
/// absurd duration, an empty node list, a null node, an out-of-range index, bad Workload
/// arguments (like std::logic_error: fix the calling code).
class UsageError : public Error {
public:
  using Error::Error;
};

/// A system call failed; code() keeps its errno (as std::system_category()), so callers
/// branch on the code, never on the text (fmt's system_error does the same). A SetupError,
/// since every system call pgha makes is part of setting up or tearing down a node.
class SystemError : public SetupError {
public:
  /// `err` is the errno value; the message gets its text appended.
  SystemError(int err, const std::string& message, std::string node = {});
  /// The failed call's error code (errno in std::system_category()).
  const std::error_code& code() const noexcept;

private:
  std::error_code code_;
};

namespace detail {
// For pgha's own classes: adds context to an error in flight before rethrowing it as it is
// (`catch (Error& e) { ErrorAccess::prepend(e, "..."); throw; }`): no slicing.
struct ErrorAccess {
  static void prepend(Error& e, const std::string& context);
};
}  // namespace detail

}  // namespace pgha

#ifndef PGHA_SEPARATE_COMPILATION
#include "pgha/impl/error.ipp"
#endif

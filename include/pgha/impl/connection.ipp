// pgha/impl/connection.ipp: the definitions of pgha/connection.hpp, the public faces over
// detail::Rows and detail::Client (pgha/impl/client.ipp). Header-only: included at the end
// of the header (PGHA_DECL is `inline`). Separate compilation: compiled once, by
// pgha/implementation.hpp.
#pragma once

#include "pgha/connection.hpp"

namespace pgha {

PGHA_DECL auto Result::rows() const noexcept -> int { return rows_.rows(); }

PGHA_DECL auto Result::columns() const noexcept -> int { return rows_.columns(); }

PGHA_DECL auto Result::value(int row, int column) const -> std::string { return rows_.value(row, column); }

PGHA_DECL auto Result::is_null(int row, int column) const -> bool { return rows_.is_null(row, column); }

PGHA_DECL auto Result::column_name(int column) const -> std::string { return rows_.column_name(column); }

PGHA_DECL auto Result::affected_rows() const noexcept -> long { return rows_.affected_rows(); }

PGHA_DECL auto Result::command_status() const -> std::string { return rows_.command_status(); }

PGHA_DECL Connection::Connection(const std::string& conninfo, std::chrono::milliseconds timeout, std::string label)
    : client_(conninfo, timeout, std::move(label)) {}

PGHA_DECL Connection::Connection(Connection&&) noexcept = default;

PGHA_DECL auto Connection::operator=(Connection&&) noexcept -> Connection& = default;

PGHA_DECL Connection::~Connection() = default;

PGHA_DECL auto Connection::execute(const std::string& sql) -> Result { return Result(client_.execute(sql)); }

PGHA_DECL auto Connection::execute(const std::string& sql, std::chrono::milliseconds timeout) -> Result {
  return Result(client_.execute(sql, timeout));
}

PGHA_DECL auto Connection::execute(const std::string& sql, const std::vector<std::string>& params) -> Result {
  return Result(client_.execute(sql, params));
}

PGHA_DECL auto Connection::execute(const std::string& sql, const std::vector<std::string>& params,
                                   std::chrono::milliseconds timeout) -> Result {
  return Result(client_.execute(sql, params, timeout));
}

PGHA_DECL auto Connection::query(const std::string& sql) -> Result { return execute(sql); }

PGHA_DECL auto Connection::query(const std::string& sql, const std::vector<std::string>& params) -> Result {
  return execute(sql, params);
}

PGHA_DECL auto Connection::backend_pid() const noexcept -> int { return client_.backend_pid(); }

PGHA_DECL auto Connection::is_open() const noexcept -> bool { return client_.is_open(); }

PGHA_DECL auto Connection::server_version() const noexcept -> int { return client_.server_version(); }

PGHA_DECL auto Connection::timeout() const noexcept -> std::chrono::milliseconds { return client_.timeout(); }

PGHA_DECL auto Connection::cancel() noexcept -> bool { return client_.cancel(); }

PGHA_DECL auto Connection::notices() const -> std::vector<std::string> { return client_.notices(); }

PGHA_DECL void Connection::clear_notices() noexcept { client_.clear_notices(); }

PGHA_DECL auto Connection::label() const noexcept -> const std::string& { return client_.label(); }

}  // namespace pgha

namespace pgha {
namespace detail {

PGHA_DECL auto ConnectionAccess::adopt(PGresult* r) -> Result { return Result(Rows(r)); }

PGHA_DECL auto ConnectionAccess::set_local_postmaster(Connection& c, int postmaster_pid) noexcept -> bool {
  return c.client_.set_local_postmaster(postmaster_pid);
}

PGHA_DECL void ConnectionAccess::set_backend_pid_for_testing(Connection& c, int pid) noexcept {
  c.client_.set_backend_pid_for_testing(pid);
}

}  // namespace detail
}  // namespace pgha

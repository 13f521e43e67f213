// tests/unit_commit_point.cpp: which statements can commit (detail/commit_point.hpp), the
// rule behind pgha::InDoubtError. No server.
#include <pgha/pgha.hpp>

#include "catch.hpp"

namespace {
bool commits(const std::string& sql, pgha::detail::TxBefore before = pgha::detail::TxBefore::Idle) {
  return pgha::detail::may_commit(sql, before);
}
}  // namespace

TEST_CASE("commit point: autocommit writes commit, reads do not") {
  CHECK(commits("INSERT INTO t VALUES (1)"));
  CHECK(commits("  insert into t values (1)"));
  CHECK(commits("CREATE TABLE t (id int)"));
  CHECK(commits("WITH x AS (INSERT INTO t VALUES (1) RETURNING *) SELECT * FROM x"));
  CHECK(commits("SET synchronous_commit = local; INSERT INTO t VALUES (1)"));
  CHECK(commits("SELECT 1; INSERT INTO t VALUES (1)"));
  CHECK(commits("COMMIT PREPARED 'x'"));
  CHECK_FALSE(commits("SELECT pg_sleep(5)"));
  CHECK_FALSE(commits("SHOW synchronous_standby_names"));
  CHECK_FALSE(commits(""));
  CHECK_FALSE(commits("COMMIT"));  // no block open: a warning, nothing commits
}

TEST_CASE("commit point: quotes, dollar quotes and comments hide their words") {
  CHECK_FALSE(commits("SELECT ';insert'"));
  CHECK_FALSE(commits("SELECT $$; insert$$, $1"));
  CHECK_FALSE(commits("SELECT $f$; insert$f$"));
  CHECK_FALSE(commits("-- insert\nSELECT 1"));
  CHECK_FALSE(commits("/* insert; /* nested */ */ SELECT 1"));
  CHECK_FALSE(commits("select E'\\';insert', 1"));
  CHECK_FALSE(commits("SELECT \"a;insert\" FROM t"));
}

TEST_CASE("commit point: in a transaction block only COMMIT or END commits") {
  using pgha::detail::TxBefore;
  CHECK_FALSE(commits("INSERT INTO t VALUES (1)", TxBefore::InBlock));
  CHECK(commits("COMMIT", TxBefore::InBlock));
  CHECK(commits("end", TxBefore::InBlock));
  CHECK_FALSE(commits("COMMIT", TxBefore::Failed));  // an aborted block rolls back
  CHECK(commits("ROLLBACK TO SAVEPOINT a; COMMIT", TxBefore::Failed));
  CHECK_FALSE(commits("ROLLBACK", TxBefore::InBlock));
  CHECK_FALSE(commits("PREPARE TRANSACTION 'x'", TxBefore::InBlock));
  CHECK(commits("BEGIN; INSERT INTO t VALUES (1); COMMIT"));
  CHECK_FALSE(commits("BEGIN; INSERT INTO t VALUES (1)"));
  CHECK(commits("BEGIN; SET LOCAL synchronous_commit = local; CREATE TABLE x (id int); COMMIT"));
}

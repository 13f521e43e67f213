// tests/unit_vocabulary.cpp: what a caller gets for calls pgha cannot accept as made
// (pgha::UsageError), the small vocabulary of calls that must compile as written, and how
// the public enums read (to_string, <<). No server.
#include <pgha/history_types.hpp>  // first: the public History types stand on their own
#include <pgha/pgha.hpp>

#include <chrono>
#include <initializer_list>
#include <set>
#include <sstream>
#include <string>

#include "catch.hpp"

using Catch::Matchers::ContainsSubstring;

TEST_CASE("usage: History::check({}) compiles and checks an empty final state") {
  pgha::History h;
  CHECK(h.check({}).ok());
  CHECK(h.check({}).rows() == 0);
  h.invoke("k0", "1").ok();
  CHECK(h.check({}).lost().size() == 1);
  CHECK(h.check({{"k0", "1"}}).ok());
  CHECK(h.check({{"k0", "1"}, {"k0", "2"}}).phantom().size() == 1);
}

TEST_CASE("usage: op.ok({}) still means ok() with an empty note beside the reads' ok(values)") {
  pgha::History h;
  pgha::Op w = h.invoke("k0", "1");
  w.ok({});  // compiled before reads existed: the reads' overload must not make it ambiguous
  pgha::Op r = h.read("k0");
  r.ok(std::vector<std::string>{"1"});
  std::vector<std::string> seen = {"1"};
  pgha::Op r2 = h.read("k0");
  r2.ok(seen, "an lvalue list and a note");
  CHECK(h.count(pgha::Outcome::Ok) == 3);
  CHECK(h.check({{"k0", "1"}}).ok());
}

TEST_CASE("usage: a conninfo libpq cannot parse is a UsageError quoting libpq, at once") {
  // Before: a ConnectionError "could not connect to ::" after a connection attempt.
  CHECK_THROWS_AS(pgha::Connection("garbage"), pgha::UsageError);
  CHECK_THROWS_WITH(pgha::Connection("garbage"),
                    ContainsSubstring("missing \"=\" after \"garbage\"") &&
                        ContainsSubstring("conninfo"));
  CHECK_THROWS_WITH(pgha::Connection("host=127.0.0.1 port=5432 nosuchkey=1"),
                    ContainsSubstring("invalid connection option \"nosuchkey\""));
  CHECK_THROWS_AS(pgha::Connection("postgresql://[::1"), pgha::UsageError);
  // A password in the string is not repeated in the message.
  CHECK_THROWS_WITH(pgha::Connection("password=s3cret bogus"), !ContainsSubstring("s3cret"));
}

TEST_CASE("usage: Workload arguments it cannot run with are a UsageError, at once") {
  using namespace std::chrono_literals;
  const std::string ci = "host=127.0.0.1 port=1 user=postgres";
  CHECK_THROWS_AS(pgha::Workload(ci, 0), pgha::UsageError);
  CHECK_THROWS_AS(pgha::Workload(ci, -3), pgha::UsageError);
  CHECK_THROWS_AS(pgha::Workload(ci, 1001), pgha::UsageError);
  CHECK_THROWS_WITH(pgha::Workload(ci, 0), ContainsSubstring("0 clients") && ContainsSubstring("expected 1 to 1000"));
  auto with = [&](auto change) {
    pgha::WorkloadOptions o;
    change(o);
    return [ci, o] { pgha::Workload w(ci, 1, o); };
  };
  CHECK_THROWS_AS(with([](pgha::WorkloadOptions& o) { o.keys = 0; })(), pgha::UsageError);
  CHECK_THROWS_AS(with([](pgha::WorkloadOptions& o) { o.table = "Orders"; })(), pgha::UsageError);
  CHECK_THROWS_AS(with([](pgha::WorkloadOptions& o) { o.connect_timeout = -1ms; })(), pgha::UsageError);
  CHECK_THROWS_AS(with([](pgha::WorkloadOptions& o) { o.connect_timeout = 0ms; })(), pgha::UsageError);
  CHECK_THROWS_AS(with([](pgha::WorkloadOptions& o) { o.statement_timeout = -5s; })(), pgha::UsageError);
  CHECK_THROWS_WITH(with([](pgha::WorkloadOptions& o) { o.statement_timeout = -5s; })(),
                    ContainsSubstring("statement_timeout is -5000 ms") && ContainsSubstring("more than 0"));
  CHECK_THROWS_AS(with([](pgha::WorkloadOptions& o) { o.stop_grace = -1ms; })(), pgha::UsageError);
  CHECK_NOTHROW(with([](pgha::WorkloadOptions& o) { o.stop_grace = 0ms; })());  // no grace: allowed
  CHECK_THROWS_AS(pgha::Workload("garbage", 1), pgha::UsageError);
  pgha::Workload w(ci, 1);  // never started: nothing connects
  CHECK_THROWS_AS(w.wait_for_acknowledged(1, -1ms), pgha::UsageError);
}

TEST_CASE("usage: an Op finished twice or without a History, a Result without key and value") {
  pgha::History h;
  pgha::Op op = h.invoke("k0", "1");
  op.ok();
  CHECK_THROWS_AS(op.ok(), pgha::UsageError);
  CHECK_THROWS_AS(op.fail(), pgha::UsageError);
  CHECK_THROWS_AS(op.unknown(), pgha::UsageError);
  pgha::Op none;
  CHECK_THROWS_AS(none.ok(), pgha::UsageError);
  CHECK(h.count(pgha::Outcome::Ok) == 1);  // the first outcome stands
  CHECK_THROWS_AS(h.check(pgha::Result()), pgha::UsageError);
}

TEST_CASE("vocabulary: every public enum has a to_string and prints its name with <<") {
  auto printed = [](auto v) {
    std::ostringstream o;
    o << v;
    return o.str();
  };
  // Catch2 shows them by name (Outcome and EventType printed as integers before).
  CHECK(Catch::Detail::stringify(pgha::Outcome::Unknown) == "Unknown");
  CHECK(Catch::Detail::stringify(pgha::EventType::Info) == "Info");
  CHECK(printed(pgha::Outcome::Pending) == "Pending");
  CHECK(printed(pgha::EventType::Invoke) == "Invoke");
  CHECK(printed(pgha::Direction::Upstream) == "Upstream");
  CHECK(printed(pgha::Switch::Keep) == "Keep");
  CHECK(printed(pgha::Route::Standby) == "Standby");
  // One lower-case text per enumerator, distinct within its enum.
  auto distinct = [](std::initializer_list<std::string> texts) {
    std::set<std::string> s(texts.begin(), texts.end());
    return s.size() == texts.size() && !s.count("?");
  };
  using namespace pgha;
  CHECK(distinct({to_string(Outcome::Pending), to_string(Outcome::Ok), to_string(Outcome::Fail),
                  to_string(Outcome::Unknown)}));
  CHECK(distinct({to_string(EventType::Invoke), to_string(EventType::Ok), to_string(EventType::Fail),
                  to_string(EventType::Info)}));
  CHECK(distinct({to_string(Role::Primary), to_string(Role::Standby), to_string(Role::Stopped)}));
  CHECK(distinct({to_string(StopMode::Smart), to_string(StopMode::Fast),
                  to_string(StopMode::Immediate), to_string(StopMode::Crash)}));
  CHECK(distinct({to_string(SyncMode::Async), to_string(SyncMode::RemoteWrite),
                  to_string(SyncMode::On), to_string(SyncMode::RemoteApply)}));
  CHECK(distinct({to_string(RejoinMethod::Resumed), to_string(RejoinMethod::Rewound),
                  to_string(RejoinMethod::Recloned)}));
  CHECK(distinct({to_string(LinkCut::Reset), to_string(LinkCut::Blackhole)}));
  CHECK(distinct({to_string(CloneMethod::Auto), to_string(CloneMethod::BaseBackup),
                  to_string(CloneMethod::BackupApi), to_string(CloneMethod::TemplateCopy)}));
  CHECK(distinct({to_string(RepairMethod::Auto), to_string(RepairMethod::Rewind),
                  to_string(RepairMethod::Reclone)}));
  CHECK(distinct({to_string(Direction::Both), to_string(Direction::Upstream),
                  to_string(Direction::Downstream)}));
  CHECK(distinct({to_string(Switch::Reset), to_string(Switch::Blackhole), to_string(Switch::Keep)}));
  CHECK(distinct({to_string(Route::Primary), to_string(Route::Standby), to_string(Route::Any)}));
  CHECK(std::string(to_string(StopMode::Crash)) == "crash");
  CHECK(std::string(to_string(SyncMode::RemoteApply)) == "remote_apply");
  CHECK(std::string(to_string(Outcome::Unknown)) == "unknown");  // as in notes and JSON lines
  CHECK(std::string(to_string(EventType::Info)) == "info");
}
